/*
 * vcard: vCard-temp (XEP-0054).  The account's vCard is stored as the
 * serialised <vCard/> element; anyone may read it, only the account may
 * change it.
 */
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "im/internal.h"
#include "xml/xml.h"

void vcard_iq(struct shard *sh, struct session *own, struct stanza *st)
{
	struct xml_node *v = xml_node_first_element(st->el);
	if (st->type == STANZA_TYPE_SET) {
		if (!own) {
			im_error(sh, st, ETYPE_AUTH, STANZA_ERR_FORBIDDEN, "only the account itself may change its vCard");
			return;
		}
		struct buf b = BUF_INIT;
		xml_serialize(&b, v, XML_NS_CLIENT);
		int r = store_doc_put(sh->store, own->jid->bare, "vcard", "", b.data, b.len, sh->srv->cfg->im.vcard_bytes);
		buf_clear(&b);
		if (r == STORE_FULL)
			im_error(sh, st, ETYPE_MODIFY, STANZA_ERR_NOT_ACCEPTABLE, "the vCard is larger than this server accepts (im.vcard_bytes)");
		else if (r != STORE_OK)
			im_error(sh, st, ETYPE_WAIT, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
		else
			im_result(sh, st);
		return;
	}
	const char *owner = st->to.bare;
	if (!own && !im_account_exists(sh, owner)) {
		im_error(sh, st, ETYPE_CANCEL, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
		return;
	}
	struct stanza *r = stanza_iq_result(st);
	const char *xml;
	size_t len;
	struct xml_node *card = NULL;
	int got = store_doc_get(sh->store, r->arena, owner, "vcard", "", &xml, &len);
	if (got == STORE_OK)
		card = xml_parse_fragment(r->arena, xml, len);
	if (got == STORE_ERROR)
		log_error("im", "cannot read the vCard of %s: %s", owner, store_error(sh->store));
	if (card)
		xml_node_append(r->el, card);
	else
		xml_node_add(r->arena, r->el, XML_NS_VCARD, "vCard");
	stanza_free(st);
	im_reply(sh, r);
}
