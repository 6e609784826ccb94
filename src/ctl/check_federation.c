/*
 * check federation: `parleyctl check federation [DOMAIN] [--from LOCAL]`,
 * without a running server, from the configuration (issue 9).
 *
 * With a DOMAIN it does what an outgoing link of ours would do, at every
 * target in turn (s2s_probe, s2s/out.c): resolves _xmpps-server and
 * _xmpp-server SRV and the addresses, connects, takes TLS with SNI and
 * ALPN, shows the peer's chain and checks it (validity, the RFC 6125
 * identity types, EKU, depth, revocation with s2s.crl_file), and
 * authenticates as the policy allows (SASL EXTERNAL, or dialback, whose
 * key the peer verifies with our running server), stopping before any
 * stanza.  One verdict line per target, with the failure code and its fix;
 * exit 0 only when at least one target works, as a link would use it.
 *
 * Without a DOMAIN it checks our side: each of our hosts as a peer would
 * find it (its SRV records, that its s2s ports accept connections and
 * TLS, the certificate it presents and what our own trust store says of
 * it), stopping after the stream features.
 *
 * It runs one worker of the server on this thread, with the same code as
 * parleyd's outgoing links.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "core/worker.h"
#include "ctl/ctl.h"
#include "router/service.h"
#include "router/shard.h"
#include "s2s/code.h"
#include "s2s/s2s.h"
#include "tls/tls.h"

struct check {
	struct shard *sh;
	const char *local;
	const char **domains;
	size_t ndomains, next;
	bool local_side;   /* our own hosts: stop after the features */
	bool done;
	unsigned failures; /* domains that would not federate */
};

static void print_attempt(const struct s2s_attempt *at)
{
	if (at->connect[0])
		printf("  connect:      %s\n", at->connect);
	if (at->tls[0])
		printf("  TLS:          %s\n", at->tls);
	for (size_t i = 0; i < at->nchain; i++) {
		const struct tls_chain_cert *c = &at->chain[i];
		printf("  chain[%zu]:     %s\n", i, c->subject);
		printf("                issuer %s; valid %s to %s\n", c->issuer, c->not_before, c->not_after);
		if (c->names[0])
			printf("                names %s\n", c->names);
		printf("                EKU %s\n", c->eku[0] ? c->eku : "(none: any purpose)");
	}
	if (at->verify[0])
		printf("  verification: %s\n", at->verify);
	if (at->identity[0])
		printf("  identity:     %s\n", at->identity);
	if (at->policy[0])
		printf("  policy:       %s\n", at->policy);
	if (at->allowed[0])
		printf("  allowed:      %s\n", at->allowed);
	if (at->offered[0] || at->tried[0])
		printf("  methods:      offered %s; tried %s\n", at->offered[0] ? at->offered : "none",
		       at->tried[0] ? at->tried : "none");
}

static void on_result(void *ud, const struct s2s_probe_result *r)
{
	struct check *ck = ud;
	printf("%s %s -> %s (policy: %s)\n", ck->local_side ? "Our side, as a peer sees it:" : "Federation check:",
	       r->local, r->domain, r->policy);
	if (r->dns[0])
		printf("DNS: %s\n", r->dns);
	if (r->dns_code == S2S_DNS_NO_SRV)
		printf("  note: %s: %s\n", s2s_code_name(S2S_DNS_NO_SRV), s2s_code_fix(S2S_DNS_NO_SRV));
	unsigned ok = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct s2s_attempt *at = &r->targets[i];
		printf("target %zu: %s\n", i + 1, r->where[i]);
		print_attempt(at);
		bool good = at->ok;
		if (good) {
			ok++;
			printf("  OK: %s\n", at->result);
		} else {
			printf("  FAIL: %s\n", at->result[0] ? at->result : "not reached");
			if (at->code)
				printf("  fix: %s\n", s2s_code_fix(at->code));
		}
	}
	if (r->n == 0) {
		enum s2s_code code = r->code ? r->code : r->dns_code;
		printf("FAIL: %s\n", r->text[0] ? r->text : s2s_code_name(code));
		if (code)
			printf("  fix: %s\n", s2s_code_fix(code));
	}
	if (ok)
		printf("verdict: %s with %s works (%u of %zu target%s)\n\n",
		       ck->local_side ? "a peer's link" : "federation", r->domain, ok, r->n, r->n == 1 ? "" : "s");
	else
		printf("verdict: %s with %s fails\n\n", ck->local_side ? "a peer's link" : "federation", r->domain);
	if (!ok)
		ck->failures++;
	ck->next++;
	if (ck->next < ck->ndomains) {
		s2s_probe(ck->sh, ck->local, ck->domains[ck->next], ck->local_side, on_result, ck);
		return;
	}
	ck->done = true;
	worker_stop(ck->sh->w);
}

/* The check this process runs (one, on its one worker). */
static struct check *current;

static void start(struct worker *w)
{
	s2s_probe(shard_of(w), current->local, current->domains[0], current->local_side, on_result, current);
}

static void stop(struct worker *w)
{
	s2s_shutdown(shard_of(w));
}

static void tick(struct worker *w)
{
	struct check *ck = current;
	if (ck->done && worker_quiescent(w))
		worker_halt(w);
}

static void usage(void)
{
	fprintf(stderr, "usage: parleyctl check federation [DOMAIN] [--from LOCAL]\n");
}

int ctl_check_federation(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *from = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'f') {
			from = optarg;
		} else {
			usage();
			return opt == 'h' ? CTL_OK : CTL_USAGE;
		}
	}
	if (argc - optind > 1) {
		usage();
		return CTL_USAGE;
	}
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	const char *local = from ? from : cfg->hosts[0].domain;
	if (!config_host_find(cfg, local)) {
		ctl_error("--from %s: not one of our hosts", local);
		return CTL_USAGE;
	}
	/* The probe's own log lines: errors only, on stderr; the report is on
	 * stdout.  A peer that closes while we write must not kill us. */
	log_setup(LOG_ERROR, 2);
	signal(SIGPIPE, SIG_IGN);

	struct check ck = {.local = local};
	const char *one = argc - optind == 1 ? argv[optind] : NULL;
	if (one) {
		ck.domains = &one;
		ck.ndomains = 1;
	} else {
		ck.local_side = true;
		ck.ndomains = cfg->nhosts;
		ck.domains = calloc(cfg->nhosts, sizeof(char *));
		for (size_t i = 0; i < cfg->nhosts; i++)
			ck.domains[i] = cfg->hosts[i].domain;
	}

	char *err = NULL;
	current = &ck;
	struct server srv = {.cfg = cfg, .nworkers = 1};
	struct tls_client_auth_config sac;
	s2s_trust_config(cfg, &sac);
	srv.s2s_trust = tls_client_auth_new(&sac, &err);
	if (!srv.s2s_trust) {
		ctl_error("s2s trust store: %s (check s2s.ca)", err);
		free(err);
		return CTL_USAGE;
	}
	int rc = CTL_FAIL;
	if (s2s_service.setup(&srv, &err) != 0) {
		ctl_error("s2s: %s", err);
		free(err);
		goto out;
	}
	struct worker w;
	struct shard sh = {.srv = &srv, .w = &w};
	struct shard *shards[1] = {&sh};
	srv.workers = &w;
	srv.shards = shards;
	worker_init(&w, 0, cfg->inbox_max);
	list_init(&sh.streams);
	list_init(&sh.s2s_streams);
	list_init(&sh.s2s_out);
	w.ctx = &sh;
	w.on_start = start;
	w.on_stop = stop;
	w.on_tick = tick;
	ck.sh = &sh;
	/* The worker's thread ends itself when the last check is done. */
	if (worker_start(&w) != 0) {
		ctl_error("cannot start a worker thread");
		worker_discard(&w);
		goto out;
	}
	worker_join(&w);
	rc = ck.done && ck.failures == 0 ? CTL_OK : CTL_FAIL;
out:
	s2s_service.teardown(&srv);
	tls_client_auth_free(srv.s2s_trust);
	if (!one)
		free(ck.domains);
	return rc;
}
