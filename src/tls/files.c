/*
 * tls files: certificates, keys and CRLs read from and written to disk,
 * for trust stores, parleyctl and tests.
 *
 * Reading says which file and what is wrong with it in one phrase (OpenSSL's
 * own queue would say "no start line" about a missing file).  Writing is
 * whole or not at all: a file is staged beside its final name, synced, and
 * then linked into place, so a reader (a reloading server) never sees half
 * of a CA or a CRL, and a key is 0600 from its first byte.
 *
 * This file knows formats, not policy: what a trust store accepts is
 * clientauth.c's business.
 */
#include "tls/cert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/fd.h"
#include "core/log.h"
#include "tls/internal.h"

char *tls_errorf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

/* Certificates, keys and CRLs are small; anything larger is a mistake
 * (a database given as a certificate) and not worth parsing. */
enum { FILES_MAX_BYTES = 16 * 1024 * 1024 };

/* Opens `path` for reading as a BIO, or NULL with *err in plain words. */
static BIO *files_open(const char *path, const char *what, char **err)
{
	char tmp[128];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		*err = tls_errorf("%s %s: %s", what, path,
				  e == ENOENT ? "no such file" : strerror_r(e, tmp, sizeof(tmp)));
		return NULL;
	}
	struct stat st;
	const char *problem = NULL;
	if (fstat(fd, &st) != 0)
		problem = strerror_r(errno, tmp, sizeof(tmp));
	else if (S_ISDIR(st.st_mode))
		problem = "is a directory";
	else if (st.st_size == 0)
		problem = "empty file";
	else if (st.st_size > FILES_MAX_BYTES)
		problem = "too large to be a certificate, key or CRL";
	if (problem) {
		close(fd);
		*err = tls_errorf("%s %s: %s", what, path, problem);
		return NULL;
	}
	BIO *bio = tls_must(BIO_new_fd(fd, BIO_CLOSE), "BIO_new_fd");
	return bio;
}

/* After a PEM read loop stopped: true when it stopped because no further
 * object was found, which is the normal end of the file. */
static bool files_pem_at_end(void)
{
	unsigned long e = ERR_peek_last_error();
	bool end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
	if (end)
		ERR_clear_error();
	return end;
}

static const char *files_err_text(char *tmp, size_t n)
{
	struct tls_errs e;
	tls_errs_take(&e);
	return tls_errs_text(&e, tmp, n);
}

int tls_file_read_certs(const char *path, STACK_OF(X509) **out, char **err)
{
	char tmp[160];
	*out = NULL;
	*err = NULL;
	BIO *bio = files_open(path, "certificate file", err);
	if (!bio)
		return -1;
	STACK_OF(X509) *certs = tls_must(sk_X509_new_null(), "sk_X509_new_null");
	X509 *x;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(certs, x))
			log_fatal("tls", "out of memory in sk_X509_push");
	if (!files_pem_at_end()) {
		*err = tls_errorf("certificate file %s: certificate #%d cannot be read: %s", path,
				  sk_X509_num(certs) + 1, files_err_text(tmp, sizeof(tmp)));
		goto free_certs;
	}
	if (sk_X509_num(certs) == 0) {
		/* .cer files are often DER: one certificate, no armour. */
		if (BIO_reset(bio) == 0 && (x = d2i_X509_bio(bio, NULL)) != NULL)
			sk_X509_push(certs, x);
		ERR_clear_error();
	}
	if (sk_X509_num(certs) == 0) {
		*err = tls_errorf("certificate file %s: no certificate found (PEM or DER)", path);
		goto free_certs;
	}
	BIO_free(bio);
	*out = certs;
	return 0;

free_certs:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return -1;
}

/* Never prompt for a passphrase (see server.c); `u` records the wish. */
static int files_no_password(char *buf, int size, int rwflag, void *u)
{
	*(bool *)u = true;
	return -1;
}

EVP_PKEY *tls_file_read_key(const char *path, char **err)
{
	char tmp[160];
	*err = NULL;
	BIO *bio = files_open(path, "key file", err);
	if (!bio)
		return NULL;
	bool wanted_password = false;
	ERR_clear_error();
	EVP_PKEY *key = PEM_read_bio_PrivateKey_ex(bio, NULL, files_no_password, &wanted_password,
						   NULL, NULL);
	BIO_free(bio);
	if (key)
		return key;
	if (wanted_password)
		*err = tls_errorf("key file %s: the key is protected by a passphrase; Parley needs it "
				  "unencrypted",
				  path);
	else
		*err = tls_errorf("key file %s: no PEM private key found (%s)", path,
				  files_err_text(tmp, sizeof(tmp)));
	ERR_clear_error();
	return NULL;
}

int tls_file_read_crls(const char *path, STACK_OF(X509_CRL) **out, char **err)
{
	char tmp[160];
	*out = NULL;
	*err = NULL;
	BIO *bio = files_open(path, "CRL file", err);
	if (!bio)
		return -1;
	STACK_OF(X509_CRL) *crls = tls_must(sk_X509_CRL_new_null(), "sk_X509_CRL_new_null");
	X509_CRL *crl;
	ERR_clear_error();
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_CRL_push(crls, crl))
			log_fatal("tls", "out of memory in sk_X509_CRL_push");
	if (!files_pem_at_end()) {
		*err = tls_errorf("CRL file %s: CRL #%d cannot be read: %s", path,
				  sk_X509_CRL_num(crls) + 1, files_err_text(tmp, sizeof(tmp)));
		goto free_crls;
	}
	if (sk_X509_CRL_num(crls) == 0) {
		*err = tls_errorf("CRL file %s: no PEM CRL found", path);
		goto free_crls;
	}
	BIO_free(bio);
	*out = crls;
	return 0;

free_crls:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	BIO_free(bio);
	return -1;
}

int tls_file_write(const char *path, mode_t mode, const void *data, size_t len, bool overwrite,
		   char **err)
{
	char tmp[128];
	*err = NULL;
	size_t n = strlen(path);
	char *name = xmalloc(n + 8);
	memcpy(name, path, n);
	memcpy(name + n, ".XXXXXX", 8);

	/* mkostemp creates 0600; fchmod then sets exactly `mode`, whatever
	 * the umask says. */
	int fd = mkostemp(name, O_CLOEXEC);
	if (fd < 0) {
		*err = tls_errorf("%s: cannot create: %s", path, strerror_r(errno, tmp, sizeof(tmp)));
		goto free_name;
	}
	if (fchmod(fd, mode) != 0 || fd_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		*err = tls_errorf("%s: cannot write: %s", path, strerror_r(errno, tmp, sizeof(tmp)));
		close(fd);
		goto unlink_name;
	}
	if (close(fd) != 0) {
		*err = tls_errorf("%s: cannot write: %s", path, strerror_r(errno, tmp, sizeof(tmp)));
		goto unlink_name;
	}
	/* link() fails on an existing name, where rename() would replace
	 * it: the atomic way to refuse clobbering. */
	if (overwrite ? rename(name, path) != 0 : link(name, path) != 0) {
		int e = errno;
		*err = e == EEXIST ? tls_errorf("%s exists already", path)
				   : tls_errorf("%s: cannot create: %s", path, strerror_r(e, tmp, sizeof(tmp)));
		goto unlink_name;
	}
	if (!overwrite)
		unlink(name);
	free(name);
	return 0;

unlink_name:
	unlink(name);
free_name:
	free(name);
	return -1;
}

static int files_write_bio(const char *path, mode_t mode, BIO *mem, bool overwrite, char **err)
{
	char *data = NULL;
	long len = BIO_get_mem_data(mem, &data);
	if (len <= 0) {
		*err = tls_errorf("%s: nothing to write", path);
		return -1;
	}
	return tls_file_write(path, mode, data, (size_t)len, overwrite, err);
}

int tls_file_write_pem(const char *path, mode_t mode, X509 *const *certs, size_t ncerts,
		       EVP_PKEY *key, X509_CRL *crl, bool overwrite, char **err)
{
	BIO *mem = tls_must(BIO_new(BIO_s_mem()), "BIO_new");
	bool ok = true;
	for (size_t i = 0; i < ncerts && ok; i++)
		ok = PEM_write_bio_X509(mem, certs[i]) == 1;
	if (ok && key)
		ok = PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) == 1;
	if (ok && crl)
		ok = PEM_write_bio_X509_CRL(mem, crl) == 1;
	int rc = -1;
	if (!ok) {
		char tmp[160];
		*err = tls_errorf("%s: cannot encode: %s", path, files_err_text(tmp, sizeof(tmp)));
	} else {
		rc = files_write_bio(path, mode, mem, overwrite, err);
	}
	BIO_free(mem);
	return rc;
}

int tls_file_write_p12(const char *path, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *cas,
		       const char *password, const char *friendly_name, bool overwrite,
		       char **err)
{
	char tmp[160];
	/* NIDs 0 and iterations 0: OpenSSL 3's defaults, AES-256-CBC with
	 * PBKDF2 and a SHA-256 MAC, which current clients import. */
	PKCS12 *p12 = PKCS12_create(password, friendly_name, key, cert, cas, 0, 0, 0, 0, 0);
	if (!p12) {
		*err = tls_errorf("%s: cannot make the PKCS#12 bundle: %s", path,
				  files_err_text(tmp, sizeof(tmp)));
		return -1;
	}
	BIO *mem = tls_must(BIO_new(BIO_s_mem()), "BIO_new");
	int rc = -1;
	if (i2d_PKCS12_bio(mem, p12) != 1)
		*err = tls_errorf("%s: cannot encode the PKCS#12 bundle: %s", path,
				  files_err_text(tmp, sizeof(tmp)));
	else
		rc = files_write_bio(path, 0600, mem, overwrite, err);
	BIO_free(mem);
	PKCS12_free(p12);
	return rc;
}
