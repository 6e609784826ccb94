/*
 * im: what XMPP means once a stanza has an address: RFC 6121 (rosters,
 * subscriptions, presence, message delivery, offline storage) and the
 * services every account and the server answer (disco, ping, version,
 * vCard-temp, private XML storage, blocking).
 *
 * im/ registers itself as the router's hooks; it never touches sockets.
 * All per-account state lives on the worker that owns the account.
 */
#ifndef PARLEY_IM_IM_H
#define PARLEY_IM_IM_H

struct shard;

/* Installs the router hooks.  Call once before the workers start. */
void im_setup(void);

/* Group `group` changed in storage: the online accounts on this worker
 * that are in it now or were at login get their rosters, shared contacts
 * and members-only networks anew, with roster pushes and presence.
 * Returns how many accounts it refreshed.  The worker's thread. */
unsigned im_group_changed(struct shard *sh, const char *group);

#endif
