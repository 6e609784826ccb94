/*
 * page: the web admin page, compiled into the binary from web/admin/
 * (scripts/embed.py, at build time): /admin/ and its script and style
 * sheet.  The HTML goes out with http/'s Content-Security-Policy (no
 * inline script or style, nothing from another origin), which the page
 * is written for.  Nothing is read from disk, so no path here can name a
 * file.  The files are not cached by the browser (Cache-Control:
 * no-store): an upgraded server serves its own page at once.
 */
#include "adminapi/internal.h"

#include <string.h>

void aa_page_redirect(struct http_request *req)
{
	http_response_header(req, "Location", "/admin/");
	http_respond_text(req, 301, "the admin page is at /admin/");
}

void aa_page_asset(struct http_request *req)
{
	const char *path = http_request_path(req);
	for (size_t i = 0; i < aa_nassets; i++) {
		const struct aa_asset *a = &aa_assets[i];
		if (strcmp(a->path, path) == 0) {
			http_respond(req, 200, a->content_type, a->data, a->len, a->html ? HTTP_RESP_HTML : 0);
			return;
		}
	}
	http_respond_json_error(req, 404, "no such file of the admin page");
}
