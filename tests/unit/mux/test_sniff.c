/* mux/sniff.c: the kind of stream from its first bytes, whole and cut at
 * every length (a verdict never changes once given, and MORE comes only
 * before it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mux/sniff.h"

struct sample {
	const char *bytes;
	enum mux_kind kind;
};

static const struct sample samples[] = {
	{"<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' "
	 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
	 MUX_CLIENT},
	{"<stream:stream xmlns=\"jabber:server\" xmlns:stream=\"http://etherx.jabber.org/streams\" "
	 "xmlns:db=\"jabber:server:dialback\" to=\"a.test\" version=\"1.0\">",
	 MUX_SERVER},
	/* dialback's namespace alone is not jabber:server */
	{"<stream:stream xmlns:db='jabber:server:dialback' xmlns='jabber:client' to='a.test'>", MUX_CLIENT},
	{"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' to='a.test'>",
	 MUX_SERVER},
	{"\r\n <stream:stream to='x'>", MUX_CLIENT},
	{"GET /xmpp-websocket HTTP/1.1\r\nHost: x\r\n\r\n", MUX_HTTP},
	{"POST /http-bind HTTP/1.1\r\n", MUX_HTTP},
	{"OPTIONS * HTTP/1.1\r\n", MUX_HTTP},
	{"get / HTTP/1.1\r\n", MUX_UNKNOWN},
	{"\x16\x03\x01\x02\x00", MUX_UNKNOWN},
	{"VERYLONGMETHODNAMEXX / HTTP/1.1", MUX_UNKNOWN},
	{" GET", MUX_MORE},
	{"<?xml version='1.0'?>junk", MUX_UNKNOWN},
};

static void samples_whole_and_cut(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		size_t n = strlen(s->bytes);
		assert_int_equal(mux_sniff(s->bytes, n), s->kind);
		enum mux_kind first = MUX_MORE;
		for (size_t cut = 0; cut <= n; cut++) {
			enum mux_kind k = mux_sniff(s->bytes, cut);
			if (first != MUX_MORE)
				assert_int_equal(k, first);
			else
				first = k;
		}
	}
}

/* A header that never ends is not waited for beyond the bound. */
static void bounded(void **state)
{
	(void)state;
	static char big[MUX_SNIFF_MAX + 10];
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	assert_int_equal(mux_sniff(big, MUX_SNIFF_MAX - 1), MUX_MORE);
	assert_int_equal(mux_sniff(big, MUX_SNIFF_MAX), MUX_UNKNOWN);
	memset(big, ' ', sizeof(big));
	assert_int_equal(mux_sniff(big, MUX_SNIFF_MAX), MUX_UNKNOWN);
	assert_string_equal(mux_kind_name(MUX_SERVER), "server");
	assert_string_equal(mux_kind_name(MUX_KIND_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(samples_whole_and_cut),
		cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
