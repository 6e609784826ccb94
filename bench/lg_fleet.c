/*
 * Fleets: the logged-in sessions a traffic scenario works on.  User i of a
 * fleet is account PREFIX<first + i> on server i % nservers; sessions are
 * opened --concurrency at a time, and the scenario finds a user's session
 * by index.  A fleet does not send anything itself.
 */
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

void fleet_init(struct fleet *f, int n)
{
	free(f->conn);
	memset(f, 0, sizeof *f);
	f->n = n;
	f->conn = malloc((size_t)n * sizeof *f->conn);
	if (!f->conn)
		abort();
	for (int i = 0; i < n; i++)
		f->conn[i] = -1;
	f->t0 = lg_now();
}

int fleet_server(int idx)
{
	return idx % opt.nservers;
}

/* Opens what is left to open; true once every session is up or failed. */
bool fleet_tick(struct fleet *f, double now)
{
	while (f->next < f->n && lgc.handshaking < opt.concurrency) {
		conn_open(opt.first + f->next, fleet_server(f->next));
		f->next++;
	}
	if (!f->up && f->next == f->n && lgc.handshaking == 0) {
		f->up = true;
		f->t_up = now;
		fprintf(stderr, "loadgen: %d of %d sessions up in %.1f s\n", f->ready, f->n, now - f->t0);
	}
	return f->up;
}

void fleet_ready(struct fleet *f, struct conn *c)
{
	int idx = c->user - opt.first;
	f->conn[idx] = c->id;
	f->ready++;
	hist_add(&f->login, (uint64_t)((c->t_ready - c->t_start) * 1e6));
}

void fleet_closed(struct fleet *f, struct conn *c)
{
	int idx = c->user - opt.first;
	if (idx >= 0 && idx < f->n && f->conn[idx] == c->id) {
		f->conn[idx] = -1;
		f->ready--;
	}
}

struct conn *fleet_conn(const struct fleet *f, int idx)
{
	if (idx < 0 || idx >= f->n || f->conn[idx] < 0)
		return NULL;
	struct conn *c = conn_get(f->conn[idx]);
	return c && c->st == C_READY ? c : NULL;
}

void fleet_close_all(struct fleet *f)
{
	for (int i = 0; i < conn_slots(); i++) {
		struct conn *c = conn_get(i);
		if (c)
			conn_close(c);
	}
	(void)f;
}

/* The fleet index of a JID's account, or -1 if it is not one of ours. */
int jid_index(const struct fleet *f, const char *jid)
{
	size_t pl = strlen(opt.prefix);
	if (!jid || strncmp(jid, opt.prefix, pl) != 0)
		return -1;
	char *end;
	long u = strtol(jid + pl, &end, 10);
	if (end == jid + pl || *end != '@')
		return -1;
	long idx = u - opt.first;
	return idx >= 0 && idx < f->n ? (int)idx : -1;
}

const char *domain_of(int idx)
{
	return opt.servers[fleet_server(idx)].domain;
}
