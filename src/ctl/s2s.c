/*
 * s2s: `parleyctl s2s status|report|close`, the federation commands that
 * ask the running server.  Unlike the other commands they do not work on
 * the files: they send one request over the control socket (admin/admin.h,
 * beside the database) and print the answer, as a table or as lines, or
 * raw with --json.  Without a running server there is nothing to ask.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "core/buf.h"
#include "core/config.h"
#include "ctl/ctl.h"

enum {
	RESPONSE_MAX = 16 * 1024 * 1024,
	RESPONSE_WAIT_MS = 15000, /* longer than the server's own timeout */
};

/* ---- Talking to the server ---- */

/* Connects to the control socket; -1 after printing why (the exit code
 * is CTL_FAIL: the server is not there to ask). */
static int s2s_connect(const char *path, bool quiet)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		ctl_error("the control socket path %s is too long for a UNIX socket", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ctl_error("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	int e = errno;
	close(fd);
	if (quiet && (e == ENOENT || e == ECONNREFUSED))
		return -1;
	if (e == ENOENT)
		ctl_error("parleyd is not running (no socket at %s)", path);
	else if (e == ECONNREFUSED)
		ctl_error("parleyd is not running (nothing answers on %s)", path);
	else if (e == EACCES || e == EPERM)
		ctl_error("cannot connect to %s: %s; run parleyctl as the user parleyd runs as", path, strerror(e));
	else
		ctl_error("cannot connect to %s: %s", path, strerror(e));
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends `req` and reads the one response line; the response object, or
 * NULL after printing why. */
static json_t *s2s_ask(const char *path, json_t *req, bool quiet)
{
	int fd = s2s_connect(path, quiet);
	if (fd < 0)
		return NULL;
	char *text = json_dumps(req, JSON_COMPACT);
	struct buf b = BUF_INIT;
	buf_append_str(&b, text);
	buf_append_char(&b, '\n');
	free(text);
	json_t *resp = NULL;
	for (size_t off = 0; off < b.len;) {
		ssize_t n = send(fd, b.data + off, b.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ctl_error("cannot send the request to %s: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	buf_reset(&b);
	long long deadline = now_ms() + RESPONSE_WAIT_MS;
	char *nl = NULL;
	while (!nl) {
		long long left = deadline - now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			ctl_error("parleyd did not answer within %d s", RESPONSE_WAIT_MS / 1000);
			goto out;
		}
		if (b.len >= RESPONSE_MAX) {
			ctl_error("the answer of parleyd is longer than %d bytes", RESPONSE_MAX);
			goto out;
		}
		buf_reserve(&b, 64 * 1024);
		ssize_t n = r < 0 ? -1 : read(fd, b.data + b.len, b.cap - b.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ctl_error("parleyd closed the connection without an answer%s%s", n < 0 ? ": " : "",
				  n < 0 ? strerror(errno) : "");
			goto out;
		}
		nl = memchr(b.data + b.len, '\n', (size_t)n);
		b.len += (size_t)n;
	}
	json_error_t jerr;
	resp = json_loadb(b.data, (size_t)(nl - b.data), 0, &jerr);
	if (!json_is_object(resp)) {
		ctl_error("parleyd's answer is not a JSON object: %s", resp ? "" : jerr.text);
		json_decref(resp);
		resp = NULL;
	}
out:
	buf_clear(&b);
	close(fd);
	return resp;
}

json_t *ctl_admin_ask(const struct config *cfg, json_t *req)
{
	char *path = admin_socket_path(cfg);
	json_t *resp = s2s_ask(path, req, true);
	free(path);
	return resp;
}

/* ---- Printing ---- */

/* A scalar as text in `out` (empty, null and absent print as "-"). */
static const char *scalar(const json_t *v, char *out, size_t n)
{
	if (json_is_string(v) && json_string_length(v) > 0)
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, n, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(out, n, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(out, n, "-");
	return out;
}

static const char *age(const json_t *v, char *out, size_t n)
{
	if (!json_is_integer(v))
		return scalar(v, out, n);
	long long s = (long long)json_integer_value(v);
	if (s < 120)
		snprintf(out, n, "%llds", s);
	else if (s < 2 * 3600)
		snprintf(out, n, "%lldm", s / 60);
	else if (s < 2 * 86400)
		snprintf(out, n, "%lldh", s / 3600);
	else
		snprintf(out, n, "%lldd", s / 86400);
	return out;
}

struct column {
	const char *title;
	const char *key; /* in each link object (s2s/admin.c) */
	const char *(*format)(const json_t *v, char *out, size_t n);
};

static const struct column link_columns[] = {
	{"DIR", "direction", scalar},      {"LOCAL", "local", scalar},
	{"REMOTE", "remote", scalar},      {"METHOD", "method", scalar},
	{"TLS", "tls_version", scalar},    {"CIPHER", "tls_cipher", scalar},
	{"CERT SUBJECT", "cert_subject", scalar}, {"VERIFIED", "cert_verified", scalar},
	{"QUEUED", "queued", scalar},      {"IN", "bytes_in", scalar},
	{"OUT", "bytes_out", scalar},      {"AGE", "age_s", age},
};

enum { NCOLS = sizeof(link_columns) / sizeof(link_columns[0]), CELL = 256 };

static void print_row(const char *cells[NCOLS], const size_t width[NCOLS])
{
	for (size_t k = 0; k + 1 < NCOLS; k++)
		printf("%-*s  ", (int)width[k], cells[k]);
	printf("%s\n", cells[NCOLS - 1]);
}

static void print_links(const json_t *result)
{
	const json_t *links = json_object_get(result, "links");
	size_t n = json_array_size(links);
	size_t width[NCOLS];
	char(*cells)[NCOLS][CELL] = calloc(n ? n : 1, sizeof(*cells));
	const char *title[NCOLS];
	for (size_t k = 0; k < NCOLS; k++) {
		title[k] = link_columns[k].title;
		width[k] = strlen(title[k]);
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *link = json_array_get(links, i);
		for (size_t k = 0; k < NCOLS; k++) {
			char tmp[CELL];
			const char *s = link_columns[k].format(json_object_get(link, link_columns[k].key), tmp, sizeof(tmp));
			snprintf(cells[i][k], CELL, "%s", s);
			size_t w = strlen(cells[i][k]);
			if (w > width[k])
				width[k] = w;
		}
	}
	print_row(title, width);
	for (size_t i = 0; i < n; i++) {
		const char *row[NCOLS];
		for (size_t k = 0; k < NCOLS; k++)
			row[k] = cells[i][k];
		print_row(row, width);
	}
	if (n == 0)
		printf("(no server-to-server streams)\n");
	free(cells);
}

/* An object as "key: value" lines, nested values indented below their key. */
static void print_value(const char *key, const json_t *v, int depth)
{
	char tmp[64];
	if (json_is_object(v)) {
		if (key)
			printf("%*s%s:\n", depth * 2, "", key);
		const char *k;
		json_t *x;
		json_object_foreach ((json_t *)v, k, x)
			print_value(k, x, depth + (key != NULL));
	} else if (json_is_array(v)) {
		printf("%*s%s:%s\n", depth * 2, "", key ? key : "-", json_array_size(v) ? "" : " (none)");
		size_t i;
		json_t *x;
		json_array_foreach ((json_t *)v, i, x) {
			if (json_is_object(x)) {
				printf("%*s-\n", (depth + 1) * 2, "");
				print_value(NULL, x, depth + 2);
			} else {
				printf("%*s- %s\n", (depth + 1) * 2, "", scalar(x, tmp, sizeof(tmp)));
			}
		}
	} else {
		printf("%*s%s: %s\n", depth * 2, "", key ? key : "-", scalar(v, tmp, sizeof(tmp)));
	}
}

static void print_report(const json_t *result)
{
	const json_t *reports = json_object_get(result, "reports");
	const char *domain = json_string_value(json_object_get(result, "domain"));
	if (json_array_size(reports) == 0) {
		printf("%s: no report (no stream or attempt with it since the server started)\n", domain);
		return;
	}
	size_t i;
	json_t *r;
	json_array_foreach ((json_t *)reports, i, r) {
		if (i)
			putchar('\n');
		print_value(NULL, r, 0);
	}
}

static void print_close(const json_t *result)
{
	long long n = (long long)json_integer_value(json_object_get(result, "closed"));
	printf("closed %lld stream%s with %s\n", n, n == 1 ? "" : "s",
	       json_string_value(json_object_get(result, "domain")));
}

/* ---- The command ---- */

struct s2s_command {
	const char *name;
	const char *op;
	bool domain; /* takes DOMAIN */
	void (*print)(const json_t *result);
};

static const struct s2s_command s2s_commands[] = {
	{.name = "status", .op = "s2s.status", .print = print_links},
	{.name = "report", .op = "s2s.report", .domain = true, .print = print_report},
	{.name = "close", .op = "s2s.close", .domain = true, .print = print_close},
};

static int s2s_usage(void)
{
	fprintf(stderr, "usage: parleyctl [-c FILE] s2s status [--json]\n"
			"       parleyctl [-c FILE] s2s report DOMAIN [--json]\n"
			"       parleyctl [-c FILE] s2s close DOMAIN [--json]\n");
	return CTL_USAGE;
}

int ctl_s2s(struct ctl *c, int argc, char **argv)
{
	bool raw = false;
	const char *args[3];
	int nargs = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			raw = true;
		else if (argv[i][0] == '-' || nargs == 2)
			return s2s_usage();
		else
			args[nargs++] = argv[i];
	}
	const struct s2s_command *cmd = NULL;
	for (size_t k = 0; nargs > 0 && k < sizeof(s2s_commands) / sizeof(s2s_commands[0]); k++)
		if (!strcmp(args[0], s2s_commands[k].name))
			cmd = &s2s_commands[k];
	if (!cmd || nargs != 1 + cmd->domain)
		return s2s_usage();
	const struct config *cfg = ctl_config(c);
	if (!cfg)
		return CTL_USAGE;
	json_t *domain = cmd->domain ? json_string(args[1]) : NULL;
	if (cmd->domain && !domain) {
		ctl_error("DOMAIN must be UTF-8");
		return CTL_USAGE;
	}
	json_t *req = json_pack("{s:s}", "op", cmd->op);
	if (domain)
		json_object_set_new(req, "domain", domain);
	char *path = admin_socket_path(cfg);
	json_t *resp = s2s_ask(path, req, false);
	free(path);
	json_decref(req);
	if (!resp)
		return CTL_FAIL;
	int rc = CTL_OK;
	const json_t *result = json_object_get(resp, "result");
	if (!json_is_true(json_object_get(resp, "ok"))) {
		const char *e = json_string_value(json_object_get(resp, "error"));
		ctl_error("%s", e ? e : "the server refused the request");
		rc = CTL_FAIL;
	} else if (raw) {
		char *text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
		printf("%s\n", text);
		free(text);
	} else {
		cmd->print(result);
	}
	json_decref(resp);
	return rc;
}
