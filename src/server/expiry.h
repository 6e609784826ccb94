/*
 * expiry: warnings before a certificate we depend on expires: every
 * host's certificate and the chain sent with it, and every CA of the trust
 * stores (c2s.client_ca, s2s.ca).  parleyd logs them at start-up, after
 * each reload and once a day; `parleyctl check config` prints them.
 *
 * The judgement is a pure function of (label, action, not_after) and the
 * time, unit-tested; gathering goes through tls/ (what was loaded, not
 * what the files say now).  This module does not reload anything, and it
 * does not decide whether an expired certificate is still served (tls/
 * loads it anyway, so other hosts keep working).
 */
#ifndef PARLEY_SERVER_EXPIRY_H
#define PARLEY_SERVER_EXPIRY_H

#include <stddef.h>

struct tls_client_auth;
struct tls_server;

enum { EXPIRY_SOON_DAYS = 30, EXPIRY_URGENT_DAYS = 7 };

enum expiry_level {
	EXPIRY_FINE = 0,    /* more than EXPIRY_SOON_DAYS left: nothing said */
	EXPIRY_SOON = 1,    /* at most EXPIRY_SOON_DAYS: a warning */
	EXPIRY_URGENT = 2,  /* at most EXPIRY_URGENT_DAYS: a warning that says so */
	EXPIRY_EXPIRED = 3, /* peers refuse it now: an error */
};

struct expiry_cert {
	/* What and where, for a person: "host example.org: certificate
	 * /etc/parley/example.org.crt (CN=example.org)". */
	const char *label;
	/* What to do about it: "renew it (...), then send parleyd SIGHUP". */
	const char *action;
	long long not_after; /* Unix time */
};

struct expiry_line {
	enum expiry_level level; /* never EXPIRY_FINE */
	long long days;          /* days left (a started day counts), or days since it expired */
	char *text;              /* heap: one line, no newline */
};

/* The level of a certificate ending at not_after, seen at `now`; *days
 * (may be NULL) gets the days left, rounded up, or the whole days since
 * it expired. */
enum expiry_level expiry_judge(long long not_after, long long now, long long *days);

/* One line per certificate that needs attention at `now`, in input order:
 * "LABEL expires on 2025-06-01 12:00:00 UTC, in 5 days (7-day warning);
 * ACTION" or "LABEL expired on ... (3 days ago); ACTION".  Returns how many
 * (*out NULL when none); the caller frees them with expiry_lines_free. */
size_t expiry_lines(const struct expiry_cert *certs, size_t n, long long now,
		    struct expiry_line **out);
void expiry_lines_free(struct expiry_line *lines, size_t n);

/* What to gather from; any member may be NULL. */
struct expiry_sources {
	struct tls_server *hosts;
	struct tls_client_auth *client_ca;
	const char *client_ca_path; /* c2s.client_ca, for the labels */
	struct tls_client_auth *s2s_ca;
	const char *s2s_ca_path;    /* s2s.ca */
};

/* The certificates of `src` with their labels and actions, heap; freed
 * with expiry_certs_free. */
size_t expiry_gather(const struct expiry_sources *src, struct expiry_cert **out);
void expiry_certs_free(struct expiry_cert *certs, size_t n);

/* Gathers, judges at `now` and logs each line (module "expiry": a warning,
 * an error when expired).  Returns the worst level found. */
enum expiry_level expiry_log(const struct expiry_sources *src, long long now);

#endif
