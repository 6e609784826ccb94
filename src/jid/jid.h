/*
 * jid: parsing and preparation of JIDs (RFC 7622 syntax; nodeprep and
 * resourceprep of RFC 6122 through libidn's stringprep, domains through
 * nameprep with IDNA checks through libidn2).  A parsed JID is always in
 * its prepared, canonical form, so two JIDs are equal exactly when their
 * strings are equal.
 *
 * Not here: deciding whether a domain is ours (router/) or how a JID maps
 * to an account (store/).
 */
#ifndef PARLEY_JID_JID_H
#define PARLEY_JID_JID_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

/* Each part at most 1023 bytes after preparation (RFC 7622 §3). */
enum { JID_PART_MAX = 1023 };

struct jid {
	const char *local;    /* NULL when there is none */
	const char *domain;   /* never NULL; lower case, no trailing dot */
	const char *resource; /* NULL when there is none */
	const char *bare;     /* "local@domain", or "domain" */
	const char *full;     /* bare plus "/resource" when there is one */
};

/* Parsing: 0 on success; -1 when `s` is not a valid JID (the caller
 * answers <jid-malformed/>).  All strings of `out` live in `a`. */
int jid_parse(struct arena *a, const char *s, size_t len, struct jid *out);
int jid_parse_str(struct arena *a, const char *s, struct jid *out);

/* Builds a JID from parts (local and resource may be NULL), preparing each
 * part; 0 or -1 as jid_parse. */
int jid_make(struct arena *a, const char *local, const char *domain, const char *resource,
	     struct jid *out);

/* Preparation of single parts: a prepared copy in `a`, or NULL when the
 * part is invalid (empty, too long, prohibited characters). */
const char *jid_prep_local(struct arena *a, const char *s, size_t len);
const char *jid_prep_domain(struct arena *a, const char *s, size_t len);
const char *jid_prep_resource(struct arena *a, const char *s, size_t len);

/* The bare JID of j (shares j's strings). */
struct jid jid_bare(const struct jid *j);
bool jid_is_bare(const struct jid *j);
bool jid_equal(const struct jid *a, const struct jid *b);
bool jid_bare_equal(const struct jid *a, const struct jid *b);

/* A JID that outlives any arena: one heap block, released with free(). */
struct jid *jid_dup(const struct jid *j);

#endif
