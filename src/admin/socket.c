/*
 * socket: the local control socket, a transport for the admin operations
 * (admin/ops.c).  A UNIX stream socket beside the database, mode 0600,
 * served on the main loop: only the server's user (or root) may connect,
 * checked again with SO_PEERCRED.  One JSON request per line, one JSON
 * response line per request, in order; a client waits for each answer
 * before its next request is read.  Lines are bounded
 * (ADMIN_REQUEST_MAX), so are connections and their idle time.
 *
 * It is not a general RPC layer: it frames lines and writes answers, and
 * everything it answers comes from admin_request().
 *
 * The socket is a service (router/service.h) with only a process-wide
 * setup and teardown; the service hooks carry no state of their own, so
 * its one instance is kept here.
 */
#include "admin/internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "router/service.h"
#include "router/shard.h"

enum {
	CLIENTS_MAX = 16,      /* connections at once */
	CLIENT_IDLE_MS = 30000, /* without a complete request */
	BACKLOG = 16,
	READ_CHUNK = 16 * 1024,
};

struct admin_socket {
	struct admin *admin;
	char *path;
	uv_pipe_t pipe;
	dev_t dev; /* of the file we bound: removed at teardown only if */
	ino_t ino; /* nobody replaced it meanwhile */
	struct list clients;
	unsigned nclients;
};

/* Owned by its socket's list; freed by the close callback of its last
 * handle, or by the teardown when the loop's final walk closed them. */
struct admin_client {
	uv_pipe_t pipe;
	uv_timer_t idle;
	uv_shutdown_t shutdown;
	struct admin_socket *s;
	struct list link;
	struct buf in;
	struct admin_call *call; /* the request being answered */
	unsigned handles;        /* open handles, for the close callbacks */
	bool reading, eof, dispatching, ending, closing;
};

struct admin_write {
	uv_write_t req;
	char data[];
};

static struct admin_socket *admin_sock;

/* ---- Framing ---- */

enum admin_frame admin_frame(const char *data, size_t len, size_t max, size_t *line_len)
{
	if (len == 0)
		return ADMIN_FRAME_MORE;
	size_t scan = len < max + 1 ? len : max + 1;
	const char *nl = memchr(data, '\n', scan);
	if (nl) {
		*line_len = (size_t)(nl - data);
		return ADMIN_FRAME_LINE;
	}
	return len > max ? ADMIN_FRAME_TOO_LONG : ADMIN_FRAME_MORE;
}

static bool blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* ---- Clients ---- */

static void client_work(struct admin_client *c);

static void client_closed(uv_handle_t *h)
{
	struct admin_client *c = h->data;
	if (--c->handles > 0)
		return;
	list_remove(&c->link);
	c->s->nclients--;
	buf_clear(&c->in);
	free(c);
}

static void client_close(struct admin_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->call) {
		admin_call_cancel(c->call);
		c->call = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&c->idle))
		uv_close((uv_handle_t *)&c->idle, client_closed);
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void client_shutdown_cb(uv_shutdown_t *req, int status)
{
	client_close(req->data);
}

/* Ends the connection once what was written has gone. */
static void client_end(struct admin_client *c)
{
	if (c->ending || c->closing)
		return;
	c->ending = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->idle);
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, client_shutdown_cb) != 0)
		client_close(c);
}

static void client_write_cb(uv_write_t *req, int status)
{
	struct admin_client *c = req->data;
	free(req);
	if (status < 0)
		client_close(c);
}

static void client_send(struct admin_client *c, json_t *response)
{
	if (c->closing || c->ending)
		return;
	char *text = json_dumps(response, JSON_COMPACT);
	if (!text)
		log_fatal("admin", "cannot serialise a response");
	size_t len = strlen(text);
	struct admin_write *w = xmalloc(sizeof(*w) + len + 1);
	memcpy(w->data, text, len);
	w->data[len] = '\n';
	free(text);
	w->req.data = c;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len + 1);
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, client_write_cb) != 0) {
		free(w);
		client_close(c);
	}
}

static void client_reply(void *arg, json_t *response)
{
	struct admin_client *c = arg;
	client_send(c, response);
	c->call = NULL;
	if (!c->dispatching)
		client_work(c);
}

static void client_idle_cb(uv_timer_t *t)
{
	struct admin_client *c = t->data;
	char text[64];
	snprintf(text, sizeof(text), "no complete request for %d s; closing", CLIENT_IDLE_MS / 1000);
	json_t *r = admin_error_response(text);
	client_send(c, r);
	json_decref(r);
	client_end(c);
}

static void client_dispatch(struct admin_client *c, size_t len)
{
	if (!blank(c->in.data, len)) {
		c->dispatching = true;
		c->call = admin_request(c->s->admin, c->in.data, len, client_reply, c);
		c->dispatching = false;
	}
}

static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
	struct admin_client *c = h->data;
	buf_reserve(&c->in, READ_CHUNK);
	*out = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void client_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct admin_client *c = st->data;
	if (nread > 0) {
		c->in.len += (size_t)nread;
	} else if (nread == UV_EOF) {
		c->eof = true;
	} else if (nread < 0) {
		client_close(c);
		return;
	}
	client_work(c);
}

/* Answers the complete requests buffered, one at a time; reads while
 * nothing is pending. */
static void client_work(struct admin_client *c)
{
	while (!c->call && !c->closing && !c->ending) {
		size_t len;
		enum admin_frame fr = admin_frame(c->in.data, c->in.len, ADMIN_REQUEST_MAX, &len);
		if (fr == ADMIN_FRAME_TOO_LONG) {
			char text[64];
			snprintf(text, sizeof(text), "request longer than %d bytes; closing", ADMIN_REQUEST_MAX);
			json_t *r = admin_error_response(text);
			client_send(c, r);
			json_decref(r);
			client_end(c);
			return;
		}
		if (fr == ADMIN_FRAME_MORE) {
			if (!c->eof)
				break;
			if (c->in.len == 0) {
				client_end(c);
				return;
			}
			/* A last request without its newline. */
			client_dispatch(c, c->in.len);
			buf_reset(&c->in);
			continue;
		}
		uv_timer_again(&c->idle);
		client_dispatch(c, len);
		buf_consume(&c->in, len + 1);
	}
	if (c->closing || c->ending)
		return;
	bool want = !c->call && !c->eof;
	if (want && !c->reading)
		uv_read_start((uv_stream_t *)&c->pipe, client_alloc_cb, client_read_cb);
	else if (!want && c->reading)
		uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = want;
	if (c->call)
		uv_timer_stop(&c->idle);
	else if (!uv_is_active((uv_handle_t *)&c->idle))
		uv_timer_start(&c->idle, client_idle_cb, CLIENT_IDLE_MS, CLIENT_IDLE_MS);
}

/* The peer runs as the server's user or as root. */
static bool client_allowed(struct admin_client *c, uid_t *peer)
{
	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return false;
	*peer = cred.uid;
	return cred.uid == geteuid() || cred.uid == 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct admin_socket *s = server->data;
	if (status < 0) {
		log_warn("admin", "control socket %s: accept failed: %s", s->path, uv_strerror(status));
		return;
	}
	struct admin_client *c = xcalloc(1, sizeof(*c));
	c->s = s;
	list_insert_tail(&s->clients, &c->link);
	s->nclients++;
	uv_pipe_init(server->loop, &c->pipe, 0);
	uv_timer_init(server->loop, &c->idle);
	c->pipe.data = c->idle.data = c;
	c->handles = 2;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	uid_t peer = (uid_t)-1;
	if (!client_allowed(c, &peer)) {
		log_warn("admin", "control socket %s: refused a client running as uid %ld (only uid %ld and root may "
				  "connect)",
			 s->path, (long)peer, (long)geteuid());
		client_close(c);
		return;
	}
	if (s->nclients > CLIENTS_MAX) {
		json_t *r = admin_error_response("too many control connections; try again");
		client_send(c, r);
		json_decref(r);
		client_end(c);
		return;
	}
	client_work(c);
}

/* ---- The socket ---- */

/* A file at `path` left by a server that is gone is removed; one that
 * answers means another server uses this database. */
static int admin_socket_clear(const char *path, char **err)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		*err = xstrdup(strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*err = xstrdup("it exists and is not a socket; remove it");
		return -1;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Non-blocking: a server whose backlog is full must not hang us;
	 * EAGAIN says someone listens as clearly as a connection does. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xstrdup(strerror(errno));
		return -1;
	}
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN) {
		*err = xstrdup("another parleyd answers on it: one already runs with this database; stop it first");
		return -1;
	}
	if (e != ECONNREFUSED) {
		*err = xstrdup(strerror(e));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		*err = xstrdup(strerror(errno));
		return -1;
	}
	log_info("admin", "removed the stale control socket %s", path);
	return 0;
}

static int admin_setup(struct server *srv, char **err)
{
	char *path = admin_socket_path(srv->cfg);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		log_warn("admin", "no control socket: the path %s is longer than %zu bytes; parleyctl s2s cannot "
				  "reach this server (move the database to a shorter path)",
			 path, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		free(path);
		return 0;
	}
	char *why = NULL;
	if (admin_socket_clear(path, &why) != 0) {
		*err = xmalloc(strlen(path) + strlen(why) + 32);
		sprintf(*err, "control socket %s: %s", path, why);
		free(why);
		free(path);
		return -1;
	}
	uv_loop_t *loop = uv_default_loop();
	struct admin_socket *s = xcalloc(1, sizeof(*s));
	s->path = path;
	list_init(&s->clients);
	uv_pipe_init(loop, &s->pipe, 0);
	s->pipe.data = s;
	admin_sock = s;
	/* Never reachable by others, not even between bind and a chmod.
	 * Start-up runs on one thread, so the process-wide umask is ours. */
	mode_t old = umask(0177);
	int rc = uv_pipe_bind(&s->pipe, path);
	umask(old);
	struct stat st;
	const char *step = "bind";
	if (rc == 0) {
		step = "stat";
		rc = stat(path, &st) != 0 ? uv_translate_sys_error(errno) : 0;
	}
	if (rc == 0 && (st.st_mode & 0777) != 0600) {
		step = "chmod 0600";
		rc = chmod(path, 0600) != 0 ? uv_translate_sys_error(errno) : 0;
	}
	if (rc == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		step = "listen";
		rc = uv_listen((uv_stream_t *)&s->pipe, BACKLOG, on_connection);
	}
	if (rc != 0) {
		*err = xmalloc(strlen(path) + 128);
		sprintf(*err, "control socket %s: %s: %s", path, step, uv_strerror(rc));
		return -1; /* the teardown closes and removes what we made */
	}
	s->admin = admin_new(srv, loop);
	log_info("admin", "control socket %s (mode 0600)", path);
	return 0;
}

static void admin_teardown(struct server *srv)
{
	struct admin_socket *s = admin_sock;
	if (!s)
		return;
	admin_sock = NULL;
	/* The loop's last walk closed our handles; when the loop never ran
	 * (start-up failed) they are closed here. */
	bool run = false;
	if (!uv_is_closing((uv_handle_t *)&s->pipe)) {
		uv_close((uv_handle_t *)&s->pipe, NULL);
		run = true;
	}
	list_for_each(pos, &s->clients) {
		struct admin_client *c = container_of(pos, struct admin_client, link);
		c->call = NULL; /* admin_free ends the calls */
		if (!uv_is_closing((uv_handle_t *)&c->pipe)) {
			uv_close((uv_handle_t *)&c->pipe, NULL);
			run = true;
		}
		if (!uv_is_closing((uv_handle_t *)&c->idle)) {
			uv_close((uv_handle_t *)&c->idle, NULL);
			run = true;
		}
	}
	if (run)
		uv_run(s->pipe.loop, UV_RUN_NOWAIT);
	while (!list_empty(&s->clients)) {
		struct admin_client *c = container_of(s->clients.next, struct admin_client, link);
		list_remove(&c->link);
		buf_clear(&c->in);
		free(c);
	}
	admin_free(s->admin);
	struct stat st;
	if (s->ino && stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	free(s);
}

static int admin_listen(struct shard *sh, char **err)
{
	return 0;
}

static void admin_stop(struct shard *sh)
{
}

static void admin_describe(const struct server *srv, struct buf *out)
{
	char *path = admin_socket_path(srv->cfg);
	buf_printf(out, "control socket %s", path);
	free(path);
}

const struct service_ops admin_service = {
	.name = "admin",
	.settings = "database (the control socket lives beside it)",
	.setup = admin_setup,
	.teardown = admin_teardown,
	.listen = admin_listen,
	.stop = admin_stop,
	.describe = admin_describe,
};
