/*
 * manage internals shared by its files: writing the sentence of a
 * result, turning store codes into results, and paging a listing that
 * the store gives one item at a time.
 *
 * Not for use outside src/manage/ (unit tests excepted).
 */
#ifndef PARLEY_MANAGE_INTERNAL_H
#define PARLEY_MANAGE_INTERNAL_H

#include <openssl/x509.h>

#include "manage/manage.h"

/* Writes the sentence into err (when not NULL) and returns r, so that a
 * function can `return manage_fail(err, MANAGE_INVALID, ...)`. */
enum manage_result manage_fail(struct manage_err *err, enum manage_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* STORE_OK, STORE_NOT_FOUND, STORE_EXISTS, STORE_FULL, STORE_ERROR as
 * results. */
enum manage_result manage_from_store(int store_rc);

/*
 * A page being filled from a listing in key order: manage_pager_take
 * says whether an item that matched the search belongs in the page
 * (counting it either way); the caller then copies it.  The search is a
 * substring, ASCII case ignored.
 */
struct manage_pager {
	size_t offset, limit;
	const char *search;
	size_t matched; /* items that matched so far: the total at the end */
	size_t taken;   /* of which in the page */
};

void manage_pager_init(struct manage_pager *p, const struct manage_page *page);
/* Whether `key` matches the search. */
bool manage_pager_match(const struct manage_pager *p, const char *key);
/* Counts a matching item; true when it falls in the page. */
bool manage_pager_take(struct manage_pager *p);

/* A growable array of `size`-byte elements in an arena (the old block
 * stays in the arena when it grows: listings are short-lived). */
struct manage_vec {
	void *v;
	size_t n, cap;
};
void *manage_vec_push(struct manage_vec *v, struct arena *a, size_t size);

/* ---- Certificates (cert.c) ---- */

/* Every certificate of `len` bytes of PEM, or of one DER certificate;
 * MANAGE_INVALID with a sentence naming `source` (NULL: none).  Free with
 * sk_X509_pop_free(certs, X509_free). */
enum manage_result manage_x509_parse(const void *data, size_t len, const char *source,
				     STACK_OF(X509) **out, struct manage_err *err);
/* The same from a file, as tls_file_read_certs reads it. */
enum manage_result manage_x509_read_file(const char *path, STACK_OF(X509) **out,
					 struct manage_err *err);
/* What the API says of one certificate. */
void manage_x509_describe(X509 *x, struct manage_cert *out);

#endif
