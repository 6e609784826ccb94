/*
 * tls client contexts: the SSL_CTXs outgoing links handshake with, loaded
 * at start and on a reload as immutable generations, like the server's.  One presents no
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
#include "core/log.h"
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

static void client_gen_free(struct tls_client_gen *g)
{
	SSL_CTX_free(g->anon);
	for (size_t i = 0; i < g->nhosts; i++) {
		SSL_CTX_free(g->hosts[i].ctx);
		free(g->hosts[i].domain);
		free(g->hosts[i].cert_file);
	}
	free(g);
}

void tls_client_gen_unref(struct tls_client_gen *g)
{
	if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		client_gen_free(g);
}

static struct tls_client_gen *client_gen_new(const struct tls_client_config *cfg, char **err)
{
	*err = NULL;
	size_t nhosts = cfg && cfg->hosts ? cfg->nhosts : 0;
	static const struct tls_client_config none;
	if (!cfg)
		cfg = &none;
	if (nhosts > 0 && tls_hosts_check(cfg->hosts, nhosts, err) < 0)
		return NULL;
	struct tls_client_gen *g =
		xcalloc(1, sizeof(*g) + nhosts * sizeof(struct tls_server_host));
	atomic_init(&g->refs, 1);
	g->anon = client_ctx_new(cfg, NULL, err);
	if (!g->anon)
		goto free_gen;
	for (size_t i = 0; i < nhosts; i++) {
		const struct tls_host *h = &cfg->hosts[i];
		SSL_CTX *ctx = client_ctx_new(cfg, h, err);
		if (!ctx)
			goto free_gen;
		g->hosts[i].domain = xstrdup(h->domain);
		g->hosts[i].cert_file = xstrdup(h->cert_file);
		g->hosts[i].ctx = ctx;
		g->nhosts = i + 1;
	}
	return g;

free_gen:
	client_gen_free(g);
	return NULL;
}

struct tls_client_gen *tls_client_current(struct tls_client *cli)
{
	pthread_mutex_lock(&cli->lock);
	struct tls_client_gen *g = cli->current;
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&cli->lock);
	return g;
}

struct tls_client *tls_client_new(const struct tls_client_config *cfg, char **err)
{
	struct tls_client_gen *g = client_gen_new(cfg, err);
	if (!g)
		return NULL;
	struct tls_client *cli = xcalloc(1, sizeof(*cli));
	if (pthread_mutex_init(&cli->lock, NULL) != 0)
		log_fatal("tls", "cannot create a mutex");
	g->number = cli->generations = 1;
	cli->current = g;
	return cli;
}

int tls_client_reload(struct tls_client *cli, const struct tls_client_config *cfg, char **err)
{
	struct tls_client_gen *g = client_gen_new(cfg, err);
	if (!g)
		return -1;
	pthread_mutex_lock(&cli->lock);
	struct tls_client_gen *old = cli->current;
	g->number = ++cli->generations;
	cli->current = g;
	pthread_mutex_unlock(&cli->lock);
	tls_client_gen_unref(old);
	return 0;
}

unsigned tls_client_generation(struct tls_client *cli)
{
	pthread_mutex_lock(&cli->lock);
	unsigned n = cli->current->number;
	pthread_mutex_unlock(&cli->lock);
	return n;
}

void tls_client_free(struct tls_client *cli)
{
	if (!cli)
		return;
	tls_client_gen_unref(cli->current);
	pthread_mutex_destroy(&cli->lock);
	free(cli);
}
