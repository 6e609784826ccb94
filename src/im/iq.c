/*
 * iq: the iq handlers of the server and of accounts, as tables (namespace
 * and element of the payload -> handler).  Requests nobody handles are
 * answered with <service-unavailable/> (RFC 6120 §8.4); responses addressed
 * to the server or to an account are dropped (they answer our pushes).
 */
#include <string.h>

#include "core/arena.h"
#include "im/internal.h"
#include "xml/xml.h"

typedef void iq_fn(struct shard *sh, struct session *own, struct stanza *st);

struct iq_handler {
	const char *const *ns; /* pointer to the interned namespace */
	const char *name;
	bool own_only;         /* only the account itself may ask */
	iq_fn *fn;
};

static const char *version_string = PARLEY_VERSION;

/* ---- disco (XEP-0030), ping (XEP-0199), version (XEP-0092) ---- */

static const char *const server_features[] = {
	XML_NS_DISCO_INFO, XML_NS_DISCO_ITEMS, XML_NS_PING, XML_NS_VCARD, XML_NS_PRIVATE,
	XML_NS_BLOCKING, XML_NS_ROSTER, XML_NS_ROSTERVER, XML_NS_PRE_APPROVAL, XML_NS_DELAY, NULL,
};

static const char *const account_features[] = {
	XML_NS_DISCO_INFO, XML_NS_DISCO_ITEMS, XML_NS_PING, XML_NS_VCARD, NULL,
};

static void add_feature(struct arena *a, struct xml_node *q, const char *var)
{
	struct xml_node *f = xml_node_add(a, q, XML_NS_DISCO_INFO, "feature");
	xml_node_set_attr(a, f, "var", var);
}

static void disco_info(struct shard *sh, struct stanza *st, bool server)
{
	struct xml_node *q = xml_node_first_element(st->el);
	if (xml_node_attr(q, "node")) {
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_ITEM_NOT_FOUND, NULL);
		return;
	}
	struct stanza *r = stanza_iq_result(st);
	struct xml_node *rq = xml_node_add(r->arena, r->el, XML_NS_DISCO_INFO, "query");
	struct xml_node *id = xml_node_add(r->arena, rq, XML_NS_DISCO_INFO, "identity");
	if (server) {
		xml_node_set_attr(r->arena, id, "category", "server");
		xml_node_set_attr(r->arena, id, "type", "im");
		xml_node_set_attr(r->arena, id, "name", "Parley");
		for (const char *const *f = server_features; *f; f++)
			add_feature(r->arena, rq, *f);
		if (sh->srv->cfg->im.version_reply)
			add_feature(r->arena, rq, XML_NS_VERSION);
	} else {
		xml_node_set_attr(r->arena, id, "category", "account");
		xml_node_set_attr(r->arena, id, "type", "registered");
		for (const char *const *f = account_features; *f; f++)
			add_feature(r->arena, rq, *f);
	}
	stanza_free(st);
	im_reply(sh, r);
}

static void disco_items(struct shard *sh, struct stanza *st)
{
	struct xml_node *q = xml_node_first_element(st->el);
	if (xml_node_attr(q, "node")) {
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_ITEM_NOT_FOUND, NULL);
		return;
	}
	struct stanza *r = stanza_iq_result(st);
	xml_node_add(r->arena, r->el, XML_NS_DISCO_ITEMS, "query");
	stanza_free(st);
	im_reply(sh, r);
}

static bool is_get(const struct stanza *st)
{
	return st->type == STANZA_TYPE_GET;
}

static void server_disco_info(struct shard *sh, struct session *own, struct stanza *st)
{
	(void)own;
	if (!is_get(st))
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, NULL);
	else
		disco_info(sh, st, true);
}

static void account_disco_info(struct shard *sh, struct session *own, struct stanza *st)
{
	(void)own;
	if (!is_get(st))
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, NULL);
	else if (!im_account_exists(sh, st->to.bare))
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
	else
		disco_info(sh, st, false);
}

static void any_disco_items(struct shard *sh, struct session *own, struct stanza *st)
{
	(void)own;
	if (!is_get(st))
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, NULL);
	else
		disco_items(sh, st);
}

static void ping(struct shard *sh, struct session *own, struct stanza *st)
{
	(void)own;
	if (!is_get(st))
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, NULL);
	else
		im_result(sh, st);
}

static void version(struct shard *sh, struct session *own, struct stanza *st)
{
	(void)own;
	if (!sh->srv->cfg->im.version_reply) {
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
		return;
	}
	if (!is_get(st)) {
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_NOT_ALLOWED, NULL);
		return;
	}
	struct stanza *r = stanza_iq_result(st);
	struct xml_node *q = xml_node_add(r->arena, r->el, XML_NS_VERSION, "query");
	xml_node_add_text(r->arena, xml_node_add(r->arena, q, XML_NS_VERSION, "name"), "Parley", 6);
	xml_node_add_text(r->arena, xml_node_add(r->arena, q, XML_NS_VERSION, "version"), version_string,
			  strlen(version_string));
	stanza_free(st);
	im_reply(sh, r);
}

static void roster(struct shard *sh, struct session *own, struct stanza *st)
{
	roster_iq(sh, own, st);
}

/* ---- tables ---- */

static const char *const ns_disco_info = XML_NS_DISCO_INFO;
static const char *const ns_disco_items = XML_NS_DISCO_ITEMS;
static const char *const ns_ping = XML_NS_PING;
static const char *const ns_version = XML_NS_VERSION;
static const char *const ns_roster = XML_NS_ROSTER;
static const char *const ns_vcard = XML_NS_VCARD;
static const char *const ns_private = XML_NS_PRIVATE;
static const char *const ns_blocking = XML_NS_BLOCKING;

static const struct iq_handler server_handlers[] = {
	{&ns_disco_info, "query", false, server_disco_info},
	{&ns_disco_items, "query", false, any_disco_items},
	{&ns_ping, "ping", false, ping},
	{&ns_version, "query", false, version},
	{NULL, NULL, false, NULL},
};

static const struct iq_handler account_handlers[] = {
	{&ns_roster, "query", true, roster},
	{&ns_vcard, "vCard", false, vcard_iq},
	{&ns_private, "query", true, private_iq},
	{&ns_blocking, "blocklist", true, blocking_iq},
	{&ns_blocking, "block", true, blocking_iq},
	{&ns_blocking, "unblock", true, blocking_iq},
	{&ns_disco_info, "query", false, account_disco_info},
	{&ns_disco_items, "query", false, any_disco_items},
	{&ns_ping, "ping", false, ping},
	{NULL, NULL, false, NULL},
};

static void dispatch(struct shard *sh, struct session *own, struct stanza *st, const struct iq_handler *table)
{
	if (!stanza_is_request(st)) {
		stanza_free(st); /* a result or error for the server: nothing waits */
		return;
	}
	struct xml_node *q = xml_node_first_element(st->el);
	for (const struct iq_handler *h = table; q && h->fn; h++) {
		if (q->ns != *h->ns || strcmp(q->name, h->name) != 0)
			continue;
		if (h->own_only && !own) {
			im_error(sh, st, ETYPE_AUTH, STANZA_ERR_FORBIDDEN, "only the account itself may do this");
			return;
		}
		h->fn(sh, own, st);
		return;
	}
	im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

void iq_server(struct shard *sh, struct stanza *st)
{
	if (st->to.resource) {
		/* No resources on the server itself. */
		if (stanza_is_request(st))
			im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
		else
			stanza_free(st);
		return;
	}
	dispatch(sh, NULL, st, server_handlers);
}

void iq_account(struct shard *sh, struct session *own, struct stanza *st)
{
	dispatch(sh, own, st, account_handlers);
}
