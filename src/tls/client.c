/*
 * tls client contexts: the SSL_CTXs outgoing links handshake with, loaded
 * once and read-only afterwards, like the server's.  One presents no
 * certificate; one per configured host presents that host's (the initiating
 * server's certificate, for SASL EXTERNAL on s2s), picked per session by
 * local domain.
 *
 * The policy (versions, ciphers, options) is the server's (server.c,
 * tls_ctx_policy).  Verifying the server is per session (clientauth.c): a
 * context only routes OpenSSL's chain verification through
 * tls_verify_chain_and_name, so that the expected name is checked as part
 * of it.  Sessions are made in session.c.
 */
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/alloc.h"
#include "tls/internal.h"

static SSL_CTX *client_ctx_new(const struct tls_client_config *cfg, const struct tls_host *h,
			       char **err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		char tmp[256];
		struct tls_errs e;
		tls_errs_take(&e);
		*err = tls_errorf("cannot create a TLS client context: %s",
				  tls_errs_text(&e, tmp, sizeof(tmp)));
		return NULL;
	}
	/* No resumption: sessions are not kept to be offered again, so
	 * every link verifies the server's certificate afresh. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_cert_verify_callback(ctx, tls_verify_chain_and_name, NULL);
	if (tls_ctx_policy(ctx, cfg->ciphers, cfg->ciphersuites, cfg->tls13_only, err) < 0 ||
	    (h && tls_ctx_use_host(ctx, h, err) < 0)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct tls_client *tls_client_new(const struct tls_client_config *cfg, char **err)
{
	*err = NULL;
	size_t nhosts = cfg && cfg->hosts ? cfg->nhosts : 0;
	struct tls_client *cli =
		xcalloc(1, sizeof(*cli) + nhosts * sizeof(struct tls_server_host));
	static const struct tls_client_config none;
	if (!cfg)
		cfg = &none;
	cli->anon = client_ctx_new(cfg, NULL, err);
	if (!cli->anon)
		goto free_cli;
	for (size_t i = 0; i < nhosts; i++) {
		const struct tls_host *h = &cfg->hosts[i];
		if (!h->domain || !*h->domain) {
			*err = tls_errorf("host #%zu: no domain given", i + 1);
			goto free_cli;
		}
		if (!h->cert_file || !h->key_file) {
			*err = tls_errorf("host %s: %s file not configured", h->domain,
					  h->cert_file ? "key" : "certificate");
			goto free_cli;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(cli->hosts[j].domain, h->domain) == 0) {
				*err = tls_errorf("host %s: listed twice", h->domain);
				goto free_cli;
			}
		}
		SSL_CTX *ctx = client_ctx_new(cfg, h, err);
		if (!ctx)
			goto free_cli;
		cli->hosts[i].domain = xstrdup(h->domain);
		cli->hosts[i].ctx = ctx;
		cli->nhosts = i + 1;
	}
	return cli;

free_cli:
	tls_client_free(cli);
	return NULL;
}

void tls_client_free(struct tls_client *cli)
{
	if (!cli)
		return;
	SSL_CTX_free(cli->anon);
	for (size_t i = 0; i < cli->nhosts; i++) {
		SSL_CTX_free(cli->hosts[i].ctx);
		free(cli->hosts[i].domain);
	}
	free(cli);
}
