/*
 * group_notify: a group change made by parleyctl reaches a running server
 * at once (issue 10): after the store commits, the server is asked to
 * apply the group's new membership to the accounts online (op
 * group.refresh: roster pushes and presence both ways).  Without a
 * running server there is nobody to tell; the next login reads the store.
 */
#include <stdio.h>

#include "ctl/ctl.h"

void ctl_group_changed(struct ctl *c, const char *group)
{
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return;
	json_t *req = json_pack("{s:s, s:s}", "op", "group.refresh", "group", group);
	json_t *resp = ctl_admin_ask(cfg, req);
	json_t *result = json_object_get(resp, "result");
	json_int_t n = json_integer_value(json_object_get(result, "accounts"));
	if (n > 0)
		printf("applied to %lld online account%s\n", (long long)n, n == 1 ? "" : "s");
	json_decref(req);
	json_decref(resp);
}
