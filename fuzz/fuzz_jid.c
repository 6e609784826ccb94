/*
 * fuzz_jid: libFuzzer target for jid/.  The whole input is parsed as a JID
 * and also prepared as each single part.  What comes out must be canonical,
 * since the rest of the server compares JIDs as strings (jid.h): a parsed
 * JID re-parses from its full string to the same parts, jid_make() builds
 * it again from its parts, each part is a fixed point of its own
 * preparation, and the bare and full strings are made of the parts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "jid/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool str_eq0(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void fail(const char *what, const char *in, size_t len, const char *got)
{
	fprintf(stderr, "%s: input '%.*s' gave '%s'\n", what, (int)len, in, got ? got : "(null)");
	abort();
}

static void check_same(const struct jid *a, const struct jid *b, const char *what)
{
	if (!str_eq0(a->local, b->local) || !str_eq0(a->domain, b->domain) ||
	    !str_eq0(a->resource, b->resource) || !str_eq0(a->bare, b->bare) ||
	    !str_eq0(a->full, b->full))
		fail(what, a->full, strlen(a->full), b->full);
}

/* A prepared part prepares to itself. */
static void check_part(struct arena *a, const char *(*prep)(struct arena *, const char *, size_t),
		       const char *part, const char *what)
{
	if (!part)
		return;
	size_t len = strlen(part);
	if (len == 0 || len > JID_PART_MAX)
		fail(what, part, len, "a part of that length");
	const char *again = prep(a, part, len);
	if (!str_eq0(part, again))
		fail(what, part, len, again);
}

static void check_jid(struct arena *a, const struct jid *j)
{
	if (!j->domain || !*j->domain)
		fail("no domain", j->full, strlen(j->full), j->domain);
	check_part(a, jid_prep_local, j->local, "local part not stable");
	check_part(a, jid_prep_domain, j->domain, "domain not stable");
	check_part(a, jid_prep_resource, j->resource, "resource not stable");
	const char *bare = j->local ? arena_printf(a, "%s@%s", j->local, j->domain) : j->domain;
	const char *full = j->resource ? arena_printf(a, "%s/%s", bare, j->resource) : bare;
	if (strcmp(bare, j->bare) != 0 || strcmp(full, j->full) != 0)
		fail("bare or full not made of the parts", j->full, strlen(j->full), full);
	if (jid_is_bare(j) != (j->resource == NULL))
		fail("jid_is_bare", j->full, strlen(j->full), j->bare);

	/* Separators must not appear where a re-parse would split there. */
	struct jid again;
	if (jid_parse_str(a, j->full, &again) != 0)
		fail("prepared JID does not re-parse", j->full, strlen(j->full), NULL);
	check_same(j, &again, "prepared JID re-parses to another");
	if (!jid_equal(j, &again) || !jid_bare_equal(j, &again))
		fail("jid_equal", j->full, strlen(j->full), again.full);
	struct jid made;
	if (jid_make(a, j->local, j->domain, j->resource, &made) != 0)
		fail("jid_make refuses the parts", j->full, strlen(j->full), NULL);
	check_same(j, &made, "jid_make gives another");

	struct jid bare_j = jid_bare(j);
	if (!jid_is_bare(&bare_j) || strcmp(bare_j.full, j->bare) != 0 || !jid_bare_equal(j, &bare_j))
		fail("jid_bare", j->full, strlen(j->full), bare_j.full);
	struct jid *dup = jid_dup(j);
	check_same(j, dup, "jid_dup gives another");
	free(dup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct arena *a = arena_new();

	struct jid j;
	if (jid_parse(a, in, size, &j) == 0)
		check_jid(a, &j);

	/* Each preparation alone, on the whole input. */
	static const struct {
		const char *(*prep)(struct arena *, const char *, size_t);
		const char *what;
	} parts[] = {
		{jid_prep_local, "local part not stable"},
		{jid_prep_domain, "domain not stable"},
		{jid_prep_resource, "resource not stable"},
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		const char *p = parts[i].prep(a, in, size);
		if (p && size > 0 && memchr(in, '\0', size))
			fail("a part with NUL was accepted", in, size, p);
		check_part(a, parts[i].prep, p, parts[i].what);
	}

	arena_free(a);
	arena_cache_drain();
	return 0;
}
