/*
 * ctl user cert: certificates pinned to an account.  An account with pins
 * logs in by certificate (SASL EXTERNAL) only with one of them; the server
 * still verifies the certificate against the client trust store first.  A
 * pin is the SHA-256 fingerprint of the DER certificate, the value `cert
 * show` prints and `user cert list` lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "core/arena.h"
#include "ctl/ctl.h"
#include "jid/jid.h"
#include "store/store.h"
#include "tls/cert.h"

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] user cert add JID CERT_FILE\n"
			"       parleyctl [-c FILE] user cert list JID\n"
			"       parleyctl [-c FILE] user cert del JID FINGERPRINT|CERT_FILE\n");
	return CTL_USAGE;
}

/* The fingerprint of the first certificate in `file` into fp. */
static int file_fingerprint(const char *file, char *fp, char *subject, size_t n)
{
	STACK_OF(X509) *certs = NULL;
	char *err = NULL;
	if (tls_file_read_certs(file, &certs, &err) < 0) {
		ctl_error("%s", err);
		free(err);
		return CTL_FAIL;
	}
	X509 *x = sk_X509_value(certs, 0);
	tls_cert_fingerprint(x, fp);
	tls_name_str(X509_get_subject_name(x), subject, n);
	sk_X509_pop_free(certs, X509_free);
	return CTL_OK;
}

static int pin_add(struct store *s, const char *jid, const char *file)
{
	char fp[TLS_FINGERPRINT_HEX + 1], subject[256];
	if (file_fingerprint(file, fp, subject, sizeof(subject)) != CTL_OK)
		return CTL_FAIL;
	int r = store_cert_pin_add(s, jid, fp);
	if (r == STORE_NOT_FOUND) {
		ctl_error("%s does not exist (for certificate logins only: parleyctl user add %s "
			  "--no-password)",
			  jid, jid);
		return CTL_FAIL;
	}
	if (r == STORE_EXISTS) {
		ctl_error("%s is pinned to %s already", fp, jid);
		return CTL_FAIL;
	}
	if (r != STORE_OK) {
		ctl_error("cannot pin: %s", store_error(s));
		return CTL_FAIL;
	}
	printf("pinned \"%s\" (sha256 %s) to %s: it now logs in by certificate only with its pins\n",
	       subject, fp, jid);
	return CTL_OK;
}

static int pin_list(struct store *s, const char *jid)
{
	struct arena *a = arena_new();
	struct store_cert_pin *pins;
	size_t n;
	int rc = CTL_FAIL;
	int r = store_user_exists(s, jid);
	if (r == STORE_NOT_FOUND) {
		ctl_error("%s does not exist", jid);
		goto out;
	}
	if (r == STORE_OK)
		r = store_cert_pin_list(s, a, jid, &pins, &n);
	if (r != STORE_OK) {
		ctl_error("cannot list pins: %s", store_error(s));
		goto out;
	}
	if (n == 0)
		printf("%s has no pinned certificates (any verified certificate naming it logs in)\n", jid);
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)pins[i].created;
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
		printf("%s  pinned %s\n", pins[i].fingerprint, when);
	}
	rc = CTL_OK;
out:
	arena_free(a);
	return rc;
}

static int pin_del(struct store *s, const char *jid, const char *what)
{
	char fp[STORE_FINGERPRINT_LEN + 1], subject[256];
	if (!store_fingerprint_norm(what, fp) &&
	    file_fingerprint(what, fp, subject, sizeof(subject)) != CTL_OK)
		return CTL_USAGE;
	int r = store_cert_pin_remove(s, jid, fp);
	if (r == STORE_NOT_FOUND) {
		ctl_error("%s is not pinned to %s (see parleyctl user cert list %s)", fp, jid, jid);
		return CTL_FAIL;
	}
	if (r != STORE_OK) {
		ctl_error("cannot remove the pin: %s", store_error(s));
		return CTL_FAIL;
	}
	size_t left = 0;
	store_cert_pin_count(s, jid, &left);
	printf("unpinned %s from %s (%zu pin%s left)\n", fp, jid, left, left == 1 ? "" : "s");
	return CTL_OK;
}

int ctl_user_cert(struct ctl *c, int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *sub = argv[1];
	bool add = !strcmp(sub, "add"), list = !strcmp(sub, "list"), del = !strcmp(sub, "del");
	if ((!add && !list && !del) || argc != (list ? 3 : 4))
		return usage();
	struct arena *a = arena_new();
	struct jid j;
	struct store *s = NULL;
	int rc = ctl_account(c, a, argv[2], &j);
	if (rc == CTL_OK)
		rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	rc = add ? pin_add(s, j.bare, argv[3]) : list ? pin_list(s, j.bare) : pin_del(s, j.bare, argv[3]);
out:
	store_close(s);
	arena_free(a);
	return rc;
}
