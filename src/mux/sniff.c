#include "mux/sniff.h"

#include <stdbool.h>
#include <string.h>

static const char *const kind_names[MUX_KIND_COUNT] = {
	[MUX_MORE] = "more", [MUX_CLIENT] = "client", [MUX_SERVER] = "server",
	[MUX_HTTP] = "http", [MUX_UNKNOWN] = "unknown",
};

const char *mux_kind_name(enum mux_kind k)
{
	return k < MUX_KIND_COUNT ? kind_names[k] : "unknown";
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* `ns` inside [p, end) as an attribute value: the name, then a quote
 * (so "jabber:server:dialback" is not "jabber:server"). */
static bool names(const char *p, const char *end, const char *ns)
{
	size_t n = strlen(ns);
	for (; p + n < end; p++)
		if ((p[-1] == '\'' || p[-1] == '"') && memcmp(p, ns, n) == 0 && p[n] == p[-1])
			return true;
	return false;
}

/* RFC 6120: an XML declaration may come first, then the stream header;
 * its default namespace says client or server. */
static enum mux_kind sniff_xml(const char *p, const char *end)
{
	if (end - p >= 2 && p[1] == '?') {
		const char *q = p + 2;
		while (q + 1 < end && !(q[0] == '?' && q[1] == '>'))
			q++;
		if (q + 1 >= end)
			return MUX_MORE;
		p = q + 2;
		while (p < end && is_space(*p))
			p++;
		if (p == end)
			return MUX_MORE;
		if (*p != '<')
			return MUX_UNKNOWN;
	}
	const char *gt = memchr(p, '>', (size_t)(end - p));
	if (!gt)
		return MUX_MORE;
	if (gt - p > 1 && names(p + 1, gt, "jabber:server"))
		return MUX_SERVER;
	/* jabber:client, or neither: the client stream machine answers a
	 * wrong header with the right stream error. */
	return MUX_CLIENT;
}

/* An HTTP/1.x request line: a method token of capitals, then a space. */
static enum mux_kind sniff_http(const char *p, const char *end)
{
	enum { METHOD_MAX = 16 };
	for (const char *q = p; q < end; q++) {
		if (*q == ' ')
			return q > p ? MUX_HTTP : MUX_UNKNOWN;
		if (*q < 'A' || *q > 'Z' || q - p >= METHOD_MAX)
			return MUX_UNKNOWN;
	}
	return MUX_MORE;
}

enum mux_kind mux_sniff(const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	while (p < end && is_space(*p))
		p++;
	if (p == end)
		return len >= MUX_SNIFF_MAX ? MUX_UNKNOWN : MUX_MORE;
	enum mux_kind k = *p == '<' ? sniff_xml(p, end) : sniff_http(p, end);
	return k == MUX_MORE && len >= MUX_SNIFF_MAX ? MUX_UNKNOWN : k;
}
