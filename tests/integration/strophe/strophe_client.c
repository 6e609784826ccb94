/*
 * strophe_client: a small XMPP client on libstrophe, driven by the
 * integration tests (tests/integration/test_strophe.py).  It logs in the
 * way libstrophe chooses (STARTTLS, or direct TLS with --direct-tls; SASL
 * mechanism by libstrophe's preference), optionally sends one message,
 * optionally waits for messages, and prints what happened one event per
 * line on stdout so pytest can parse it:
 *
 *   mechanisms list=<A,B,...>            (each SASL mechanism list offered)
 *   connected jid=<bound full JID> secured=<0|1>
 *   ready                               (initial presence sent and processed)
 *   sent to=<JID> id=<id>
 *   message from=<JID> type=<type> body=<body>
 *   auth-failed mechanism=<name>        (each <failure/> libstrophe saw)
 *   sasl-failure condition=<name>       (the condition of that <failure/>)
 *   tls-error reason=<OpenSSL reason>   (e.g. a TLS alert from the server)
 *   stream-error condition=<name> text=<text>
 *   disconnected error=<errno>
 *   timeout
 *
 * With --cert (and --key, unless the file is PKCS#12) libstrophe presents
 * a client certificate and, when the server offers SASL EXTERNAL, uses it
 * before any password mechanism.  libstrophe decides the authzid itself:
 * empty ("=") when the certificate has no xmppAddr or exactly one equal to
 * --jid, else --jid (with --resource, the full JID, which no server
 * accepts as an authzid).  Without --password, EXTERNAL is the only mechanism
 * libstrophe can try, so a refusal ends the login (exit 3).
 *
 * With --defaults the connection keeps libstrophe's default flags (0:
 * STARTTLS whenever the server offers it, stream management when offered),
 * as an application that sets nothing would; only --direct-tls still adds
 * XMPP_CONN_FLAG_LEGACY_SSL, which is how libstrophe is told that a port
 * speaks TLS at once.  Without it the client insists on TLS
 * (XMPP_CONN_FLAG_MANDATORY_TLS) and leaves stream management off, as the
 * older tests expect.  Certificates are always verified, against --cafile
 * (there is no option to turn verification off).
 *
 * It is not a general client: no roster, no reconnects, one account.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

enum exit_code {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_CONN = 2,    /* no session: connection or TLS failed, or a stream error */
	EXIT_AUTH = 3,    /* no session: SASL failed with every mechanism tried */
	EXIT_TIMEOUT = 4, /* logged in, but a waited-for message did not come */
};

struct opts {
	const char *jid, *password, *host, *cafile, *resource;
	const char *cert, *key; /* client certificate (PEM, or PKCS#12 without key) */
	const char *cert_password; /* of a PKCS#12 file */
	unsigned short port;
	bool direct_tls;
	bool defaults;         /* libstrophe's default connection flags */
	const char *send_to, *body;
	int wait_messages;     /* messages to wait for after login */
	bool echo;             /* answer each received message */
	double timeout;        /* seconds for everything */
	bool verbose;
};

struct state {
	struct opts o;
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn;
	bool connected, disconnected, auth_failed, done;
	int received;
	int exit_code;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Keeps a value on one output line. */
static void one_line(char *s)
{
	for (; s && *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* "mechanisms list=..." from the text of a received <stream:features/>. */
static void print_mechanisms(const char *msg)
{
	char list[512] = "";
	size_t used = 0;
	const char *p = msg;
	while ((p = strstr(p, "<mechanism>")) != NULL) {
		p += strlen("<mechanism>");
		const char *e = strstr(p, "</mechanism>");
		if (!e)
			break;
		int w = snprintf(list + used, sizeof(list) - used, "%s%.*s", used ? "," : "", (int)(e - p), p);
		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
		p = e;
	}
	out("mechanisms list=%s", list);
}

/* "sasl-failure condition=..." from the text of a received SASL <failure/>:
 * the name of its first child element. */
static void print_sasl_failure(const char *msg)
{
	const char *p = strstr(msg, "<failure");
	p = p ? strchr(p, '>') : NULL;
	char cond[64] = "?";
	if (p && p[-1] != '/' && p[1] == '<')
		sscanf(p + 2, "%63[a-z-]", cond);
	out("sasl-failure condition=%s", cond);
}

/*
 * libstrophe reports each SASL <failure/> only as a debug line and then
 * tries its next mechanism; the logger is where the tests learn of it, of
 * the mechanisms offered (from the received features) and of TLS errors
 * (OpenSSL's queue, which libstrophe logs as "error:CODE:LIB:FUNC:REASON").
 */
static void logger(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
	struct state *st = ud;
	const char *p = strstr(msg, "SASL ");
	if (p && strstr(msg, " auth failed")) {
		char mech[64] = "?";
		sscanf(p + 5, "%63s", mech);
		out("auth-failed mechanism=%s", mech);
		st->auth_failed = true;
	} else if (strstr(msg, "Cannot authenticate with known methods") ||
		   strstr(msg, "Password hasn't been set")) {
		/* The second: nothing left to try without a password. */
		st->auth_failed = true;
	}
	if (!strncmp(msg, "RECV: ", 6)) {
		/* libstrophe prints the features as <features xmlns=...>. */
		if (strstr(msg, "features") && strstr(msg, "<mechanisms"))
			print_mechanisms(msg);
		else if (strstr(msg, "<failure") && strstr(msg, "urn:ietf:params:xml:ns:xmpp-sasl"))
			print_sasl_failure(msg);
	}
	if (!strcmp(area, "tls") && !strncmp(msg, "error:", 6)) {
		const char *reason = strrchr(msg, ':');
		out("tls-error reason=%s", reason ? reason + 1 : msg);
	}
	if (st->o.verbose)
		fprintf(stderr, "strophe %d %s: %s\n", (int)level, area, msg);
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
	struct state *st = ud;
	xmpp_stanza_t *b = xmpp_stanza_get_child_by_name(stanza, "body");
	if (!b)
		return 1;
	char *body = xmpp_stanza_get_text(b);
	const char *from = xmpp_stanza_get_from(stanza);
	const char *type = xmpp_stanza_get_type(stanza);
	one_line(body);
	out("message from=%s type=%s body=%s", from ? from : "", type ? type : "normal", body ? body : "");
	if (st->o.echo && from) {
		char text[1024];
		snprintf(text, sizeof(text), "echo: %s", body ? body : "");
		xmpp_stanza_t *r = xmpp_message_new(st->ctx, "chat", from, NULL);
		xmpp_message_set_body(r, text);
		xmpp_send(conn, r);
		out("sent to=%s id=%s", from, xmpp_stanza_get_id(r) ? xmpp_stanza_get_id(r) : "");
		xmpp_stanza_release(r);
	}
	xmpp_free(st->ctx, body);
	if (st->o.wait_messages > 0 && ++st->received >= st->o.wait_messages)
		st->done = true;
	return 1;
}

/* The answer to the ping sent after the initial presence. */
static int on_ready(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
	struct state *st = ud;
	out("ready");
	if (st->o.send_to) {
		xmpp_stanza_t *m = xmpp_message_new(st->ctx, "chat", st->o.send_to, NULL);
		xmpp_message_set_body(m, st->o.body ? st->o.body : "hello");
		xmpp_send(conn, m);
		out("sent to=%s id=%s", st->o.send_to, xmpp_stanza_get_id(m) ? xmpp_stanza_get_id(m) : "");
		xmpp_stanza_release(m);
	}
	if (st->o.wait_messages == 0)
		st->done = true;
	return 0;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error, xmpp_stream_error_t *se, void *ud)
{
	struct state *st = ud;
	if (se) {
		static const char *const names[] = {
			[XMPP_SE_BAD_FORMAT] = "bad-format",
			[XMPP_SE_BAD_NS_PREFIX] = "bad-namespace-prefix",
			[XMPP_SE_CONFLICT] = "conflict",
			[XMPP_SE_CONN_TIMEOUT] = "connection-timeout",
			[XMPP_SE_HOST_GONE] = "host-gone",
			[XMPP_SE_HOST_UNKNOWN] = "host-unknown",
			[XMPP_SE_IMPROPER_ADDR] = "improper-addressing",
			[XMPP_SE_INTERNAL_SERVER_ERROR] = "internal-server-error",
			[XMPP_SE_INVALID_FROM] = "invalid-from",
			[XMPP_SE_INVALID_ID] = "invalid-id",
			[XMPP_SE_INVALID_NS] = "invalid-namespace",
			[XMPP_SE_INVALID_XML] = "invalid-xml",
			[XMPP_SE_NOT_AUTHORIZED] = "not-authorized",
			[XMPP_SE_POLICY_VIOLATION] = "policy-violation",
			[XMPP_SE_REMOTE_CONN_FAILED] = "remote-connection-failed",
			[XMPP_SE_RESOURCE_CONSTRAINT] = "resource-constraint",
			[XMPP_SE_RESTRICTED_XML] = "restricted-xml",
			[XMPP_SE_SEE_OTHER_HOST] = "see-other-host",
			[XMPP_SE_SYSTEM_SHUTDOWN] = "system-shutdown",
			[XMPP_SE_UNDEFINED_CONDITION] = "undefined-condition",
			[XMPP_SE_UNSUPPORTED_ENCODING] = "unsupported-encoding",
			[XMPP_SE_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
			[XMPP_SE_UNSUPPORTED_VERSION] = "unsupported-version",
			[XMPP_SE_XML_NOT_WELL_FORMED] = "not-well-formed",
		};
		const char *name = (unsigned)se->type < sizeof(names) / sizeof(names[0]) && names[se->type]
					   ? names[se->type]
					   : "?";
		char *text = se->text ? strdup(se->text) : NULL;
		one_line(text);
		out("stream-error condition=%s text=%s", name, text ? text : "");
		free(text);
	}
	if (ev == XMPP_CONN_CONNECT) {
		st->connected = true;
		out("connected jid=%s secured=%d", xmpp_conn_get_bound_jid(conn), xmpp_conn_is_secured(conn));
		xmpp_handler_add(conn, on_message, NULL, "message", NULL, st);
		xmpp_stanza_t *pres = xmpp_presence_new(st->ctx);
		xmpp_send(conn, pres);
		xmpp_stanza_release(pres);
		/* The server handles a stream's stanzas in order: once the ping
		 * is answered, the presence is known to the server. */
		xmpp_stanza_t *ping = xmpp_iq_new(st->ctx, "get", "ready-ping");
		xmpp_stanza_t *q = xmpp_stanza_new(st->ctx);
		xmpp_stanza_set_name(q, "ping");
		xmpp_stanza_set_ns(q, "urn:xmpp:ping");
		xmpp_stanza_add_child(ping, q);
		xmpp_stanza_release(q);
		xmpp_id_handler_add(conn, on_ready, "ready-ping", st);
		xmpp_send(conn, ping);
		xmpp_stanza_release(ping);
		return;
	}
	st->disconnected = true;
	out("disconnected error=%d", error);
}

/* libstrophe asks for it when a PKCS#12 file does not open without one. */
static int cert_password_cb(char *pw, size_t pw_max, xmpp_conn_t *conn, void *ud)
{
	(void)conn;
	const struct state *st = ud;
	size_t n = strlen(st->o.cert_password);
	if (n >= pw_max)
		return -1;
	memcpy(pw, st->o.cert_password, n + 1);
	return (int)n;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: strophe_client --jid JID [--password PW] --host IP --port N\n"
		"         [--direct-tls] [--cafile FILE] [--resource R] [--defaults]\n"
		"         [--cert FILE [--key FILE | --cert-password PW]]\n"
		"                                      (a password, a certificate or both)\n"
		"         [--send JID [--body TEXT]] [--wait-messages N [--echo]]\n"
		"         [--timeout SECONDS] [--verbose]\n"
		"exit: 0 ok, 2 connection or stream failure, 3 authentication failed,\n"
		"      4 timeout\n");
	exit(EXIT_USAGE);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"jid", required_argument, NULL, 'j'},
		{"password", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'P'},
		{"direct-tls", no_argument, NULL, 'd'},
		{"cafile", required_argument, NULL, 'c'},
		{"resource", required_argument, NULL, 'r'},
		{"send", required_argument, NULL, 's'},
		{"body", required_argument, NULL, 'b'},
		{"wait-messages", required_argument, NULL, 'w'},
		{"echo", no_argument, NULL, 'e'},
		{"timeout", required_argument, NULL, 'T'},
		{"verbose", no_argument, NULL, 'v'},
		{"cert", required_argument, NULL, 'C'},
		{"key", required_argument, NULL, 'K'},
		{"cert-password", required_argument, NULL, 'W'},
		{"defaults", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){.host = "127.0.0.1", .timeout = 20.0};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': o->jid = optarg; break;
		case 'p': o->password = optarg; break;
		case 'H': o->host = optarg; break;
		case 'P': o->port = (unsigned short)atoi(optarg); break;
		case 'd': o->direct_tls = true; break;
		case 'c': o->cafile = optarg; break;
		case 'r': o->resource = optarg; break;
		case 's': o->send_to = optarg; break;
		case 'b': o->body = optarg; break;
		case 'w': o->wait_messages = atoi(optarg); break;
		case 'e': o->echo = true; break;
		case 'T': o->timeout = atof(optarg); break;
		case 'v': o->verbose = true; break;
		case 'C': o->cert = optarg; break;
		case 'K': o->key = optarg; break;
		case 'W': o->cert_password = optarg; break;
		case 'D': o->defaults = true; break;
		default: usage();
		}
	}
	if (!o->jid || (!o->password && !o->cert) || (o->key && !o->cert) || !o->port || optind != argc)
		usage();
}

int main(int argc, char **argv)
{
	struct state st = {0};
	parse_args(argc, argv, &st.o);
	/* A server that refuses the client certificate ends the stream right
	 * after the handshake; libstrophe writing after that must see EPIPE
	 * and report the stream error it read, not die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	xmpp_initialize();
	xmpp_log_t log = {logger, &st};
	st.ctx = xmpp_ctx_new(NULL, &log);
	st.conn = xmpp_conn_new(st.ctx);
	long flags = XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_DISABLE_SM;
	if (st.o.direct_tls)
		flags = XMPP_CONN_FLAG_LEGACY_SSL | XMPP_CONN_FLAG_DISABLE_SM;
	if (st.o.defaults)
		flags = st.o.direct_tls ? XMPP_CONN_FLAG_LEGACY_SSL : 0;
	xmpp_conn_set_flags(st.conn, flags);
	if (st.o.cafile)
		xmpp_conn_set_cafile(st.conn, st.o.cafile);
	char jid[512];
	if (st.o.resource)
		snprintf(jid, sizeof(jid), "%s/%s", st.o.jid, st.o.resource);
	else
		snprintf(jid, sizeof(jid), "%s", st.o.jid);
	xmpp_conn_set_jid(st.conn, jid);
	if (st.o.password)
		xmpp_conn_set_pass(st.conn, st.o.password);
	if (st.o.cert)
		xmpp_conn_set_client_cert(st.conn, st.o.cert, st.o.key);
	if (st.o.cert_password)
		xmpp_conn_set_password_callback(st.conn, cert_password_cb, &st);

	if (xmpp_connect_client(st.conn, st.o.host, st.o.port, on_conn, &st) != XMPP_EOK) {
		out("disconnected error=%d", ECONNREFUSED);
		return EXIT_CONN;
	}
	double deadline = now_s() + st.o.timeout;
	while (!st.done && !st.disconnected && now_s() < deadline)
		xmpp_run_once(st.ctx, 50);

	int code;
	if (st.done)
		code = EXIT_OK;
	else if (st.disconnected)
		code = st.connected ? EXIT_CONN : st.auth_failed ? EXIT_AUTH : EXIT_CONN;
	else {
		out("timeout");
		code = EXIT_TIMEOUT;
	}
	if (!st.disconnected) {
		xmpp_disconnect(st.conn);
		double until = now_s() + 3.0;
		while (!st.disconnected && now_s() < until)
			xmpp_run_once(st.ctx, 50);
	}
	xmpp_conn_release(st.conn);
	xmpp_ctx_free(st.ctx);
	xmpp_shutdown();
	return code;
}
