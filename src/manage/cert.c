/*
 * manage cert: certificates given to the management operations, as a file
 * (parleyctl) or as bytes (an upload to the admin API), read the same
 * way tls/files.c reads a file: PEM with any number of certificates, or
 * one DER certificate; and what the operations say of each.
 *
 * Not here: verifying a certificate against a trust store (tls/cert.h).
 */
#include "manage/internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/arena.h"
#include "core/log.h"
#include "tls/cert.h"

/* After a PEM read loop stopped: true when it stopped because no further
 * object was found, which is the normal end of the input. */
static bool pem_at_end(void)
{
	unsigned long e = ERR_peek_last_error();
	bool end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
	if (end)
		ERR_clear_error();
	return end;
}

enum manage_result manage_x509_parse(const void *data, size_t len, const char *source,
				     STACK_OF(X509) **out, struct manage_err *err)
{
	const char *what = source ? source : "the certificate";
	*out = NULL;
	if (len == 0)
		return manage_fail(err, MANAGE_INVALID, "%s: empty", what);
	if (len > MANAGE_CERT_BYTES_MAX)
		return manage_fail(err, MANAGE_INVALID, "%s: too large to be a certificate (%d bytes at most)",
				   what, MANAGE_CERT_BYTES_MAX);
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	STACK_OF(X509) *certs = sk_X509_new_null();
	if (!bio || !certs)
		log_fatal("manage", "out of memory reading a certificate");
	enum manage_result r = MANAGE_OK;
	X509 *x;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(certs, x))
			log_fatal("manage", "out of memory in sk_X509_push");
	if (!pem_at_end()) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());
		r = manage_fail(err, MANAGE_INVALID, "%s: certificate #%d cannot be read: %s", what,
				sk_X509_num(certs) + 1, why ? why : "not PEM");
		ERR_clear_error();
		goto out;
	}
	if (sk_X509_num(certs) == 0) {
		/* .cer files are often DER: one certificate, no armour. */
		const unsigned char *p = data;
		x = d2i_X509(NULL, &p, (long)len);
		if (x && p == (const unsigned char *)data + len)
			sk_X509_push(certs, x);
		else
			X509_free(x);
		ERR_clear_error();
	}
	if (sk_X509_num(certs) == 0)
		r = manage_fail(err, MANAGE_INVALID, "%s: no certificate found (PEM or DER)", what);
out:
	BIO_free(bio);
	if (r != MANAGE_OK)
		sk_X509_pop_free(certs, X509_free);
	else
		*out = certs;
	return r;
}

enum manage_result manage_x509_read_file(const char *path, STACK_OF(X509) **out,
					 struct manage_err *err)
{
	char *why = NULL;
	if (tls_file_read_certs(path, out, &why) < 0) {
		manage_fail(err, MANAGE_INVALID, "%s", why);
		free(why);
		return MANAGE_INVALID;
	}
	return MANAGE_OK;
}

void manage_x509_describe(X509 *x, struct manage_cert *out)
{
	memset(out, 0, sizeof(*out));
	tls_cert_fingerprint(x, out->fingerprint);
	tls_name_str(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	tls_time_str(X509_get0_notAfter(x), out->not_after, sizeof(out->not_after));
	out->ca = tls_cert_is_ca(x);
	out->expired = X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
}

static void describe_all(struct arena *a, STACK_OF(X509) *certs, struct manage_cert **out, size_t *n)
{
	*n = (size_t)sk_X509_num(certs);
	*out = arena_alloc(a, *n * sizeof(**out));
	for (size_t i = 0; i < *n; i++)
		manage_x509_describe(sk_X509_value(certs, (int)i), &(*out)[i]);
}

enum manage_result manage_certs_parse(struct arena *a, const void *data, size_t len,
				      struct manage_cert **certs, size_t *n,
				      struct manage_err *err)
{
	STACK_OF(X509) *x = NULL;
	*certs = NULL;
	*n = 0;
	enum manage_result r = manage_x509_parse(data, len, NULL, &x, err);
	if (r != MANAGE_OK)
		return r;
	describe_all(a, x, certs, n);
	sk_X509_pop_free(x, X509_free);
	return MANAGE_OK;
}

enum manage_result manage_certs_read_file(struct arena *a, const char *path,
					  struct manage_cert **certs, size_t *n,
					  struct manage_err *err)
{
	STACK_OF(X509) *x = NULL;
	*certs = NULL;
	*n = 0;
	enum manage_result r = manage_x509_read_file(path, &x, err);
	if (r != MANAGE_OK)
		return r;
	describe_all(a, x, certs, n);
	sk_X509_pop_free(x, X509_free);
	return MANAGE_OK;
}
