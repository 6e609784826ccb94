/*
 * ctl import / export: accounts, certificate pins, groups and memberships
 * in bulk, as CSV or JSON (the formats are in import_help below and in
 * README.md).
 *
 * An import is all or nothing.  It runs in three passes: read and check
 * every row (collecting every error with its line or index); derive the
 * SCRAM records of the passwords, the slow part (PBKDF2), on every CPU and
 * before any lock is taken; then write everything in one transaction,
 * which the store refuses row by row (an account or group that exists, a
 * member twice) without ending it, so those errors are collected too.  Any
 * error and nothing is committed.  The write lock is held only for the
 * inserts, so a running server's writers wait for a moment, not for the
 * hashing.
 *
 * Passwords are never stored, so export cannot write them; with
 * --with-secrets it writes the SCRAM records, which import takes as they
 * are (no hashing at all).  This file is not a sync tool: rows that exist
 * already are errors, never updates.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "ctl/ctl.h"
#include "manage/manage.h"
#include "sasl/sasl.h"
#include "store/store.h"

/* Limits before work: a line longer than this is an error, not memory. */
enum { IMPORT_LINE_MAX = 64 * 1024, IMPORT_FIELDS_MAX = 8 };
/* Rows between progress lines on a terminal; errors printed in full. */
enum { IMPORT_PROGRESS_EVERY = 1000, IMPORT_ERRORS_SHOWN = 100, IMPORT_THREADS_MAX = 16 };

#define mech_names ctl_scram_mech

static const char import_help[] =
	"usage: parleyctl [-c FILE] import FILE|- [--format csv|json]\n"
	"       parleyctl [-c FILE] export [--format csv|json] [--with-secrets] [--out FILE]\n"
	"\n"
	"import loads accounts, certificate pins, groups and memberships in one\n"
	"transaction: every bad row is reported (CSV: its line, JSON: its index)\n"
	"and then nothing is imported.  Rows that exist already are errors.  The\n"
	"format is json for a FILE ending in .json, else csv, unless --format says.\n"
	"\n"
	"CSV: one record per line, fields separated by commas; a field holding a\n"
	"comma or a quote is quoted (\"a,b\", \"say \"\"hi\"\"\").  Empty lines and lines\n"
	"starting with # are skipped.  Records:\n"
	"  user,JID,PASSWORD          an account (SCRAM records are derived)\n"
	"  user,JID,                  an account without password (certificate only,\n"
	"                             unless scram lines follow)\n"
	"  scram,JID,MECHANISM,ITERATIONS,SALT,STORED_KEY,SERVER_KEY\n"
	"                             a SCRAM record (base64 values; MECHANISM is\n"
	"                             SCRAM-SHA-1 or SCRAM-SHA-256) of the user above\n"
	"  pin,JID,FINGERPRINT        a certificate pinned to the user above (SHA-256)\n"
	"  group,NAME,LABEL[,shared][,members-only]\n"
	"                             a group\n"
	"  member,GROUP,JID           a member (any bare JID) of a group of this file\n"
	"                             or of the database\n"
	"\n"
	"JSON: {\"users\": [{\"jid\": J, \"password\": P} | {\"jid\": J, \"scram\":\n"
	"  [{\"mechanism\": M, \"iterations\": N, \"salt\": B64, \"stored_key\": B64,\n"
	"  \"server_key\": B64}], \"pins\": [FP]}], \"groups\": [{\"name\": N, \"label\": L,\n"
	"  \"shared\": BOOL, \"members_only\": BOOL, \"members\": [JID]}]}\n"
	"\n"
	"export writes the same format to standard output.  Passwords are not\n"
	"stored, so without --with-secrets accounts come out without credentials\n"
	"(imported again, they log in by certificate only); --with-secrets adds\n"
	"their SCRAM records, which log in as before: keep that file private.\n";

static int usage(void)
{
	fputs(import_help, stderr);
	return CTL_USAGE;
}

struct imp_user {
	const char *jid;
	const char *where;   /* "line 12", "users[3]" */
	char *password;      /* heap, wiped after hashing; NULL: none */
	bool bad_password;   /* SASLprep refused it */
	struct scram_cred made[SCRAM_HASH_COUNT];
	struct store_cred creds[SCRAM_HASH_COUNT];
	size_t ncreds;
};

struct imp_pin {
	const char *jid, *fingerprint, *where;
};

struct imp_group {
	const char *name, *label, *where;
	bool shared, members_only;
};

struct imp_member {
	const char *group, *jid, *where;
};

/* A growable array of `size`-byte elements. */
struct vec {
	void *v;
	size_t n, cap;
};

static void *vec_push(struct vec *v, size_t size)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = xrealloc(v->v, v->cap * size);
	}
	void *e = (char *)v->v + v->n++ * size;
	memset(e, 0, size);
	return e;
}

struct import {
	struct ctl *c;
	const struct config *cfg;
	struct arena *a;
	const char *file;
	struct vec users, pins, groups, members; /* imp_user, ... */
	size_t errors;
	/* The JID of the last user row refused, as written: its scram and pin
	 * rows are skipped, not reported again. */
	const char *refused_user;
	bool tty;
	/* the hashing pass */
	atomic_size_t next, done;
	size_t nhash;
};

static void imp_error(struct import *im, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void imp_error(struct import *im, const char *where, const char *fmt, ...)
{
	if (im->errors++ >= IMPORT_ERRORS_SHOWN)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "parleyctl: %s: %s: ", im->file, where);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void progress(struct import *im, const char *what, size_t done, size_t total)
{
	if (im->tty && (done % IMPORT_PROGRESS_EVERY == 0 || done == total))
		fprintf(stderr, "\r%s: %zu/%zu%s", what, done, total, done == total ? "\n" : "");
}

/* ---- Checking rows ---- */

/* The checks are manage/'s: these only say where the row is. */
static const char *user_jid(struct import *im, const char *where, const char *s)
{
	const char *bare;
	struct manage_err err;
	if (manage_user_jid(im->cfg, im->a, s, &bare, &err) != MANAGE_OK) {
		imp_error(im, where, "%s", err.msg);
		return NULL;
	}
	return bare;
}

static const char *member_jid(struct import *im, const char *where, const char *s)
{
	const char *bare;
	struct manage_err err;
	if (manage_group_member_jid(im->a, s, &bare, &err) != MANAGE_OK) {
		imp_error(im, where, "%s", err.msg);
		return NULL;
	}
	return bare;
}

static bool group_name_ok(struct import *im, const char *where, const char *name)
{
	struct manage_err err;
	if (manage_group_name_check(name, &err) != MANAGE_OK) {
		imp_error(im, where, "%s", err.msg);
		return false;
	}
	return true;
}

static void add_user(struct import *im, const char *where, const char *jid, const char *password)
{
	const char *bare = user_jid(im, where, jid);
	if (!bare) {
		im->refused_user = arena_strdup(im->a, jid);
		return;
	}
	struct imp_user *u = vec_push(&im->users, sizeof(*u));
	u->jid = bare;
	u->where = where;
	if (password && *password) {
		u->password = xstrdup(password);
		im->nhash++;
	}
}

/* The user a record of `jid` (`what`: "a pin") belongs to: the last one
 * read, or NULL after saying why (nothing for a user refused already). */
static struct imp_user *record_user(struct import *im, const char *where, const char *jid,
				    const char *what)
{
	struct imp_user *u = im->users.n ? (struct imp_user *)im->users.v + im->users.n - 1 : NULL;
	if (im->refused_user && jid && !strcmp(jid, im->refused_user))
		return NULL;
	const char *bare = user_jid(im, where, jid);
	if (!bare)
		return NULL;
	if (!u || strcmp(u->jid, bare) != 0) {
		imp_error(im, where, "%s belongs right after its user (%s)", what, bare);
		return NULL;
	}
	return u;
}

/* A SCRAM record for the last user, which must be `jid` and have no
 * password.  Values are base64 (strict). */
static void add_scram(struct import *im, const char *where, const char *jid, const char *mech,
		      long long iterations, const char *salt, const char *stored, const char *server)
{
	struct imp_user *u = record_user(im, where, jid, "a SCRAM record");
	if (!u)
		return;
	const char *bare = u->jid;
	if (u->password) {
		imp_error(im, where, "%s has a password and a SCRAM record: give one", bare);
		return;
	}
	int h = -1;
	for (int k = 0; k < SCRAM_HASH_COUNT; k++)
		if (mech && !strcmp(mech, mech_names[k]))
			h = k;
	if (h < 0) {
		imp_error(im, where, "'%s' is not SCRAM-SHA-1 or SCRAM-SHA-256", mech ? mech : "");
		return;
	}
	for (size_t k = 0; k < u->ncreds; k++)
		if (!strcmp(u->creds[k].mech, mech_names[h])) {
			imp_error(im, where, "a second %s record for %s", mech_names[h], bare);
			return;
		}
	if (iterations < 1 || iterations > 10000000) {
		imp_error(im, where, "iterations must be 1 to 10000000");
		return;
	}
	struct buf b[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
	const char *vals[3] = {salt, stored, server};
	size_t key_len = scram_hash_len((enum scram_hash)h);
	bool ok = true;
	for (int k = 0; k < 3; k++) {
		if (!vals[k] || sasl_base64_decode(&b[k], vals[k], strlen(vals[k])) < 0 ||
		    (k == 0 ? b[k].len == 0 || b[k].len > SCRAM_SALT_MAX : b[k].len != key_len))
			ok = false;
	}
	if (!ok)
		imp_error(im, where, "the salt and keys must be base64 (keys of %zu bytes for %s)",
			  key_len, mech_names[h]);
	else
		u->creds[u->ncreds++] = (struct store_cred){
			.mech = mech_names[h],
			.iterations = (unsigned)iterations,
			.salt = (const unsigned char *)arena_strndup(im->a, b[0].data, b[0].len),
			.salt_len = b[0].len,
			.stored_key = (const unsigned char *)arena_strndup(im->a, b[1].data, key_len),
			.server_key = (const unsigned char *)arena_strndup(im->a, b[2].data, key_len),
			.key_len = key_len,
		};
	for (int k = 0; k < 3; k++)
		buf_clear(&b[k]);
}

static void add_pin(struct import *im, const char *where, const char *jid, const char *fp)
{
	struct imp_user *u = record_user(im, where, jid, "a pin");
	if (!u)
		return;
	const char *bare = u->jid;
	char norm[STORE_FINGERPRINT_LEN + 1];
	if (!fp || !store_fingerprint_norm(fp, norm)) {
		imp_error(im, where, "'%s' is not a SHA-256 fingerprint", fp ? fp : "");
		return;
	}
	struct imp_pin *p = vec_push(&im->pins, sizeof(*p));
	*p = (struct imp_pin){bare, arena_strdup(im->a, norm), where};
}

static void add_group(struct import *im, const char *where, const char *name, const char *label,
		      bool shared, bool members_only)
{
	struct manage_err err;
	if (!group_name_ok(im, where, name))
		return;
	if (manage_group_label_check(label, &err) != MANAGE_OK) {
		imp_error(im, where, "%s", err.msg);
		return;
	}
	struct imp_group *g = vec_push(&im->groups, sizeof(*g));
	*g = (struct imp_group){arena_strdup(im->a, name), arena_strdup(im->a, label ? label : ""),
				where, shared, members_only};
}

static void add_member(struct import *im, const char *where, const char *group, const char *jid)
{
	if (!group_name_ok(im, where, group))
		return;
	const char *bare = member_jid(im, where, jid);
	if (!bare)
		return;
	struct imp_member *m = vec_push(&im->members, sizeof(*m));
	*m = (struct imp_member){arena_strdup(im->a, group), bare, where};
}

/* ---- CSV ---- */

/* Splits `line` in place into at most IMPORT_FIELDS_MAX fields (RFC 4180
 * quoting, one line per record).  -1 on a bad quote or too many fields. */
static int csv_split(char *line, char **f, size_t *n)
{
	char *r = line, *w = line;
	*n = 0;
	for (;;) {
		if (*n == IMPORT_FIELDS_MAX)
			return -1;
		f[(*n)++] = w;
		if (*r == '"') {
			r++;
			for (;;) {
				if (!*r)
					return -1;
				if (*r == '"' && r[1] == '"') {
					*w++ = '"';
					r += 2;
				} else if (*r == '"') {
					r++;
					break;
				} else {
					*w++ = *r++;
				}
			}
			if (*r && *r != ',')
				return -1;
		} else {
			while (*r && *r != ',') {
				if (*r == '"')
					return -1;
				*w++ = *r++;
			}
		}
		if (!*r) {
			*w = '\0';
			return 0;
		}
		*w++ = '\0';
		r++;
	}
}

static void csv_record(struct import *im, const char *where, char **f, size_t n)
{
	const char *kind = f[0];
	if (!strcmp(kind, "user") && n == 3) {
		add_user(im, where, f[1], f[2]);
	} else if (!strcmp(kind, "scram") && n == 7) {
		char *end;
		errno = 0;
		long long it = strtoll(f[3], &end, 10);
		if (errno || !*f[3] || *end)
			it = 0;
		add_scram(im, where, f[1], f[2], it, f[4], f[5], f[6]);
	} else if (!strcmp(kind, "pin") && n == 3) {
		add_pin(im, where, f[1], f[2]);
	} else if (!strcmp(kind, "group") && n >= 3 && n <= 5) {
		bool shared = false, members_only = false, ok = true;
		for (size_t k = 3; k < n; k++) {
			if (!strcmp(f[k], "shared"))
				shared = true;
			else if (!strcmp(f[k], "members-only"))
				members_only = true;
			else if (*f[k])
				ok = false;
		}
		if (ok)
			add_group(im, where, f[1], f[2], shared, members_only);
		else
			imp_error(im, where, "a group's flags are 'shared' and 'members-only'");
	} else if (!strcmp(kind, "member") && n == 3) {
		add_member(im, where, f[1], f[2]);
	} else {
		imp_error(im, where, "expected user,JID,PASSWORD | scram,JID,MECH,ITERATIONS,SALT,"
				     "STORED_KEY,SERVER_KEY | pin,JID,FP | group,NAME,LABEL[,shared]"
				     "[,members-only] | member,GROUP,JID");
	}
}

static int read_csv(struct import *im, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	size_t lineno = 0;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		char *where = arena_printf(im->a, "line %zu", lineno);
		if ((size_t)len > IMPORT_LINE_MAX) {
			imp_error(im, where, "longer than %d bytes", IMPORT_LINE_MAX);
			continue;
		}
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		char *f[IMPORT_FIELDS_MAX];
		size_t n;
		if (csv_split(line, f, &n) < 0)
			imp_error(im, where, "bad quoting or too many fields");
		else
			csv_record(im, where, f, n);
	}
	if (line)
		explicit_bzero(line, cap);
	free(line);
	if (ferror(in)) {
		ctl_error("%s: %s", im->file, strerror(errno));
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* ---- JSON ---- */

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void json_user(struct import *im, const char *where, json_t *u)
{
	const char *jid = jstr(u, "jid");
	json_t *pw = json_object_get(u, "password");
	json_t *scram = json_object_get(u, "scram");
	json_t *pins = json_object_get(u, "pins");
	if (!json_is_object(u) || !jid || (pw && !json_is_string(pw)) ||
	    (scram && !json_is_array(scram)) || (pins && !json_is_array(pins))) {
		imp_error(im, where, "expected {\"jid\": JID, \"password\": TEXT} or {\"jid\": JID, "
				     "\"scram\": [...]}, with \"pins\": [FINGERPRINT] optional");
		return;
	}
	size_t before = im->users.n;
	add_user(im, where, jid, pw ? json_string_value(pw) : NULL);
	if (im->users.n == before)
		return;
	size_t i;
	json_t *v;
	json_array_foreach(scram, i, v)
	{
		const char *w = arena_printf(im->a, "%s.scram[%zu]", where, i);
		json_t *it = json_object_get(v, "iterations");
		add_scram(im, w, jid, jstr(v, "mechanism"), json_is_integer(it) ? json_integer_value(it) : 0,
			  jstr(v, "salt"), jstr(v, "stored_key"), jstr(v, "server_key"));
	}
	json_array_foreach(pins, i, v)
	{
		const char *w = arena_printf(im->a, "%s.pins[%zu]", where, i);
		add_pin(im, w, jid, json_string_value(v));
	}
}

static void json_group(struct import *im, const char *where, json_t *g)
{
	const char *name = jstr(g, "name");
	json_t *label = json_object_get(g, "label"), *shared = json_object_get(g, "shared");
	json_t *mo = json_object_get(g, "members_only"), *members = json_object_get(g, "members");
	if (!json_is_object(g) || !name || (label && !json_is_string(label)) ||
	    (shared && !json_is_boolean(shared)) || (mo && !json_is_boolean(mo)) ||
	    (members && !json_is_array(members))) {
		imp_error(im, where, "expected {\"name\": TEXT, \"label\": TEXT, \"shared\": BOOL, "
				     "\"members_only\": BOOL, \"members\": [JID]}");
		return;
	}
	add_group(im, where, name, label ? json_string_value(label) : "", json_is_true(shared),
		  json_is_true(mo));
	size_t i;
	json_t *v;
	json_array_foreach(members, i, v)
	{
		const char *w = arena_printf(im->a, "%s.members[%zu]", where, i);
		if (!json_is_string(v))
			imp_error(im, w, "a member is a JID string");
		else
			add_member(im, w, name, json_string_value(v));
	}
}

static int read_json(struct import *im, FILE *in)
{
	json_error_t err;
	json_t *root = json_loadf(in, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		ctl_error("%s: line %d: %s", im->file, err.line, err.text);
		return CTL_FAIL;
	}
	json_t *users = json_object_get(root, "users"), *groups = json_object_get(root, "groups");
	if (!json_is_object(root) || (users && !json_is_array(users)) ||
	    (groups && !json_is_array(groups))) {
		ctl_error("%s: expected {\"users\": [...], \"groups\": [...]}", im->file);
		json_decref(root);
		return CTL_FAIL;
	}
	size_t i;
	json_t *v;
	json_array_foreach(users, i, v)
		json_user(im, arena_printf(im->a, "users[%zu]", i), v);
	json_array_foreach(groups, i, v)
		json_group(im, arena_printf(im->a, "groups[%zu]", i), v);
	json_decref(root);
	return CTL_OK;
}

/* ---- Hashing ---- */

static void *hash_main(void *arg)
{
	struct import *im = arg;
	unsigned iterations = im->cfg->auth.scram_iterations;
	struct imp_user *users = im->users.v;
	for (;;) {
		size_t i = atomic_fetch_add(&im->next, 1);
		if (i >= im->users.n)
			break;
		struct imp_user *u = &users[i];
		if (!u->password)
			continue;
		if (manage_password_creds(u->password, iterations, u->made, u->creds, NULL) != MANAGE_OK)
			u->bad_password = true;
		if (!u->bad_password)
			u->ncreds = SCRAM_HASH_COUNT;
		explicit_bzero(u->password, strlen(u->password));
		free(u->password);
		u->password = NULL;
		size_t d = atomic_fetch_add(&im->done, 1) + 1;
		if (arg == im && i % 64 == 0)
			progress(im, "hashing passwords", d, im->nhash);
	}
	return NULL;
}

static void hash_passwords(struct import *im)
{
	if (!im->nhash)
		return;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cpus < 1 ? 1 : cpus > IMPORT_THREADS_MAX ? IMPORT_THREADS_MAX : (size_t)cpus;
	pthread_t t[IMPORT_THREADS_MAX];
	size_t started = 0;
	for (size_t k = 1; k < n; k++)
		if (pthread_create(&t[started], NULL, hash_main, im) == 0)
			started++;
	hash_main(im);
	for (size_t k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	progress(im, "hashing passwords", im->nhash, im->nhash);
	struct imp_user *users = im->users.v;
	for (size_t i = 0; i < im->users.n; i++)
		if (users[i].bad_password)
			imp_error(im, users[i].where, "the password of %s is not acceptable (it must "
						      "be valid UTF-8 and pass SASLprep)", users[i].jid);
}

/* ---- Writing ---- */

/* A refused row is reported and the transaction goes on, so that every
 * error is found; `hint` (may be NULL) follows the sentence of a
 * MANAGE_NOT_FOUND. */
static void write_ok(struct import *im, const char *where, enum manage_result r,
		     const struct manage_err *err, const char *hint)
{
	if (r == MANAGE_NOT_FOUND && hint)
		imp_error(im, where, "%s %s", err->msg, hint);
	else if (r != MANAGE_OK)
		imp_error(im, where, "%s", err->msg);
}

/* Tells a running server of every group the import made or filled, once
 * each (ctl_group_changed). */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void groups_changed(struct import *im)
{
	size_t n = im->groups.n + im->members.n, k = 0;
	if (!n)
		return;
	const char **names = xmalloc(n * sizeof(*names));
	struct imp_group *groups = im->groups.v;
	struct imp_member *members = im->members.v;
	for (size_t i = 0; i < im->groups.n; i++)
		names[k++] = groups[i].name;
	for (size_t i = 0; i < im->members.n; i++)
		names[k++] = members[i].group;
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			ctl_group_changed(im->c, names[i]);
	free(names);
}

static int write_all(struct import *im, struct store *s)
{
	if (store_begin(s) != STORE_OK) {
		ctl_error("cannot write the database: %s", store_error(s));
		return CTL_FAIL;
	}
	struct imp_user *users = im->users.v;
	struct imp_pin *pins = im->pins.v;
	struct imp_group *groups = im->groups.v;
	struct imp_member *members = im->members.v;
	size_t total = im->users.n + im->pins.n + im->groups.n + im->members.n, done = 0;
	struct manage_err err;
	for (size_t i = 0; i < im->users.n; i++, done++) {
		struct imp_user *u = &users[i];
		write_ok(im, u->where, manage_user_create_creds(s, im->cfg, u->jid, u->creds, u->ncreds, &err),
			 &err, NULL);
		progress(im, "writing", done + 1, total);
	}
	for (size_t i = 0; i < im->pins.n; i++, done++) {
		write_ok(im, pins[i].where, manage_user_pin_add(s, im->cfg, pins[i].jid, pins[i].fingerprint, &err),
			 &err, NULL);
		progress(im, "writing", done + 1, total);
	}
	for (size_t i = 0; i < im->groups.n; i++, done++) {
		struct imp_group *g = &groups[i];
		struct manage_group_spec spec = {g->name, g->label, g->shared, g->members_only};
		write_ok(im, g->where, manage_group_create(s, &spec, &err), &err, NULL);
		progress(im, "writing", done + 1, total);
	}
	for (size_t i = 0; i < im->members.n; i++, done++) {
		struct imp_member *m = &members[i];
		write_ok(im, m->where, manage_group_add(s, m->group, m->jid, &err), &err,
			 "(in this file or the database)");
		progress(im, "writing", done + 1, total);
	}
	if (im->errors) {
		store_rollback(s);
		return CTL_FAIL;
	}
	if (store_commit(s) != STORE_OK) {
		ctl_error("cannot write the database: %s", store_error(s));
		return CTL_FAIL;
	}
	return CTL_OK;
}

static void import_free(struct import *im)
{
	struct imp_user *users = im->users.v;
	for (size_t i = 0; i < im->users.n; i++) {
		if (users[i].password) {
			explicit_bzero(users[i].password, strlen(users[i].password));
			free(users[i].password);
		}
	}
	if (users)
		explicit_bzero(users, im->users.n * sizeof(*users));
	free(im->users.v);
	free(im->pins.v);
	free(im->groups.v);
	free(im->members.v);
	arena_free(im->a);
}

/* "csv" or "json" from --format, else from the file name. */
static int parse_format(const char *given, const char *file, bool *json)
{
	if (given) {
		if (strcmp(given, "csv") != 0 && strcmp(given, "json") != 0) {
			ctl_error("the formats are csv and json");
			return CTL_USAGE;
		}
		*json = !strcmp(given, "json");
		return CTL_OK;
	}
	size_t n = file ? strlen(file) : 0;
	*json = n > 5 && !strcmp(file + n - 5, ".json");
	return CTL_OK;
}

int ctl_import(struct ctl *c, int argc, char **argv)
{
	const char *file = NULL, *format = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(import_help, stdout);
			return CTL_OK;
		}
		if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
			file = argv[i];
		else
			return usage();
	}
	bool json;
	if (!file)
		return usage();
	if (parse_format(format, file, &json) != CTL_OK)
		return CTL_USAGE;
	struct import im = {.c = c, .file = file, .tty = isatty(STDERR_FILENO) == 1};
	im.cfg = ctl_config(c);
	if (!im.cfg)
		return CTL_USAGE;
	FILE *in = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!in) {
		ctl_error("%s: %s", file, strerror(errno));
		return CTL_FAIL;
	}
	im.a = arena_new();
	struct store *s = NULL;
	int rc = json ? read_json(&im, in) : read_csv(&im, in);
	if (in != stdin)
		fclose(in);
	if (rc != CTL_OK || im.errors)
		goto out;
	hash_passwords(&im);
	if (im.errors)
		goto out;
	rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	rc = write_all(&im, s);
	if (rc == CTL_OK) {
		printf("imported %zu accounts, %zu pins, %zu groups, %zu memberships\n", im.users.n,
		       im.pins.n, im.groups.n, im.members.n);
		groups_changed(&im);
	}
out:
	if (im.errors) {
		if (im.errors > IMPORT_ERRORS_SHOWN)
			ctl_error("%s: %zu more errors not shown", file, im.errors - IMPORT_ERRORS_SHOWN);
		ctl_error("%s: %zu error%s: nothing imported", file, im.errors,
			  im.errors == 1 ? "" : "s");
		rc = CTL_FAIL;
	}
	store_close(s);
	import_free(&im);
	return rc;
}

/* ---- Export ---- */

struct export {
	struct store *s;
	struct arena *a;
	bool json, secrets;
	json_t *users, *groups; /* JSON only */
	json_t *members;        /* of the group being written */
	const char *group;
	int ret;
};

/* A CSV field, quoted when it must be. */
static void csv_field(FILE *out, const char *v, bool last)
{
	if (strpbrk(v, ",\"") || (v[0] == '#')) {
		fputc('"', out);
		for (const char *p = v; *p; p++) {
			if (*p == '"')
				fputc('"', out);
			fputc(*p, out);
		}
		fputc('"', out);
	} else {
		fputs(v, out);
	}
	fputc(last ? '\n' : ',', out);
}

static char *b64(struct arena *a, const unsigned char *p, size_t n)
{
	struct buf b = BUF_INIT;
	sasl_base64_encode(&b, p, n);
	char *s = arena_strndup(a, b.data ? b.data : "", b.len);
	buf_clear(&b);
	return s;
}

static int export_user(void *ud, const char *jid)
{
	struct export *ex = ud;
	arena_reset(ex->a);
	json_t *u = NULL, *scram = NULL, *pins = NULL;
	if (ex->json) {
		u = json_pack("{s:s}", "jid", jid);
		json_array_append_new(ex->users, u);
	} else {
		fputs("user,", stdout);
		csv_field(stdout, jid, false);
		fputc('\n', stdout);
	}
	for (int h = 0; ex->secrets && h < SCRAM_HASH_COUNT; h++) {
		struct store_cred cr;
		int r = store_user_get_cred(ex->s, ex->a, jid, mech_names[h], &cr);
		if (r == STORE_NOT_FOUND)
			continue;
		if (r != STORE_OK) {
			ex->ret = r;
			return 1;
		}
		char *salt = b64(ex->a, cr.salt, cr.salt_len), *st = b64(ex->a, cr.stored_key, cr.key_len);
		char *sv = b64(ex->a, cr.server_key, cr.key_len);
		if (ex->json) {
			if (!scram) {
				scram = json_array();
				json_object_set_new(u, "scram", scram);
			}
			json_array_append_new(scram, json_pack("{s:s,s:I,s:s,s:s,s:s}", "mechanism",
							       cr.mech, "iterations",
							       (json_int_t)cr.iterations, "salt", salt,
							       "stored_key", st, "server_key", sv));
		} else {
			printf("scram,%s,%s,%u,%s,%s,%s\n", jid, cr.mech, cr.iterations, salt, st, sv);
		}
	}
	struct store_cert_pin *p;
	size_t n;
	int r = store_cert_pin_list(ex->s, ex->a, jid, &p, &n);
	if (r != STORE_OK) {
		ex->ret = r;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ex->json) {
			if (!pins) {
				pins = json_array();
				json_object_set_new(u, "pins", pins);
			}
			json_array_append_new(pins, json_string(p[i].fingerprint));
		} else {
			printf("pin,%s,%s\n", jid, p[i].fingerprint);
		}
	}
	return 0;
}

static int export_member(void *ud, const char *m)
{
	struct export *ex = ud;
	if (ex->json) {
		json_array_append_new(ex->members, json_string(m));
	} else {
		fputs("member,", stdout);
		csv_field(stdout, ex->group, false);
		csv_field(stdout, m, true);
	}
	return 0;
}

/* A group, then its members (the list callback may use the handle). */
static int export_group(void *ud, const struct store_group *g)
{
	struct export *ex = ud;
	if (ex->json) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:b,s:[]}", "name", g->name, "label", g->label,
				      "shared", g->shared, "members_only", g->members_only, "members");
		json_array_append_new(ex->groups, o);
		ex->members = json_object_get(o, "members");
	} else {
		fputs("group,", stdout);
		csv_field(stdout, g->name, false);
		csv_field(stdout, g->label, false);
		printf("%s,%s\n", g->shared ? "shared" : "", g->members_only ? "members-only" : "");
	}
	ex->group = g->name;
	int r = store_group_members(ex->s, g->name, export_member, ex);
	if (r != STORE_OK) {
		ex->ret = r;
		return 1;
	}
	return 0;
}

/* --out FILE: standard output goes to FILE, readable by its owner only
 * (an export with secrets holds every account's SCRAM records). */
static int export_to_file(const char *path)
{
	fflush(stdout);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ctl_error("cannot write %s: %s", path, strerror(errno));
		return CTL_FAIL;
	}
	/* An existing file keeps its mode through O_CREAT: make it private. */
	if (fchmod(fd, 0600) < 0 || dup2(fd, STDOUT_FILENO) < 0) {
		ctl_error("cannot write %s: %s", path, strerror(errno));
		close(fd);
		return CTL_FAIL;
	}
	close(fd);
	return CTL_OK;
}

int ctl_export(struct ctl *c, int argc, char **argv)
{
	const char *format = "csv", *out = NULL;
	bool secrets = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--with-secrets"))
			secrets = true;
		else
			return usage();
	}
	bool json;
	if (parse_format(format, NULL, &json) != CTL_OK)
		return CTL_USAGE;
	if (out && export_to_file(out) != CTL_OK)
		return CTL_FAIL;
	struct store *s;
	int rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		return rc;
	struct export ex = {.s = s, .a = arena_new(), .json = json, .secrets = secrets};
	if (json) {
		ex.users = json_array();
		ex.groups = json_array();
	} else {
		printf("# parleyctl export%s\n", secrets ? " --with-secrets: SCRAM records, keep private"
							 : ": no credentials (see import --help)");
	}
	int r = store_user_list(s, NULL, export_user, &ex);
	if (r == STORE_OK)
		r = ex.ret;
	if (r == STORE_OK)
		r = store_group_list(s, export_group, &ex);
	if (r == STORE_OK)
		r = ex.ret;
	if (r == STORE_OK && json) {
		json_t *root = json_pack("{s:o,s:o}", "users", ex.users, "groups", ex.groups);
		ex.users = ex.groups = NULL;
		json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
	}
	json_decref(ex.users);
	json_decref(ex.groups);
	arena_free(ex.a);
	if (r != STORE_OK)
		ctl_error("cannot export: %s", store_error(s));
	store_close(s);
	if (fflush(stdout) != 0) {
		ctl_error("writing the export: %s", strerror(errno));
		return CTL_FAIL;
	}
	return r == STORE_OK ? CTL_OK : CTL_FAIL;
}
