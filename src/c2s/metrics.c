/*
 * c2s metrics: what a scrape counts of this worker's client streams
 * (core/metrics.h), connections by how they are secured.  Counted when
 * read, on the worker's thread, so that a stream moving to its account's
 * worker after SASL is never counted twice or lost from a gauge.
 */
#include "c2s/c2s.h"
#include "c2s/internal.h"
#include "core/conn.h"
#include "core/metrics.h"

void c2s_metrics(struct shard *sh, struct metrics_sample *out)
{
	list_for_each(pos, &sh->streams)
	{
		const struct c2s_stream *s = list_entry(pos, struct c2s_stream, link);
		/* A web transport's stream counts as TLS from its first
		 * byte when it has TLS (wss), as on the direct-TLS port. */
		bool tls = s->xs.conn && conn_transport(s->xs.conn);
		enum metric_conn k = s->direct_tls || (s->framing && tls) ? METRIC_CONN_C2S_TLS
				     : tls			      ? METRIC_CONN_C2S_STARTTLS
								      : METRIC_CONN_C2S_TCP;
		out->conns[k]++;
	}
}
