#include "server/services.h"

#include <stddef.h>

#include "core/buf.h"

static size_t table_len(const struct service_ops *const *table)
{
	size_t n = 0;
	while (table[n])
		n++;
	return n;
}

const struct service_ops *services_setup(const struct service_ops *const *table, struct server *srv, char **err)
{
	for (size_t i = 0; table[i]; i++)
		if (table[i]->setup && table[i]->setup(srv, err) != 0)
			return table[i];
	return NULL;
}

void services_teardown(const struct service_ops *const *table, struct server *srv)
{
	for (size_t i = table_len(table); i-- > 0;)
		if (table[i]->teardown)
			table[i]->teardown(srv);
}

void services_reload(const struct service_ops *const *table, struct server *srv)
{
	for (size_t i = 0; table[i]; i++)
		if (table[i]->reload)
			table[i]->reload(srv);
}

const struct service_ops *services_listen(const struct service_ops *const *table, struct shard *sh, char **err)
{
	for (size_t i = 0; table[i]; i++) {
		if (table[i]->listen(sh, err) == 0)
			continue;
		/* A failed listen may have opened some of its listeners. */
		for (size_t j = i + 1; j-- > 0;)
			table[j]->stop(sh);
		return table[i];
	}
	return NULL;
}

void services_stop(const struct service_ops *const *table, struct shard *sh)
{
	for (size_t i = table_len(table); i-- > 0;)
		table[i]->stop(sh);
}

void services_stats(const struct service_ops *const *table, struct shard *sh, struct buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; table[i]; i++) {
		if (!table[i]->stats)
			continue;
		buf_printf(out, "%s%s: ", out->len > start ? "; " : "", table[i]->name);
		table[i]->stats(sh, out);
	}
}

void services_describe(const struct service_ops *const *table, const struct server *srv, struct buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; table[i]; i++) {
		if (!table[i]->describe)
			continue;
		if (out->len > start)
			buf_append_str(out, "; ");
		table[i]->describe(srv, out);
	}
}
