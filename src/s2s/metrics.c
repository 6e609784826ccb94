/*
 * s2s metrics: what a scrape counts of this worker's server-to-server
 * streams (core/metrics.h): connections by direction, and links by
 * direction, state and authentication method.  The links are read from
 * s2s_admin_links, the enumeration `parleyctl s2s status` shows, so the
 * two never disagree; its strings are mapped onto the metric labels here,
 * in one place.  On the worker's thread, at scrape time only.
 */
#include <jansson.h>
#include <string.h>

#include "core/metrics.h"
#include "router/shard.h"
#include "s2s/internal.h"
#include "s2s/s2s.h"

static enum metric_link_dir link_dir(const char *direction)
{
	if (!strcmp(direction, "in"))
		return METRIC_LINK_IN;
	if (!strcmp(direction, "out"))
		return METRIC_LINK_OUT;
	return METRIC_LINK_VERIFY; /* "out (verification)": dialback keys, checks */
}

/* "EXTERNAL", "dialback", "dialback (pending)", "dialback (piggybacked)",
 * "none". */
static enum metric_link_auth link_auth(const char *method)
{
	if (!strcmp(method, "EXTERNAL"))
		return METRIC_LINK_AUTH_EXTERNAL;
	if (!strncmp(method, "dialback", 8))
		return METRIC_LINK_AUTH_DIALBACK;
	return METRIC_LINK_AUTH_NONE;
}

/* A link is ready when its stream is and the pair is authenticated; an
 * outgoing stream still resolving or connecting (steps "DNS", "connect")
 * is connecting; everything else is negotiating. */
static enum metric_link_state link_state(const char *state, const char *method)
{
	if (!strcmp(state, "ready"))
		return link_auth(method) != METRIC_LINK_AUTH_NONE && !strstr(method, "pending") ? METRIC_LINK_READY
												  : METRIC_LINK_NEGOTIATING;
	if (!strcmp(state, "DNS") || !strcmp(state, "connect"))
		return METRIC_LINK_CONNECTING;
	return METRIC_LINK_NEGOTIATING;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void s2s_metrics(struct shard *sh, struct metrics_sample *out)
{
	list_for_each(pos, &sh->s2s_streams)
		if (list_entry(pos, struct s2s_in, link)->xs.conn)
			out->conns[METRIC_CONN_S2S_IN]++;
	out->conns[METRIC_CONN_S2S_OUT] += s2s_out_count(sh);

	json_t *links = json_array();
	s2s_admin_links(sh, links);
	size_t i;
	json_t *o;
	json_array_foreach (links, i, o) {
		const char *method = str(o, "method");
		out->links[link_dir(str(o, "direction"))][link_state(str(o, "state"), method)][link_auth(method)]++;
		json_int_t queued = json_integer_value(json_object_get(o, "queued"));
		out->s2s_queued += queued > 0 ? (uint64_t)queued : 0;
	}
	json_decref(links);
}
