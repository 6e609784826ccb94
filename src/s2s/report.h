/*
 * report: the last attempt with each remote domain, per direction, kept per
 * worker for `parleyctl s2s report` (report.c).  Streams fill an attempt
 * as they go (begin, then the fields of each step, then end); every call
 * looks the entry up by domain.
 */
#ifndef PARLEY_S2S_REPORT_H
#define PARLEY_S2S_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "s2s/code.h"
#include "tls/chain.h"

struct conn;
struct shard;
struct s2s_peer_tls;
struct s2s_decision;

enum s2s_dir { S2S_DIR_OUT, S2S_DIR_IN };
const char *s2s_dir_name(enum s2s_dir d);

struct s2s_attempt {
	bool used;
	time_t started, ended;
	char purpose[32];     /* "link", "dialback verification", "incoming" */
	char local[256];
	char peer[64];        /* the address */
	char dns[600];        /* the queries and their answers (outgoing) */
	char connect[600];    /* every address tried and how (outgoing) */
	char tls[128];        /* version, cipher, ALPN; or "none (plaintext)" */
	struct tls_chain_cert chain[TLS_CHAIN_MAX];
	size_t nchain;
	char verify[400];     /* the verification result, with its depth */
	char identity[320];   /* which identity matched (or why none did) */
	char policy[520];     /* trusted or not, and the policy's sentence */
	char allowed[32];     /* methods the policy allows */
	char offered[64];     /* methods the peer offered (outgoing) */
	char tried[64];
	char used_method[32];
	bool ok;
	enum s2s_code code;
	char result[620];     /* "authenticated with EXTERNAL", or the failure's text */
};

/* Starts the attempt of this direction afresh. */
struct s2s_attempt *s2s_report_begin(struct shard *sh, const char *domain, enum s2s_dir d, const char *local,
				     const char *purpose);
/* The attempt in progress (begun when missing). */
struct s2s_attempt *s2s_report_at(struct shard *sh, const char *domain, enum s2s_dir d);
/* snprintf into a field. */
void s2s_report_set(char *field, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* TLS facts of the stream's conn: version, cipher, ALPN, chain, verdict,
 * identity, the policy's decision (may be NULL). */
void s2s_report_tls(struct s2s_attempt *at, struct conn *c, const struct s2s_peer_tls *facts,
		    const struct s2s_decision *dec);
/* Adds a method name to a comma-separated list field, once. */
void s2s_report_method(char *list, size_t n, const char *method);
/* The attempt's end: authenticated with `method`, or failed with code and
 * text. */
void s2s_report_end(struct shard *sh, const char *domain, enum s2s_dir d, bool ok, enum s2s_code code,
		    const char *text, const char *method);
/* Frees the worker's reports (its stop). */
void s2s_reports_free(struct shard *sh);

#endif
