/*
 * conn: one TCP connection driven by the worker's libuv loop: non-blocking
 * reads into the worker's shared read buffer, an output queue of refcounted
 * chunks flushed once per loop iteration (so many stanzas share one write),
 * budgets (read rate, output queue bytes), and an optional transport (TLS)
 * between the socket and the byte streams.
 *
 * A conn knows nothing of XML or XMPP.  Its owner (a c2s or s2s stream, an
 * HTTP connection) gets bytes through `struct conn_handler`.
 *
 * Closing is deferred (STYLE.md): conn_close() marks the conn closing; the
 * owner's on_close runs later from the loop, exactly once, and after it
 * returns the conn is freed.  The owner must not free itself before then.
 *
 * A conn can move between workers (DESIGN.md: after authentication the
 * connection moves to the worker that owns the bare JID): conn_detach()
 * releases the loop handles, conn_attach() resumes on another loop.
 */
#ifndef PARLEY_CORE_CONN_H
#define PARLEY_CORE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct chunk;
struct conn;
struct worker;

/* Transport: plain TCP when none is set; TLS lives in tls/ and plugs in
 * here, so core/ never includes OpenSSL. */

enum conn_io {
	CONN_IO_WANT_READ = -1,  /* retry when the socket is readable */
	CONN_IO_WANT_WRITE = -2, /* retry when the socket is writable */
	CONN_IO_EOF = -3,        /* orderly close by the peer */
	CONN_IO_ERROR = -4,      /* fatal; the transport's error() says why */
};

struct conn_transport_ops {
	const char *name;
	/* Drives the handshake: 0 when complete, or a CONN_IO_* code. */
	int (*handshake)(void *t, int fd);
	/* Reads decrypted bytes: >0 count, or a CONN_IO_* code. */
	ssize_t (*read)(void *t, int fd, char *buf, size_t len);
	/* Writes bytes: >0 count accepted, or a CONN_IO_* code.  After
	 * WANT_READ/WANT_WRITE the conn retries with the same leading bytes. */
	ssize_t (*write)(void *t, int fd, const char *buf, size_t len);
	/* Decrypted bytes already buffered inside the transport, readable
	 * without the socket becoming readable again. */
	size_t (*pending)(void *t);
	/* Best-effort orderly shutdown (TLS close_notify); never blocks. */
	void (*shutdown)(void *t, int fd);
	/* Why the last CONN_IO_ERROR happened, for the log line. */
	const char *(*error)(void *t);
	/* Releases buffers an idle connection does not need (may be NULL). */
	void (*trim)(void *t);
	void (*free)(void *t);
};

/* What the owner hears.  All calls run on the conn's current worker. */
struct conn_handler {
	/* Bytes arrived.  The data is valid only during the call.  The owner
	 * may call conn_close, conn_set_transport or conn_detach from here;
	 * the conn then stops delivering the rest of this read. */
	void (*on_read)(void *owner, struct conn *c, const char *data, size_t len);
	/* The transport handshake completed (TLS established). */
	void (*on_handshake)(void *owner, struct conn *c);
	/* Once per second from the worker's sweep, for the owner's timeouts. */
	void (*on_tick)(void *owner, struct conn *c, uint64_t now_ms);
	/* The conn is closed and will be freed when this returns.  `reason`
	 * is the first reason given (by the owner, the peer or a budget). */
	void (*on_close)(void *owner, struct conn *c, const char *reason);
};

/* Lifecycle */

/* Wraps an accepted, non-blocking socket.  `listener` names the entry point
 * for log lines (e.g. "c2s 127.0.0.1:5222").  Reading starts with
 * conn_start(). */
struct conn *conn_new(struct worker *w, int fd, const struct conn_handler *h, void *owner);
void conn_start(struct conn *c);

/* Flushes queued output (for at most the linger time), then closes.  The
 * first reason wins and reaches on_close.  Safe to call repeatedly. */
void conn_close(struct conn *c, const char *reason);
/* Closes at once, dropping queued output. */
void conn_abort(struct conn *c, const char *reason);
bool conn_closing(const struct conn *c);

/* Transport */

/* Installs a transport (takes ownership of t).  Queued plaintext output is
 * flushed first; reading pauses until then.  The handshake starts next and
 * on_handshake reports its completion; a failed handshake closes the conn
 * with the transport's error as reason. */
void conn_set_transport(struct conn *c, const struct conn_transport_ops *ops, void *t);
/* The installed transport state (NULL for plain TCP). */
void *conn_transport(const struct conn *c);
bool conn_secure(const struct conn *c);

/* Output */

/* Copies bytes into the output queue. */
void conn_write(struct conn *c, const void *p, size_t n);
/* Queues a reference to the chunk (takes a reference of its own). */
void conn_write_chunk(struct conn *c, struct chunk *ch);
size_t conn_outq_bytes(const struct conn *c);

/* Budgets (0 = unlimited) */

/* Over `limit` queued bytes the conn is aborted: a peer that does not read
 * never makes the server buffer without bound. */
void conn_set_outq_limit(struct conn *c, size_t limit);
/* Token bucket on bytes read: `rate` bytes per second, `burst` bytes. */
void conn_set_read_rate(struct conn *c, size_t rate, size_t burst);
void conn_pause_reading(struct conn *c);
void conn_resume_reading(struct conn *c);

/* Moving between workers */

typedef void conn_detach_cb(struct conn *c, void *arg);
/* Stops I/O on the current worker; `cb` runs on this thread once the conn
 * holds no loop handles, typically to post it to another worker's inbox.
 * Queued output stays queued. */
void conn_detach(struct conn *c, conn_detach_cb *cb, void *arg);
/* Resumes I/O on worker `w` (call on w's thread).  Bytes the transport
 * already buffered are delivered at once. */
void conn_attach(struct conn *c, struct worker *w);
/* Changes who hears the events (a stream handing the conn on). */
void conn_set_handler(struct conn *c, const struct conn_handler *h, void *owner);

/* Virtual conns */

/*
 * A conn with no socket, for a stream that no one TCP connection carries
 * (BOSH: a session lives across many HTTP requests).  It is a conn in
 * every other way, so a stream machine runs on it unchanged: an output
 * queue flushed once per loop iteration, deferred close with on_close
 * from the loop, conn_detach/conn_attach between workers, the owner's
 * on_tick from the sweep.  Input does not come from a socket: whoever
 * feeds the stream says so with conn_virtual_input (activity, counters).
 *
 * What would be written goes to `ops->write`, once per flush with
 * everything queued (complete elements, since writers queue whole ones
 * within one iteration); the conn then counts it as written.
 */
struct iovec;
struct conn_virtual_ops {
	/* The queued output, in order; copy what is kept.  It must not
	 * close or detach c (mark, and do it later). */
	void (*write)(void *arg, struct conn *c, const struct iovec *iov, size_t n);
	/* conn_detach was called (the conn leaves this worker's thread once
	 * the detach callback runs); may be NULL. */
	void (*detaching)(void *arg, struct conn *c);
	/* conn_attach put the conn on worker w (on w's thread); may be NULL. */
	void (*attached)(void *arg, struct conn *c, struct worker *w);
	/* After the handler's on_close, before the conn is freed. */
	void (*closed)(void *arg, struct conn *c);
};

/* A virtual conn on worker w, started at once.  `peer` stands for the
 * peer's address in log lines ("203.0.113.5:40312", the address of the
 * request that made it). */
struct conn *conn_new_virtual(struct worker *w, const struct conn_handler *h, void *owner,
			      const struct conn_virtual_ops *ops, void *arg, const char *peer);
bool conn_is_virtual(const struct conn *c);
/* The `arg` given to conn_new_virtual (NULL for a socket's conn). */
void *conn_virtual_arg(const struct conn *c);
/* `n` bytes were fed to the owner from elsewhere: counts them, and the
 * time, as read. */
void conn_virtual_input(struct conn *c, size_t n);
/* Hands what is queued to ops->write now rather than at the end of the
 * loop iteration (the answer to some input is wanted at once).  Nothing
 * while the conn is detaching or closed. */
void conn_virtual_flush(struct conn *c);
/*
 * Lends the transport of `from` (a socket's conn, TLS established) to
 * virtual conn `v`: conn_transport(v) returns it and conn_secure(v) is
 * true, so the TLS facts of the connection that made v (the peer's
 * certificate, for SASL EXTERNAL) stay readable after that connection
 * closed.  The state is freed when both conns are.  It is read from v's
 * worker: once v moves to another worker, only facts fixed at the
 * handshake (version, cipher, certificate) may be read through it.
 */
void conn_share_transport(struct conn *from, struct conn *v);

/* Facts, for log lines and policy */

uint64_t conn_id(const struct conn *c);
int conn_fd(const struct conn *c);
struct worker *conn_worker(const struct conn *c);
/* "203.0.113.5:40312" or "[2001:db8::1]:40312". */
const char *conn_peer(const struct conn *c);
/* The peer address without the port ("203.0.113.5"), into buf. */
const char *conn_peer_ip(const struct conn *c, char *buf, size_t n);
/* The local address, "127.0.0.1:5222", into buf (asked of the socket: not
 * kept per connection). */
const char *conn_local(const struct conn *c, char *buf, size_t n);
uint64_t conn_bytes_in(const struct conn *c);
uint64_t conn_bytes_out(const struct conn *c);
uint64_t conn_last_read_ms(const struct conn *c);
uint64_t conn_last_write_ms(const struct conn *c);

#endif
