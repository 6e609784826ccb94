/*
 * store_sqlite: the SQLite backend of store/, the embedded default.  One
 * handle is one SQLite connection, used by one thread; several handles (the
 * workers, parleyctl in another process) share the database file through
 * WAL journaling, a busy timeout, and write transactions that take the
 * write lock up front.
 *
 * The schema is an ordered list of migration steps; PRAGMA user_version
 * counts the steps applied.  Every statement is prepared once when the
 * handle opens and reset after each use; every value is bound, never
 * spliced into SQL text.
 *
 * This is not a general SQL layer: the statements below are the only ones
 * the server runs, and the table of them is the place to read first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/log.h"
#include "store/internal.h"

/* Long enough to ride out another handle's write transaction (they are all
 * short), short enough that a stuck writer shows up as an error. */
enum { SQ_BUSY_TIMEOUT_MS = 5000, SQ_WAL_RETRY_MS = 5 };

/* Accounts fetched per query by sq_user_list: bounds its memory, and lets
 * the callback run with no statement active. */
enum { SQ_LIST_PAGE = 128 };

/* ---- Schema ---- */

/*
 * Migration steps, oldest first: step i takes user_version i to i + 1.
 * A released step is never edited; a change is a new step appended here.
 *
 * Every owner column references accounts with ON DELETE CASCADE, so that
 * deleting an account is one statement that removes everything it owns.
 */
static const char *const sq_migrations[] = {
	/* 1: the initial schema. */
	"CREATE TABLE accounts ("
	"  jid TEXT NOT NULL PRIMARY KEY,"
	/* Derived, so it can never disagree with jid; indexed, so listing a
	 * domain reads only that domain's entries. */
	"  domain TEXT NOT NULL GENERATED ALWAYS AS (substr(jid, instr(jid, '@') + 1)) VIRTUAL,"
	"  created INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX accounts_domain ON accounts (domain, jid);"

	"CREATE TABLE credentials ("
	"  jid TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  mechanism TEXT NOT NULL,"
	"  iterations INTEGER NOT NULL CHECK (iterations > 0),"
	"  salt BLOB NOT NULL,"
	"  stored_key BLOB NOT NULL,"
	"  server_key BLOB NOT NULL,"
	"  PRIMARY KEY (jid, mechanism)"
	") WITHOUT ROWID;"

	"CREATE TABLE roster_versions ("
	"  owner TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL"
	") WITHOUT ROWID;"

	"CREATE TABLE roster_items ("
	"  id INTEGER PRIMARY KEY,"
	"  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  contact TEXT NOT NULL,"
	"  name TEXT,"
	"  subscription INTEGER NOT NULL CHECK (subscription BETWEEN 0 AND 3),"
	"  ask_out INTEGER NOT NULL CHECK (ask_out IN (0, 1)),"
	"  pending_in INTEGER NOT NULL CHECK (pending_in IN (0, 1)),"
	"  approved INTEGER NOT NULL CHECK (approved IN (0, 1)),"
	"  hidden INTEGER NOT NULL CHECK (hidden IN (0, 1)),"
	"  UNIQUE (owner, contact)"
	");"

	"CREATE TABLE roster_groups ("
	"  item INTEGER NOT NULL REFERENCES roster_items (id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  PRIMARY KEY (item, name)"
	") WITHOUT ROWID;"

	/* AUTOINCREMENT: ids are never reused, so a delete "up to id N"
	 * issued after a fetch cannot hit a message stored since. */
	"CREATE TABLE offline_messages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  xml BLOB NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE INDEX offline_messages_owner ON offline_messages (owner, id);"

	/* A rowid table: a vCard with a photo is a large row, which SQLite
	 * stores badly in a WITHOUT ROWID b-tree. */
	"CREATE TABLE documents ("
	"  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  kind TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  xml BLOB NOT NULL,"
	"  PRIMARY KEY (owner, kind, key)"
	");"

	"CREATE TABLE blocks ("
	"  owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  jid TEXT NOT NULL,"
	"  PRIMARY KEY (owner, jid)"
	") WITHOUT ROWID;",

	/* 2: certificates pinned to accounts (SASL EXTERNAL, XEP-0178).  The
	 * fingerprint is the SHA-256 of the DER certificate in lower-case
	 * hex; store.c normalises it, the CHECK keeps other writers honest. */
	"CREATE TABLE cert_pins ("
	"  jid TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  fingerprint TEXT NOT NULL CHECK (length(fingerprint) = 64"
	"    AND fingerprint NOT GLOB '*[^0-9a-f]*'),"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (jid, fingerprint)"
	") WITHOUT ROWID;",

	/* 3: offline storage quotas by count and by bytes.  Checking a quota
	 * on every store must not read the account's messages: each message
	 * records its size, and offline_usage keeps per account the count
	 * and the sum of sizes, maintained by triggers in the same
	 * transaction as the change.  The triggers hold for every writer
	 * (parleyctl, an account's cascading delete, the sqlite3 shell), so
	 * the counters cannot drift from the rows.  The delete trigger reads
	 * `bytes`, not the message, so delivering does not load each blob a
	 * second time.  A row at zero is kept: the next message updates it
	 * in place. */
	"ALTER TABLE offline_messages ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;"
	"UPDATE offline_messages SET bytes = length(CAST(xml AS BLOB));"
	"CREATE TABLE offline_usage ("
	"  owner TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,"
	"  messages INTEGER NOT NULL CHECK (messages >= 0),"
	"  bytes INTEGER NOT NULL CHECK (bytes >= 0)"
	") WITHOUT ROWID;"
	"INSERT INTO offline_usage (owner, messages, bytes)"
	"  SELECT owner, count(*), sum(bytes) FROM offline_messages GROUP BY owner;"
	"CREATE TRIGGER offline_usage_add AFTER INSERT ON offline_messages BEGIN"
	"  INSERT INTO offline_usage (owner, messages, bytes) VALUES (new.owner, 1, new.bytes)"
	"  ON CONFLICT (owner) DO UPDATE SET messages = messages + 1,"
	"  bytes = bytes + excluded.bytes;"
	"END;"
	"CREATE TRIGGER offline_usage_remove AFTER DELETE ON offline_messages BEGIN"
	"  UPDATE offline_usage SET messages = messages - 1, bytes = bytes - old.bytes"
	"  WHERE owner = old.owner;"
	"END;",

	/* 4: groups and their members (shared rosters).  A member is any
	 * bare JID, remote ones included, so memberships cannot reference
	 * accounts: a trigger removes an account's memberships with it.  The
	 * index on member is what a login reads (its own groups only);
	 * groups.members counts the rows, kept by triggers as offline_usage
	 * is, so listing a group of 10,000 does not scan them. */
	"CREATE TABLE groups ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  label TEXT NOT NULL,"
	"  shared INTEGER NOT NULL CHECK (shared IN (0, 1)),"
	"  members_only INTEGER NOT NULL CHECK (members_only IN (0, 1)),"
	"  created INTEGER NOT NULL,"
	"  members INTEGER NOT NULL DEFAULT 0 CHECK (members >= 0)"
	");"
	"CREATE TABLE memberships ("
	"  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,"
	"  member TEXT NOT NULL,"
	"  PRIMARY KEY (group_id, member)"
	") WITHOUT ROWID;"
	"CREATE INDEX memberships_member ON memberships (member, group_id);"
	"CREATE TRIGGER memberships_add AFTER INSERT ON memberships BEGIN"
	"  UPDATE groups SET members = members + 1 WHERE id = new.group_id;"
	"END;"
	"CREATE TRIGGER memberships_remove AFTER DELETE ON memberships BEGIN"
	"  UPDATE groups SET members = members - 1 WHERE id = old.group_id;"
	"END;"
	"CREATE TRIGGER accounts_leave_groups AFTER DELETE ON accounts BEGIN"
	"  DELETE FROM memberships WHERE member = old.jid;"
	"END;",

	/* 5: API tokens of the admin API (issue 11).  Only the SHA-256 of a
	 * token is kept, so the table gives no token away; the hash is
	 * unique (a lookup by hash is one index probe) and so is the name.
	 * AUTOINCREMENT: a revoked token's id never names another. */
	"CREATE TABLE api_tokens ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  read_only INTEGER NOT NULL CHECK (read_only IN (0, 1)),"
	"  owner TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  last_used INTEGER"
	");",
};

enum { SQ_SCHEMA_VERSION = (int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])) };

/* ---- Statements ---- */

enum sq_stmt {
	SQ_BEGIN_READ,
	SQ_BEGIN_WRITE,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_CHECKPOINT,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,

	SQ_USER_INSERT,
	SQ_USER_EXISTS,
	SQ_USER_DELETE,
	SQ_USER_LIST_DOMAIN,
	SQ_USER_LIST_ALL,
	SQ_CRED_INSERT,
	SQ_CRED_CLEAR,
	SQ_CRED_GET,

	SQ_ROSTER_VERSION,
	SQ_ROSTER_BUMP,
	SQ_ROSTER_COUNT,
	SQ_ROSTER_ITEMS,
	SQ_ROSTER_ITEM,
	SQ_ROSTER_ITEM_ID,
	SQ_ROSTER_UPSERT,
	SQ_ROSTER_DELETE,
	SQ_ROSTER_GROUPS,
	SQ_ROSTER_ITEM_GROUPS,
	SQ_ROSTER_GROUPS_CLEAR,
	SQ_ROSTER_GROUP_INSERT,

	SQ_OFFLINE_COUNT,
	SQ_OFFLINE_USAGE,
	SQ_OFFLINE_INSERT,
	SQ_OFFLINE_GET,
	SQ_OFFLINE_DELETE,

	SQ_DOC_GET,
	SQ_DOC_PUT,
	SQ_DOC_DELETE,

	SQ_BLOCK_COUNT,
	SQ_BLOCK_LIST,
	SQ_BLOCK_EXISTS,
	SQ_BLOCK_INSERT,
	SQ_BLOCK_DELETE,
	SQ_BLOCK_CLEAR,

	SQ_PIN_INSERT,
	SQ_PIN_DELETE,
	SQ_PIN_FIND,
	SQ_PIN_COUNT,
	SQ_PIN_LIST,

	SQ_GROUP_INSERT,
	SQ_GROUP_DELETE,
	SQ_GROUP_GET,
	SQ_GROUP_LIST,
	SQ_GROUP_ID,
	SQ_MEMBER_INSERT,
	SQ_MEMBER_DELETE,
	SQ_MEMBER_LIST,
	SQ_MEMBER_GROUP_COUNT,
	SQ_MEMBER_GROUPS,

	SQ_TOKEN_INSERT,
	SQ_TOKEN_COUNT,
	SQ_TOKEN_LIST,
	SQ_TOKEN_FIND,
	SQ_TOKEN_DELETE,
	SQ_TOKEN_TOUCH,

	SQ_STMT_COUNT
};

/* The roster item columns, in the order sq_item_read() expects. */
#define SQ_ITEM_COLUMNS                                                                  \
	"id, contact, name, subscription, ask_out, pending_in, approved, hidden,"          \
	" (SELECT count(*) FROM roster_groups g WHERE g.item = roster_items.id)"

/* The group columns, in the order sq_group_read() expects. */
#define SQ_GROUP_COLUMNS "g.name, g.label, g.shared, g.members_only, g.members"

/* The token columns, in the order sq_token_read() expects. */
#define SQ_TOKEN_COLUMNS "id, name, hash, read_only, owner, created, coalesce(last_used, 0)"

static const struct {
	const char *name; /* for error messages */
	const char *sql;
} sq_sql[SQ_STMT_COUNT] = {
	/* IMMEDIATE takes the write lock at BEGIN, under the busy timeout.  A
	 * deferred transaction that reads and then writes fails at once with
	 * SQLITE_BUSY_SNAPSHOT when another handle wrote in between. */
	[SQ_BEGIN_READ] = {"begin", "BEGIN"},
	[SQ_BEGIN_WRITE] = {"begin immediate", "BEGIN IMMEDIATE"},
	[SQ_COMMIT] = {"commit", "COMMIT"},
	[SQ_ROLLBACK] = {"rollback", "ROLLBACK"},
	[SQ_CHECKPOINT] = {"checkpoint", "PRAGMA wal_checkpoint(PASSIVE)"},
	/* Inside store_begin's transaction, each call is a savepoint, so a
	 * failed call undoes only itself. */
	[SQ_SAVEPOINT] = {"savepoint", "SAVEPOINT op"},
	[SQ_RELEASE] = {"release", "RELEASE op"},
	[SQ_ROLLBACK_TO] = {"rollback to", "ROLLBACK TO op"},

	[SQ_USER_INSERT] = {"user insert",
		"INSERT INTO accounts (jid, created) VALUES (?1, ?2) ON CONFLICT (jid) DO NOTHING"},
	[SQ_USER_EXISTS] = {"user exists", "SELECT 1 FROM accounts WHERE jid = ?1"},
	[SQ_USER_DELETE] = {"user delete", "DELETE FROM accounts WHERE jid = ?1"},
	[SQ_USER_LIST_DOMAIN] = {"user list",
		"SELECT jid FROM accounts WHERE domain = ?3 AND jid > ?1 ORDER BY jid LIMIT ?2"},
	[SQ_USER_LIST_ALL] = {"user list all",
		"SELECT jid FROM accounts WHERE jid > ?1 ORDER BY jid LIMIT ?2"},
	[SQ_CRED_INSERT] = {"credential insert",
		"INSERT INTO credentials (jid, mechanism, iterations, salt, stored_key, server_key)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
	[SQ_CRED_CLEAR] = {"credential clear", "DELETE FROM credentials WHERE jid = ?1"},
	[SQ_CRED_GET] = {"credential get",
		"SELECT iterations, salt, stored_key, server_key FROM credentials"
		" WHERE jid = ?1 AND mechanism = ?2"},

	[SQ_ROSTER_VERSION] = {"roster version",
		"SELECT version FROM roster_versions WHERE owner = ?1"},
	[SQ_ROSTER_BUMP] = {"roster version bump",
		"INSERT INTO roster_versions (owner, version) VALUES (?1, 1)"
		" ON CONFLICT (owner) DO UPDATE SET version = version + 1 RETURNING version"},
	[SQ_ROSTER_COUNT] = {"roster count",
		"SELECT count(*) FROM roster_items WHERE owner = ?1"},
	[SQ_ROSTER_ITEMS] = {"roster items",
		"SELECT " SQ_ITEM_COLUMNS " FROM roster_items WHERE owner = ?1 ORDER BY contact"},
	[SQ_ROSTER_ITEM] = {"roster item",
		"SELECT " SQ_ITEM_COLUMNS " FROM roster_items WHERE owner = ?1 AND contact = ?2"},
	[SQ_ROSTER_ITEM_ID] = {"roster item id",
		"SELECT id FROM roster_items WHERE owner = ?1 AND contact = ?2"},
	[SQ_ROSTER_UPSERT] = {"roster item upsert",
		"INSERT INTO roster_items (owner, contact, name, subscription, ask_out, pending_in,"
		" approved, hidden) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		" ON CONFLICT (owner, contact) DO UPDATE SET name = excluded.name,"
		" subscription = excluded.subscription, ask_out = excluded.ask_out,"
		" pending_in = excluded.pending_in, approved = excluded.approved,"
		" hidden = excluded.hidden RETURNING id"},
	[SQ_ROSTER_DELETE] = {"roster item delete",
		"DELETE FROM roster_items WHERE owner = ?1 AND contact = ?2"},
	/* Same order as SQ_ROSTER_ITEMS, so both can be walked together. */
	[SQ_ROSTER_GROUPS] = {"roster groups",
		"SELECT g.item, g.name FROM roster_items i JOIN roster_groups g ON g.item = i.id"
		" WHERE i.owner = ?1 ORDER BY i.contact, g.name"},
	[SQ_ROSTER_ITEM_GROUPS] = {"roster item groups",
		"SELECT name FROM roster_groups WHERE item = ?1 ORDER BY name"},
	[SQ_ROSTER_GROUPS_CLEAR] = {"roster groups clear",
		"DELETE FROM roster_groups WHERE item = ?1"},
	/* A group named twice is one group (RFC 6121 §2.1.2.2 lets the
	 * server tolerate the duplicate). */
	[SQ_ROSTER_GROUP_INSERT] = {"roster group insert",
		"INSERT INTO roster_groups (item, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING"},

	/* The counters of migration 3, never a scan of the messages. */
	[SQ_OFFLINE_COUNT] = {"offline count",
		"SELECT coalesce((SELECT messages FROM offline_usage WHERE owner = ?1), 0)"},
	[SQ_OFFLINE_USAGE] = {"offline usage",
		"SELECT messages, bytes FROM offline_usage WHERE owner = ?1"},
	/* The size is taken from the value stored, so it cannot disagree. */
	[SQ_OFFLINE_INSERT] = {"offline insert",
		"INSERT INTO offline_messages (owner, xml, bytes, created)"
		" VALUES (?1, ?2, length(?2), ?3)"},
	[SQ_OFFLINE_GET] = {"offline get",
		"SELECT id, xml FROM offline_messages WHERE owner = ?1 ORDER BY id LIMIT ?2"},
	[SQ_OFFLINE_DELETE] = {"offline delete",
		"DELETE FROM offline_messages WHERE owner = ?1 AND id <= ?2"},

	[SQ_DOC_GET] = {"document get",
		"SELECT xml FROM documents WHERE owner = ?1 AND kind = ?2 AND key = ?3"},
	[SQ_DOC_PUT] = {"document put",
		"INSERT INTO documents (owner, kind, key, xml) VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (owner, kind, key) DO UPDATE SET xml = excluded.xml"},
	[SQ_DOC_DELETE] = {"document delete",
		"DELETE FROM documents WHERE owner = ?1 AND kind = ?2 AND key = ?3"},

	[SQ_BLOCK_COUNT] = {"block count", "SELECT count(*) FROM blocks WHERE owner = ?1"},
	[SQ_BLOCK_LIST] = {"block list",
		"SELECT jid FROM blocks WHERE owner = ?1 ORDER BY jid LIMIT ?2"},
	[SQ_BLOCK_EXISTS] = {"block exists",
		"SELECT 1 FROM blocks WHERE owner = ?1 AND jid = ?2"},
	[SQ_BLOCK_INSERT] = {"block insert", "INSERT INTO blocks (owner, jid) VALUES (?1, ?2)"},
	[SQ_BLOCK_DELETE] = {"block delete", "DELETE FROM blocks WHERE owner = ?1 AND jid = ?2"},
	[SQ_BLOCK_CLEAR] = {"block clear", "DELETE FROM blocks WHERE owner = ?1"},

	[SQ_PIN_INSERT] = {"certificate pin insert",
		"INSERT INTO cert_pins (jid, fingerprint, created) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (jid, fingerprint) DO NOTHING"},
	[SQ_PIN_DELETE] = {"certificate pin delete",
		"DELETE FROM cert_pins WHERE jid = ?1 AND fingerprint = ?2"},
	[SQ_PIN_FIND] = {"certificate pin find",
		"SELECT 1 FROM cert_pins WHERE jid = ?1 AND fingerprint = ?2"},
	[SQ_PIN_COUNT] = {"certificate pin count", "SELECT count(*) FROM cert_pins WHERE jid = ?1"},
	[SQ_PIN_LIST] = {"certificate pin list",
		"SELECT fingerprint, created FROM cert_pins WHERE jid = ?1"
		" ORDER BY created, fingerprint LIMIT ?2"},

	[SQ_GROUP_INSERT] = {"group insert",
		"INSERT INTO groups (name, label, shared, members_only, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING"},
	[SQ_GROUP_DELETE] = {"group delete", "DELETE FROM groups WHERE name = ?1"},
	[SQ_GROUP_GET] = {"group get",
		"SELECT " SQ_GROUP_COLUMNS " FROM groups g WHERE name = ?1"},
	[SQ_GROUP_LIST] = {"group list",
		"SELECT " SQ_GROUP_COLUMNS " FROM groups g WHERE name > ?1 ORDER BY name LIMIT ?2"},
	[SQ_GROUP_ID] = {"group id", "SELECT id FROM groups WHERE name = ?1"},
	[SQ_MEMBER_INSERT] = {"membership insert",
		"INSERT INTO memberships (group_id, member) VALUES (?1, ?2) ON CONFLICT DO NOTHING"},
	[SQ_MEMBER_DELETE] = {"membership delete",
		"DELETE FROM memberships WHERE group_id = ?1 AND member = ?2"},
	[SQ_MEMBER_LIST] = {"membership list",
		"SELECT member FROM memberships WHERE group_id = ?3 AND member > ?1"
		" ORDER BY member LIMIT ?2"},
	/* Both read the memberships_member index: this member's rows only. */
	[SQ_MEMBER_GROUP_COUNT] = {"member group count",
		"SELECT count(*) FROM memberships WHERE member = ?1"},
	[SQ_MEMBER_GROUPS] = {"member groups",
		"SELECT " SQ_GROUP_COLUMNS " FROM memberships m JOIN groups g ON g.id = m.group_id"
		" WHERE m.member = ?1 ORDER BY g.name LIMIT ?2"},

	/* A name or hash taken already inserts nothing and returns no row. */
	[SQ_TOKEN_INSERT] = {"token insert",
		"INSERT INTO api_tokens (name, hash, read_only, owner, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING RETURNING id"},
	[SQ_TOKEN_COUNT] = {"token count", "SELECT count(*) FROM api_tokens"},
	[SQ_TOKEN_LIST] = {"token list",
		"SELECT " SQ_TOKEN_COLUMNS " FROM api_tokens ORDER BY id LIMIT ?1"},
	[SQ_TOKEN_FIND] = {"token find", "SELECT " SQ_TOKEN_COLUMNS " FROM api_tokens WHERE hash = ?1"},
	[SQ_TOKEN_DELETE] = {"token delete", "DELETE FROM api_tokens WHERE id = ?1"},
	[SQ_TOKEN_TOUCH] = {"token touch", "UPDATE api_tokens SET last_used = ?2 WHERE id = ?1"},
};

/* Owner: whoever called store_open(); used by one thread at a time. */
struct sq {
	struct store base; /* first: store.c sees only this */
	sqlite3 *db;
	/* The first bind failure since the statement was last reset; bind
	 * errors are rare (a value over SQLite's size limit), so they are
	 * collected here and reported by the step that follows. */
	int bind_rc;
	/* Inside store_begin's transaction: sq_begin and sq_end use a
	 * savepoint instead of a transaction of their own. */
	bool in_tx;
	sqlite3_stmt *stmt[SQ_STMT_COUNT];
};

static struct sq *sq_of(struct store *s)
{
	return (struct sq *)s;
}

/* ---- Statement helpers ---- */

static const char *sq_stmt_name(const struct sq *q, const sqlite3_stmt *st)
{
	for (int i = 0; i < SQ_STMT_COUNT; i++)
		if (q->stmt[i] == st)
			return sq_sql[i].name;
	return "statement";
}

static int sq_failed(struct sq *q, sqlite3_stmt *st, int rc)
{
	if (q->bind_rc != SQLITE_OK)
		return store_fail(&q->base, "%s: cannot bind a value: %s", sq_stmt_name(q, st),
				  sqlite3_errstr(q->bind_rc));
	return store_fail(&q->base, "%s: %s (%d)", sq_stmt_name(q, st), sqlite3_errmsg(q->db), rc);
}

static void sq_bound(struct sq *q, int rc)
{
	if (rc != SQLITE_OK && q->bind_rc == SQLITE_OK)
		q->bind_rc = rc;
}

/* Binds a string (NULL binds SQL NULL).  The value must stay valid until
 * the statement is reset: every caller resets before returning. */
static void sq_text(struct sq *q, sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		sq_bound(q, sqlite3_bind_null(st, i));
	else
		sq_bound(q, sqlite3_bind_text64(st, i, s, strlen(s), SQLITE_STATIC, SQLITE_UTF8));
}

/* A NULL pointer would bind SQL NULL even with n == 0; "" binds an empty
 * blob. */
static void sq_blob(struct sq *q, sqlite3_stmt *st, int i, const void *p, size_t n)
{
	sq_bound(q, sqlite3_bind_blob64(st, i, n ? p : "", n, SQLITE_STATIC));
}

static void sq_int(struct sq *q, sqlite3_stmt *st, int i, int64_t v)
{
	sq_bound(q, sqlite3_bind_int64(st, i, v));
}

static int sq_step(struct sq *q, sqlite3_stmt *st)
{
	if (q->bind_rc != SQLITE_OK)
		return q->bind_rc;
	return sqlite3_step(st);
}

/* Clears the bindings too, so that no statement keeps pointers into the
 * caller's strings after the call returns. */
static void sq_reset(struct sq *q, sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	q->bind_rc = SQLITE_OK;
}

/*
 * Runs a statement that returns no rows, and resets it.  A foreign key
 * failure means the owner has no account, which is STORE_NOT_FOUND: the
 * only other foreign key, roster_groups.item, is always written for an
 * item its transaction has just written.
 */
static int sq_run(struct sq *q, sqlite3_stmt *st)
{
	int ret = STORE_OK;
	int rc = sq_step(q, st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		ret = STORE_NOT_FOUND;
	else if (rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	return ret;
}

/* sq_run for a write that must change a row: `unchanged` when none did
 * (STORE_EXISTS for an insert that did nothing, STORE_NOT_FOUND for a
 * delete). */
static int sq_run_changed(struct sq *q, sqlite3_stmt *st, int unchanged)
{
	int ret = sq_run(q, st);
	if (ret == STORE_OK && sqlite3_changes(q->db) == 0)
		ret = unchanged;
	return ret;
}

/* Runs a statement that yields at most one row, reads its first column as
 * an integer, and resets it.  STORE_NOT_FOUND when there is no row (or,
 * for INSERT ... RETURNING, when the owner has no account).  The statement
 * is stepped to its end because a RETURNING statement may report a
 * constraint failure after its row. */
static int sq_int_row(struct sq *q, sqlite3_stmt *st, int64_t *v)
{
	int ret = STORE_OK;
	int rc = sq_step(q, st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	} else if (rc == SQLITE_DONE) {
		ret = STORE_NOT_FOUND;
	}
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		ret = STORE_NOT_FOUND;
	else if (rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	return ret;
}

/* A count of rows for `owner` from one of the count statements. */
static int sq_count(struct sq *q, enum sq_stmt id, const char *owner, size_t *n)
{
	sqlite3_stmt *st = q->stmt[id];
	int64_t v = 0;
	sq_text(q, st, 1, owner);
	int ret = sq_int_row(q, st, &v);
	*n = ret == STORE_OK && v > 0 ? (size_t)v : 0;
	return ret;
}

/* Copies a text or blob column into the arena, NUL-terminated; NULL for
 * SQL NULL. */
static const char *sq_col_copy(struct arena *a, sqlite3_stmt *st, int i, size_t *len)
{
	if (len)
		*len = 0;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	const void *p = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	if (!p && n)
		log_fatal("store", "out of memory reading a column");
	if (len)
		*len = n;
	return arena_strndup(a, p ? p : "", n);
}

/* ---- Transactions ---- */

static int sq_begin(struct sq *q, enum sq_stmt kind)
{
	return sq_run(q, q->stmt[q->in_tx ? SQ_SAVEPOINT : kind]);
}

static void sq_rollback(struct sq *q)
{
	/* Some errors (I/O, a full disk) end the transaction themselves. */
	if (sqlite3_get_autocommit(q->db))
		return;
	sqlite3_stmt *st = q->stmt[SQ_ROLLBACK];
	sqlite3_step(st);
	sq_reset(q, st);
}

/* Ends the transaction: commits when ret is STORE_OK, else rolls back.
 * Returns ret, or STORE_ERROR when the commit failed. */
static int sq_end(struct sq *q, int ret)
{
	if (q->in_tx) {
		/* The outer transaction may have ended itself (I/O error):
		 * then there is no savepoint left, and commit will say so. */
		if (sqlite3_get_autocommit(q->db))
			return ret;
		if (ret != STORE_OK) {
			sqlite3_stmt *st = q->stmt[SQ_ROLLBACK_TO];
			sqlite3_step(st);
			sq_reset(q, st);
		}
		int rc = sq_run(q, q->stmt[SQ_RELEASE]);
		return ret == STORE_OK ? rc : ret;
	}
	if (ret == STORE_OK)
		ret = sq_run(q, q->stmt[SQ_COMMIT]);
	if (ret != STORE_OK)
		sq_rollback(q);
	return ret;
}

/* Fills one list element from the current row. */
typedef void sq_row_fn(struct arena *a, sqlite3_stmt *st, void *elem);

/*
 * The shape of every per-owner list read: count the owner's rows (capped at
 * `max`, 0: no cap), then read that many with `list` bound to (owner,
 * count), each row into an element of `size` bytes by row(), in one read
 * transaction so count and rows agree.  *out is NULL when there are none.
 */
static int sq_list(struct sq *q, struct arena *a, enum sq_stmt count_stmt, enum sq_stmt list_stmt,
		   const char *owner, size_t max, size_t size, sq_row_fn *row, void **out, size_t *n)
{
	size_t count = 0, got = 0;
	int rc = SQLITE_DONE;
	char *list = NULL;

	*out = NULL;
	*n = 0;
	int ret = sq_begin(q, SQ_BEGIN_READ);
	if (ret != STORE_OK)
		return ret;
	ret = sq_count(q, count_stmt, owner, &count);
	if (ret != STORE_OK)
		goto done;
	if (max && count > max)
		count = max;
	if (count == 0)
		goto done;

	list = arena_alloc(a, count * size);
	sqlite3_stmt *st = q->stmt[list_stmt];
	sq_text(q, st, 1, owner);
	sq_int(q, st, 2, (int64_t)count);
	while (got < count && (rc = sq_step(q, st)) == SQLITE_ROW)
		row(a, st, list + got++ * size);
	if (got < count && rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
done:
	ret = sq_end(q, ret);
	if (ret == STORE_OK) {
		*out = got ? list : NULL;
		*n = got;
	}
	return ret;
}

/* Binds a paged listing's own parameters, ?3 on. */
typedef void sq_bind_fn(struct sq *q, sqlite3_stmt *st, const void *arg);
/* Takes one element of a page; non-zero stops the listing. */
typedef int sq_each_fn(void *ud, const void *elem);

/*
 * The shape of every listing paged by key: `list` orders by its column 0,
 * takes the key to start after as ?1, the page size as ?2 and, from bind()
 * when not NULL, its own parameters from ?3 on.  Each page is read into
 * elements of `size` bytes by row() and its statement reset before each()
 * runs on it, so that each() may use the handle (parleyctl deletes the
 * accounts it lists).  Paging by key rather than by offset stays correct
 * when it does.
 */
static int sq_page_each(struct sq *q, enum sq_stmt list, sq_bind_fn *bind, const void *arg,
			size_t size, sq_row_fn *row, sq_each_fn *each, void *ud)
{
	sqlite3_stmt *st = q->stmt[list];
	struct arena *page = arena_new();
	char *elems = xmalloc(SQ_LIST_PAGE * size);
	char *after = xstrdup("");
	int ret = STORE_OK;

	for (;;) {
		sq_text(q, st, 1, after);
		sq_int(q, st, 2, SQ_LIST_PAGE);
		if (bind)
			bind(q, st, arg);
		size_t n = 0;
		int rc = SQLITE_DONE;
		const char *last = NULL;
		arena_reset(page);
		while (n < SQ_LIST_PAGE && (rc = sq_step(q, st)) == SQLITE_ROW) {
			row(page, st, elems + n++ * size);
			if (n == SQ_LIST_PAGE)
				last = sq_col_copy(page, st, 0, NULL);
		}
		if (n < SQ_LIST_PAGE && rc != SQLITE_DONE)
			ret = sq_failed(q, st, rc);
		sq_reset(q, st);
		if (ret != STORE_OK)
			goto free;
		for (size_t k = 0; k < n; k++)
			if (each(ud, elems + k * size) != 0)
				goto free;
		if (!last)
			goto free;
		free(after);
		after = xstrdup(last);
	}
free:
	free(after);
	free(elems);
	arena_free(page);
	return ret;
}

/* sq_page_each for listings of one string each (their column 0). */
struct sq_str_each {
	int (*fn)(void *ud, const char *s);
	void *ud;
};

static void sq_str_read(struct arena *a, sqlite3_stmt *st, void *elem)
{
	*(const char **)elem = sq_col_copy(a, st, 0, NULL);
}

static int sq_str_call(void *ud, const void *elem)
{
	const struct sq_str_each *e = ud;
	return e->fn(e->ud, *(const char *const *)elem);
}

static int sq_page_strings(struct sq *q, enum sq_stmt list, sq_bind_fn *bind, const void *arg,
			   int (*fn)(void *ud, const char *s), void *ud)
{
	struct sq_str_each e = {.fn = fn, .ud = ud};
	return sq_page_each(q, list, bind, arg, sizeof(const char *), sq_str_read, sq_str_call, &e);
}

/* ---- Opening, schema, closing ---- */

/* Runs fixed SQL (set-up and migrations only: these run once per handle,
 * so they need not be cached). */
static int sq_exec(struct sq *q, const char *what, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return STORE_OK;
	int ret = store_fail(&q->base, "%s: %s", what, msg ? msg : sqlite3_errmsg(q->db));
	sqlite3_free(msg);
	return ret;
}

/* The single text value a PRAGMA returns, copied into buf. */
static int sq_pragma(struct sq *q, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st = NULL;
	int ret = STORE_OK;
	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
		ret = store_fail(&q->base, "%s: %s", sql, sqlite3_errmsg(q->db));
		goto finalize;
	}
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ret = store_fail(&q->base, "%s: %s", sql,
				 rc == SQLITE_DONE ? "no result" : sqlite3_errmsg(q->db));
		goto finalize;
	}
	const unsigned char *v = sqlite3_column_text(st, 0);
	snprintf(buf, size, "%s", v ? (const char *)v : "");
finalize:
	sqlite3_finalize(st);
	return ret;
}

static int sq_schema_version(struct sq *q, int *v)
{
	char buf[32];
	int ret = sq_pragma(q, "PRAGMA user_version", buf, sizeof(buf));
	if (ret == STORE_OK)
		*v = atoi(buf);
	return ret;
}

/*
 * Switches the file to WAL journaling (a no-op once done: the mode is
 * stored in the file).  The switch writes the header from inside a read
 * transaction, where SQLite returns SQLITE_BUSY at once instead of calling
 * the busy handler; handles opening a new file together would fail, so the
 * wait happens here, within the same budget.
 */
static int sq_use_wal(struct sq *q, const char *path)
{
	static const char sql[] = "PRAGMA journal_mode = WAL";
	sqlite3_stmt *st = NULL;
	int ret = STORE_OK;
	int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	for (int waited = 0; rc == SQLITE_OK || rc == SQLITE_BUSY; waited += SQ_WAL_RETRY_MS) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_BUSY || waited >= SQ_BUSY_TIMEOUT_MS)
			break;
		sqlite3_reset(st);
		sqlite3_sleep(SQ_WAL_RETRY_MS);
	}
	if (rc != SQLITE_ROW) {
		ret = store_fail(&q->base, "%s: %s: %s", path, sql, sqlite3_errmsg(q->db));
		goto finalize;
	}
	const unsigned char *mode = sqlite3_column_text(st, 0);
	if (!mode || strcmp((const char *)mode, "wal") != 0)
		ret = store_fail(&q->base, "%s: cannot use WAL journaling (journal mode is %s)",
				 path, mode ? (const char *)mode : "unknown");
finalize:
	sqlite3_finalize(st);
	return ret;
}

/* Applies the missing migration steps, each in its own transaction.
 * Several handles may open a new file at once: each step re-reads the
 * version under the write lock, so a step runs exactly once. */
static int sq_migrate(struct sq *q, const char *path)
{
	int v, ret = sq_schema_version(q, &v);
	if (ret != STORE_OK)
		return ret;
	while (v < SQ_SCHEMA_VERSION) {
		ret = sq_exec(q, path, "BEGIN IMMEDIATE");
		if (ret != STORE_OK)
			return ret;
		ret = sq_schema_version(q, &v);
		if (ret != STORE_OK)
			goto rollback;
		if (v < 0 || v >= SQ_SCHEMA_VERSION) {
			ret = sq_exec(q, path, "COMMIT");
			if (ret != STORE_OK)
				goto rollback;
			break;
		}
		char what[512], set[64];
		snprintf(what, sizeof(what), "%s: schema migration to version %d", path, v + 1);
		ret = sq_exec(q, what, sq_migrations[v]);
		if (ret != STORE_OK)
			goto rollback;
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
		ret = sq_exec(q, what, set);
		if (ret != STORE_OK)
			goto rollback;
		ret = sq_exec(q, what, "COMMIT");
		if (ret != STORE_OK)
			goto rollback;
		v++;
		log_info("store", "%s: schema now at version %d", path, v);
	}
	if (v < 0)
		return store_fail(&q->base, "%s: invalid database schema version %d", path, v);
	if (v > SQ_SCHEMA_VERSION)
		return store_fail(&q->base,
				  "%s: database schema version %d is newer than this Parley knows "
				  "(%d); upgrade Parley, or use a database made by this version",
				  path, v, SQ_SCHEMA_VERSION);
	return STORE_OK;

rollback:
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

static void sq_close(struct store *s)
{
	struct sq *q = sq_of(s);
	for (int i = 0; i < SQ_STMT_COUNT; i++)
		sqlite3_finalize(q->stmt[i]);
	if (q->db && sqlite3_close(q->db) != SQLITE_OK)
		log_error("store", "closing the database: %s", sqlite3_errmsg(q->db));
	free(q);
}

static const struct store_ops sq_ops;

struct store *store_sqlite_open(const char *path, char **err)
{
	struct sq *q = xcalloc(1, sizeof(*q));
	q->base.ops = &sq_ops;

	/* SQLite would create the file with 0644 less the umask; accounts'
	 * keys and messages are for this user only.  An existing file keeps
	 * the mode its operator gave it.  The -wal and -shm files take the
	 * mode of the database file.
	 *
	 * Only a file that does not exist yet is touched: closing any
	 * descriptor of a file drops every POSIX lock this process holds on
	 * it, so opening and closing the database while another handle (a
	 * worker) has it open would make SQLite's locks vanish, and other
	 * processes (parleyctl) would then write over the server's log. */
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
	} else if (errno != EEXIST) {
		store_fail(&q->base, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}

	/* NOMUTEX: one handle belongs to one thread, so SQLite's per-handle
	 * mutex would only cost. */
	int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_fail(&q->base, "cannot open %s: %s", path,
			   q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);

	if (sq_use_wal(q, path) != STORE_OK)
		goto fail;
	if (sq_exec(q, path, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON") != STORE_OK)
		goto fail;
	/* Cascading deletes are how accounts are removed: refuse a SQLite
	 * built without foreign keys rather than leave orphans behind. */
	char fk[8];
	if (sq_pragma(q, "PRAGMA foreign_keys", fk, sizeof(fk)) != STORE_OK)
		goto fail;
	if (strcmp(fk, "1") != 0) {
		store_fail(&q->base, "%s: this SQLite does not enforce foreign keys", path);
		goto fail;
	}

	if (sq_migrate(q, path) != STORE_OK)
		goto fail;

	for (int i = 0; i < SQ_STMT_COUNT; i++) {
		if (sqlite3_prepare_v3(q->db, sq_sql[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
				       &q->stmt[i], NULL) != SQLITE_OK) {
			store_fail(&q->base, "%s: preparing %s: %s", path, sq_sql[i].name,
				   sqlite3_errmsg(q->db));
			goto fail;
		}
	}
	if (err)
		*err = NULL;
	return &q->base;

fail:
	if (err)
		*err = xstrdup(q->base.err);
	sq_close(&q->base);
	return NULL;
}

static int sq_checkpoint(struct store *s)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_CHECKPOINT];
	int ret = STORE_OK;
	int rc;
	while ((rc = sq_step(q, st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	return ret;
}

static int sq_tx_begin(struct store *s)
{
	struct sq *q = sq_of(s);
	if (q->in_tx || !sqlite3_get_autocommit(q->db))
		return store_fail(s, "begin: a transaction is open already");
	int ret = sq_run(q, q->stmt[SQ_BEGIN_WRITE]);
	q->in_tx = ret == STORE_OK;
	return ret;
}

static int sq_tx_commit(struct store *s)
{
	struct sq *q = sq_of(s);
	if (!q->in_tx)
		return store_fail(s, "commit: no transaction is open");
	q->in_tx = false;
	if (sqlite3_get_autocommit(q->db))
		return store_fail(s, "commit: the transaction was rolled back after an error");
	int ret = sq_run(q, q->stmt[SQ_COMMIT]);
	if (ret != STORE_OK)
		sq_rollback(q);
	return ret;
}

static int sq_tx_rollback(struct store *s)
{
	struct sq *q = sq_of(s);
	q->in_tx = false;
	sq_rollback(q);
	return STORE_OK;
}

/* ---- Accounts ---- */

static int sq_creds_insert(struct sq *q, const char *jid, const struct store_cred *creds, size_t n)
{
	sqlite3_stmt *st = q->stmt[SQ_CRED_INSERT];
	for (size_t i = 0; i < n; i++) {
		const struct store_cred *c = &creds[i];
		sq_text(q, st, 1, jid);
		sq_text(q, st, 2, c->mech);
		sq_int(q, st, 3, c->iterations);
		sq_blob(q, st, 4, c->salt, c->salt_len);
		sq_blob(q, st, 5, c->stored_key, c->key_len);
		sq_blob(q, st, 6, c->server_key, c->key_len);
		int ret = sq_run(q, st);
		if (ret != STORE_OK)
			return ret;
	}
	return STORE_OK;
}

static int sq_user_create(struct store *s, const char *jid, const struct store_cred *creds,
			  size_t n)
{
	struct sq *q = sq_of(s);
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;

	sqlite3_stmt *st = q->stmt[SQ_USER_INSERT];
	sq_text(q, st, 1, jid);
	sq_int(q, st, 2, (int64_t)time(NULL));
	ret = sq_run(q, st);
	if (ret != STORE_OK)
		goto done;
	if (sqlite3_changes(q->db) == 0) {
		ret = STORE_EXISTS;
		goto done;
	}
	ret = sq_creds_insert(q, jid, creds, n);
done:
	return sq_end(q, ret);
}

static int sq_user_set_creds(struct store *s, const char *jid, const struct store_cred *creds,
			     size_t n)
{
	struct sq *q = sq_of(s);
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;

	int64_t one;
	sqlite3_stmt *st = q->stmt[SQ_USER_EXISTS];
	sq_text(q, st, 1, jid);
	ret = sq_int_row(q, st, &one);
	if (ret != STORE_OK)
		goto done;
	st = q->stmt[SQ_CRED_CLEAR];
	sq_text(q, st, 1, jid);
	ret = sq_run(q, st);
	if (ret != STORE_OK)
		goto done;
	ret = sq_creds_insert(q, jid, creds, n);
done:
	return sq_end(q, ret);
}

/* One statement: the foreign keys cascade to everything the account owns
 * within it, so it is atomic without an explicit transaction. */
static int sq_user_delete(struct store *s, const char *jid)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_USER_DELETE];
	sq_text(q, st, 1, jid);
	return sq_run_changed(q, st, STORE_NOT_FOUND);
}

static int sq_user_exists(struct store *s, const char *jid)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_USER_EXISTS];
	int64_t one;
	sq_text(q, st, 1, jid);
	return sq_int_row(q, st, &one);
}

static int sq_user_get_cred(struct store *s, struct arena *a, const char *jid, const char *mech,
			    struct store_cred *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_CRED_GET];
	int ret = STORE_OK;
	sq_text(q, st, 1, jid);
	sq_text(q, st, 2, mech);
	int rc = sq_step(q, st);
	if (rc == SQLITE_DONE) {
		ret = STORE_NOT_FOUND;
		goto reset;
	}
	if (rc != SQLITE_ROW) {
		ret = sq_failed(q, st, rc);
		goto reset;
	}
	int64_t iterations = sqlite3_column_int64(st, 0);
	size_t stored_len, server_len;
	memset(out, 0, sizeof(*out));
	out->salt = (const unsigned char *)sq_col_copy(a, st, 1, &out->salt_len);
	out->stored_key = (const unsigned char *)sq_col_copy(a, st, 2, &stored_len);
	out->server_key = (const unsigned char *)sq_col_copy(a, st, 3, &server_len);
	if (stored_len != server_len || stored_len == 0 || iterations <= 0 ||
	    iterations > UINT_MAX) {
		memset(out, 0, sizeof(*out));
		ret = store_fail(s, "credential %s of %s is damaged", mech, jid);
		goto reset;
	}
	out->mech = arena_strdup(a, mech);
	out->iterations = (unsigned)iterations;
	out->key_len = stored_len;
reset:
	sq_reset(q, st);
	return ret;
}

static void sq_bind_domain(struct sq *q, sqlite3_stmt *st, const void *domain)
{
	sq_text(q, st, 3, domain);
}

static int sq_user_list(struct store *s, const char *domain, int (*fn)(void *ud, const char *jid),
			void *ud)
{
	if (!domain)
		return sq_page_strings(sq_of(s), SQ_USER_LIST_ALL, NULL, NULL, fn, ud);
	return sq_page_strings(sq_of(s), SQ_USER_LIST_DOMAIN, sq_bind_domain, domain, fn, ud);
}

/* ---- Rosters ---- */

/* Fills `it` from a row of SQ_ITEM_COLUMNS, with room for its groups
 * (ngroups is left 0: the caller counts as it fills).  Returns the row id
 * and, in *cap, the number of groups the row announced. */
static int64_t sq_item_read(struct arena *a, sqlite3_stmt *st, struct store_roster_item *it,
			    size_t *cap)
{
	memset(it, 0, sizeof(*it));
	it->contact = sq_col_copy(a, st, 1, NULL);
	it->name = sq_col_copy(a, st, 2, NULL);
	it->sub = (enum store_sub)sqlite3_column_int(st, 3);
	it->ask_out = sqlite3_column_int(st, 4) != 0;
	it->pending_in = sqlite3_column_int(st, 5) != 0;
	it->approved = sqlite3_column_int(st, 6) != 0;
	it->hidden = sqlite3_column_int(st, 7) != 0;
	int64_t ngroups = sqlite3_column_int64(st, 8);
	*cap = ngroups > 0 ? (size_t)ngroups : 0;
	if (*cap)
		it->groups = arena_alloc(a, *cap * sizeof(*it->groups));
	return sqlite3_column_int64(st, 0);
}

static int sq_roster_version(struct store *s, const char *owner, uint64_t *version)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_ROSTER_VERSION];
	int64_t v = 0;
	sq_text(q, st, 1, owner);
	int ret = sq_int_row(q, st, &v);
	if (ret == STORE_NOT_FOUND) {
		v = 0;
		ret = STORE_OK;
	}
	if (ret == STORE_OK)
		*version = (uint64_t)v;
	return ret;
}

/* One read transaction, so that the version, the items and their groups
 * come from the same snapshot. */
static int sq_roster_get(struct store *s, struct arena *a, const char *owner,
			 struct store_roster_item **items, size_t *n, uint64_t *version)
{
	struct sq *q = sq_of(s);
	struct store_roster_item *list = NULL;
	size_t count = 0, got = 0;
	int rc = SQLITE_DONE;

	*items = NULL;
	*n = 0;
	int ret = sq_begin(q, SQ_BEGIN_READ);
	if (ret != STORE_OK)
		return ret;
	ret = sq_roster_version(s, owner, version);
	if (ret != STORE_OK)
		goto done;
	ret = sq_count(q, SQ_ROSTER_COUNT, owner, &count);
	if (ret != STORE_OK || count == 0)
		goto done;

	list = arena_zalloc(a, count * sizeof(*list));
	int64_t *ids = arena_alloc(a, count * sizeof(*ids));
	size_t *caps = arena_alloc(a, count * sizeof(*caps));
	sqlite3_stmt *st = q->stmt[SQ_ROSTER_ITEMS];
	sq_text(q, st, 1, owner);
	while (got < count && (rc = sq_step(q, st)) == SQLITE_ROW) {
		ids[got] = sq_item_read(a, st, &list[got], &caps[got]);
		got++;
	}
	if (got < count && rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	if (ret != STORE_OK)
		goto done;

	/* Both queries are ordered by contact: one pass matches groups to
	 * items. */
	size_t k = 0;
	st = q->stmt[SQ_ROSTER_GROUPS];
	sq_text(q, st, 1, owner);
	while ((rc = sq_step(q, st)) == SQLITE_ROW) {
		int64_t item = sqlite3_column_int64(st, 0);
		while (k < got && ids[k] != item)
			k++;
		if (k == got || list[k].ngroups == caps[k]) {
			ret = store_fail(s, "roster of %s: groups do not match items", owner);
			break;
		}
		list[k].groups[list[k].ngroups++] = sq_col_copy(a, st, 1, NULL);
	}
	if (ret == STORE_OK && rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
done:
	ret = sq_end(q, ret);
	if (ret == STORE_OK) {
		*items = got ? list : NULL;
		*n = got;
	}
	return ret;
}

static int sq_roster_get_item(struct store *s, struct arena *a, const char *owner,
			      const char *contact, struct store_roster_item *out)
{
	struct sq *q = sq_of(s);
	struct store_roster_item it;
	size_t cap = 0;
	int64_t id = 0;

	int ret = sq_begin(q, SQ_BEGIN_READ);
	if (ret != STORE_OK)
		return ret;
	sqlite3_stmt *st = q->stmt[SQ_ROSTER_ITEM];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, contact);
	int rc = sq_step(q, st);
	if (rc == SQLITE_ROW)
		id = sq_item_read(a, st, &it, &cap);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOT_FOUND;
	else
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	if (ret != STORE_OK || cap == 0)
		goto done;

	st = q->stmt[SQ_ROSTER_ITEM_GROUPS];
	sq_int(q, st, 1, id);
	while (it.ngroups < cap && (rc = sq_step(q, st)) == SQLITE_ROW)
		it.groups[it.ngroups++] = sq_col_copy(a, st, 0, NULL);
	if (it.ngroups < cap && rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
done:
	ret = sq_end(q, ret);
	if (ret == STORE_OK)
		*out = it;
	return ret;
}

static int sq_roster_bump(struct sq *q, const char *owner, uint64_t *version)
{
	sqlite3_stmt *st = q->stmt[SQ_ROSTER_BUMP];
	int64_t v = 0;
	sq_text(q, st, 1, owner);
	int ret = sq_int_row(q, st, &v);
	if (ret == STORE_OK)
		*version = (uint64_t)v;
	return ret;
}

static int sq_roster_put(struct store *s, const char *owner, const struct store_roster_item *item,
			 size_t max_items, uint64_t *version)
{
	struct sq *q = sq_of(s);
	int64_t id = 0;
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;

	sqlite3_stmt *st = q->stmt[SQ_ROSTER_ITEM_ID];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, item->contact);
	ret = sq_int_row(q, st, &id);
	bool replacing = ret == STORE_OK;
	if (ret == STORE_NOT_FOUND)
		ret = STORE_OK;
	if (ret != STORE_OK)
		goto done;
	/* The cap limits growth only: replacing an item is always allowed. */
	if (!replacing && max_items) {
		size_t count;
		ret = sq_count(q, SQ_ROSTER_COUNT, owner, &count);
		if (ret != STORE_OK)
			goto done;
		if (count >= max_items) {
			ret = STORE_FULL;
			goto done;
		}
	}

	st = q->stmt[SQ_ROSTER_UPSERT];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, item->contact);
	sq_text(q, st, 3, item->name);
	sq_int(q, st, 4, item->sub);
	sq_int(q, st, 5, item->ask_out);
	sq_int(q, st, 6, item->pending_in);
	sq_int(q, st, 7, item->approved);
	sq_int(q, st, 8, item->hidden);
	ret = sq_int_row(q, st, &id);
	if (ret != STORE_OK)
		goto done;

	if (replacing) {
		st = q->stmt[SQ_ROSTER_GROUPS_CLEAR];
		sq_int(q, st, 1, id);
		ret = sq_run(q, st);
		if (ret != STORE_OK)
			goto done;
	}
	st = q->stmt[SQ_ROSTER_GROUP_INSERT];
	for (size_t i = 0; i < item->ngroups; i++) {
		sq_int(q, st, 1, id);
		sq_text(q, st, 2, item->groups[i]);
		ret = sq_run(q, st);
		if (ret != STORE_OK)
			goto done;
	}
	ret = sq_roster_bump(q, owner, version);
done:
	return sq_end(q, ret);
}

static int sq_roster_delete(struct store *s, const char *owner, const char *contact,
			    uint64_t *version)
{
	struct sq *q = sq_of(s);
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;

	sqlite3_stmt *st = q->stmt[SQ_ROSTER_DELETE];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, contact);
	ret = sq_run(q, st);
	if (ret != STORE_OK)
		goto done;
	if (sqlite3_changes(q->db) == 0) {
		ret = STORE_NOT_FOUND;
		goto done;
	}
	ret = sq_roster_bump(q, owner, version);
done:
	return sq_end(q, ret);
}

/* ---- Offline messages ---- */

/* One primary-key lookup in offline_usage; zero when the account never
 * had a message (or does not exist). */
static int sq_offline_usage(struct store *s, const char *owner, struct store_offline_usage *u)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_OFFLINE_USAGE];
	int ret = STORE_OK;
	u->count = 0;
	u->bytes = 0;
	sq_text(q, st, 1, owner);
	int rc = sq_step(q, st);
	if (rc == SQLITE_ROW) {
		int64_t m = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1);
		u->count = m > 0 ? (size_t)m : 0;
		u->bytes = b > 0 ? (size_t)b : 0;
	} else if (rc != SQLITE_DONE) {
		ret = sq_failed(q, st, rc);
	}
	sq_reset(q, st);
	return ret;
}

/* The usage is read under the write lock (BEGIN IMMEDIATE), so another
 * handle cannot fill the last room between the check and the insert. */
static int sq_offline_push(struct store *s, const char *owner, const char *xml, size_t len,
			   const struct store_offline_quota *quota, struct store_offline_usage *used,
			   enum store_offline_limit *limit)
{
	struct sq *q = sq_of(s);
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;

	ret = sq_offline_usage(s, owner, used);
	if (ret != STORE_OK)
		goto done;
	*limit = store_offline_check(quota, used, len);
	if (*limit != STORE_OFFLINE_UNDER) {
		ret = STORE_FULL;
		goto done;
	}
	sqlite3_stmt *st = q->stmt[SQ_OFFLINE_INSERT];
	sq_text(q, st, 1, owner);
	sq_blob(q, st, 2, xml, len);
	sq_int(q, st, 3, (int64_t)time(NULL));
	ret = sq_run(q, st);
done:
	return sq_end(q, ret);
}

static void sq_offline_row(struct arena *a, sqlite3_stmt *st, void *elem)
{
	struct store_offline_msg *m = elem;
	m->id = sqlite3_column_int64(st, 0);
	m->xml = sq_col_copy(a, st, 1, &m->len);
}

static int sq_offline_get(struct store *s, struct arena *a, const char *owner, size_t max,
			  struct store_offline_msg **msgs, size_t *n)
{
	return sq_list(sq_of(s), a, SQ_OFFLINE_COUNT, SQ_OFFLINE_GET, owner, max, sizeof(**msgs),
		       sq_offline_row, (void **)msgs, n);
}

static int sq_offline_delete(struct store *s, const char *owner, int64_t upto)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_OFFLINE_DELETE];
	sq_text(q, st, 1, owner);
	sq_int(q, st, 2, upto);
	return sq_run(q, st);
}

/* ---- Documents ---- */

static int sq_doc_get(struct store *s, struct arena *a, const char *owner, const char *kind,
		      const char *key, const char **xml, size_t *len)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_DOC_GET];
	int ret = STORE_OK;
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, kind);
	sq_text(q, st, 3, key);
	int rc = sq_step(q, st);
	if (rc == SQLITE_ROW)
		*xml = sq_col_copy(a, st, 0, len);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOT_FOUND;
	else
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	return ret;
}

static int sq_doc_put(struct store *s, const char *owner, const char *kind, const char *key,
		      const char *xml, size_t len)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_DOC_PUT];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, kind);
	sq_text(q, st, 3, key);
	sq_blob(q, st, 4, xml, len);
	return sq_run(q, st);
}

static int sq_doc_delete(struct store *s, const char *owner, const char *kind, const char *key)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_DOC_DELETE];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, kind);
	sq_text(q, st, 3, key);
	return sq_run(q, st);
}

/* ---- Block lists ---- */

static void sq_block_row(struct arena *a, sqlite3_stmt *st, void *elem)
{
	*(const char **)elem = sq_col_copy(a, st, 0, NULL);
}

static int sq_block_list(struct store *s, struct arena *a, const char *owner, const char ***jids,
			 size_t *n)
{
	return sq_list(sq_of(s), a, SQ_BLOCK_COUNT, SQ_BLOCK_LIST, owner, 0, sizeof(**jids), sq_block_row,
		       (void **)jids, n);
}

static int sq_block_add(struct store *s, const char *owner, const char *jid, size_t max)
{
	struct sq *q = sq_of(s);
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;

	/* Blocking a JID twice is not an error (XEP-0191 §3.3), and must not
	 * count against the cap. */
	int64_t one;
	sqlite3_stmt *st = q->stmt[SQ_BLOCK_EXISTS];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, jid);
	ret = sq_int_row(q, st, &one);
	if (ret != STORE_NOT_FOUND)
		goto done;
	ret = STORE_OK;
	if (max) {
		size_t count;
		ret = sq_count(q, SQ_BLOCK_COUNT, owner, &count);
		if (ret != STORE_OK)
			goto done;
		if (count >= max) {
			ret = STORE_FULL;
			goto done;
		}
	}
	st = q->stmt[SQ_BLOCK_INSERT];
	sq_text(q, st, 1, owner);
	sq_text(q, st, 2, jid);
	ret = sq_run(q, st);
done:
	return sq_end(q, ret);
}

static int sq_block_remove(struct store *s, const char *owner, const char *jid)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[jid ? SQ_BLOCK_DELETE : SQ_BLOCK_CLEAR];
	sq_text(q, st, 1, owner);
	if (jid)
		sq_text(q, st, 2, jid);
	return sq_run(q, st);
}

/* ---- Certificate pins ---- */

static int sq_cert_pin_add(struct store *s, const char *jid, const char *fingerprint)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_PIN_INSERT];
	sq_text(q, st, 1, jid);
	sq_text(q, st, 2, fingerprint);
	sq_int(q, st, 3, (int64_t)time(NULL));
	return sq_run_changed(q, st, STORE_EXISTS);
}

static int sq_cert_pin_remove(struct store *s, const char *jid, const char *fingerprint)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_PIN_DELETE];
	sq_text(q, st, 1, jid);
	sq_text(q, st, 2, fingerprint);
	return sq_run_changed(q, st, STORE_NOT_FOUND);
}

static int sq_cert_pin_find(struct store *s, const char *jid, const char *fingerprint)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_PIN_FIND];
	int64_t one;
	sq_text(q, st, 1, jid);
	sq_text(q, st, 2, fingerprint);
	return sq_int_row(q, st, &one);
}

static int sq_cert_pin_count(struct store *s, const char *jid, size_t *n)
{
	return sq_count(sq_of(s), SQ_PIN_COUNT, jid, n);
}

static void sq_pin_row(struct arena *a, sqlite3_stmt *st, void *elem)
{
	struct store_cert_pin *p = elem;
	p->fingerprint = sq_col_copy(a, st, 0, NULL);
	p->created = sqlite3_column_int64(st, 1);
}

static int sq_cert_pin_list(struct store *s, struct arena *a, const char *jid,
			    struct store_cert_pin **pins, size_t *n)
{
	return sq_list(sq_of(s), a, SQ_PIN_COUNT, SQ_PIN_LIST, jid, 0, sizeof(**pins), sq_pin_row,
		       (void **)pins, n);
}

/* ---- Groups ---- */

static void sq_group_read(struct arena *a, sqlite3_stmt *st, void *elem)
{
	struct store_group *g = elem;
	g->name = sq_col_copy(a, st, 0, NULL);
	g->label = sq_col_copy(a, st, 1, NULL);
	g->shared = sqlite3_column_int(st, 2) != 0;
	g->members_only = sqlite3_column_int(st, 3) != 0;
	int64_t m = sqlite3_column_int64(st, 4);
	g->nmembers = m > 0 ? (size_t)m : 0;
}

static int sq_group_create(struct store *s, const char *name, const char *label, bool shared,
			   bool members_only)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_GROUP_INSERT];
	sq_text(q, st, 1, name);
	sq_text(q, st, 2, label);
	sq_int(q, st, 3, shared);
	sq_int(q, st, 4, members_only);
	sq_int(q, st, 5, (int64_t)time(NULL));
	return sq_run_changed(q, st, STORE_EXISTS);
}

/* One statement: the memberships cascade within it. */
static int sq_group_delete(struct store *s, const char *name)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_GROUP_DELETE];
	sq_text(q, st, 1, name);
	return sq_run_changed(q, st, STORE_NOT_FOUND);
}

static int sq_group_get(struct store *s, struct arena *a, const char *name, struct store_group *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_GROUP_GET];
	int ret = STORE_OK;
	sq_text(q, st, 1, name);
	int rc = sq_step(q, st);
	if (rc == SQLITE_ROW)
		sq_group_read(a, st, out);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOT_FOUND;
	else
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	return ret;
}

struct sq_group_each {
	int (*fn)(void *ud, const struct store_group *g);
	void *ud;
};

static int sq_group_call(void *ud, const void *elem)
{
	const struct sq_group_each *e = ud;
	return e->fn(e->ud, elem);
}

/* Paged by name, so that fn may use the handle. */
static int sq_group_list(struct store *s, int (*fn)(void *ud, const struct store_group *g),
			 void *ud)
{
	struct sq_group_each e = {.fn = fn, .ud = ud};
	return sq_page_each(sq_of(s), SQ_GROUP_LIST, NULL, NULL, sizeof(struct store_group),
			    sq_group_read, sq_group_call, &e);
}

static int sq_group_id(struct sq *q, const char *name, int64_t *id)
{
	sqlite3_stmt *st = q->stmt[SQ_GROUP_ID];
	sq_text(q, st, 1, name);
	return sq_int_row(q, st, id);
}

/* The group's id and the change in one write transaction, so that a group
 * deleted meanwhile cannot take a membership. */
static int sq_membership_change(struct store *s, enum sq_stmt which, const char *name,
				const char *member)
{
	struct sq *q = sq_of(s);
	int64_t id = 0;
	int ret = sq_begin(q, SQ_BEGIN_WRITE);
	if (ret != STORE_OK)
		return ret;
	ret = sq_group_id(q, name, &id);
	if (ret != STORE_OK)
		goto done;
	sqlite3_stmt *st = q->stmt[which];
	sq_int(q, st, 1, id);
	sq_text(q, st, 2, member);
	ret = sq_run_changed(q, st, which == SQ_MEMBER_INSERT ? STORE_EXISTS : STORE_NOT_FOUND);
done:
	return sq_end(q, ret);
}

static int sq_group_add(struct store *s, const char *name, const char *member)
{
	return sq_membership_change(s, SQ_MEMBER_INSERT, name, member);
}

static int sq_group_remove(struct store *s, const char *name, const char *member)
{
	return sq_membership_change(s, SQ_MEMBER_DELETE, name, member);
}

static void sq_bind_id(struct sq *q, sqlite3_stmt *st, const void *id)
{
	sq_int(q, st, 3, *(const int64_t *)id);
}

/* Paged by member; each page is read in its own statement run, so fn may
 * use the handle (and a group changed meanwhile is read as it is then). */
static int sq_group_members(struct store *s, const char *name,
			    int (*fn)(void *ud, const char *member), void *ud)
{
	struct sq *q = sq_of(s);
	int64_t id = 0;
	int ret = sq_group_id(q, name, &id);
	if (ret != STORE_OK)
		return ret;
	return sq_page_strings(q, SQ_MEMBER_LIST, sq_bind_id, &id, fn, ud);
}

static int sq_member_groups(struct store *s, struct arena *a, const char *member,
			    struct store_group **out, size_t *n)
{
	return sq_list(sq_of(s), a, SQ_MEMBER_GROUP_COUNT, SQ_MEMBER_GROUPS, member, 0,
		       sizeof(**out), sq_group_read, (void **)out, n);
}

/* ---- API tokens ---- */

static void sq_token_read(struct arena *a, sqlite3_stmt *st, struct store_token *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	t->name = sq_col_copy(a, st, 1, NULL);
	const void *h = sqlite3_column_blob(st, 2);
	if (h && sqlite3_column_bytes(st, 2) == STORE_TOKEN_HASH_LEN)
		memcpy(t->hash, h, STORE_TOKEN_HASH_LEN);
	t->read_only = sqlite3_column_int(st, 3) != 0;
	t->owner = sq_col_copy(a, st, 4, NULL);
	if (!t->owner)
		t->owner = "";
	t->created = sqlite3_column_int64(st, 5);
	t->last_used = sqlite3_column_int64(st, 6);
}

static int sq_token_create(struct store *s, const char *name, const unsigned char *hash, bool read_only,
			   const char *owner, int64_t *id)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_TOKEN_INSERT];
	sq_text(q, st, 1, name);
	sq_blob(q, st, 2, hash, STORE_TOKEN_HASH_LEN);
	sq_int(q, st, 3, read_only);
	sq_text(q, st, 4, owner);
	sq_int(q, st, 5, (int64_t)time(NULL));
	int ret = sq_int_row(q, st, id);
	return ret == STORE_NOT_FOUND ? STORE_EXISTS : ret;
}

/* Count and rows in one read transaction, so that they agree. */
static int sq_token_list(struct store *s, struct arena *a, struct store_token **out, size_t *n)
{
	struct sq *q = sq_of(s);
	struct store_token *list = NULL;
	int64_t count = 0;
	size_t got = 0;
	*out = NULL;
	*n = 0;
	int ret = sq_begin(q, SQ_BEGIN_READ);
	if (ret != STORE_OK)
		return ret;
	ret = sq_int_row(q, q->stmt[SQ_TOKEN_COUNT], &count);
	if (ret != STORE_OK || count <= 0)
		goto done;
	list = arena_alloc(a, (size_t)count * sizeof(*list));
	sqlite3_stmt *st = q->stmt[SQ_TOKEN_LIST];
	int rc = SQLITE_DONE;
	sq_int(q, st, 1, count);
	while (got < (size_t)count && (rc = sq_step(q, st)) == SQLITE_ROW)
		sq_token_read(a, st, &list[got++]);
	if (got < (size_t)count && rc != SQLITE_DONE)
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
done:
	ret = sq_end(q, ret);
	if (ret == STORE_OK) {
		*out = got ? list : NULL;
		*n = got;
	}
	return ret;
}

static int sq_token_find(struct store *s, struct arena *a, const unsigned char *hash,
			 struct store_token *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_TOKEN_FIND];
	int ret = STORE_OK;
	sq_blob(q, st, 1, hash, STORE_TOKEN_HASH_LEN);
	int rc = sq_step(q, st);
	if (rc == SQLITE_ROW)
		sq_token_read(a, st, out);
	else if (rc == SQLITE_DONE)
		ret = STORE_NOT_FOUND;
	else
		ret = sq_failed(q, st, rc);
	sq_reset(q, st);
	return ret;
}

static int sq_token_revoke(struct store *s, int64_t id)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_TOKEN_DELETE];
	sq_int(q, st, 1, id);
	return sq_run_changed(q, st, STORE_NOT_FOUND);
}

static int sq_token_touch(struct store *s, int64_t id, int64_t when)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->stmt[SQ_TOKEN_TOUCH];
	sq_int(q, st, 1, id);
	sq_int(q, st, 2, when);
	return sq_run_changed(q, st, STORE_NOT_FOUND);
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.checkpoint = sq_checkpoint,
	.begin = sq_tx_begin,
	.commit = sq_tx_commit,
	.rollback = sq_tx_rollback,
	.user_create = sq_user_create,
	.user_set_creds = sq_user_set_creds,
	.user_delete = sq_user_delete,
	.user_exists = sq_user_exists,
	.user_get_cred = sq_user_get_cred,
	.user_list = sq_user_list,
	.roster_get = sq_roster_get,
	.roster_get_item = sq_roster_get_item,
	.roster_put = sq_roster_put,
	.roster_delete = sq_roster_delete,
	.roster_version = sq_roster_version,
	.offline_push = sq_offline_push,
	.offline_get = sq_offline_get,
	.offline_delete = sq_offline_delete,
	.offline_usage = sq_offline_usage,
	.doc_get = sq_doc_get,
	.doc_put = sq_doc_put,
	.doc_delete = sq_doc_delete,
	.block_list = sq_block_list,
	.block_add = sq_block_add,
	.block_remove = sq_block_remove,
	.cert_pin_add = sq_cert_pin_add,
	.cert_pin_remove = sq_cert_pin_remove,
	.cert_pin_find = sq_cert_pin_find,
	.cert_pin_count = sq_cert_pin_count,
	.cert_pin_list = sq_cert_pin_list,
	.group_create = sq_group_create,
	.group_delete = sq_group_delete,
	.group_get = sq_group_get,
	.group_list = sq_group_list,
	.group_add = sq_group_add,
	.group_remove = sq_group_remove,
	.group_members = sq_group_members,
	.member_groups = sq_member_groups,
	.token_create = sq_token_create,
	.token_list = sq_token_list,
	.token_find = sq_token_find,
	.token_revoke = sq_token_revoke,
	.token_touch = sq_token_touch,
};
