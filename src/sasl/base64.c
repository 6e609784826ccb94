/*
 * base64: RFC 4648 base64 with padding, decoded strictly as RFC 6120
 * §6.4.2 asks: no whitespace, no characters outside the alphabet, padding
 * only at the end and only as much as needed, and the unused bits of the
 * last group zero, so every byte string has exactly one accepted encoding
 * (SCRAM compares encodings).  Not a MIME decoder.
 */
#include <stdint.h>

#include "core/buf.h"
#include "sasl/sasl.h"

static const char sasl_b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sasl_base64_encode(struct buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;

	buf_reserve(out, (n + 2) / 3 * 4);
	char *d = out->data + out->len;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*d++ = sasl_b64_alphabet[v >> 18];
		*d++ = sasl_b64_alphabet[(v >> 12) & 63];
		*d++ = sasl_b64_alphabet[(v >> 6) & 63];
		*d++ = sasl_b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		*d++ = sasl_b64_alphabet[v >> 18];
		*d++ = sasl_b64_alphabet[(v >> 12) & 63];
		*d++ = i + 1 < n ? sasl_b64_alphabet[(v >> 6) & 63] : '=';
		*d++ = '=';
	}
	out->len = (size_t)(d - out->data);
}

static int sasl_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sasl_base64_decode(struct buf *out, const char *s, size_t len)
{
	if (len == 1 && s[0] == '=')
		return 0;
	if (len % 4 != 0)
		return -1;

	size_t start = out->len;
	buf_reserve(out, len / 4 * 3);
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		size_t pad = 0;
		for (size_t k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + k];
			if (c == '=') {
				/* Only in the last group, only in its last two places. */
				if (i + 4 != len || k < 2)
					goto fail;
				pad++;
				v[k] = 0;
			} else {
				if (pad)
					goto fail;
				v[k] = sasl_b64_value(c);
				if (v[k] < 0)
					goto fail;
			}
		}
		/* Non-zero leftover bits would give a second spelling. */
		if ((pad == 2 && (v[1] & 0x0F)) || (pad == 1 && (v[2] & 0x03)))
			goto fail;
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out->data[out->len++] = (char)(w >> 16);
		if (pad < 2)
			out->data[out->len++] = (char)(w >> 8);
		if (pad < 1)
			out->data[out->len++] = (char)w;
	}
	return 0;

fail:
	out->len = start;
	return -1;
}
