/*
 * fuzz_base64: libFuzzer target for the strict base64 of sasl/base64.c.
 * The input goes both ways:
 *  - decoded as text: whatever the strict decoder accepts re-encodes to
 *    exactly that text (one spelling per byte string, which SCRAM's
 *    comparisons rely on), apart from the lone "=" SASL uses for an empty
 *    response; a refusal leaves the output buffer as it was;
 *  - encoded as bytes: the encoding has the length and alphabet of RFC 4648
 *    with padding, and decodes back to the bytes.
 * Decoding appends, so the output buffer starts with bytes of its own that
 * must survive either outcome.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sasl/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_prefix[] = "kept";

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static void fail(const char *what, const void *in, size_t len)
{
	fprintf(stderr, "%s (input of %zu bytes)\n", what, len);
	(void)in;
	abort();
}

static bool prefix_kept(const struct buf *b)
{
	return b->len >= sizeof(fuzz_prefix) - 1 &&
	       memcmp(b->data, fuzz_prefix, sizeof(fuzz_prefix) - 1) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const size_t plen = sizeof(fuzz_prefix) - 1;

	/* As text. */
	struct buf dec = BUF_INIT, enc = BUF_INIT;
	buf_append(&dec, fuzz_prefix, plen);
	if (sasl_base64_decode(&dec, in, size) == 0) {
		if (!prefix_kept(&dec))
			fail("decoding changed the bytes before its output", in, size);
		size_t n = dec.len - plen;
		if (n > size / 4 * 3)
			fail("more bytes decoded than the text holds", in, size);
		sasl_base64_encode(&enc, dec.data + plen, n);
		bool empty_response = size == 1 && in[0] == '=';
		if (empty_response ? n != 0
				   : enc.len != size || (size && memcmp(enc.data, in, size) != 0))
			fail("accepted text is not the one spelling of its bytes", in, size);
	} else if (dec.len != plen || !prefix_kept(&dec)) {
		fail("a refused decode left output behind", in, size);
	}
	buf_clear(&dec);
	buf_clear(&enc);

	/* As bytes. */
	sasl_base64_encode(&enc, data, size);
	if (enc.len != (size + 2) / 3 * 4)
		fail("encoding of the wrong length", in, size);
	for (size_t i = 0; i < enc.len; i++) {
		size_t pad_from = enc.len - (size % 3 ? 3 - size % 3 : 0);
		if (i < pad_from ? !b64_char(enc.data[i]) : enc.data[i] != '=')
			fail("encoding outside the alphabet or padded wrongly", in, size);
	}
	buf_append(&dec, fuzz_prefix, plen);
	if (sasl_base64_decode(&dec, enc.data, enc.len) != 0)
		fail("an encoding does not decode", in, size);
	if (!prefix_kept(&dec) || dec.len - plen != size ||
	    (size && memcmp(dec.data + plen, data, size) != 0))
		fail("an encoding decodes to other bytes", in, size);
	buf_clear(&dec);
	buf_clear(&enc);
	return 0;
}
