/*
 * Unit tests of store/ with its SQLite backend: every public function and
 * return code, the schema's life (creation, re-open, refusal of a newer
 * one), cascading account deletion, and two handles writing at once.
 *
 * Each test gets a fresh temporary directory holding one database file;
 * a few tests open the file with SQLite directly to look behind the API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
	struct arena *a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/parley-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/parley.db", f->dir);
	char *err = NULL;
	f->s = store_open(f->path, &err);
	if (!f->s) {
		fprintf(stderr, "store_open: %s\n", err);
		free(err);
		return -1;
	}
	f->a = arena_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	arena_free(f->a);
	arena_cache_drain();
	DIR *d = opendir(f->dir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Runs one SQL statement on a separate raw connection; returns the first
 * column of the first row as an integer (0 when there is none). */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Runs SQL (several statements allowed) on a separate raw connection, as
 * another writer (the sqlite3 shell) would; returns SQLite's code. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The schema version this code makes. */
enum { SCHEMA_NOW = 5 };

/* Takes a current database back to schema version 4 (before API
 * tokens), keeping everything else. */
static void undo_schema_5(const char *path)
{
	assert_int_equal(raw_exec(path, "DROP TABLE api_tokens;"
					"PRAGMA user_version = 4;"),
			 SQLITE_OK);
}

/* Takes a current database back to schema version 3 (before groups),
 * keeping everything else. */
static void undo_schema_4(const char *path)
{
	undo_schema_5(path);
	assert_int_equal(raw_exec(path, "DROP TRIGGER accounts_leave_groups;"
					"DROP TABLE memberships;"
					"DROP TABLE groups;"
					"PRAGMA user_version = 3;"),
			 SQLITE_OK);
}

/* Takes a current database back to schema version 2 (before offline
 * quotas), keeping its offline messages. */
static void undo_schema_3(const char *path)
{
	undo_schema_4(path);
	assert_int_equal(raw_exec(path, "DROP TRIGGER offline_usage_add;"
					"DROP TRIGGER offline_usage_remove;"
					"DROP TABLE offline_usage;"
					"ALTER TABLE offline_messages DROP COLUMN bytes;"
					"PRAGMA user_version = 2;"),
			 SQLITE_OK);
}

static const unsigned char salt[] = "0123456789abcdef";
static const unsigned char key1a[20] = "stored-key-sha1-....";
static const unsigned char key1b[20] = "server-key-sha1-....";
static const unsigned char key256a[32] = "stored-key-sha256-..............";
static const unsigned char key256b[32] = "server-key-sha256-..............";

static const struct store_cred creds[] = {
	{"SCRAM-SHA-1", 4096, salt, 16, key1a, key1b, 20},
	{"SCRAM-SHA-256", 8192, salt, 16, key256a, key256b, 32},
};

static void make_user(struct store *s, const char *jid)
{
	assert_int_equal(store_user_create(s, jid, creds, 2), STORE_OK);
}

/* ---- Lifecycle and schema ---- */

static void open_creates_private_wal_database(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	make_user(f->s, "alice@example.com");
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_true(raw_int(f->path, "PRAGMA user_version") >= 1);
	/* WAL is a property of the file, seen by every later connection. */
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
	store_close(NULL);
}

static void reopen_keeps_data_and_schema(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	int64_t version = raw_int(f->path, "PRAGMA user_version");
	store_close(f->s);

	char *err = (char *)"untouched";
	f->s = store_open(f->path, &err);
	assert_non_null(f->s);
	assert_null(err);
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), version);
}

static void open_refuses_newer_schema(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	f->s = NULL;
	raw_int(f->path, "PRAGMA user_version = 9999");

	char *err = NULL;
	assert_null(store_open(f->path, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "newer"));
	free(err);
	/* Nothing was changed by the refused open. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 9999);
}

static void open_reports_bad_paths(void **state)
{
	struct fixture *f = *state;
	char p[256];
	char *err = NULL;

	snprintf(p, sizeof(p), "%s/missing/dir/x.db", f->dir);
	assert_null(store_open(p, &err));
	assert_non_null(strstr(err, "cannot open"));
	free(err);

	snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file. ", fp);
	fclose(fp);
	err = NULL;
	assert_null(store_open(p, &err));
	assert_non_null(err);
	free(err);

	err = NULL;
	assert_null(store_open("", &err));
	assert_non_null(err);
	free(err);
}

/* A backend failure returns STORE_ERROR and leaves a detail behind. */
static void backend_failure_is_reported(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	raw_int(f->path, "DROP TABLE blocks");
	const char **jids;
	size_t n;
	assert_int_equal(store_block_list(f->s, f->a, "alice@example.com", &jids, &n), STORE_ERROR);
	assert_non_null(strstr(store_error(f->s), "blocks"));
	/* The handle stays usable for everything else. */
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_OK);

	/* Malformed arguments are refused before the backend. */
	struct store_roster_item bad = {.contact = "bob@example.com", .sub = 9};
	assert_int_equal(store_roster_put(f->s, "alice@example.com", &bad, 0, NULL), STORE_ERROR);
	assert_non_null(strstr(store_error(f->s), "subscription"));
	struct store_cred nomech = creds[0];
	nomech.mech = NULL;
	assert_int_equal(store_user_create(f->s, "x@example.com", &nomech, 1), STORE_ERROR);
	assert_int_equal(store_user_exists(f->s, "x@example.com"), STORE_NOT_FOUND);
}

/* ---- Accounts ---- */

static void user_create_exists_delete(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_NOT_FOUND);
	make_user(f->s, "alice@example.com");
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(store_user_create(f->s, "alice@example.com", creds, 1), STORE_EXISTS);
	/* An account without credentials (certificate-only login). */
	assert_int_equal(store_user_create(f->s, "device1@example.com", NULL, 0), STORE_OK);

	assert_int_equal(store_user_delete(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_NOT_FOUND);
	assert_int_equal(store_user_delete(f->s, "alice@example.com"), STORE_NOT_FOUND);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM credentials"), 0);
}

static void user_create_is_atomic(void **state)
{
	struct fixture *f = *state;
	/* The same mechanism twice breaks the credentials' key after the
	 * account row went in: the account must not stay behind. */
	struct store_cred twice[] = {creds[0], creds[0]};
	assert_int_equal(store_user_create(f->s, "alice@example.com", twice, 2), STORE_ERROR);
	assert_non_null(strstr(store_error(f->s), "credential"));
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_NOT_FOUND);
	make_user(f->s, "alice@example.com");
}

static void user_credentials(void **state)
{
	struct fixture *f = *state;
	struct store_cred c;
	make_user(f->s, "alice@example.com");

	assert_int_equal(store_user_get_cred(f->s, f->a, "alice@example.com", "SCRAM-SHA-256", &c),
			 STORE_OK);
	assert_string_equal(c.mech, "SCRAM-SHA-256");
	assert_int_equal(c.iterations, 8192);
	assert_int_equal(c.salt_len, 16);
	assert_memory_equal(c.salt, salt, 16);
	assert_int_equal(c.key_len, 32);
	assert_memory_equal(c.stored_key, key256a, 32);
	assert_memory_equal(c.server_key, key256b, 32);

	assert_int_equal(store_user_get_cred(f->s, f->a, "alice@example.com", "SCRAM-SHA-1", &c),
			 STORE_OK);
	assert_int_equal(c.key_len, 20);
	assert_memory_equal(c.stored_key, key1a, 20);

	assert_int_equal(store_user_get_cred(f->s, f->a, "alice@example.com", "SCRAM-SHA-512", &c),
			 STORE_NOT_FOUND);
	assert_int_equal(store_user_get_cred(f->s, f->a, "nobody@example.com", "SCRAM-SHA-1", &c),
			 STORE_NOT_FOUND);

	/* Setting replaces all: SHA-1 goes, SHA-256 changes. */
	struct store_cred next = creds[1];
	next.iterations = 10000;
	next.salt = (const unsigned char *)"";
	next.salt_len = 0;
	assert_int_equal(store_user_set_creds(f->s, "alice@example.com", &next, 1), STORE_OK);
	assert_int_equal(store_user_get_cred(f->s, f->a, "alice@example.com", "SCRAM-SHA-1", &c),
			 STORE_NOT_FOUND);
	assert_int_equal(store_user_get_cred(f->s, f->a, "alice@example.com", "SCRAM-SHA-256", &c),
			 STORE_OK);
	assert_int_equal(c.iterations, 10000);
	assert_int_equal(c.salt_len, 0);
	assert_int_equal(store_user_set_creds(f->s, "nobody@example.com", &next, 1),
			 STORE_NOT_FOUND);
	assert_int_equal(store_user_exists(f->s, "nobody@example.com"), STORE_NOT_FOUND);
}

struct collect {
	char jids[512][48];
	int n;
	int stop_after; /* 0: never stop */
	struct store *s_delete; /* delete each listed account through this */
};

static int collect_fn(void *ud, const char *jid)
{
	struct collect *c = ud;
	assert_true(c->n < 512);
	snprintf(c->jids[c->n++], sizeof(c->jids[0]), "%s", jid);
	if (c->s_delete)
		assert_int_equal(store_user_delete(c->s_delete, jid), STORE_OK);
	return c->stop_after && c->n == c->stop_after;
}

static void user_list_by_domain(void **state)
{
	struct fixture *f = *state;
	/* Neighbours that a prefix or suffix match would pick up. */
	const char *others[] = {
		"zed@anexample.com", "amy@anexample.com", "bob@example.com.au", "bob@example.co",
		"carl@sub.example.com", "x@example.org", "example@com",
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		make_user(f->s, others[i]);
	make_user(f->s, "carol@example.com");
	make_user(f->s, "alice@example.com");
	make_user(f->s, "bob@example.com");

	struct collect *c = calloc(1, sizeof(*c));
	assert_int_equal(store_user_list(f->s, "example.com", collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 3);
	assert_string_equal(c->jids[0], "alice@example.com");
	assert_string_equal(c->jids[1], "bob@example.com");
	assert_string_equal(c->jids[2], "carol@example.com");

	memset(c, 0, sizeof(*c));
	assert_int_equal(store_user_list(f->s, "anexample.com", collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 2);
	assert_string_equal(c->jids[0], "amy@anexample.com");
	assert_string_equal(c->jids[1], "zed@anexample.com");

	memset(c, 0, sizeof(*c));
	assert_int_equal(store_user_list(f->s, "nowhere.example", collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 0);

	memset(c, 0, sizeof(*c));
	c->stop_after = 2;
	assert_int_equal(store_user_list(f->s, "example.com", collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 2);

	/* NULL lists every account. */
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_user_list(f->s, NULL, collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 10);
	for (int i = 1; i < c->n; i++)
		assert_true(strcmp(c->jids[i - 1], c->jids[i]) < 0);
	free(c);

	/* The listing reads the domain index, not the whole table. */
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	static const char plan_sql[] = "EXPLAIN QUERY PLAN SELECT jid FROM accounts WHERE"
				       " domain = 'example.com' AND jid > '' ORDER BY jid LIMIT 9";
	assert_int_equal(sqlite3_prepare_v2(db, plan_sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *plan = (const char *)sqlite3_column_text(st, 3);
	assert_non_null(strstr(plan, "accounts_domain"));
	assert_null(strstr(plan, "SCAN"));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* More accounts than one page, deleted from inside the callback. */
static void user_list_pages_and_allows_reentry(void **state)
{
	struct fixture *f = *state;
	char jid[48];
	for (int i = 0; i < 300; i++) {
		snprintf(jid, sizeof(jid), "u%03d@big.example", i);
		assert_int_equal(store_user_create(f->s, jid, NULL, 0), STORE_OK);
	}
	make_user(f->s, "keep@other.example");

	struct collect *c = calloc(1, sizeof(*c));
	c->s_delete = f->s;
	assert_int_equal(store_user_list(f->s, "big.example", collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 300);
	for (int i = 0; i < 300; i++) {
		snprintf(jid, sizeof(jid), "u%03d@big.example", i);
		assert_string_equal(c->jids[i], jid);
	}
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_user_list(f->s, NULL, collect_fn, c), STORE_OK);
	assert_int_equal(c->n, 1);
	assert_string_equal(c->jids[0], "keep@other.example");
	free(c);
}

/* ---- Everything an account owns goes with it ---- */

static void fill_account(struct fixture *f, const char *owner)
{
	const char *groups[] = {"Friends", "Work"};
	struct store_roster_item it = {
		.contact = "bob@example.net",
		.sub = STORE_SUB_BOTH,
		.groups = groups,
		.ngroups = 2,
	};
	assert_int_equal(store_roster_put(f->s, owner, &it, 0, NULL), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, "<message/>", 10, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_doc_put(f->s, owner, "vcard", "", "<vCard/>", 8, 0), STORE_OK);
	assert_int_equal(store_doc_put(f->s, owner, "private", "storage:bookmarks storage",
				       "<storage/>", 10, 0),
			 STORE_OK);
	assert_int_equal(store_block_add(f->s, owner, "spam@example.org", 0), STORE_OK);
}

static void user_delete_cascades(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	make_user(f->s, "carol@example.com");
	fill_account(f, "alice@example.com");
	fill_account(f, "carol@example.com");

	assert_int_equal(store_user_delete(f->s, "alice@example.com"), STORE_OK);

	/* Behind the API: only carol's rows are left, groups included. */
	static const char *const tables[] = {
		"SELECT count(*) FROM credentials", "SELECT count(*) FROM roster_items",
		"SELECT count(*) FROM roster_groups", "SELECT count(*) FROM roster_versions",
		"SELECT count(*) FROM offline_messages", "SELECT count(*) FROM documents",
		"SELECT count(*) FROM blocks",
	};
	static const int64_t carol[] = {2, 1, 2, 1, 1, 2, 1};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		assert_int_equal(raw_int(f->path, tables[i]), carol[i]);

	/* Through the API: a new account of the same name starts empty. */
	make_user(f->s, "alice@example.com");
	struct store_roster_item *items;
	size_t n = 99;
	uint64_t version = 99;
	assert_int_equal(store_roster_get(f->s, f->a, "alice@example.com", &items, &n, &version),
			 STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(version, 0);
	assert_int_equal(store_offline_count(f->s, "alice@example.com", &n), STORE_OK);
	assert_int_equal(n, 0);
	const char *xml;
	size_t len;
	assert_int_equal(store_doc_get(f->s, f->a, "alice@example.com", "vcard", "", &xml, &len),
			 STORE_NOT_FOUND);
	const char **jids;
	assert_int_equal(store_block_list(f->s, f->a, "alice@example.com", &jids, &n), STORE_OK);
	assert_int_equal(n, 0);
}

/* ---- Rosters ---- */

static void roster_round_trip_and_versions(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	uint64_t v = 99;
	make_user(f->s, owner);

	assert_int_equal(store_roster_version(f->s, owner, &v), STORE_OK);
	assert_int_equal(v, 0);

	const char *groups[] = {"Work", "Friends", "Work"};
	struct store_roster_item bob = {
		.contact = "bob@example.net",
		.name = "Bob",
		.sub = STORE_SUB_TO,
		.ask_out = true,
		.approved = true,
		.groups = groups,
		.ngroups = 3,
	};
	struct store_roster_item eve = {
		.contact = "eve@example.org",
		.sub = STORE_SUB_NONE,
		.pending_in = true,
		.hidden = true,
	};
	assert_int_equal(store_roster_put(f->s, owner, &bob, 0, &v), STORE_OK);
	assert_int_equal(v, 1);
	assert_int_equal(store_roster_put(f->s, owner, &eve, 0, &v), STORE_OK);
	assert_int_equal(v, 2);

	struct store_roster_item it;
	assert_int_equal(store_roster_get_item(f->s, f->a, owner, "bob@example.net", &it),
			 STORE_OK);
	assert_string_equal(it.contact, "bob@example.net");
	assert_string_equal(it.name, "Bob");
	assert_int_equal(it.sub, STORE_SUB_TO);
	assert_true(it.ask_out);
	assert_false(it.pending_in);
	assert_true(it.approved);
	assert_false(it.hidden);
	/* A set: the duplicate is gone, the order is by name. */
	assert_int_equal(it.ngroups, 2);
	assert_string_equal(it.groups[0], "Friends");
	assert_string_equal(it.groups[1], "Work");

	assert_int_equal(store_roster_get_item(f->s, f->a, owner, "eve@example.org", &it),
			 STORE_OK);
	assert_null(it.name);
	assert_int_equal(it.ngroups, 0);
	assert_true(it.pending_in);
	assert_true(it.hidden);
	assert_int_equal(store_roster_get_item(f->s, f->a, owner, "nobody@example.org", &it),
			 STORE_NOT_FOUND);

	/* Replacing changes fields and groups. */
	const char *newgroups[] = {"Family"};
	bob.name = NULL;
	bob.sub = STORE_SUB_BOTH;
	bob.ask_out = false;
	bob.groups = newgroups;
	bob.ngroups = 1;
	assert_int_equal(store_roster_put(f->s, owner, &bob, 0, &v), STORE_OK);
	assert_int_equal(v, 3);

	struct store_roster_item *items;
	size_t n;
	uint64_t got_v;
	assert_int_equal(store_roster_get(f->s, f->a, owner, &items, &n, &got_v), STORE_OK);
	assert_int_equal(got_v, 3);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].contact, "bob@example.net");
	assert_null(items[0].name);
	assert_int_equal(items[0].sub, STORE_SUB_BOTH);
	assert_false(items[0].ask_out);
	assert_int_equal(items[0].ngroups, 1);
	assert_string_equal(items[0].groups[0], "Family");
	assert_string_equal(items[1].contact, "eve@example.org");
	assert_int_equal(items[1].ngroups, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM roster_groups"), 1);

	assert_int_equal(store_roster_delete(f->s, owner, "eve@example.org", &v), STORE_OK);
	assert_int_equal(v, 4);
	assert_int_equal(store_roster_delete(f->s, owner, "eve@example.org", &v), STORE_NOT_FOUND);
	assert_int_equal(store_roster_version(f->s, owner, &v), STORE_OK);
	assert_int_equal(v, 4);
	assert_int_equal(store_roster_delete(f->s, owner, "bob@example.net", NULL), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM roster_groups"), 0);
	assert_int_equal(store_roster_get(f->s, f->a, owner, &items, &n, &got_v), STORE_OK);
	assert_int_equal(n, 0);
	assert_null(items);
	assert_int_equal(got_v, 5);

	/* Versions are per owner. */
	make_user(f->s, "carol@example.com");
	assert_int_equal(store_roster_version(f->s, "carol@example.com", &v), STORE_OK);
	assert_int_equal(v, 0);
}

static void roster_many_items_with_groups(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	make_user(f->s, owner);
	char contact[48], g1[16], g2[16];
	for (int i = 0; i < 50; i++) {
		snprintf(contact, sizeof(contact), "c%02d@example.net", i);
		snprintf(g1, sizeof(g1), "g%d", i % 3);
		snprintf(g2, sizeof(g2), "h%d", i);
		const char *groups[] = {g1, g2};
		struct store_roster_item it = {
			.contact = contact, .groups = groups, .ngroups = (size_t)(i % 3)};
		assert_int_equal(store_roster_put(f->s, owner, &it, 0, NULL), STORE_OK);
	}
	struct store_roster_item *items;
	size_t n;
	uint64_t v;
	assert_int_equal(store_roster_get(f->s, f->a, owner, &items, &n, &v), STORE_OK);
	assert_int_equal(n, 50);
	assert_int_equal(v, 50);
	for (int i = 0; i < 50; i++) {
		snprintf(contact, sizeof(contact), "c%02d@example.net", i);
		assert_string_equal(items[i].contact, contact);
		assert_int_equal(items[i].ngroups, (size_t)(i % 3));
		if (i % 3 >= 1) {
			snprintf(g1, sizeof(g1), "g%d", i % 3);
			assert_string_equal(items[i].groups[0], g1);
		}
		if (i % 3 == 2) {
			snprintf(g2, sizeof(g2), "h%d", i);
			assert_string_equal(items[i].groups[1], g2);
		}
	}
}

static void roster_cap(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	uint64_t v = 0;
	make_user(f->s, owner);
	struct store_roster_item a = {.contact = "a@example.net"};
	struct store_roster_item b = {.contact = "b@example.net", .hidden = true};
	struct store_roster_item c = {.contact = "c@example.net"};
	assert_int_equal(store_roster_put(f->s, owner, &a, 2, &v), STORE_OK);
	assert_int_equal(store_roster_put(f->s, owner, &b, 2, &v), STORE_OK);
	assert_int_equal(v, 2);
	assert_int_equal(store_roster_put(f->s, owner, &c, 2, &v), STORE_FULL);
	assert_int_equal(store_roster_version(f->s, owner, &v), STORE_OK);
	assert_int_equal(v, 2);
	/* Replacing at the cap is allowed. */
	a.name = "A";
	assert_int_equal(store_roster_put(f->s, owner, &a, 2, &v), STORE_OK);
	assert_int_equal(v, 3);
	assert_int_equal(store_roster_put(f->s, owner, &c, 0, &v), STORE_OK);

	/* An owner that has no account. */
	assert_int_equal(store_roster_put(f->s, "ghost@example.com", &a, 0, &v), STORE_NOT_FOUND);
	assert_int_equal(store_roster_version(f->s, "ghost@example.com", &v), STORE_OK);
	assert_int_equal(v, 0);
}

/* ---- Offline messages ---- */

static void offline_fifo_and_cap(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	make_user(f->s, owner);
	struct store_offline_msg *msgs;
	size_t n;

	const struct store_offline_quota three = {.max = 3};

	assert_int_equal(store_offline_get(f->s, f->a, owner, 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_null(msgs);

	/* Lengths count, not NULs. */
	static const char m0[] = "<message id='0'/>";
	static const char m1[] = "<message id='1'>a\0b</message>";
	static const char m2[] = "<message id='2'/>";
	assert_int_equal(store_offline_push(f->s, owner, m0, sizeof(m0) - 1, &three, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, m1, sizeof(m1) - 1, &three, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, m2, sizeof(m2) - 1, &three, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, m0, sizeof(m0) - 1, &three, NULL, NULL),
			 STORE_FULL);
	assert_int_equal(store_offline_count(f->s, owner, &n), STORE_OK);
	assert_int_equal(n, 3);

	assert_int_equal(store_offline_get(f->s, f->a, owner, 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_true(msgs[0].id < msgs[1].id && msgs[1].id < msgs[2].id);
	assert_int_equal(msgs[0].len, sizeof(m0) - 1);
	assert_string_equal(msgs[0].xml, m0);
	assert_int_equal(msgs[1].len, sizeof(m1) - 1);
	assert_memory_equal(msgs[1].xml, m1, sizeof(m1) - 1);
	assert_string_equal(msgs[2].xml, m2);

	assert_int_equal(store_offline_get(f->s, f->a, owner, 2, &msgs, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(msgs[1].xml, "<message id='1'>a");

	int64_t second = msgs[1].id;
	assert_int_equal(store_offline_delete(f->s, owner, second), STORE_OK);
	assert_int_equal(store_offline_get(f->s, f->a, owner, 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(msgs[0].xml, m2);
	int64_t last = msgs[0].id;

	/* Room again; ids keep growing after deletion. */
	assert_int_equal(store_offline_delete(f->s, owner, last), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, "", 0, &three, NULL, NULL), STORE_OK);
	assert_int_equal(store_offline_get(f->s, f->a, owner, 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_true(msgs[0].id > last);
	assert_int_equal(msgs[0].len, 0);
	assert_string_equal(msgs[0].xml, "");

	assert_int_equal(store_offline_push(f->s, "ghost@example.com", m0, sizeof(m0) - 1, &three,
					    NULL, NULL),
			 STORE_NOT_FOUND);
	assert_int_equal(store_offline_count(f->s, "ghost@example.com", &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_offline_delete(f->s, "ghost@example.com", INT64_MAX), STORE_OK);
}

/* The bytes of each message as stored, summed per account by the store's
 * counters, through every way a message comes and goes. */
static void offline_byte_accounting(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	make_user(f->s, owner);
	make_user(f->s, "bob@example.com");
	struct store_offline_usage u = {99, 99};
	struct store_offline_msg *msgs;
	size_t n;

	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 0);
	assert_int_equal(u.bytes, 0);

	/* Binary-safe: lengths, not strings, are counted; an empty message
	 * counts as a message of 0 bytes. */
	static const char m0[] = "<message id='0'>a\0b</message>";
	char big[5000];
	memset(big, 'x', sizeof(big));
	const size_t lens[] = {sizeof(m0) - 1, 0, sizeof(big), 1};
	const char *data[] = {m0, "", big, "z"};
	size_t total = 0;
	for (size_t i = 0; i < 4; i++) {
		struct store_offline_usage before = {99, 99};
		enum store_offline_limit limit = STORE_OFFLINE_BYTES;
		assert_int_equal(store_offline_push(f->s, owner, data[i], lens[i], NULL, &before, &limit),
				 STORE_OK);
		/* What was held before this push, and nothing refused it. */
		assert_int_equal(before.count, i);
		assert_int_equal(before.bytes, total);
		assert_int_equal(limit, STORE_OFFLINE_UNDER);
		total += lens[i];
		assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
		assert_int_equal(u.count, i + 1);
		assert_int_equal(u.bytes, total);
	}
	/* Another account's messages are its own. */
	assert_int_equal(store_offline_push(f->s, "bob@example.com", big, 100, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.bytes, total);
	assert_int_equal(store_offline_usage(f->s, "bob@example.com", &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 100);

	/* Behind the API: each row's size is its stored length, and the
	 * counters are the aggregates. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM offline_messages"
					  " WHERE bytes != length(xml)"),
			 0);
	assert_int_equal(raw_int(f->path, "SELECT sum(bytes) FROM offline_messages"
					  " WHERE owner = 'alice@example.com'"),
			 (int64_t)total);

	/* Delivery deletes a prefix: the counters lose exactly its bytes. */
	assert_int_equal(store_offline_get(f->s, f->a, owner, 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(msgs[i].len, lens[i]);
	assert_int_equal(store_offline_delete(f->s, owner, msgs[2].id), STORE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 1);
	/* Deleting nothing changes nothing. */
	assert_int_equal(store_offline_delete(f->s, owner, msgs[2].id), STORE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 1);
	assert_int_equal(store_offline_delete(f->s, owner, INT64_MAX), STORE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 0);
	assert_int_equal(u.bytes, 0);
	assert_int_equal(store_offline_count(f->s, owner, &n), STORE_OK);
	assert_int_equal(n, 0);

	/* An unknown account holds nothing and can be given nothing. */
	assert_int_equal(store_offline_usage(f->s, "ghost@example.com", &u), STORE_OK);
	assert_int_equal(u.count, 0);
	assert_int_equal(u.bytes, 0);
	assert_int_equal(store_offline_push(f->s, "ghost@example.com", "<m/>", 4, NULL, NULL, NULL),
			 STORE_NOT_FOUND);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM offline_usage"
					  " WHERE owner = 'ghost@example.com'"),
			 0);

	/* Reading the usage is one primary-key lookup, never a scan. */
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	static const char plan_sql[] = "EXPLAIN QUERY PLAN SELECT messages, bytes FROM offline_usage"
				       " WHERE owner = 'alice@example.com'";
	assert_int_equal(sqlite3_prepare_v2(db, plan_sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *plan = (const char *)sqlite3_column_text(st, 3);
	assert_non_null(strstr(plan, "PRIMARY KEY"));
	assert_null(strstr(plan, "SCAN"));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Quotas by count and by bytes: which one refuses, and that a refusal
 * changes nothing stored. */
static void offline_quota_by_count_and_bytes(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	make_user(f->s, owner);
	struct store_offline_usage u;
	enum store_offline_limit limit;
	struct store_offline_msg *msgs;
	size_t n;
	char buf[200];
	memset(buf, 'm', sizeof(buf));

	/* 100 bytes: 40 + 60 fills it exactly; one byte more is refused. */
	const struct store_offline_quota q100 = {.max = 10, .max_bytes = 100};
	assert_int_equal(store_offline_push(f->s, owner, buf, 40, &q100, &u, &limit), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, buf, 60, &q100, &u, &limit), STORE_OK);
	assert_int_equal(u.bytes, 40);
	assert_int_equal(store_offline_push(f->s, owner, buf, 1, &q100, &u, &limit), STORE_FULL);
	assert_int_equal(limit, STORE_OFFLINE_BYTES);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.bytes, 100);
	/* Nothing was stored by the refusal; an empty message still fits. */
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.bytes, 100);
	assert_int_equal(store_offline_push(f->s, owner, "", 0, &q100, &u, &limit), STORE_OK);
	assert_int_equal(limit, STORE_OFFLINE_UNDER);

	/* A smaller quota than what is stored (an operator lowered it):
	 * refused, and what is stored stays to be delivered. */
	const struct store_offline_quota q50 = {.max = 10, .max_bytes = 50};
	assert_int_equal(store_offline_push(f->s, owner, "", 0, &q50, &u, &limit), STORE_FULL);
	assert_int_equal(limit, STORE_OFFLINE_BYTES);
	assert_int_equal(store_offline_get(f->s, f->a, owner, 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(msgs[0].len, 40);
	assert_int_equal(msgs[1].len, 60);
	assert_int_equal(msgs[2].len, 0);

	/* Room again once delivered. */
	assert_int_equal(store_offline_delete(f->s, owner, msgs[0].id), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, buf, 40, &q100, &u, &limit), STORE_OK);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.bytes, 60);

	/* A message larger than the whole quota never fits, even when the
	 * account holds nothing. */
	assert_int_equal(store_offline_delete(f->s, owner, INT64_MAX), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, buf, 101, &q100, &u, &limit), STORE_FULL);
	assert_int_equal(limit, STORE_OFFLINE_BYTES);
	assert_int_equal(u.count, 0);
	assert_int_equal(u.bytes, 0);

	/* The count is checked first: with both full, it is the one named. */
	const struct store_offline_quota q2 = {.max = 2, .max_bytes = 20};
	assert_int_equal(store_offline_push(f->s, owner, buf, 10, &q2, &u, &limit), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, buf, 10, &q2, &u, &limit), STORE_OK);
	assert_int_equal(store_offline_push(f->s, owner, buf, 10, &q2, &u, &limit), STORE_FULL);
	assert_int_equal(limit, STORE_OFFLINE_COUNT);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.bytes, 20);
	/* Only the count full: still the count. */
	const struct store_offline_quota q2big = {.max = 2, .max_bytes = 1000};
	assert_int_equal(store_offline_push(f->s, owner, buf, 1, &q2big, &u, &limit), STORE_FULL);
	assert_int_equal(limit, STORE_OFFLINE_COUNT);
	/* 0 is no limit, for either. */
	const struct store_offline_quota bytes_only = {.max = 0, .max_bytes = 1000};
	assert_int_equal(store_offline_push(f->s, owner, buf, 1, &bytes_only, &u, &limit), STORE_OK);
	const struct store_offline_quota count_only = {.max = 10, .max_bytes = 0};
	assert_int_equal(store_offline_push(f->s, owner, buf, 200, &count_only, &u, &limit), STORE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 4);
	assert_int_equal(u.bytes, 221);
}

/* The rule itself, at its edges: no overflow near SIZE_MAX. */
static void offline_check_rule(void **state)
{
	(void)state;
	const struct store_offline_quota q = {.max = 3, .max_bytes = 100};
	struct store_offline_usage u = {0, 0};
	assert_int_equal(store_offline_check(NULL, &u, SIZE_MAX), STORE_OFFLINE_UNDER);
	assert_int_equal(store_offline_check(&q, &u, 100), STORE_OFFLINE_UNDER);
	assert_int_equal(store_offline_check(&q, &u, 101), STORE_OFFLINE_BYTES);
	assert_int_equal(store_offline_check(&q, &u, SIZE_MAX), STORE_OFFLINE_BYTES);
	u = (struct store_offline_usage){2, 99};
	assert_int_equal(store_offline_check(&q, &u, 1), STORE_OFFLINE_UNDER);
	assert_int_equal(store_offline_check(&q, &u, 2), STORE_OFFLINE_BYTES);
	u = (struct store_offline_usage){3, 0};
	assert_int_equal(store_offline_check(&q, &u, 0), STORE_OFFLINE_COUNT);
	u = (struct store_offline_usage){0, 150};
	assert_int_equal(store_offline_check(&q, &u, 0), STORE_OFFLINE_BYTES);
	const struct store_offline_quota huge = {.max = 0, .max_bytes = SIZE_MAX};
	u = (struct store_offline_usage){1, SIZE_MAX - 1};
	assert_int_equal(store_offline_check(&huge, &u, 1), STORE_OFFLINE_UNDER);
	assert_int_equal(store_offline_check(&huge, &u, 2), STORE_OFFLINE_BYTES);
	assert_int_equal(store_offline_check(&huge, &u, SIZE_MAX), STORE_OFFLINE_BYTES);
}

/* The counters live in the database: a writer that is not store.c (the
 * sqlite3 shell), and an account's cascading delete, keep them right. */
static void offline_usage_follows_every_writer(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	make_user(f->s, owner);
	struct store_offline_usage u;
	assert_int_equal(store_offline_push(f->s, owner, "<a/>", 4, NULL, NULL, NULL), STORE_OK);

	assert_int_equal(raw_exec(f->path, "INSERT INTO offline_messages (owner, xml, bytes, created)"
					   " VALUES ('alice@example.com', x'00010203', 4, 0)"),
			 SQLITE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.bytes, 8);
	assert_int_equal(raw_exec(f->path, "DELETE FROM offline_messages WHERE xml = x'00010203'"),
			 SQLITE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 4);
	/* The counters cannot be driven below zero by a bad writer. */
	assert_int_equal(raw_exec(f->path, "UPDATE offline_usage SET bytes = -1"), SQLITE_CONSTRAINT);

	/* Deleting the account takes its counters; a new account of the same
	 * name starts at zero. */
	assert_int_equal(store_user_delete(f->s, owner), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM offline_usage"), 0);
	make_user(f->s, owner);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 0);
	assert_int_equal(u.bytes, 0);
	assert_int_equal(store_offline_push(f->s, owner, "<b/>", 4, NULL, NULL, NULL), STORE_OK);
	assert_int_equal(store_offline_usage(f->s, owner, &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 4);
}

/* A database with offline messages made before quotas (schema version 2)
 * gets sizes and counters for what it holds when opened. */
static void version_2_database_is_migrated(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	make_user(f->s, "bob@example.com");
	make_user(f->s, "carol@example.com");
	char big[3000];
	memset(big, 'y', sizeof(big));
	assert_int_equal(store_offline_push(f->s, "alice@example.com", big, 3000, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_offline_push(f->s, "alice@example.com", "<m/>", 4, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_offline_push(f->s, "bob@example.com", "<m>\0</m>", 8, NULL, NULL, NULL),
			 STORE_OK);
	store_close(f->s);
	f->s = NULL;
	undo_schema_3(f->path);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM offline_messages"), 3);

	char *err = NULL;
	f->s = store_open(f->path, &err);
	assert_non_null(f->s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
	struct store_offline_usage u;
	assert_int_equal(store_offline_usage(f->s, "alice@example.com", &u), STORE_OK);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.bytes, 3004);
	assert_int_equal(store_offline_usage(f->s, "bob@example.com", &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 8);
	assert_int_equal(store_offline_usage(f->s, "carol@example.com", &u), STORE_OK);
	assert_int_equal(u.count, 0);
	assert_int_equal(u.bytes, 0);

	/* The quota applies to what was there before. */
	const struct store_offline_quota q = {.max = 100, .max_bytes = 3010};
	enum store_offline_limit limit;
	assert_int_equal(store_offline_push(f->s, "alice@example.com", big, 7, &q, &u, &limit),
			 STORE_FULL);
	assert_int_equal(limit, STORE_OFFLINE_BYTES);
	assert_int_equal(store_offline_push(f->s, "alice@example.com", big, 6, &q, &u, &limit),
			 STORE_OK);
	struct store_offline_msg *msgs;
	size_t n;
	assert_int_equal(store_offline_get(f->s, f->a, "alice@example.com", 0, &msgs, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(msgs[0].len, 3000);
	assert_int_equal(msgs[2].len, 6);
	assert_int_equal(store_offline_delete(f->s, "alice@example.com", msgs[1].id), STORE_OK);
	assert_int_equal(store_offline_usage(f->s, "alice@example.com", &u), STORE_OK);
	assert_int_equal(u.count, 1);
	assert_int_equal(u.bytes, 6);
}

/* ---- Documents ---- */

static void documents(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	const char *xml;
	size_t len;
	make_user(f->s, owner);

	assert_int_equal(store_doc_get(f->s, f->a, owner, "vcard", "", &xml, &len),
			 STORE_NOT_FOUND);
	assert_int_equal(store_doc_put(f->s, owner, "vcard", "", "<vCard><FN>A</FN></vCard>", 25,
				       25),
			 STORE_OK);
	assert_int_equal(store_doc_put(f->s, owner, "private", "a b", "<b xmlns='a'/>", 14, 25),
			 STORE_OK);
	assert_int_equal(store_doc_get(f->s, f->a, owner, "vcard", "", &xml, &len), STORE_OK);
	assert_int_equal(len, 25);
	assert_string_equal(xml, "<vCard><FN>A</FN></vCard>");
	assert_int_equal(store_doc_get(f->s, f->a, owner, "private", "a b", &xml, &len), STORE_OK);
	assert_string_equal(xml, "<b xmlns='a'/>");
	assert_int_equal(store_doc_get(f->s, f->a, owner, "private", "a c", &xml, &len),
			 STORE_NOT_FOUND);

	/* Too large: refused, the old one stays. */
	assert_int_equal(store_doc_put(f->s, owner, "vcard", "", "<vCard><FN>AB</FN></vCard>", 26,
				       25),
			 STORE_FULL);
	assert_int_equal(store_doc_get(f->s, f->a, owner, "vcard", "", &xml, &len), STORE_OK);
	assert_int_equal(len, 25);
	assert_int_equal(store_doc_put(f->s, owner, "vcard", "", "<vCard/>", 8, 25), STORE_OK);
	assert_int_equal(store_doc_get(f->s, f->a, owner, "vcard", "", &xml, &len), STORE_OK);
	assert_string_equal(xml, "<vCard/>");

	assert_int_equal(store_doc_put(f->s, owner, "vcard", "", NULL, 0, 25), STORE_OK);
	assert_int_equal(store_doc_get(f->s, f->a, owner, "vcard", "", &xml, &len),
			 STORE_NOT_FOUND);
	assert_int_equal(store_doc_put(f->s, owner, "vcard", "", NULL, 0, 25), STORE_OK);
	assert_int_equal(store_doc_get(f->s, f->a, owner, "private", "a b", &xml, &len), STORE_OK);

	assert_int_equal(store_doc_put(f->s, "ghost@example.com", "vcard", "", "<vCard/>", 8, 0),
			 STORE_NOT_FOUND);
}

/* ---- Block lists ---- */

static void block_list(void **state)
{
	struct fixture *f = *state;
	const char *owner = "alice@example.com";
	const char **jids;
	size_t n;
	make_user(f->s, owner);

	assert_int_equal(store_block_list(f->s, f->a, owner, &jids, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_block_add(f->s, owner, "spam@example.org", 3), STORE_OK);
	assert_int_equal(store_block_add(f->s, owner, "example.net", 3), STORE_OK);
	assert_int_equal(store_block_add(f->s, owner, "eve@example.org/phone", 3), STORE_OK);
	/* Already blocked: no duplicate, no cap. */
	assert_int_equal(store_block_add(f->s, owner, "spam@example.org", 3), STORE_OK);
	assert_int_equal(store_block_add(f->s, owner, "more@example.org", 3), STORE_FULL);

	assert_int_equal(store_block_list(f->s, f->a, owner, &jids, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(jids[0], "eve@example.org/phone");
	assert_string_equal(jids[1], "example.net");
	assert_string_equal(jids[2], "spam@example.org");

	assert_int_equal(store_block_remove(f->s, owner, "example.net"), STORE_OK);
	assert_int_equal(store_block_remove(f->s, owner, "example.net"), STORE_OK);
	assert_int_equal(store_block_add(f->s, owner, "more@example.org", 3), STORE_OK);
	assert_int_equal(store_block_list(f->s, f->a, owner, &jids, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(jids[1], "more@example.org");

	assert_int_equal(store_block_remove(f->s, owner, NULL), STORE_OK);
	assert_int_equal(store_block_list(f->s, f->a, owner, &jids, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_null(jids);

	assert_int_equal(store_block_add(f->s, "ghost@example.com", "x@example.org", 0),
			 STORE_NOT_FOUND);
}

/* ---- Several handles ---- */

/* ---- Certificate pins (issue 4) ---- */

static const char fp_a[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char fp_b_colons[] = "FF:EE:DD:CC:BB:AA:99:88:77:66:55:44:33:22:11:00:"
				  "FF:EE:DD:CC:BB:AA:99:88:77:66:55:44:33:22:11:00";
static const char fp_b[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

static void fingerprints_are_normalised_or_refused(void **state)
{
	(void)state;
	char out[STORE_FINGERPRINT_LEN + 1];
	assert_true(store_fingerprint_norm(fp_a, out));
	assert_string_equal(out, fp_a);
	assert_true(store_fingerprint_norm(fp_b_colons, out));
	assert_string_equal(out, fp_b);
	static const char *const bad[] = {
		"", "00", fp_a + 2,                                                   /* short */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", /* long */
		"g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",   /* not hex */
		":00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff:",
		"00::112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"0:0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (store_fingerprint_norm(bad[i], out))
			fail_msg("accepted '%s'", bad[i]);
	assert_false(store_fingerprint_norm(NULL, out));
}

static void cert_pins_add_find_list_remove(void **state)
{
	struct fixture *f = *state;
	const char *alice = "alice@example.com";
	struct store_cert_pin *pins;
	size_t n = 99;

	/* No account: writes say not found, reads find nothing. */
	assert_int_equal(store_cert_pin_add(f->s, alice, fp_a), STORE_NOT_FOUND);
	assert_int_equal(store_cert_pin_count(f->s, alice, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_cert_pin_find(f->s, alice, fp_a), STORE_NOT_FOUND);

	/* A certificate-only account holds pins like any other. */
	assert_int_equal(store_user_create(f->s, alice, NULL, 0), STORE_OK);
	make_user(f->s, "bob@example.com");
	assert_int_equal(store_cert_pin_list(f->s, f->a, alice, &pins, &n), STORE_OK);
	assert_null(pins);
	assert_int_equal(n, 0);

	assert_int_equal(store_cert_pin_add(f->s, alice, fp_a), STORE_OK);
	assert_int_equal(store_cert_pin_add(f->s, alice, fp_a), STORE_EXISTS);
	/* The same certificate, written another way, is the same pin. */
	assert_int_equal(store_cert_pin_add(f->s, alice, fp_b_colons), STORE_OK);
	assert_int_equal(store_cert_pin_add(f->s, alice, fp_b), STORE_EXISTS);
	assert_int_equal(store_cert_pin_add(f->s, "bob@example.com", fp_a), STORE_OK);

	assert_int_equal(store_cert_pin_count(f->s, alice, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_cert_pin_find(f->s, alice, fp_a), STORE_OK);
	assert_int_equal(store_cert_pin_find(f->s, alice, fp_b_colons), STORE_OK);
	assert_int_equal(store_cert_pin_find(f->s, "carol@example.com", fp_a), STORE_NOT_FOUND);

	assert_int_equal(store_cert_pin_list(f->s, f->a, alice, &pins, &n), STORE_OK);
	assert_int_equal(n, 2);
	bool seen_a = false, seen_b = false;
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		seen_a |= strcmp(pins[i].fingerprint, fp_a) == 0;
		seen_b |= strcmp(pins[i].fingerprint, fp_b) == 0;
		assert_true(pins[i].created <= now && pins[i].created > now - 60);
	}
	assert_true(seen_a && seen_b);

	assert_int_equal(store_cert_pin_remove(f->s, alice, fp_b), STORE_OK);
	assert_int_equal(store_cert_pin_remove(f->s, alice, fp_b), STORE_NOT_FOUND);
	assert_int_equal(store_cert_pin_find(f->s, alice, fp_b), STORE_NOT_FOUND);
	assert_int_equal(store_cert_pin_count(f->s, alice, &n), STORE_OK);
	assert_int_equal(n, 1);

	/* Malformed fingerprints never reach the database. */
	assert_int_equal(store_cert_pin_add(f->s, alice, "abc"), STORE_ERROR);
	assert_non_null(strstr(store_error(f->s), "not a SHA-256 fingerprint"));
	assert_int_equal(store_cert_pin_find(f->s, alice, NULL), STORE_ERROR);

	/* Deleting the account takes its pins, and only its pins. */
	assert_int_equal(store_user_delete(f->s, alice), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM cert_pins WHERE jid = 'alice@example.com'"),
			 0);
	assert_int_equal(store_cert_pin_find(f->s, "bob@example.com", fp_a), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM cert_pins"), 1);

	/* The schema refuses, from any writer, what store.c never writes. */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO cert_pins VALUES ('bob@example.com', "
				      "'FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100', 0)",
				      NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	sqlite3_close(db);
}

/* A database made before pins existed (schema version 1) gains the table
 * on open and keeps its accounts. */
static void version_1_database_is_migrated(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	store_close(f->s);
	f->s = NULL;
	undo_schema_3(f->path);
	raw_int(f->path, "DROP TABLE cert_pins");
	raw_int(f->path, "PRAGMA user_version = 1");

	char *err = NULL;
	f->s = store_open(f->path, &err);
	assert_non_null(f->s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(store_cert_pin_add(f->s, "alice@example.com", fp_a), STORE_OK);
	assert_int_equal(store_cert_pin_find(f->s, "alice@example.com", fp_a), STORE_OK);
}

/* ---- Groups ---- */

struct gcollect {
	char names[64][64];
	size_t nmembers[64];
	size_t n;
	size_t stop_after; /* 0: never */
};

static int collect_group(void *ud, const struct store_group *g)
{
	struct gcollect *c = ud;
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", g->name);
	c->nmembers[c->n++] = g->nmembers;
	return c->stop_after && c->n == c->stop_after;
}

static int collect_member(void *ud, const char *m)
{
	struct gcollect *c = ud;
	if (c->n < 64)
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", m);
	c->n++;
	return c->stop_after && c->n == c->stop_after;
}

static void groups_create_get_list_delete(void **state)
{
	struct fixture *f = *state;
	struct store_group g;
	assert_int_equal(store_group_create(f->s, "staff", "Our staff", true, false), STORE_OK);
	assert_int_equal(store_group_create(f->s, "staff", NULL, false, false), STORE_EXISTS);
	assert_int_equal(store_group_create(f->s, "ops", NULL, false, true), STORE_OK);
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_OK);
	assert_string_equal(g.name, "staff");
	assert_string_equal(g.label, "Our staff");
	assert_true(g.shared);
	assert_false(g.members_only);
	assert_int_equal(g.nmembers, 0);
	assert_int_equal(store_group_get(f->s, f->a, "ops", &g), STORE_OK);
	assert_string_equal(g.label, "");
	assert_false(g.shared);
	assert_true(g.members_only);
	assert_int_equal(store_group_get(f->s, f->a, "nope", &g), STORE_NOT_FOUND);

	struct gcollect c = {0};
	assert_int_equal(store_group_list(f->s, collect_group, &c), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "ops");
	assert_string_equal(c.names[1], "staff");

	/* Refused forms are the caller's bug. */
	assert_int_equal(store_group_create(f->s, "", NULL, false, false), STORE_ERROR);
	assert_int_equal(store_group_create(f->s, "a\nb", NULL, false, false), STORE_ERROR);
	assert_int_equal(store_group_create(f->s, "x", "tab\there", false, false), STORE_ERROR);
	char longname[STORE_GROUP_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_group_create(f->s, longname, NULL, false, false), STORE_ERROR);
	longname[STORE_GROUP_NAME_MAX] = '\0';
	assert_int_equal(store_group_create(f->s, longname, NULL, false, false), STORE_OK);

	assert_int_equal(store_group_delete(f->s, "staff"), STORE_OK);
	assert_int_equal(store_group_delete(f->s, "staff"), STORE_NOT_FOUND);
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_NOT_FOUND);
}

static void groups_members(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	assert_int_equal(store_group_create(f->s, "staff", NULL, true, false), STORE_OK);
	assert_int_equal(store_group_create(f->s, "net", NULL, true, true), STORE_OK);
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com"), STORE_OK);
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com"), STORE_EXISTS);
	/* remote and not-yet-existing members are allowed */
	assert_int_equal(store_group_add(f->s, "staff", "zed@remote.example"), STORE_OK);
	assert_int_equal(store_group_add(f->s, "staff", "bob@example.com"), STORE_OK);
	assert_int_equal(store_group_add(f->s, "net", "alice@example.com"), STORE_OK);
	assert_int_equal(store_group_add(f->s, "nope", "alice@example.com"), STORE_NOT_FOUND);
	/* only bare JIDs */
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com/res"), STORE_ERROR);
	assert_int_equal(store_group_add(f->s, "staff", "@example.com"), STORE_ERROR);
	assert_int_equal(store_group_add(f->s, "staff", "a@b@c"), STORE_ERROR);
	assert_int_equal(store_group_add(f->s, "staff", ""), STORE_ERROR);
	assert_int_equal(store_group_add(f->s, "staff", "a b@c"), STORE_ERROR);

	struct store_group g;
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_OK);
	assert_int_equal(g.nmembers, 3);
	struct gcollect c = {0};
	assert_int_equal(store_group_members(f->s, "staff", collect_member, &c), STORE_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.names[0], "alice@example.com");
	assert_string_equal(c.names[1], "bob@example.com");
	assert_string_equal(c.names[2], "zed@remote.example");
	c = (struct gcollect){0};
	assert_int_equal(store_group_members(f->s, "nope", collect_member, &c), STORE_NOT_FOUND);

	struct store_group *gs;
	size_t n;
	assert_int_equal(store_member_groups(f->s, f->a, "alice@example.com", &gs, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(gs[0].name, "net");
	assert_true(gs[0].members_only);
	assert_int_equal(gs[0].nmembers, 1);
	assert_string_equal(gs[1].name, "staff");
	assert_int_equal(gs[1].nmembers, 3);
	assert_int_equal(store_member_groups(f->s, f->a, "nobody@example.com", &gs, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_null(gs);

	assert_int_equal(store_group_remove(f->s, "staff", "bob@example.com"), STORE_OK);
	assert_int_equal(store_group_remove(f->s, "staff", "bob@example.com"), STORE_NOT_FOUND);
	assert_int_equal(store_group_remove(f->s, "nope", "bob@example.com"), STORE_NOT_FOUND);
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_OK);
	assert_int_equal(g.nmembers, 2);

	/* Deleting the account removes its memberships, and the counters follow. */
	assert_int_equal(store_user_delete(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(store_member_groups(f->s, f->a, "alice@example.com", &gs, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_OK);
	assert_int_equal(g.nmembers, 1);
	assert_int_equal(store_group_get(f->s, f->a, "net", &g), STORE_OK);
	assert_int_equal(g.nmembers, 0);

	/* Deleting a group removes its memberships. */
	assert_int_equal(store_group_delete(f->s, "staff"), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM memberships"), 0);
	assert_int_equal(store_member_groups(f->s, f->a, "zed@remote.example", &gs, &n), STORE_OK);
	assert_int_equal(n, 0);
}

/* More members than a page, with a callback that stops early and one that
 * re-enters the handle. */
static int remove_each(void *ud, const char *m)
{
	struct fixture *f = ud;
	assert_int_equal(store_group_remove(f->s, "big", m), STORE_OK);
	return 0;
}

static void groups_many_members_page(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_group_create(f->s, "big", NULL, true, false), STORE_OK);
	assert_int_equal(store_begin(f->s), STORE_OK);
	for (int i = 0; i < 1000; i++) {
		char jid[64];
		snprintf(jid, sizeof(jid), "u%04d@example.com", i);
		assert_int_equal(store_group_add(f->s, "big", jid), STORE_OK);
	}
	assert_int_equal(store_commit(f->s), STORE_OK);
	struct gcollect c = {0};
	assert_int_equal(store_group_members(f->s, "big", collect_member, &c), STORE_OK);
	assert_int_equal(c.n, 1000);
	assert_string_equal(c.names[0], "u0000@example.com");
	c = (struct gcollect){.stop_after = 300};
	assert_int_equal(store_group_members(f->s, "big", collect_member, &c), STORE_OK);
	assert_int_equal(c.n, 300);
	assert_int_equal(store_group_members(f->s, "big", remove_each, f), STORE_OK);
	struct store_group g;
	assert_int_equal(store_group_get(f->s, f->a, "big", &g), STORE_OK);
	assert_int_equal(g.nmembers, 0);

	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof(name), "g%03d", i);
		assert_int_equal(store_group_create(f->s, name, NULL, false, false), STORE_OK);
	}
	c = (struct gcollect){.stop_after = 64};
	assert_int_equal(store_group_list(f->s, collect_group, &c), STORE_OK);
	assert_int_equal(c.n, 64);
	assert_string_equal(c.names[0], "big");
	assert_string_equal(c.names[1], "g000");
}

/* A login's read of its groups uses the member index, not a scan. */
static void groups_member_lookup_uses_index(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
		"EXPLAIN QUERY PLAN SELECT g.name FROM memberships m JOIN groups g ON g.id = m.group_id"
		" WHERE m.member = 'a@b' ORDER BY g.name", -1, &st, NULL), SQLITE_OK);
	bool indexed = false;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(st, 3);
		if (detail && strstr(detail, "memberships_member"))
			indexed = true;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(indexed);
}

/* store_begin: all or nothing; a failed call inside undoes only itself. */
static void transaction_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_begin(f->s), STORE_OK);
	assert_int_equal(store_begin(f->s), STORE_ERROR);
	make_user(f->s, "alice@example.com");
	assert_int_equal(store_group_create(f->s, "staff", NULL, true, false), STORE_OK);
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com"), STORE_OK);
	assert_int_equal(store_user_create(f->s, "alice@example.com", creds, 2), STORE_EXISTS);
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com"), STORE_EXISTS);
	/* still open, and what it holds is visible to this handle */
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounts"), 0);
	assert_int_equal(store_rollback(f->s), STORE_OK);
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_NOT_FOUND);
	struct store_group g;
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_NOT_FOUND);
	assert_int_equal(store_commit(f->s), STORE_ERROR);

	assert_int_equal(store_begin(f->s), STORE_OK);
	make_user(f->s, "alice@example.com");
	assert_int_equal(store_user_create(f->s, "alice@example.com", creds, 2), STORE_EXISTS);
	assert_int_equal(store_group_create(f->s, "staff", NULL, true, false), STORE_OK);
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com"), STORE_OK);
	assert_int_equal(store_commit(f->s), STORE_OK);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounts"), 1);
	assert_int_equal(raw_int(f->path, "SELECT members FROM groups WHERE name = 'staff'"), 1);
	assert_int_equal(store_rollback(f->s), STORE_OK);
}

/* A database made before groups (schema version 3) gains them on open and
 * keeps its accounts; an account deleted afterwards leaves its groups. */
static void version_3_database_is_migrated(void **state)
{
	struct fixture *f = *state;
	make_user(f->s, "alice@example.com");
	store_close(f->s);
	f->s = NULL;
	undo_schema_4(f->path);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'groups'"), 0);

	char *err = NULL;
	f->s = store_open(f->path, &err);
	assert_non_null(f->s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
	assert_int_equal(store_user_exists(f->s, "alice@example.com"), STORE_OK);
	assert_int_equal(store_group_create(f->s, "staff", "Staff", true, false), STORE_OK);
	assert_int_equal(store_group_add(f->s, "staff", "alice@example.com"), STORE_OK);
	assert_int_equal(store_user_delete(f->s, "alice@example.com"), STORE_OK);
	struct store_group g;
	assert_int_equal(store_group_get(f->s, f->a, "staff", &g), STORE_OK);
	assert_int_equal(g.nmembers, 0);
}

static void handles_see_each_others_commits(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	struct store *other = store_open(f->path, &err);
	assert_non_null(other);

	assert_int_equal(store_user_exists(other, "alice@example.com"), STORE_NOT_FOUND);
	make_user(f->s, "alice@example.com");
	assert_int_equal(store_user_exists(other, "alice@example.com"), STORE_OK);
	assert_int_equal(store_offline_push(other, "alice@example.com", "<m/>", 4, NULL, NULL, NULL),
			 STORE_OK);
	size_t n;
	assert_int_equal(store_offline_count(f->s, "alice@example.com", &n), STORE_OK);
	assert_int_equal(n, 1);
	store_close(other);
}

enum { WRITERS = 2, ROUNDS = 200 };

struct writer {
	const char *path;
	pthread_barrier_t *start;
	int index;
	int failures;
};

/* Opens its own handle and writes as fast as it can, all through
 * multi-statement write transactions but one. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char jid[64];
	char *err = NULL;
	pthread_barrier_wait(w->start);
	struct store *s = store_open(w->path, &err);
	if (!s) {
		fprintf(stderr, "writer %d: %s\n", w->index, err);
		free(err);
		w->failures = -1;
		return NULL;
	}
	struct arena *a = arena_new();
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(jid, sizeof(jid), "w%d-%03d@example.com", w->index, i);
		struct store_roster_item it = {.contact = jid};
		uint64_t v;
		struct store_offline_msg *msgs;
		size_t n;
		if (store_user_create(s, jid, creds, 2) != STORE_OK)
			w->failures++;
		if (store_offline_push(s, "shared@example.com", jid, strlen(jid), NULL, NULL, NULL) !=
		    STORE_OK)
			w->failures++;
		if (store_roster_put(s, "shared@example.com", &it, 0, &v) != STORE_OK)
			w->failures++;
		if (store_offline_get(s, a, "shared@example.com", 5, &msgs, &n) != STORE_OK)
			w->failures++;
		if (i % 50 == 49 && n > 0 &&
		    store_offline_delete(s, "shared@example.com", msgs[0].id) != STORE_OK)
			w->failures++;
		arena_reset(a);
	}
	arena_free(a);
	arena_cache_drain();
	store_close(s);
	return NULL;
}

static void run_writers(const char *path, int first_index)
{
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, WRITERS);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.path = path, .start = &start, .index = first_index + i};
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	/* Join all before asserting: a failed assertion leaves the test, and
	 * the threads must not outlive what they point at. */
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(w[i].failures, 0);
}

struct opener {
	char path[160];
	pthread_barrier_t *start;
	int index;
	int rc;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	char *err = NULL;
	char jid[32];
	pthread_barrier_wait(o->start);
	struct store *s = store_open(o->path, &err);
	if (!s) {
		fprintf(stderr, "opener %d: %s\n", o->index, err);
		free(err);
		o->rc = STORE_ERROR;
		return NULL;
	}
	snprintf(jid, sizeof(jid), "o%d@example.com", o->index);
	o->rc = store_user_create(s, jid, NULL, 0);
	store_close(s);
	return NULL;
}

/* Threads open a file nobody has opened yet at the same moment: they race
 * to switch it to WAL and to create the schema, and each must end up with
 * a working handle. */
static void concurrent_open_of_new_file(void **state)
{
	struct fixture *f = *state;
	enum { OPENERS = 4 };
	for (int round = 0; round < 25; round++) {
		struct opener o[OPENERS];
		pthread_t t[OPENERS];
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, OPENERS);
		for (int i = 0; i < OPENERS; i++) {
			o[i] = (struct opener){.start = &start, .index = i};
			snprintf(o[i].path, sizeof(o[i].path), "%s/fresh%d.db", f->dir, round);
			assert_int_equal(pthread_create(&t[i], NULL, opener_main, &o[i]), 0);
		}
		for (int i = 0; i < OPENERS; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		pthread_barrier_destroy(&start);
		for (int i = 0; i < OPENERS; i++)
			assert_int_equal(o[i].rc, STORE_OK);
		assert_int_equal(raw_int(o[0].path, "SELECT count(*) FROM accounts"), OPENERS);
	}
}

static void concurrent_writers(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_user_create(f->s, "shared@example.com", NULL, 0), STORE_OK);
	run_writers(f->path, 0);

	size_t n;
	uint64_t v;
	assert_int_equal(store_offline_count(f->s, "shared@example.com", &n), STORE_OK);
	/* Each writer deleted its oldest visible message four times; two
	 * writers may have deleted the same one. */
	assert_true(n >= WRITERS * (ROUNDS - ROUNDS / 50) && n < WRITERS * ROUNDS);
	/* The counters, kept by triggers under both writers, match the rows. */
	struct store_offline_usage u;
	assert_int_equal(store_offline_usage(f->s, "shared@example.com", &u), STORE_OK);
	assert_int_equal(u.count,
			 raw_int(f->path, "SELECT count(*) FROM offline_messages"
					  " WHERE owner = 'shared@example.com'"));
	assert_int_equal(u.bytes,
			 raw_int(f->path, "SELECT sum(length(xml)) FROM offline_messages"
					  " WHERE owner = 'shared@example.com'"));
	assert_int_equal(store_roster_version(f->s, "shared@example.com", &v), STORE_OK);
	assert_int_equal(v, WRITERS * ROUNDS);
	assert_int_equal(store_user_exists(f->s, "w0-000@example.com"), STORE_OK);
	assert_int_equal(store_user_exists(f->s, "w1-199@example.com"), STORE_OK);
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
}

int main(void)
{
	/* Failures under test are expected: their log lines go to /dev/null
	 * unless STORE_TEST_LOG is set. */
	if (!getenv("STORE_TEST_LOG"))
		log_setup(LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(open_creates_private_wal_database),
		T(reopen_keeps_data_and_schema),
		T(open_refuses_newer_schema),
		T(open_reports_bad_paths),
		T(backend_failure_is_reported),
		T(user_create_exists_delete),
		T(user_create_is_atomic),
		T(user_credentials),
		T(user_list_by_domain),
		T(user_list_pages_and_allows_reentry),
		T(user_delete_cascades),
		T(roster_round_trip_and_versions),
		T(roster_many_items_with_groups),
		T(roster_cap),
		T(offline_fifo_and_cap),
		T(offline_byte_accounting),
		T(offline_quota_by_count_and_bytes),
		T(offline_check_rule),
		T(offline_usage_follows_every_writer),
		T(documents),
		T(block_list),
		T(fingerprints_are_normalised_or_refused),
		T(cert_pins_add_find_list_remove),
		T(version_1_database_is_migrated),
		T(version_2_database_is_migrated),
		T(groups_create_get_list_delete),
		T(groups_members),
		T(groups_many_members_page),
		T(groups_member_lookup_uses_index),
		T(transaction_all_or_nothing),
		T(version_3_database_is_migrated),
		T(handles_see_each_others_commits),
		T(concurrent_open_of_new_file),
		T(concurrent_writers),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
