/*
 * session: the web admin page's sessions, one table for the process.
 * POST /api/login makes one (a random cookie value and a random CSRF
 * token), each request that presents the cookie finds it, POST
 * /api/logout ends it, and so does http.admin_session_timeout without
 * use.  Admin traffic is not a hot path, so a mutex and a linear scan
 * over at most AA_SESSIONS_MAX rows are enough; the scan compares every
 * row in constant time, so that the time of a lookup says nothing of how
 * much of a guessed value matched.  When the table is full, the session
 * unused for longest makes room.
 *
 * Sessions live in memory only: a restart ends them (the page asks for
 * the password again).
 */
#include "adminapi/internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

struct aa_session {
	bool used;
	char id[AA_TOKEN_CHARS + 1];
	char csrf[AA_TOKEN_CHARS + 1];
	char *jid;
	uint64_t last_ms;
};

static uv_mutex_t lock;
static bool lock_made;
static struct aa_session table[AA_SESSIONS_MAX];
static uint64_t timeout_ms = 1800 * 1000;
static _Atomic int64_t skew_ms;

uint64_t aa_now_ms(void)
{
	return uv_hrtime() / 1000000 + (uint64_t)atomic_load(&skew_ms);
}

void aa_clock_skew(int64_t ms)
{
	atomic_fetch_add(&skew_ms, ms);
}

void aa_random_token(char out[AA_TOKEN_CHARS + 1])
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[33];
	if (RAND_bytes(r, 32) != 1)
		log_fatal("adminapi", "RAND_bytes failed: no random session token");
	r[32] = 0;
	/* 32 bytes: ten groups of three, then two bytes as three characters. */
	size_t o = 0;
	for (size_t i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | (i + 2 < 33 ? r[i + 2] : 0);
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		if (o < AA_TOKEN_CHARS)
			out[o++] = b64url[v & 63];
	}
	out[AA_TOKEN_CHARS] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
}

static void row_clear(struct aa_session *s)
{
	free(s->jid);
	OPENSSL_cleanse(s, sizeof(*s));
}

/* Under the lock. */
static void expire(uint64_t now)
{
	for (size_t i = 0; i < AA_SESSIONS_MAX; i++)
		if (table[i].used && now - table[i].last_ms >= timeout_ms)
			row_clear(&table[i]);
}

/* Under the lock: the row of `id`, compared with every used row. */
static struct aa_session *row_find(struct slice id)
{
	struct aa_session *found = NULL;
	if (id.len != AA_TOKEN_CHARS)
		return NULL;
	for (size_t i = 0; i < AA_SESSIONS_MAX; i++)
		if (table[i].used && CRYPTO_memcmp(table[i].id, id.p, AA_TOKEN_CHARS) == 0)
			found = &table[i];
	return found;
}

void aa_sessions_setup(unsigned timeout_s)
{
	if (!lock_made) {
		uv_mutex_init(&lock);
		lock_made = true;
	}
	timeout_ms = (uint64_t)timeout_s * 1000;
}

void aa_sessions_clear(void)
{
	if (!lock_made)
		return;
	uv_mutex_lock(&lock);
	for (size_t i = 0; i < AA_SESSIONS_MAX; i++)
		if (table[i].used)
			row_clear(&table[i]);
	uv_mutex_unlock(&lock);
}

void aa_session_new(const char *jid, char id[AA_TOKEN_CHARS + 1], char csrf[AA_TOKEN_CHARS + 1])
{
	aa_random_token(id);
	aa_random_token(csrf);
	uint64_t now = aa_now_ms();
	uv_mutex_lock(&lock);
	expire(now);
	struct aa_session *row = NULL;
	for (size_t i = 0; i < AA_SESSIONS_MAX && !row; i++)
		if (!table[i].used)
			row = &table[i];
	if (!row) {
		row = &table[0];
		for (size_t i = 1; i < AA_SESSIONS_MAX; i++)
			if (table[i].last_ms < row->last_ms)
				row = &table[i];
		log_info("adminapi", "%d web admin sessions open: ending the one unused for longest (%s's)",
			 AA_SESSIONS_MAX, row->jid);
		row_clear(row);
	}
	row->used = true;
	memcpy(row->id, id, AA_TOKEN_CHARS + 1);
	memcpy(row->csrf, csrf, AA_TOKEN_CHARS + 1);
	row->jid = xstrdup(jid);
	row->last_ms = now;
	uv_mutex_unlock(&lock);
}

bool aa_session_find(struct slice id, struct aa_session_view *out)
{
	uint64_t now = aa_now_ms();
	uv_mutex_lock(&lock);
	expire(now);
	struct aa_session *row = row_find(id);
	if (row) {
		row->last_ms = now;
		size_t n = strlen(row->jid);
		if (n > AA_JID_MAX)
			n = AA_JID_MAX;
		memcpy(out->jid, row->jid, n);
		out->jid[n] = '\0';
		memcpy(out->csrf, row->csrf, AA_TOKEN_CHARS + 1);
	}
	uv_mutex_unlock(&lock);
	return row != NULL;
}

bool aa_session_end(struct slice id)
{
	uv_mutex_lock(&lock);
	struct aa_session *row = row_find(id);
	if (row)
		row_clear(row);
	uv_mutex_unlock(&lock);
	return row != NULL;
}

size_t aa_sessions_end_jid(const char *jid)
{
	size_t n = 0;
	uv_mutex_lock(&lock);
	for (size_t i = 0; i < AA_SESSIONS_MAX; i++)
		if (table[i].used && strcmp(table[i].jid, jid) == 0) {
			row_clear(&table[i]);
			n++;
		}
	uv_mutex_unlock(&lock);
	return n;
}

size_t aa_sessions_count(void)
{
	size_t n = 0;
	uv_mutex_lock(&lock);
	expire(aa_now_ms());
	for (size_t i = 0; i < AA_SESSIONS_MAX; i++)
		n += table[i].used;
	uv_mutex_unlock(&lock);
	return n;
}
