/*
 * private: private XML storage (XEP-0049): one document per namespace and
 * element name, readable and writable by the account alone.
 */
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

void private_iq(struct shard *sh, struct session *own, struct stanza *st)
{
	struct arena *a = st->arena;
	struct xml_node *q = xml_node_first_element(st->el);
	struct xml_node *doc = xml_node_first_element(q);
	if (!doc || xml_node_next(doc, NULL, NULL)) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_BAD_REQUEST, "exactly one element inside the query");
		return;
	}
	if (!*doc->ns || doc->ns == XML_NS_PRIVATE || doc->ns == XML_NS_CLIENT || doc->ns == XML_NS_SERVER) {
		im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_NOT_ACCEPTABLE, "this namespace cannot be stored");
		return;
	}
	const char *key = arena_printf(a, "%s %s", doc->ns, doc->name);
	if (st->type == STANZA_TYPE_SET) {
		struct buf b = BUF_INIT;
		xml_serialize(&b, doc, XML_NS_CLIENT);
		int r = store_doc_put(sh->store, own->jid->bare, "private", key, b.data, b.len,
				      sh->srv->cfg->im.private_bytes);
		buf_clear(&b);
		if (r == STORE_FULL)
			im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_NOT_ACCEPTABLE, "larger than this server accepts (im.private_bytes)");
		else if (r != STORE_OK)
			im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
		else
			im_result(sh, st);
		return;
	}
	struct stanza *r = stanza_iq_result(st);
	struct xml_node *rq = xml_node_add(r->arena, r->el, XML_NS_PRIVATE, "query");
	const char *xml;
	size_t len;
	struct xml_node *stored = NULL;
	int got = store_doc_get(sh->store, r->arena, own->jid->bare, "private", key, &xml, &len);
	if (got == STORE_OK)
		stored = xml_parse_fragment(r->arena, xml, len);
	if (got == STORE_ERROR)
		log_error("im", "cannot read private data of %s: %s", own->jid->bare, store_error(sh->store));
	if (stored)
		xml_node_append(rq, stored);
	else
		xml_node_add(r->arena, rq, doc->ns, doc->name);
	stanza_free(st);
	im_reply(sh, r);
}
