/*
 * pair: a TLS client (plain OpenSSL) and a Parley server session on the two
 * ends of a socket pair, and the loop that drives both handshakes.  Shared
 * by the tls unit tests; each includes it after defining POLL_MS and
 * MAX_ITER and sets the pair up its own way.
 */
#ifndef PARLEY_TEST_TLS_PAIR_H
#define PARLEY_TEST_TLS_PAIR_H

#include <poll.h>
#include <stdbool.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

struct pair {
	int sfd, cfd;
	struct tls_session *t;  /* the server session (tls_transport_ops) */
	SSL_CTX *cctx;
	SSL *cli;
	int srv_rc;             /* the server's last handshake result */
	bool cli_ok;            /* the client completed its handshake */
	unsigned long cli_err;  /* the client's first error, when it failed */
	bool requested;         /* the server asked the client for a certificate */
};

static void pair_close(struct pair *p)
{
	tls_transport_ops.free(p->t);
	SSL_free(p->cli);
	SSL_CTX_free(p->cctx);
	if (p->sfd >= 0)
		close(p->sfd);
	if (p->cfd >= 0)
		close(p->cfd);
	ERR_clear_error();
}

/* Pumps both handshakes until each side has finished or failed.  No cmocka
 * assertions inside: it also runs on a second thread. */
static void pair_handshake(struct pair *p)
{
	bool sdone = false, cdone = false;
	short swant = POLLIN, cwant = POLLIN;
	p->srv_rc = CONN_IO_WANT_READ;
	p->cli_ok = false;
	for (int i = 0; i < MAX_ITER; i++) {
		if (!sdone) {
			int r = tls_transport_ops.handshake(p->t, p->sfd);
			p->srv_rc = r;
			if (r == CONN_IO_WANT_READ)
				swant = POLLIN;
			else if (r == CONN_IO_WANT_WRITE)
				swant = POLLOUT;
			else
				sdone = true;
		}
		if (!cdone) {
			ERR_clear_error();
			int r = SSL_do_handshake(p->cli);
			if (r == 1) {
				cdone = true;
				p->cli_ok = true;
			} else {
				int e = SSL_get_error(p->cli, r);
				if (e == SSL_ERROR_WANT_READ) {
					cwant = POLLIN;
				} else if (e == SSL_ERROR_WANT_WRITE) {
					cwant = POLLOUT;
				} else {
					cdone = true;
					p->cli_err = ERR_peek_error();
					ERR_clear_error();
				}
			}
		}
		if (sdone && cdone)
			break;
		struct pollfd pf[2];
		nfds_t n = 0;
		if (!sdone)
			pf[n++] = (struct pollfd){.fd = p->sfd, .events = swant};
		if (!cdone)
			pf[n++] = (struct pollfd){.fd = p->cfd, .events = cwant};
		/* Nothing moves: one side waits for a peer that gave up. */
		if (poll(pf, n, POLL_MS) <= 0)
			break;
	}
}

#endif
