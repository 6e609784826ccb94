/* hash: SipHash-1-3 (Aumasson & Bernstein), 64-bit output. */
#include "core/hash.h"

#include <string.h>
#include <sys/random.h>

static uint64_t hash_k0, hash_k1;

void hash_seed(void)
{
	uint64_t k[2] = {0, 0};
	if (getrandom(k, sizeof(k), 0) == (ssize_t)sizeof(k)) {
		hash_k0 = k[0];
		hash_k1 = k[1];
	}
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                          \
	do {                                                                                  \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                     \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                        \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                        \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                     \
	} while (0)

uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ hash_k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ hash_k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ hash_k0;
	uint64_t v3 = 0x7465646279746573ULL ^ hash_k1;
	uint64_t b = (uint64_t)len << 56;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t m;
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t t = 0;
	for (size_t j = 0; i + j < len; j++)
		t |= (uint64_t)p[i + j] << (8 * j);
	b |= t;
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
