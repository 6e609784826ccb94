/*
 * Unit tests of s2s/dialback_key.c: XEP-0185 dialback keys (the XEP's own
 * example and vectors computed independently), constant-time verification
 * and its policy, and the secret file (created 0600, read back the same,
 * refused when others may read it or when it is too short or malformed).
 *
 * The expected keys below were computed outside Parley when this test was
 * written, twice, with the XEP-0185 formula (HMAC key = lower-case hex of
 * SHA-256(secret), message = receiving ' ' originating ' ' stream-id):
 *
 *   python3 -c "import hmac,hashlib; k=hashlib.sha256(SECRET).hexdigest().encode(); \
 *               print(hmac.new(k, MSG.encode(), hashlib.sha256).hexdigest())"
 *
 *   K=$(printf %s "$SECRET" | openssl dgst -sha256 -r | cut -d' ' -f1)
 *   printf %s "$MSG" | openssl dgst -sha256 -mac HMAC -macopt "key:$K" -r
 *
 * Both gave the same digests (OpenSSL 3.0, Python 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "s2s/dialback_key.h"

/* XEP-0185 §3 (version 1.0), the example's data and its key. */
static const char xep_secret[] = "s3cr3tf0rd14lb4ck";
static const char xep_key[] = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643";

/* The hex of the bytes 0x00..0x1f: the form of a secret file we create. */
static const char file_secret[] = "000102030405060708090a0b0c0d0e0f"
				  "101112131415161718191a1b1c1d1e1f";
/* "b.example a.example 4f9e1a7c-2b" under file_secret (python and openssl). */
static const char file_key_ba[] = "d2c94be87e8ec74ba4b48608ac22b7bf18878d4783fae91050ab1a63e20fdbda";
/* "a.example b.example 4f9e1a7c-2b": the same domains the other way round. */
static const char file_key_ab[] = "284c4e882b3387e65c1a95bd3c1086b8ca93117a02bcc13bf37e1e20cc23dc7c";
/* "münchen.example a.example s1" (UTF-8 bytes): parts are bytes, not prepared. */
static const char file_key_idn[] = "4eb971e860ca67d300c81ac3fa59b2539b3a962949c9318630927e2ff9fe5b26";

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/parley-db-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/dialback.secret", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	size_t len = strlen(data);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	/* fchmod: the umask does not decide the mode under test. */
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void set_secret(struct dialback_secret *s, const char *secret)
{
	assert_int_equal(dialback_secret_set(s, secret, strlen(secret)), 0);
}

static void expect_key(const struct dialback_secret *s, const char *r, const char *o,
		       const char *id, const char *want)
{
	char key[DIALBACK_KEY_LEN + 1];
	assert_int_equal(dialback_key(s, r, o, id, key), 0);
	assert_string_equal(key, want);
}

/* Loading `path` fails, and the error names the file and has `needle`. */
static void expect_load_error(const char *path, const char *needle)
{
	struct dialback_secret s;
	char *err = NULL;
	assert_int_equal(dialback_secret_load(&s, path, &err), -1);
	assert_non_null(err);
	if (!strstr(err, path) || !strstr(err, needle))
		fail_msg("error \"%s\" should name %s and say \"%s\"", err, path, needle);
	free(err);
}

/* ---- Keys ---- */

static void test_xep0185_example(void **state)
{
	(void)state;
	struct dialback_secret s;
	set_secret(&s, xep_secret);
	/* The XEP also shows the intermediate HMAC key: SHA256(secret) in hex. */
	assert_memory_equal(s.hmac_key,
			    "a7136eb1f46c9ef18c5e78c36ca257067c69b3d518285f0b18a96c33beae9acc",
			    DIALBACK_KEY_LEN);
	expect_key(&s, "xmpp.example.com", "example.org", "D60000229F", xep_key);
	/* The authoritative server's check in the XEP's step 9. */
	assert_true(dialback_key_verify(&s, "xmpp.example.com", "example.org", "D60000229F",
					xep_key, strlen(xep_key)));
}

static void test_known_answers(void **state)
{
	(void)state;
	struct dialback_secret s;
	set_secret(&s, file_secret);
	expect_key(&s, "b.example", "a.example", "4f9e1a7c-2b", file_key_ba);
	expect_key(&s, "a.example", "b.example", "4f9e1a7c-2b", file_key_ab);
	expect_key(&s, "m\xc3\xbc"
		       "nchen.example",
		   "a.example", "s1", file_key_idn);
}

static void test_inputs_change_the_key(void **state)
{
	(void)state;
	struct dialback_secret s, other;
	char base[DIALBACK_KEY_LEN + 1], k[DIALBACK_KEY_LEN + 1];
	set_secret(&s, file_secret);
	set_secret(&other, "another secret, equally long enough");
	assert_int_equal(dialback_key(&s, "b.example", "a.example", "id1", base), 0);

	assert_int_equal(dialback_key(&s, "b.example", "a.example", "id2", k), 0);
	assert_string_not_equal(k, base);
	assert_int_equal(dialback_key(&s, "c.example", "a.example", "id1", k), 0);
	assert_string_not_equal(k, base);
	assert_int_equal(dialback_key(&s, "b.example", "c.example", "id1", k), 0);
	assert_string_not_equal(k, base);
	/* Receiving and originating are not interchangeable. */
	assert_int_equal(dialback_key(&s, "a.example", "b.example", "id1", k), 0);
	assert_string_not_equal(k, base);
	/* Parts are bytes: the caller prepares domains, the key does not. */
	assert_int_equal(dialback_key(&s, "B.example", "a.example", "id1", k), 0);
	assert_string_not_equal(k, base);
	assert_int_equal(dialback_key(&other, "b.example", "a.example", "id1", k), 0);
	assert_string_not_equal(k, base);
	/* And the same inputs give the same key. */
	assert_int_equal(dialback_key(&s, "b.example", "a.example", "id1", k), 0);
	assert_string_equal(k, base);
	/* Lower-case hex, always. */
	for (size_t i = 0; i < DIALBACK_KEY_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", base[i]));
	assert_int_equal(strlen(base), DIALBACK_KEY_LEN);
}

static void test_bad_parts(void **state)
{
	(void)state;
	struct dialback_secret s;
	char k[DIALBACK_KEY_LEN + 1] = "x";
	set_secret(&s, file_secret);
	/* A space in a part would let "a b"+"c" collide with "a"+"b c". */
	assert_int_equal(dialback_key(&s, "b.example a", "example", "id", k), -1);
	assert_string_equal(k, "");
	assert_int_equal(dialback_key(&s, "b.example", "a.example", "i d", k), -1);
	assert_int_equal(dialback_key(&s, "", "a.example", "id", k), -1);
	assert_int_equal(dialback_key(&s, "b.example", "", "id", k), -1);
	assert_int_equal(dialback_key(&s, "b.example", "a.example", "", k), -1);
	assert_int_equal(dialback_key(&s, NULL, "a.example", "id", k), -1);
	assert_int_equal(dialback_key(&s, "b.example", NULL, "id", k), -1);
	assert_int_equal(dialback_key(&s, "b.example", "a.example", NULL, k), -1);

	char *longest = malloc(DIALBACK_PART_MAX + 2);
	memset(longest, 'a', DIALBACK_PART_MAX);
	longest[DIALBACK_PART_MAX] = '\0';
	assert_int_equal(dialback_key(&s, longest, longest, longest, k), 0);
	longest[DIALBACK_PART_MAX] = 'a';
	longest[DIALBACK_PART_MAX + 1] = '\0';
	assert_int_equal(dialback_key(&s, longest, "a.example", "id", k), -1);
	assert_false(dialback_key_verify(&s, longest, "a.example", "id", file_key_ba,
					 DIALBACK_KEY_LEN));
	free(longest);

	assert_int_equal(dialback_secret_set(&s, "", 0), -1);
}

/* ---- Verification ---- */

static void test_verify(void **state)
{
	(void)state;
	struct dialback_secret s;
	set_secret(&s, file_secret);
	const char *r = "b.example", *o = "a.example", *id = "4f9e1a7c-2b";
	assert_true(dialback_key_verify(&s, r, o, id, file_key_ba, DIALBACK_KEY_LEN));

	/* Every single changed character is refused, wherever it is. */
	char k[DIALBACK_KEY_LEN + 1];
	for (size_t i = 0; i < DIALBACK_KEY_LEN; i++) {
		memcpy(k, file_key_ba, sizeof(k));
		k[i] = k[i] == '0' ? '1' : '0';
		assert_false(dialback_key_verify(&s, r, o, id, k, DIALBACK_KEY_LEN));
	}
	/* Right key, wrong triple. */
	assert_false(dialback_key_verify(&s, o, r, id, file_key_ba, DIALBACK_KEY_LEN));
	assert_false(dialback_key_verify(&s, r, o, "4f9e1a7c-2c", file_key_ba, DIALBACK_KEY_LEN));
	assert_false(dialback_key_verify(&s, r, o, "", file_key_ba, DIALBACK_KEY_LEN));

	/* Wrong lengths: a prefix, one more character, nothing. */
	assert_false(dialback_key_verify(&s, r, o, id, file_key_ba, DIALBACK_KEY_LEN - 1));
	assert_false(dialback_key_verify(&s, r, o, id, file_key_ba, 32));
	char longer[DIALBACK_KEY_LEN + 2];
	memcpy(longer, file_key_ba, DIALBACK_KEY_LEN);
	longer[DIALBACK_KEY_LEN] = '0';
	longer[DIALBACK_KEY_LEN + 1] = '\0';
	assert_false(dialback_key_verify(&s, r, o, id, longer, DIALBACK_KEY_LEN + 1));
	assert_false(dialback_key_verify(&s, r, o, id, "", 0));
	assert_false(dialback_key_verify(&s, r, o, id, NULL, DIALBACK_KEY_LEN));

	/* The length given counts, not the NUL: the key may sit in a larger
	 * buffer (the element's text). */
	char text[DIALBACK_KEY_LEN + 8];
	memcpy(text, file_key_ba, DIALBACK_KEY_LEN);
	memcpy(text + DIALBACK_KEY_LEN, "</db:v", 7);
	assert_true(dialback_key_verify(&s, r, o, id, text, DIALBACK_KEY_LEN));

	/* Policy: only the exact lower-case form we send is accepted; an
	 * upper-case copy or one with whitespace around it was changed on
	 * the way.  The caller trims XML whitespace before calling. */
	for (size_t i = 0; i < DIALBACK_KEY_LEN; i++)
		k[i] = file_key_ba[i] >= 'a' && file_key_ba[i] <= 'f' ? (char)(file_key_ba[i] - 32)
								      : file_key_ba[i];
	k[DIALBACK_KEY_LEN] = '\0';
	assert_false(dialback_key_verify(&s, r, o, id, k, DIALBACK_KEY_LEN));
	char spaced[DIALBACK_KEY_LEN + 3];
	snprintf(spaced, sizeof(spaced), " %s\n", file_key_ba);
	assert_false(dialback_key_verify(&s, r, o, id, spaced, strlen(spaced)));

	/* A different secret refuses our key. */
	struct dialback_secret other;
	set_secret(&other, xep_secret);
	assert_false(dialback_key_verify(&other, r, o, id, file_key_ba, DIALBACK_KEY_LEN));
}

/* ---- The secret file ---- */

static void test_file_created_0600_and_reread(void **state)
{
	struct fixture *f = *state;
	struct dialback_secret a, b;
	char *err = NULL;
	/* Even under a permissive umask the secret is private. */
	mode_t old = umask(0);
	int rc = dialback_secret_load(&a, f->path, &err);
	umask(old);
	if (rc != 0)
		fail_msg("dialback_secret_load: %s", err);
	assert_null(err);

	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	/* 32 random bytes as 64 lower-case hex characters and a newline. */
	char buf[128] = {0};
	FILE *fp = fopen(f->path, "r");
	assert_non_null(fp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	assert_int_equal(n, 2 * DIALBACK_SECRET_RANDOM + 1);
	assert_int_equal(buf[2 * DIALBACK_SECRET_RANDOM], '\n');
	for (size_t i = 0; i < 2 * DIALBACK_SECRET_RANDOM; i++)
		assert_non_null(strchr("0123456789abcdef", buf[i]));

	/* No staging file is left beside it. */
	char cmd[192];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", f->dir);
	assert_int_equal(system(cmd), 0);

	/* A restart reads the same secret: the same keys. */
	assert_int_equal(dialback_secret_load(&b, f->path, &err), 0);
	assert_memory_equal(a.hmac_key, b.hmac_key, sizeof(a.hmac_key));
	char ka[DIALBACK_KEY_LEN + 1];
	assert_int_equal(dialback_key(&a, "b.example", "a.example", "id", ka), 0);
	assert_true(dialback_key_verify(&b, "b.example", "a.example", "id", ka, DIALBACK_KEY_LEN));

	/* The key is the file's line, without its newline, as the secret. */
	buf[2 * DIALBACK_SECRET_RANDOM] = '\0';
	struct dialback_secret c;
	set_secret(&c, buf);
	assert_memory_equal(a.hmac_key, c.hmac_key, sizeof(a.hmac_key));
	assert_int_equal(st.st_size, 2 * DIALBACK_SECRET_RANDOM + 1);

	/* Two new secrets differ (they are random). */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(dialback_secret_load(&c, f->path, &err), 0);
	assert_memory_not_equal(a.hmac_key, c.hmac_key, sizeof(a.hmac_key));

	dialback_secret_wipe(&c);
	for (size_t i = 0; i < sizeof(c.hmac_key); i++)
		assert_int_equal(c.hmac_key[i], 0);
}

static void test_file_known_secret(void **state)
{
	struct fixture *f = *state;
	struct dialback_secret s;
	char *err = NULL;
	char line[sizeof(file_secret) + 2];
	/* As we write it (a newline), and as an editor on Windows might. */
	const char *endings[] = {"", "\n", "\r\n", "  \n\n"};
	for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
		char content[sizeof(file_secret) + 8];
		snprintf(content, sizeof(content), "%s%s", file_secret, endings[i]);
		write_file(f->path, content, 0600);
		assert_int_equal(dialback_secret_load(&s, f->path, &err), 0);
		expect_key(&s, "b.example", "a.example", "4f9e1a7c-2b", file_key_ba);
	}
	/* Owner read-only is as good. */
	snprintf(line, sizeof(line), "%s\n", file_secret);
	write_file(f->path, line, 0400);
	assert_int_equal(dialback_secret_load(&s, f->path, &err), 0);
	expect_key(&s, "b.example", "a.example", "4f9e1a7c-2b", file_key_ba);
	/* Exactly the minimum length is enough. */
	write_file(f->path, "0123456789abcdef0123456789abcdef", 0600);
	assert_int_equal(dialback_secret_load(&s, f->path, &err), 0);
}

static void test_file_refused_modes(void **state)
{
	struct fixture *f = *state;
	char line[sizeof(file_secret) + 2];
	snprintf(line, sizeof(line), "%s\n", file_secret);
	const mode_t modes[] = {0644, 0640, 0604, 0660, 0620, 0602, 0610, 0601, 0666};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(f->path, line, modes[i]);
		expect_load_error(f->path, "chmod 600");
	}
	write_file(f->path, line, 0644);
	expect_load_error(f->path, "mode 0644");
	/* The file is left as it was: refusing is not repairing. */
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

static void test_file_refused_contents(void **state)
{
	struct fixture *f = *state;
	/* 31 characters: one short of the minimum. */
	write_file(f->path, "0123456789abcdef0123456789abcde\n", 0600);
	expect_load_error(f->path, "too short");
	write_file(f->path, "", 0600);
	expect_load_error(f->path, "too short");
	write_file(f->path, "\n\n", 0600);
	expect_load_error(f->path, "too short");
	/* Two lines, a space inside, a control character, a NUL. */
	write_file(f->path, "0123456789abcdef\n0123456789abcdef0123\n", 0600);
	expect_load_error(f->path, "one line of printable ASCII");
	write_file(f->path, "0123456789abcdef 0123456789abcdef0123", 0600);
	expect_load_error(f->path, "offset 16");
	write_file(f->path, "0123456789abcdef\x01"
			    "0123456789abcdef0123",
		   0600);
	expect_load_error(f->path, "0x01");
	{
		unlink(f->path);
		int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		static const char with_nul[] = "0123456789abcdef\0" "0123456789abcdef0123";
		assert_int_equal(write(fd, with_nul, sizeof(with_nul) - 1), (ssize_t)sizeof(with_nul) - 1);
		close(fd);
		expect_load_error(f->path, "0x00");
	}
	/* Too long. */
	char *big = malloc(DIALBACK_SECRET_MAX + 2);
	memset(big, 'a', DIALBACK_SECRET_MAX + 1);
	big[DIALBACK_SECRET_MAX + 1] = '\0';
	write_file(f->path, big, 0600);
	expect_load_error(f->path, "too long");
	big[DIALBACK_SECRET_MAX] = '\0';
	write_file(f->path, big, 0600);
	struct dialback_secret s;
	char *err = NULL;
	assert_int_equal(dialback_secret_load(&s, f->path, &err), 0);
	free(big);
	/* The longest secret, then more than a line end: not read as the
	 * longest secret with the rest ignored. */
	big = malloc(DIALBACK_SECRET_MAX + 16);
	memset(big, 'a', DIALBACK_SECRET_MAX);
	strcpy(big + DIALBACK_SECRET_MAX, "\n\n\nextra");
	write_file(f->path, big, 0600);
	expect_load_error(f->path, "too long");
	free(big);
}

static void test_file_refused_other(void **state)
{
	struct fixture *f = *state;
	char path[192];
	/* A directory where the file should be. */
	snprintf(path, sizeof(path), "%s/adir", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_load_error(path, "not a regular file");
	/* A FIFO must not hang the load. */
	snprintf(path, sizeof(path), "%s/afifo", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_load_error(path, "not a regular file");
	/* No directory to create it in. */
	snprintf(path, sizeof(path), "%s/missing/dialback.secret", f->dir);
	expect_load_error(path, "cannot create");
	/* A directory we may not write to (not as root, who may). */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", f->dir);
		assert_int_equal(mkdir(path, 0500), 0);
		snprintf(path, sizeof(path), "%s/ro/dialback.secret", f->dir);
		expect_load_error(path, "cannot create");
		snprintf(path, sizeof(path), "%s/ro", f->dir);
		chmod(path, 0700);
	}
	/* A secret that exists is never replaced: it is read, or refused. */
	write_file(f->path, "0123456789abcdef0123456789abcde\n", 0600);
	expect_load_error(f->path, "too short");
	FILE *fp = fopen(f->path, "r");
	char buf[64] = {0};
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "0123456789abcdef0123456789abcde\n");
}

/* Processes starting at once over a missing file end up with one secret:
 * link() lets one of them create it, the others read that one. */
static void test_file_created_once(void **state)
{
	struct fixture *f = *state;
	enum { N = 8 };
	int go[2], keys[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(keys), 0);
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char c;
			struct dialback_secret s;
			char *err = NULL;
			close(go[1]);
			/* Wait until the parent lets every child go. */
			(void)read(go[0], &c, 1);
			int rc = dialback_secret_load(&s, f->path, &err);
			if (rc != 0)
				memset(s.hmac_key, 'E', sizeof(s.hmac_key));
			_exit(write(keys[1], s.hmac_key, sizeof(s.hmac_key)) ==
				      (ssize_t)sizeof(s.hmac_key)
				      ? 0
				      : 1);
		}
	}
	close(go[0]);
	close(go[1]);
	close(keys[1]);
	char first[DIALBACK_KEY_LEN], got[DIALBACK_KEY_LEN];
	for (int i = 0; i < N; i++) {
		size_t n = 0;
		while (n < sizeof(got)) {
			ssize_t r = read(keys[0], got + n, sizeof(got) - n);
			assert_true(r > 0);
			n += (size_t)r;
		}
		assert_true(got[0] != 'E');
		if (i == 0)
			memcpy(first, got, sizeof(first));
		else
			assert_memory_equal(first, got, sizeof(got));
	}
	close(keys[0]);
	for (int i = 0; i < N; i++) {
		int status = 0;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct dialback_secret s;
	char *err = NULL;
	assert_int_equal(dialback_secret_load(&s, f->path, &err), 0);
	assert_memory_equal(first, s.hmac_key, sizeof(first));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xep0185_example),
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_inputs_change_the_key),
		cmocka_unit_test(test_bad_parts),
		cmocka_unit_test(test_verify),
		cmocka_unit_test_setup_teardown(test_file_created_0600_and_reread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_created_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_known_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_refused_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_refused_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_refused_other, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
