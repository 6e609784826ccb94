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

/* Installs the router hooks.  Call once before the workers start. */
void im_setup(void);

#endif
