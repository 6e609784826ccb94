/*
 * dialback_key: XEP-0185 dialback keys and the secret file they come from
 * (see dialback_key.h for the formula and the file's rules).
 */
#include "s2s/dialback_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/alloc.h"
#include "core/fd.h"
#include "core/log.h"

static const char db_hex[] = "0123456789abcdef";

static void db_hex_encode(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = db_hex[in[i] >> 4];
		out[2 * i + 1] = db_hex[in[i] & 15];
	}
}

static char *db_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *db_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return xstrdup("dialback secret: error text cannot be formatted");
	char *s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ---- The key ---- */

int dialback_secret_set(struct dialback_secret *s, const void *secret, size_t len)
{
	unsigned char md[32];
	unsigned int n = 0;
	if (len == 0)
		return -1;
	if (EVP_Digest(secret, len, md, &n, EVP_sha256(), NULL) != 1 || n != sizeof(md))
		log_fatal("s2s", "SHA-256 failed");
	/* XEP-0185 §2 item 4: the HMAC is keyed with the hex form. */
	db_hex_encode(md, sizeof(md), s->hmac_key);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

void dialback_secret_wipe(struct dialback_secret *s)
{
	OPENSSL_cleanse(s->hmac_key, sizeof(s->hmac_key));
}

static bool db_part_ok(const char *p, size_t *len)
{
	if (!p)
		return false;
	size_t n = strnlen(p, DIALBACK_PART_MAX + 1);
	*len = n;
	return n > 0 && n <= DIALBACK_PART_MAX && !memchr(p, ' ', n);
}

int dialback_key(const struct dialback_secret *s, const char *receiving,
		 const char *originating, const char *stream_id, char out[DIALBACK_KEY_LEN + 1])
{
	/* Three parts and two spaces, each part bounded: no allocation. */
	char msg[3 * DIALBACK_PART_MAX + 2];
	size_t rl, ol, il;
	out[0] = '\0';
	if (!db_part_ok(receiving, &rl) || !db_part_ok(originating, &ol) ||
	    !db_part_ok(stream_id, &il))
		return -1;
	size_t n = 0;
	memcpy(msg + n, receiving, rl);
	n += rl;
	msg[n++] = ' ';
	memcpy(msg + n, originating, ol);
	n += ol;
	msg[n++] = ' ';
	memcpy(msg + n, stream_id, il);
	n += il;

	unsigned char mac[32];
	unsigned int maclen = 0;
	if (!HMAC(EVP_sha256(), s->hmac_key, (int)sizeof(s->hmac_key), (const unsigned char *)msg, n,
		  mac, &maclen) ||
	    maclen != sizeof(mac))
		log_fatal("s2s", "HMAC-SHA256 failed");
	db_hex_encode(mac, sizeof(mac), out);
	out[DIALBACK_KEY_LEN] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

bool dialback_key_verify(const struct dialback_secret *s, const char *receiving,
			 const char *originating, const char *stream_id, const char *key,
			 size_t key_len)
{
	char expected[DIALBACK_KEY_LEN + 1];
	if (!key || key_len != DIALBACK_KEY_LEN)
		return false;
	if (dialback_key(s, receiving, originating, stream_id, expected) != 0)
		return false;
	bool ok = CRYPTO_memcmp(expected, key, DIALBACK_KEY_LEN) == 0;
	OPENSSL_cleanse(expected, sizeof(expected));
	return ok;
}

/* ---- The secret file ---- */

/* Syncs the directory holding `path`, so the new name survives a crash
 * as the file's contents do.  Best effort: the file is complete either way. */
static void db_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Creates the secret: staged in a mkostemp file (0600 from the start, so
 * the secret is never readable by others, whatever the umask), synced,
 * then linked to `path`.  link() fails rather than replace: if another
 * process made the file meanwhile, its secret is the one, and we read it.
 */
static int db_secret_create(const char *path, char **err)
{
	char tmp[128];
	unsigned char raw[DIALBACK_SECRET_RANDOM];
	char line[2 * DIALBACK_SECRET_RANDOM + 1];
	size_t n = strlen(path);
	char *name = xmalloc(n + 8);
	memcpy(name, path, n);
	memcpy(name + n, ".XXXXXX", 8);
	int rc = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		log_fatal("s2s", "RAND_bytes failed");
	db_hex_encode(raw, sizeof(raw), line);
	line[2 * DIALBACK_SECRET_RANDOM] = '\n';
	OPENSSL_cleanse(raw, sizeof(raw));

	int fd = mkostemp(name, O_CLOEXEC);
	if (fd < 0) {
		*err = db_errorf("dialback secret %s: cannot create it: %s; create the directory or "
				 "make it writable for Parley",
				 path, strerror_r(errno, tmp, sizeof(tmp)));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || fd_write_all(fd, line, sizeof(line)) != 0 || fsync(fd) != 0) {
		*err = db_errorf("dialback secret %s: cannot write it: %s", path,
				 strerror_r(errno, tmp, sizeof(tmp)));
		close(fd);
		goto unlink;
	}
	if (close(fd) != 0) {
		*err = db_errorf("dialback secret %s: cannot write it: %s", path,
				 strerror_r(errno, tmp, sizeof(tmp)));
		goto unlink;
	}
	if (link(name, path) != 0 && errno != EEXIST) {
		*err = db_errorf("dialback secret %s: cannot create it: %s", path,
				 strerror_r(errno, tmp, sizeof(tmp)));
		goto unlink;
	}
	db_sync_dir(path);
	rc = 0;
unlink:
	unlink(name);
out:
	OPENSSL_cleanse(line, sizeof(line));
	free(name);
	return rc;
}

static bool db_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Checks and reads the open secret file into `s`. */
static int db_secret_read(struct dialback_secret *s, const char *path, int fd, char **err)
{
	char tmp[128];
	struct stat st;
	if (fstat(fd, &st) != 0) {
		*err = db_errorf("dialback secret %s: cannot read it: %s", path,
				 strerror_r(errno, tmp, sizeof(tmp)));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = db_errorf("dialback secret %s is not a regular file; remove it and Parley "
				 "creates a new secret",
				 path);
		return -1;
	}
	if (st.st_mode & 077) {
		*err = db_errorf("dialback secret %s may be accessed by group or others (mode %04o): "
				 "whoever reads it can forge dialback for our domains; "
				 "make it private with: chmod 600 %s",
				 path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}

	/* Room for the longest secret, a CRLF, and one byte to see more. */
	char buf[DIALBACK_SECRET_MAX + 3];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = db_errorf("dialback secret %s: cannot read it: %s", path,
					 strerror_r(errno, tmp, sizeof(tmp)));
			OPENSSL_cleanse(buf, sizeof(buf));
			return -1;
		}
		if (r == 0 || (len += (size_t)r) == sizeof(buf))
			break;
	}
	int rc = -1;
	/* A full buffer means more than the longest secret and its line end,
	 * whatever the rest would be. */
	bool full = len == sizeof(buf);
	while (len > 0 && db_is_space(buf[len - 1]))
		len--;
	size_t bad = len;
	for (size_t i = 0; i < len && bad == len; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
			bad = i;
	if (full || len > DIALBACK_SECRET_MAX) {
		*err = db_errorf("dialback secret %s is too long (more than %d characters); write a "
				 "shorter one, or remove it and Parley creates a new one",
				 path, DIALBACK_SECRET_MAX);
	} else if (bad < len) {
		*err = db_errorf("dialback secret %s must be one line of printable ASCII without "
				 "spaces, but has byte 0x%02x at offset %zu; remove it and Parley "
				 "creates a new one",
				 path, (unsigned char)buf[bad], bad);
	} else if (len < DIALBACK_SECRET_MIN) {
		*err = db_errorf("dialback secret %s is too short (%zu characters, at least %d are "
				 "needed); remove it and Parley creates a new one, or write one with: "
				 "(umask 077; openssl rand -hex 32 > %s)",
				 path, len, DIALBACK_SECRET_MIN, path);
	} else {
		rc = dialback_secret_set(s, buf, len);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int dialback_secret_load(struct dialback_secret *s, const char *path, char **err)
{
	char tmp[128];
	*err = NULL;
	/* O_NONBLOCK: a FIFO put in its place must not hang start-up (it is
	 * refused below as not a regular file). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		if (db_secret_create(path, err) != 0)
			return -1;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0) {
		*err = db_errorf("dialback secret %s: cannot open it: %s", path,
				 strerror_r(errno, tmp, sizeof(tmp)));
		return -1;
	}
	int rc = db_secret_read(s, path, fd, err);
	close(fd);
	return rc;
}
