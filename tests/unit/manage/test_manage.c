/*
 * Unit tests of manage/ (issue 11, the seam under parleyctl and the admin
 * API): accounts, passwords and pins; groups one member and several at a
 * time (all or nothing); listings paged and searched; certificates from
 * PEM and DER; trust stores added to, listed and removed from.
 *
 * Each test gets a temporary directory with a fresh SQLite store and a
 * configuration made in memory (one host, example.org; both trust stores
 * inside the directory).  Certificates are made here with tls_cert_issue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "manage/manage.h"
#include "store/store.h"
#include "tls/cert.h"

#include "fixture.h"

/* ---- Results ---- */

static void result_names_are_one_table(void **state)
{
	(void)state;
	static const char *const want[] = {"ok", "not-found", "exists", "invalid", "full", "error"};
	assert_int_equal(MANAGE_RESULT_COUNT, 6);
	for (int r = 0; r < MANAGE_RESULT_COUNT; r++)
		assert_string_equal(manage_result_name((enum manage_result)r), want[r]);
	assert_null(manage_result_name(MANAGE_RESULT_COUNT));
	assert_null(manage_result_name((enum manage_result)-1));
}

/* ---- Accounts ---- */

static void account_jids_are_prepared_and_ours(void **state)
{
	struct fixture *f = *state;
	const char *bare;
	assert_int_equal(manage_user_jid(&f->cfg, f->a, "Alice@Example.ORG", &bare, &f->err), MANAGE_OK);
	assert_string_equal(bare, "alice@example.org");
	assert_int_equal(manage_user_jid(&f->cfg, f->a, "alice@example.org/phone", &bare, &f->err),
			 MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "is not an account JID (like alice@example.org)"));
	assert_int_equal(manage_user_jid(&f->cfg, f->a, "example.org", &bare, &f->err), MANAGE_INVALID);
	assert_int_equal(manage_user_jid(&f->cfg, f->a, "alice@elsewhere.org", &bare, &f->err),
			 MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "elsewhere.org is not a host of this server"));
	assert_int_equal(manage_user_jid(&f->cfg, f->a, NULL, &bare, NULL), MANAGE_INVALID);
}

static void accounts_are_created_changed_and_deleted(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(manage_user_create(f->s, &f->cfg, "Bob@example.org", "secret", &f->err), MANAGE_OK);
	assert_int_equal(store_user_exists(f->s, "bob@example.org"), STORE_OK);
	assert_int_equal(manage_user_create(f->s, &f->cfg, "bob@example.org", "other", &f->err), MANAGE_EXISTS);
	assert_string_equal(f->err.msg, "bob@example.org exists already");

	/* The stored record verifies the password, and a new one replaces it. */
	struct store_cred sc;
	assert_int_equal(store_user_get_cred(f->s, f->a, "bob@example.org", "SCRAM-SHA-256", &sc), STORE_OK);
	assert_int_equal(sc.iterations, 64);
	struct scram_cred c = {.hash = SCRAM_SHA256, .iterations = sc.iterations, .salt_len = sc.salt_len};
	memcpy(c.salt, sc.salt, sc.salt_len);
	memcpy(c.stored_key, sc.stored_key, sc.key_len);
	memcpy(c.server_key, sc.server_key, sc.key_len);
	assert_true(scram_cred_check_password(&c, "secret", 6));
	assert_int_equal(manage_user_set_password(f->s, &f->cfg, "bob@example.org", "new", &f->err), MANAGE_OK);
	assert_int_equal(store_user_get_cred(f->s, f->a, "bob@example.org", "SCRAM-SHA-1", &sc), STORE_OK);
	assert_int_equal(manage_user_set_password(f->s, &f->cfg, "nobody@example.org", "pw", &f->err),
			 MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "nobody@example.org does not exist");

	assert_int_equal(manage_user_delete(f->s, &f->cfg, "bob@example.org", &f->err), MANAGE_OK);
	assert_int_equal(manage_user_delete(f->s, &f->cfg, "bob@example.org", &f->err), MANAGE_NOT_FOUND);
	assert_int_equal(manage_user_delete(f->s, &f->cfg, "bob@elsewhere.org", &f->err), MANAGE_INVALID);
}

static void certificate_only_accounts_have_no_credentials(void **state)
{
	struct fixture *f = *state;
	struct manage_user_info info;
	assert_int_equal(manage_user_create(f->s, &f->cfg, "dev1@example.org", NULL, &f->err), MANAGE_OK);
	struct store_cred sc;
	assert_int_equal(store_user_get_cred(f->s, f->a, "dev1@example.org", "SCRAM-SHA-256", &sc),
			 STORE_NOT_FOUND);
	assert_int_equal(manage_user_info(f->s, &f->cfg, "dev1@example.org", &info, &f->err), MANAGE_OK);
	assert_false(info.password);
	assert_int_equal(info.pins, 0);
	assert_int_equal(manage_user_pin_add(f->s, &f->cfg, "dev1@example.org",
					     "0000000000000000000000000000000000000000000000000000000000000002", &f->err),
			 MANAGE_OK);
	assert_int_equal(manage_user_create(f->s, &f->cfg, "pw@example.org", "secret", &f->err), MANAGE_OK);
	assert_int_equal(manage_user_info(f->s, &f->cfg, "dev1@example.org", &info, &f->err), MANAGE_OK);
	assert_int_equal(info.pins, 1);
	assert_int_equal(manage_user_info(f->s, &f->cfg, "pw@example.org", &info, &f->err), MANAGE_OK);
	assert_true(info.password);
	assert_int_equal(manage_user_info(f->s, &f->cfg, "nobody@example.org", &info, &f->err), MANAGE_NOT_FOUND);
}

static void password_rules(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(manage_user_create(f->s, &f->cfg, "a@example.org", "", &f->err), MANAGE_INVALID);
	assert_string_equal(f->err.msg, "the password is empty");
	assert_int_equal(manage_user_create(f->s, &f->cfg, "a@example.org", "bad\xff", &f->err), MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "not acceptable"));
	char *long_pw = calloc(1, MANAGE_PASSWORD_MAX + 2);
	memset(long_pw, 'x', MANAGE_PASSWORD_MAX + 1);
	assert_int_equal(manage_user_create(f->s, &f->cfg, "a@example.org", long_pw, &f->err), MANAGE_INVALID);
	free(long_pw);
	/* Nothing was written for refused passwords. */
	assert_int_equal(store_user_exists(f->s, "a@example.org"), STORE_NOT_FOUND);
	/* An account that is not one is refused before any hashing. */
	assert_int_equal(manage_user_create(f->s, &f->cfg, "a@elsewhere.org", "", &f->err), MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "not a host"));
}

static void user_list_pages_and_searches(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 25; i++) {
		char jid[64];
		snprintf(jid, sizeof(jid), "u%02d@example.org", i);
		assert_int_equal(manage_user_create_creds(f->s, &f->cfg, jid, NULL, 0, &f->err), MANAGE_OK);
	}
	const char **items;
	size_t n, total;
	assert_int_equal(manage_user_list(f->s, &f->cfg, f->a, "example.org", NULL, &items, &n, &total, &f->err),
			 MANAGE_OK);
	assert_int_equal(n, 25);
	assert_int_equal(total, 25);
	assert_string_equal(items[0], "u00@example.org");
	assert_string_equal(items[24], "u24@example.org");

	struct manage_page page = {.offset = 5, .limit = 10};
	assert_int_equal(manage_user_list(f->s, &f->cfg, f->a, NULL, &page, &items, &n, &total, &f->err),
			 MANAGE_OK);
	assert_int_equal(n, 10);
	assert_int_equal(total, 25);
	assert_string_equal(items[0], "u05@example.org");
	assert_string_equal(items[9], "u14@example.org");

	page = (struct manage_page){.offset = 1, .limit = 100, .search = "U1"};
	assert_int_equal(manage_user_list(f->s, &f->cfg, f->a, "Example.ORG", &page, &items, &n, &total, &f->err),
			 MANAGE_OK);
	assert_int_equal(total, 10); /* u10..u19 */
	assert_int_equal(n, 9);
	assert_string_equal(items[0], "u11@example.org");

	page = (struct manage_page){.offset = 30};
	assert_int_equal(manage_user_list(f->s, &f->cfg, f->a, NULL, &page, &items, &n, &total, &f->err),
			 MANAGE_OK);
	assert_int_equal(n, 0);
	assert_null(items);
	assert_int_equal(total, 25);

	assert_int_equal(manage_user_list(f->s, &f->cfg, f->a, "elsewhere.org", NULL, &items, &n, NULL, &f->err),
			 MANAGE_INVALID);
}

/* ---- Pins ---- */

static const char fp1[] = "0000000000000000000000000000000000000000000000000000000000000001";

static void pins_are_added_listed_and_removed(void **state)
{
	struct fixture *f = *state;
	struct store_cert_pin *pins;
	size_t n, left;
	assert_int_equal(manage_user_pin_add(f->s, &f->cfg, "dev@example.org", fp1, &f->err), MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "dev@example.org does not exist");
	assert_int_equal(manage_user_pin_list(f->s, &f->cfg, f->a, "dev@example.org", &pins, &n, &f->err),
			 MANAGE_NOT_FOUND);
	assert_int_equal(manage_user_create(f->s, &f->cfg, "dev@example.org", NULL, &f->err), MANAGE_OK);
	assert_int_equal(manage_user_pin_add(f->s, &f->cfg, "dev@example.org", "zz", &f->err), MANAGE_INVALID);
	assert_string_equal(f->err.msg, "'zz' is not a SHA-256 fingerprint");
	/* Upper case with colons is the same pin. */
	assert_int_equal(manage_user_pin_add(f->s, &f->cfg, "dev@example.org",
					     "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
					     "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01",
					     &f->err),
			 MANAGE_OK);
	assert_int_equal(manage_user_pin_add(f->s, &f->cfg, "dev@example.org", fp1, &f->err), MANAGE_EXISTS);
	assert_non_null(strstr(f->err.msg, "is pinned to dev@example.org already"));
	assert_int_equal(manage_user_pin_list(f->s, &f->cfg, f->a, "dev@example.org", &pins, &n, &f->err),
			 MANAGE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(pins[0].fingerprint, fp1);
	assert_int_equal(manage_user_pin_remove(f->s, &f->cfg, "dev@example.org", fp1, &left, &f->err), MANAGE_OK);
	assert_int_equal(left, 0);
	assert_int_equal(manage_user_pin_remove(f->s, &f->cfg, "dev@example.org", fp1, &left, &f->err),
			 MANAGE_NOT_FOUND);
	assert_non_null(strstr(f->err.msg, "is not pinned to dev@example.org"));
}

/* ---- Groups ---- */

static void group_rules(void **state)
{
	struct fixture *f = *state;
	const char *bare;
	assert_int_equal(manage_group_name_check("", &f->err), MANAGE_INVALID);
	assert_int_equal(manage_group_name_check("a\tb", &f->err), MANAGE_INVALID);
	assert_int_equal(manage_group_name_check("net, one", &f->err), MANAGE_OK);
	assert_int_equal(manage_group_label_check(NULL, &f->err), MANAGE_OK);
	assert_int_equal(manage_group_label_check("x\n", &f->err), MANAGE_INVALID);
	assert_int_equal(manage_group_member_jid(f->a, "Zed@Remote.Example", &bare, &f->err), MANAGE_OK);
	assert_string_equal(bare, "zed@remote.example");
	assert_int_equal(manage_group_member_jid(f->a, "zed@remote.example/r", &bare, &f->err), MANAGE_INVALID);
	assert_string_equal(f->err.msg, "'zed@remote.example/r' is not a bare JID (like alice@example.org)");
	struct manage_group_spec g = {.name = "staff", .label = "Our staff", .shared = true};
	assert_int_equal(manage_group_create(f->s, &g, &f->err), MANAGE_OK);
	assert_int_equal(manage_group_create(f->s, &g, &f->err), MANAGE_EXISTS);
	assert_string_equal(f->err.msg, "group staff exists already");
	g = (struct manage_group_spec){.name = "x", .label = "a\x01"};
	assert_int_equal(manage_group_create(f->s, &g, &f->err), MANAGE_INVALID);
	assert_int_equal(manage_group_delete(f->s, "nope", &f->err), MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "there is no group nope");
}

static void members_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct manage_group_spec g = {.name = "staff"};
	assert_int_equal(manage_group_add(f->s, "staff", "alice@example.org", &f->err), MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "there is no group staff");
	assert_int_equal(manage_group_create(f->s, &g, &f->err), MANAGE_OK);
	assert_int_equal(manage_group_add(f->s, "staff", "Alice@Example.org", &f->err), MANAGE_OK);
	assert_int_equal(manage_group_add(f->s, "staff", "alice@example.org", &f->err), MANAGE_EXISTS);
	assert_string_equal(f->err.msg, "alice@example.org is in staff already");
	assert_int_equal(manage_group_add(f->s, "staff", "alice@example.org/x", &f->err), MANAGE_INVALID);
	assert_int_equal(manage_group_remove(f->s, "staff", "bob@example.org", &f->err), MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "bob@example.org is not in staff");
	assert_int_equal(manage_group_remove(f->s, "nope", "bob@example.org", &f->err), MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "there is no group nope");
	assert_int_equal(manage_group_remove(f->s, "staff", "alice@example.org", &f->err), MANAGE_OK);
	/* Inside a transaction of the caller's (an import). */
	assert_int_equal(store_begin(f->s), STORE_OK);
	assert_int_equal(manage_group_add(f->s, "staff", "a@x", &f->err), MANAGE_OK);
	assert_int_equal(manage_group_add(f->s, "staff", "a@x", &f->err), MANAGE_EXISTS);
	assert_int_equal(store_rollback(f->s), STORE_OK);
	struct store_group sg;
	assert_int_equal(manage_group_get(f->s, f->a, "staff", &sg, &f->err), MANAGE_OK);
	assert_int_equal(sg.nmembers, 0);
}

static void a_change_of_several_members_is_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct manage_group_spec g = {.name = "staff"};
	struct manage_member_change *each;
	size_t now;
	const char *two[] = {"alice@example.org", "zed@remote.example"};
	assert_int_equal(manage_group_change(f->s, f->a, "staff", true, two, 2, &each, &now, &f->err),
			 MANAGE_NOT_FOUND);
	assert_string_equal(f->err.msg, "there is no group staff");
	assert_int_equal(manage_group_create(f->s, &g, &f->err), MANAGE_OK);
	assert_int_equal(manage_group_change(f->s, f->a, "staff", true, two, 2, &each, &now, &f->err), MANAGE_OK);
	assert_int_equal(now, 2);
	assert_null(each[0].why);

	/* One member in already: nothing of the rest is written. */
	const char *three[] = {"bob@example.org", "alice@example.org", "carol@example.org"};
	assert_int_equal(manage_group_change(f->s, f->a, "staff", true, three, 3, &each, &now, &f->err),
			 MANAGE_EXISTS);
	assert_string_equal(f->err.msg, "nothing changed");
	assert_int_equal(each[0].result, MANAGE_OK);
	assert_int_equal(each[1].result, MANAGE_EXISTS);
	assert_string_equal(each[1].why, "alice@example.org is in staff already");
	struct store_group sg;
	assert_int_equal(manage_group_get(f->s, f->a, "staff", &sg, &f->err), MANAGE_OK);
	assert_int_equal(sg.nmembers, 2);

	/* An invalid JID: refused before anything is opened. */
	const char *bad[] = {"bob@example.org", "bob@example.org/r"};
	assert_int_equal(manage_group_change(f->s, f->a, "staff", true, bad, 2, &each, &now, &f->err),
			 MANAGE_INVALID);
	assert_null(each[0].why);
	assert_int_equal(each[1].result, MANAGE_INVALID);
	assert_string_equal(each[1].member, "bob@example.org/r");

	const char *out[] = {"zed@remote.example", "nobody@example.org"};
	assert_int_equal(manage_group_change(f->s, f->a, "staff", false, out, 2, &each, &now, &f->err),
			 MANAGE_NOT_FOUND);
	assert_string_equal(each[1].why, "nobody@example.org is not in staff");
	assert_int_equal(manage_group_change(f->s, f->a, "staff", false, out, 1, &each, &now, &f->err), MANAGE_OK);
	assert_int_equal(now, 1);
}

static void group_listings_page(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 12; i++) {
		char name[16];
		snprintf(name, sizeof(name), "g%02d", i);
		struct manage_group_spec g = {.name = name, .label = i % 2 ? "odd" : NULL};
		assert_int_equal(manage_group_create(f->s, &g, &f->err), MANAGE_OK);
	}
	struct store_group *groups;
	size_t n, total;
	struct manage_page page = {.offset = 10, .limit = 5};
	assert_int_equal(manage_group_list(f->s, f->a, &page, &groups, &n, &total, &f->err), MANAGE_OK);
	assert_int_equal(total, 12);
	assert_int_equal(n, 2);
	assert_string_equal(groups[0].name, "g10");
	assert_string_equal(groups[0].label, "");
	assert_string_equal(groups[1].label, "odd");
	page = (struct manage_page){.search = "G0"};
	assert_int_equal(manage_group_list(f->s, f->a, &page, &groups, &n, &total, &f->err), MANAGE_OK);
	assert_int_equal(total, 10);

	const char *m[] = {"c@x", "a@x", "b@x"};
	assert_int_equal(manage_group_change(f->s, f->a, "g00", true, m, 3, NULL, NULL, &f->err), MANAGE_OK);
	const char **members;
	page = (struct manage_page){.offset = 1, .limit = 1};
	assert_int_equal(manage_group_members(f->s, f->a, "g00", &page, &members, &n, &total, &f->err), MANAGE_OK);
	assert_int_equal(total, 3);
	assert_int_equal(n, 1);
	assert_string_equal(members[0], "b@x");
	assert_int_equal(manage_group_members(f->s, f->a, "nope", NULL, &members, &n, &total, &f->err),
			 MANAGE_NOT_FOUND);
}

/* ---- Certificates and trust stores ---- */

/* A certificate made here (`ca`: a self-signed CA, else a client
 * certificate it signs) as PEM or DER in `a`. */
struct made {
	X509 *x;
	EVP_PKEY *key;
};

static struct made make_cert(const char *cn, struct made *issuer)
{
	struct tls_cert_spec spec = {.kind = issuer ? TLS_CERT_CLIENT : TLS_CERT_CA, .cn = cn, .days = 30};
	struct made m = {0};
	char *err = NULL;
	if (tls_cert_issue(&spec, issuer ? issuer->x : NULL, issuer ? issuer->key : NULL, &m.x, &m.key, &err) != 0)
		fail_msg("tls_cert_issue: %s", err);
	return m;
}

static void made_free(struct made *m)
{
	X509_free(m->x);
	EVP_PKEY_free(m->key);
}

static char *pem_of(struct arena *a, X509 *const *xs, size_t n, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	for (size_t i = 0; i < n; i++)
		PEM_write_bio_X509(b, xs[i]);
	char *p;
	long l = BIO_get_mem_data(b, &p);
	char *out = arena_memdup(a, p, (size_t)l);
	*len = (size_t)l;
	BIO_free(b);
	return out;
}

static void certificates_from_pem_and_der(void **state)
{
	struct fixture *f = *state;
	struct made ca = make_cert("Test CA", NULL), leaf = make_cert("alice", &ca);
	X509 *both[] = {ca.x, leaf.x};
	size_t len, n;
	char *pem = pem_of(f->a, both, 2, &len);
	struct manage_cert *certs;
	assert_int_equal(manage_certs_parse(f->a, pem, len, &certs, &n, &f->err), MANAGE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(certs[0].subject, "CN=Test CA");
	assert_true(certs[0].ca);
	assert_false(certs[1].ca);
	assert_false(certs[1].expired);
	char fp[TLS_FINGERPRINT_HEX + 1];
	tls_cert_fingerprint(leaf.x, fp);
	assert_string_equal(certs[1].fingerprint, fp);

	unsigned char *der = NULL;
	int dlen = i2d_X509(leaf.x, &der);
	assert_int_equal(manage_certs_parse(f->a, der, (size_t)dlen, &certs, &n, &f->err), MANAGE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(certs[0].fingerprint, fp);
	OPENSSL_free(der);

	assert_int_equal(manage_certs_parse(f->a, "hello", 5, &certs, &n, &f->err), MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "no certificate found"));
	assert_int_equal(manage_certs_parse(f->a, "", 0, &certs, &n, &f->err), MANAGE_INVALID);
	/* A damaged second certificate is an error, not one certificate. */
	char *cut = arena_printf(f->a, "%.*s-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
				 (int)len, pem);
	assert_int_equal(manage_certs_parse(f->a, cut, strlen(cut), &certs, &n, &f->err), MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "certificate #3 cannot be read"));
	made_free(&leaf);
	made_free(&ca);
}

static void trust_stores_take_cas_only(void **state)
{
	struct fixture *f = *state;
	struct made ca = make_cert("Test CA", NULL), leaf = make_cert("alice", &ca);
	size_t len, n;
	char *pem = pem_of(f->a, &ca.x, 1, &len);
	struct manage_trust_added *added;
	struct manage_trust_list l;

	assert_int_equal(manage_trust_list(&f->cfg, MANAGE_TRUST_CLIENT, f->a, &l, &f->err), MANAGE_OK);
	assert_int_equal(l.nfiles, 0);
	assert_int_equal(l.ncas, 0);

	/* A leaf certificate: nothing written, not even the directory. */
	size_t llen;
	char *lpem = pem_of(f->a, &leaf.x, 1, &llen);
	assert_int_equal(manage_trust_add_pem(&f->cfg, MANAGE_TRUST_CLIENT, f->a, lpem, llen, "alice.crt", &added,
					      &n, &f->err),
			 MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "alice.crt: \"CN=alice\" is not a CA certificate"));
	struct stat st;
	assert_int_not_equal(stat(f->cfg.c2s.client_ca, &st), 0);

	assert_int_equal(manage_trust_add_pem(&f->cfg, MANAGE_TRUST_CLIENT, f->a, pem, len, NULL, &added, &n, &f->err),
			 MANAGE_OK);
	assert_int_equal(n, 1);
	assert_false(added[0].already);
	assert_int_equal(stat(added[0].path, &st), 0);
	char want[256];
	snprintf(want, sizeof(want), "%s/Test_CA-%.16s.pem", f->cfg.c2s.client_ca, added[0].cert.fingerprint);
	assert_string_equal(added[0].path, want);
	assert_int_equal(manage_trust_add_pem(&f->cfg, MANAGE_TRUST_CLIENT, f->a, pem, len, NULL, &added, &n, &f->err),
			 MANAGE_EXISTS);
	assert_true(added[0].already);

	assert_int_equal(manage_trust_list(&f->cfg, MANAGE_TRUST_CLIENT, f->a, &l, &f->err), MANAGE_OK);
	assert_int_equal(l.nfiles, 1);
	assert_int_equal(l.ncas, 1);
	assert_true(l.files[0].read_by_server);
	assert_string_equal(l.files[0].certs[0].subject, "CN=Test CA");

	/* The other store is another directory. */
	assert_int_equal(manage_trust_list(&f->cfg, MANAGE_TRUST_S2S, f->a, &l, &f->err), MANAGE_OK);
	assert_int_equal(l.nfiles, 0);

	const char **removed;
	assert_int_equal(manage_trust_remove(&f->cfg, MANAGE_TRUST_CLIENT, f->a, "../parley.db", &removed, &n, &f->err),
			 MANAGE_NOT_FOUND);
	assert_int_equal(manage_trust_remove(&f->cfg, MANAGE_TRUST_CLIENT, f->a, added[0].cert.fingerprint, &removed,
					     &n, &f->err),
			 MANAGE_OK);
	assert_int_equal(n, 1);
	assert_int_not_equal(stat(want, &st), 0);
	assert_int_equal(manage_trust_remove(&f->cfg, MANAGE_TRUST_CLIENT, f->a, "Test_CA", &removed, &n, &f->err),
			 MANAGE_NOT_FOUND);
	assert_non_null(strstr(f->err.msg, "is named 'Test_CA' or has its fingerprint"));
	made_free(&leaf);
	made_free(&ca);
}

static void trust_store_settings(void **state)
{
	struct fixture *f = *state;
	enum manage_trust_store t;
	const char *dir;
	assert_true(manage_trust_store_parse("s2s", &t));
	assert_int_equal(t, MANAGE_TRUST_S2S);
	assert_false(manage_trust_store_parse("bogus", &t));
	assert_string_equal(manage_trust_store_name(MANAGE_TRUST_CLIENT), "client");
	free(f->cfg.c2s.client_ca);
	f->cfg.c2s.client_ca = NULL;
	assert_int_equal(manage_trust_dir(&f->cfg, MANAGE_TRUST_CLIENT, f->a, &dir, &f->err), MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "c2s.client_ca is empty"));
	/* A file: the server reads it, but it is not managed. */
	char p[128];
	snprintf(p, sizeof(p), "%s/ca.pem", f->dir);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	f->cfg.c2s.client_ca = xstrdup(p);
	assert_int_equal(manage_trust_dir(&f->cfg, MANAGE_TRUST_CLIENT, f->a, &dir, &f->err), MANAGE_INVALID);
	assert_non_null(strstr(f->err.msg, "is the file"));
}

int main(void)
{
	log_setup(LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(result_names_are_one_table),
		T(account_jids_are_prepared_and_ours),
		T(accounts_are_created_changed_and_deleted),
		T(certificate_only_accounts_have_no_credentials),
		T(password_rules),
		T(user_list_pages_and_searches),
		T(pins_are_added_listed_and_removed),
		T(group_rules),
		T(members_one_at_a_time),
		T(a_change_of_several_members_is_all_or_nothing),
		T(group_listings_page),
		T(certificates_from_pem_and_der),
		T(trust_stores_take_cas_only),
		T(trust_store_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
