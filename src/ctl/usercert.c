/*
 * ctl user cert: certificates pinned to an account, over manage/.  An
 * account with pins logs in by certificate (SASL EXTERNAL) only with one
 * of them; the server still verifies the certificate against the client
 * trust store first.  A pin is the SHA-256 fingerprint of the DER
 * certificate, the value `cert show` prints and `user cert list` lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "ctl/ctl.h"
#include "manage/manage.h"
#include "store/store.h"

static int usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] user cert add JID CERT_FILE\n"
			"       parleyctl [-c FILE] user cert list JID\n"
			"       parleyctl [-c FILE] user cert del JID FINGERPRINT|CERT_FILE\n");
	return CTL_USAGE;
}

/* The first certificate in `file`, or NULL after printing why. */
static const struct manage_cert *file_cert(struct arena *a, const char *file)
{
	struct manage_cert *certs;
	size_t n;
	struct manage_err err;
	if (manage_certs_read_file(a, file, &certs, &n, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return NULL;
	}
	return &certs[0];
}

static int pin_add(struct ctl *c, struct store *s, struct arena *a, const char *jid, const char *file)
{
	const struct manage_cert *cert = file_cert(a, file);
	if (!cert)
		return CTL_FAIL;
	struct manage_err err;
	enum manage_result r = manage_user_pin_add(s, ctl_config(c), jid, cert->fingerprint, &err);
	if (r == MANAGE_NOT_FOUND) {
		ctl_error("%s (for certificate logins only: parleyctl user add %s --no-password)", err.msg, jid);
		return CTL_FAIL;
	}
	if (r != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_FAIL;
	}
	printf("pinned \"%s\" (sha256 %s) to %s: it now logs in by certificate only with its pins\n",
	       cert->subject, cert->fingerprint, jid);
	return CTL_OK;
}

static int pin_list(struct ctl *c, struct store *s, struct arena *a, const char *jid)
{
	struct store_cert_pin *pins;
	size_t n;
	struct manage_err err;
	if (manage_user_pin_list(s, ctl_config(c), a, jid, &pins, &n, &err) != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_FAIL;
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
	return CTL_OK;
}

static int pin_del(struct ctl *c, struct store *s, struct arena *a, const char *jid, const char *what)
{
	char fp[STORE_FINGERPRINT_LEN + 1];
	if (!store_fingerprint_norm(what, fp)) {
		const struct manage_cert *cert = file_cert(a, what);
		if (!cert)
			return CTL_USAGE;
		snprintf(fp, sizeof(fp), "%s", cert->fingerprint);
	}
	struct manage_err err;
	size_t left = 0;
	enum manage_result r = manage_user_pin_remove(s, ctl_config(c), jid, fp, &left, &err);
	if (r == MANAGE_NOT_FOUND) {
		ctl_error("%s (see parleyctl user cert list %s)", err.msg, jid);
		return CTL_FAIL;
	}
	if (r != MANAGE_OK) {
		ctl_error("%s", err.msg);
		return CTL_FAIL;
	}
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
	const char *jid;
	struct store *s = NULL;
	int rc = ctl_account(c, a, argv[2], &jid);
	if (rc == CTL_OK)
		rc = ctl_store_open(c, &s);
	if (rc != CTL_OK)
		goto out;
	rc = add ? pin_add(c, s, a, jid, argv[3]) : list ? pin_list(c, s, a, jid) : pin_del(c, s, a, jid, argv[3]);
out:
	store_close(s);
	arena_free(a);
	return rc;
}
