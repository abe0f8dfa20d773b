/* Unit tests of the SSH server's key handling: authorized_keys lines and
 * files (re-read per attempt, options skipped, unsafe files refused) and
 * the host key directory (generated 0600 in a 0700 directory, loaded
 * again unchanged, unsafe files and directories refused). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ssh_auth.h"
#include "ssh_hostkeys.h"
#include "ssh_util.h"

struct keys {
	ssh_key a, b, c;
	char *a_b64, *b_b64, *c_b64;
	char dir[64];
};

static char *pub_b64(ssh_key k)
{
	char *b64 = NULL;
	assert_int_equal(ssh_pki_export_pubkey_base64(k, &b64), SSH_OK);
	return b64;
}

static int setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	assert_non_null(k);
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &k->a), SSH_OK);
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &k->b), SSH_OK);
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ECDSA_P256, 256, &k->c),
			 SSH_OK);
	k->a_b64 = pub_b64(k->a);
	k->b_b64 = pub_b64(k->b);
	k->c_b64 = pub_b64(k->c);
	snprintf(k->dir, sizeof(k->dir), "/tmp/vsb-sshauth-XXXXXX");
	assert_non_null(mkdtemp(k->dir));
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
	assert_int_equal(system(cmd), 0);
	ssh_key_free(k->a);
	ssh_key_free(k->b);
	ssh_key_free(k->c);
	ssh_string_free_char(k->a_b64);
	ssh_string_free_char(k->b_b64);
	ssh_string_free_char(k->c_b64);
	free(k);
	return 0;
}

static enum ssh_ak_line parse(const char *line, ssh_key *out)
{
	ssh_key k = NULL;
	enum ssh_ak_line r = ssh_ak_parse_line(line, &k);
	if (r != SSH_AK_KEY)
		assert_null(k);
	if (out)
		*out = k;
	else
		ssh_key_free(k);
	return r;
}

static void test_parse_lines(void **state)
{
	struct keys *k = *state;
	char line[4096];
	ssh_key got;

	snprintf(line, sizeof(line), "ssh-ed25519 %s alice@laptop\n", k->a_b64);
	assert_int_equal(parse(line, &got), SSH_AK_KEY);
	assert_int_equal(ssh_key_cmp(got, k->a, SSH_KEY_CMP_PUBLIC), 0);
	assert_int_not_equal(ssh_key_cmp(got, k->b, SSH_KEY_CMP_PUBLIC), 0);
	ssh_key_free(got);

	/* No comment, tabs, CRLF. */
	snprintf(line, sizeof(line), "\tecdsa-sha2-nistp256\t%s\r\n", k->c_b64);
	assert_int_equal(parse(line, &got), SSH_AK_KEY);
	assert_int_equal(ssh_key_cmp(got, k->c, SSH_KEY_CMP_PUBLIC), 0);
	ssh_key_free(got);

	assert_int_equal(parse("", NULL), SSH_AK_EMPTY);
	assert_int_equal(parse("   \t\r\n", NULL), SSH_AK_EMPTY);
	assert_int_equal(parse("# ssh-ed25519 AAAA comment", NULL), SSH_AK_EMPTY);
	assert_int_equal(parse("  # indented comment", NULL), SSH_AK_EMPTY);
}

static void test_parse_options_are_skipped(void **state)
{
	struct keys *k = *state;
	char line[4096];

	snprintf(line, sizeof(line), "no-pty ssh-ed25519 %s x", k->a_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_OPTIONS);
	snprintf(line, sizeof(line),
		 "from=\"10.0.0.0/8\",command=\"echo a b\" ssh-ed25519 %s",
		 k->a_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_OPTIONS);
	snprintf(line, sizeof(line), "restrict,pty ecdsa-sha2-nistp256 %s",
		 k->c_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_OPTIONS);
}

static void test_parse_garbage(void **state)
{
	struct keys *k = *state;
	char line[4096];

	assert_int_equal(parse("hello world", NULL), SSH_AK_BAD);
	assert_int_equal(parse("ssh-ed25519", NULL), SSH_AK_BAD);
	assert_int_equal(parse("ssh-ed25519   ", NULL), SSH_AK_BAD);
	assert_int_equal(parse("ssh-ed25519 not-base64!!", NULL), SSH_AK_BAD);
	/* A blob of zeros libssh imports as a DSA key it cannot export
	 * (found by fuzz_ssh_authkeys). */
	assert_int_equal(parse("ssh-dss AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA s", NULL),
			 SSH_AK_BAD);
	/* Truncated base64. */
	snprintf(line, sizeof(line), "ssh-ed25519 %.30s", k->a_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_BAD);
	/* The blob is an ed25519 key, the line says otherwise. */
	snprintf(line, sizeof(line), "ecdsa-sha2-nistp256 %s", k->a_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_BAD);
	snprintf(line, sizeof(line), "ssh-ed25519 %s", k->c_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_BAD);
	/* Aliases and certificates are not plain OpenSSH key lines. */
	snprintf(line, sizeof(line), "ecdsa %s", k->c_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_BAD);
	snprintf(line, sizeof(line), "ssh-ed25519-cert-v01@openssh.com %s",
		 k->a_b64);
	assert_int_equal(parse(line, NULL), SSH_AK_BAD);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_match_file(void **state)
{
	struct keys *k = *state;
	char path[128], *text, *longline;
	struct ssh_ak_log lg;

	ssh_ak_log_init(&lg);
	snprintf(path, sizeof(path), "%s/authorized_keys", k->dir);
	longline = malloc(SSH_AK_LINE_MAX * 2);
	assert_non_null(longline);
	memset(longline, 'A', SSH_AK_LINE_MAX * 2 - 1);
	memcpy(longline, "ssh-ed25519 ", 12);
	longline[SSH_AK_LINE_MAX * 2 - 1] = '\0';
	/* a only with options (skipped), garbage, an over-long line, then b
	 * and c (c without a final newline). */
	assert_true(asprintf(&text,
			     "# tenant keys\n\n"
			     "no-pty ssh-ed25519 %s opt\n"
			     "garbage line here\n"
			     "%s\n"
			     "ssh-ed25519 %s bob\r\n"
			     "ecdsa-sha2-nistp256 %s carol",
			     k->a_b64, longline, k->b_b64, k->c_b64) > 0);
	write_file(path, text, 0644);
	assert_int_equal(ssh_ak_match(path, k->b, &lg), 1);
	assert_int_equal(ssh_ak_match(path, k->c, &lg), 1);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), 0);

	/* Re-read on each attempt: a key added now counts at once. */
	free(text);
	assert_true(asprintf(&text, "ssh-ed25519 %s alice\n", k->a_b64) > 0);
	write_file(path, text, 0600);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), 1);
	assert_int_equal(ssh_ak_match(path, k->b, &lg), 0);

	/* Empty and missing files match nothing. */
	write_file(path, "", 0600);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), 0);
	unlink(path);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), -ENOENT);
	assert_int_equal(ssh_ak_match(NULL, k->a, NULL), -ENOENT);

	/* Whoever may write the file chooses who logs in: refused. */
	write_file(path, text, 0664);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), -EPERM);
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), -EPERM);
	assert_int_equal(chmod(path, 0444), 0);
	assert_int_equal(ssh_ak_match(path, k->a, &lg), 1);
	/* Not a regular file. */
	assert_int_equal(ssh_ak_match(k->dir, k->a, &lg), -EINVAL);

	free(text);
	free(longline);
	ssh_ak_log_destroy(&lg);
}

static void fingerprints(ssh_key keys[SSH_HOSTKEYS_MAX], int n,
			 char fps[SSH_HOSTKEYS_MAX][SSH_FP_MAX])
{
	for (int i = 0; i < n; i++)
		ssh_key_fp(keys[i], fps[i]);
}

static void free_keys(ssh_key keys[SSH_HOSTKEYS_MAX])
{
	for (int i = 0; i < SSH_HOSTKEYS_MAX; i++)
		ssh_key_free(keys[i]);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_host_keys(void **state)
{
	struct keys *k = *state;
	char dir[128], path[160];
	char fp1[SSH_HOSTKEYS_MAX][SSH_FP_MAX], fp2[SSH_HOSTKEYS_MAX][SSH_FP_MAX];
	ssh_key keys[SSH_HOSTKEYS_MAX];
	int n;

	/* A directory two levels down that does not exist yet. */
	snprintf(dir, sizeof(dir), "%s/state/host-keys", k->dir);
	n = ssh_hostkeys_load(dir, keys);
	assert_int_equal(n, 2); /* ed25519 and ECDSA; RSA only if provided */
	assert_int_equal(ssh_key_type(keys[0]), SSH_KEYTYPE_ED25519);
	assert_int_equal(ssh_key_type(keys[1]), SSH_KEYTYPE_ECDSA_P256);
	assert_true(ssh_key_is_private(keys[0]));
	fingerprints(keys, n, fp1);
	free_keys(keys);
	assert_int_equal(mode_of(dir), 0700);
	snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key", dir);
	assert_int_equal(mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/ssh_host_ecdsa_key", dir);
	assert_int_equal(mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key.pub", dir);
	assert_int_equal(mode_of(path), 0644);

	/* Loaded again, not regenerated. */
	assert_int_equal(ssh_hostkeys_load(dir, keys), 2);
	fingerprints(keys, 2, fp2);
	free_keys(keys);
	assert_string_equal(fp1[0], fp2[0]);
	assert_string_equal(fp1[1], fp2[1]);
	assert_memory_equal(fp1[0], "SHA256:", 7);

	/* A key others may read is refused, not replaced. */
	snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key", dir);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(ssh_hostkeys_load(dir, keys), -EPERM);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(ssh_hostkeys_load(dir, keys), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);

	/* Garbage in a key file. */
	snprintf(path, sizeof(path), "%s/ssh_host_ecdsa_key", dir);
	write_file(path, "not a key\n", 0600);
	assert_int_equal(ssh_hostkeys_load(dir, keys), -EINVAL);
	unlink(path);

	/* A directory others may write to is refused. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(ssh_hostkeys_load(dir, keys), -EPERM);
	assert_int_equal(chmod(dir, 0755), 0);
	/* Readable by others is fine: the keys themselves are 0600. The
	 * missing ECDSA key is made again; ed25519 is kept. */
	assert_int_equal(ssh_hostkeys_load(dir, keys), 2);
	fingerprints(keys, 2, fp2);
	free_keys(keys);
	assert_string_equal(fp1[0], fp2[0]);
	assert_string_not_equal(fp1[1], fp2[1]);

	/* A file where the directory should be. */
	snprintf(path, sizeof(path), "%s/plainfile", k->dir);
	write_file(path, "x", 0600);
	assert_true(ssh_hostkeys_load(path, keys) < 0);
	assert_int_equal(ssh_hostkeys_load(NULL, keys), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_options_are_skipped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
