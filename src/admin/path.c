/*
 * path: where the control socket lives.  No setting names it: it sits
 * beside the database, as the dialback secret does, so the server and
 * parleyctl find it from the same configuration.
 */
#include "admin/admin.h"

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"

char *admin_socket_path(const struct config *cfg)
{
	const char *slash = strrchr(cfg->database, '/');
	struct buf b = BUF_INIT;
	if (slash)
		buf_append(&b, cfg->database, (size_t)(slash - cfg->database) + 1);
	buf_append_str(&b, "parleyd.sock");
	return buf_steal(&b);
}
