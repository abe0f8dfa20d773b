/* authorized_keys parsing and matching (see ssh_auth.h). */
#include "ssh_auth.h"
#include "../vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies the next whitespace-separated token of *s (at most max-1 bytes;
 * longer tokens are cut, which makes them invalid) and advances *s. A
 * double-quoted part may contain spaces, as in OpenSSH's key options. */
static size_t next_token(const char **s, char *tok, size_t max)
{
	const char *p = *s;
	size_t n = 0;
	bool quoted = false;

	while (is_space(*p))
		p++;
	while (*p && (quoted || !is_space(*p))) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '\\' && quoted && p[1])
			p++;
		if (n + 1 < max)
			tok[n++] = *p;
		p++;
	}
	tok[n] = '\0';
	*s = p;
	return n;
}

/* A plain public key type name as OpenSSH writes it (no aliases such as
 * "rsa", no certificates: those only make sense with cert-authority). */
static enum ssh_keytypes_e plain_key_type(const char *name)
{
	enum ssh_keytypes_e t = ssh_key_type_from_name(name);
	const char *canon;

	if (t == SSH_KEYTYPE_UNKNOWN || strstr(name, "-cert-"))
		return SSH_KEYTYPE_UNKNOWN;
	canon = ssh_key_type_to_char(t);
	if (!canon || strcmp(canon, name) != 0)
		return SSH_KEYTYPE_UNKNOWN;
	return t;
}

enum ssh_ak_line ssh_ak_parse_line(const char *line, ssh_key *key)
{
	/* Tokens are bounded by the line length, itself bounded by callers
	 * reading files; a type name is short. */
	char type[64];
	const char *p = line;
	enum ssh_keytypes_e t;

	*key = NULL;
	while (is_space(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return SSH_AK_EMPTY;

	next_token(&p, type, sizeof(type));
	t = plain_key_type(type);
	if (t == SSH_KEYTYPE_UNKNOWN) {
		/* Options come first; a key type must follow them. */
		for (;;) {
			if (next_token(&p, type, sizeof(type)) == 0)
				return SSH_AK_BAD;
			if (ssh_key_type_from_name(type) != SSH_KEYTYPE_UNKNOWN)
				return SSH_AK_OPTIONS;
		}
	}

	while (is_space(*p))
		p++;
	size_t blen = strcspn(p, " \t\r\n");
	if (blen == 0)
		return SSH_AK_BAD;
	char *b64 = strndup(p, blen);
	if (!b64)
		return SSH_AK_BAD;
	ssh_key k = NULL;
	int rc = ssh_pki_import_pubkey_base64(b64, t, &k);
	free(b64);
	if (rc != SSH_OK || !k) {
		ssh_key_free(k);
		return SSH_AK_BAD;
	}
	/* The blob names its own type; it must be the one the line says.
	 * libssh also accepts some malformed blobs (a DSA key of zeros, found
	 * by fuzz_ssh_authkeys) as keys it cannot even write back: a key
	 * that does not survive a round trip is not a key. */
	char *again = NULL;
	if (ssh_key_type(k) != t || !ssh_key_is_public(k) ||
	    ssh_pki_export_pubkey_base64(k, &again) != SSH_OK) {
		ssh_key_free(k);
		return SSH_AK_BAD;
	}
	ssh_string_free_char(again);
	*key = k;
	return SSH_AK_KEY;
}

void ssh_ak_log_init(struct ssh_ak_log *lg)
{
	memset(lg, 0, sizeof(*lg));
	pthread_mutex_init(&lg->lock, NULL);
}

void ssh_ak_log_destroy(struct ssh_ak_log *lg)
{
	pthread_mutex_destroy(&lg->lock);
}

/* Should this version of the file have its problems logged? Claims it, so
 * concurrent logins log them once. */
static bool claim_log(struct ssh_ak_log *lg, const struct stat *st)
{
	bool fresh;

	if (!lg)
		return true;
	pthread_mutex_lock(&lg->lock);
	fresh = !lg->logged || lg->dev != st->st_dev || lg->ino != st->st_ino ||
		lg->size != st->st_size ||
		lg->mtime.tv_sec != st->st_mtim.tv_sec ||
		lg->mtime.tv_nsec != st->st_mtim.tv_nsec;
	if (fresh) {
		lg->logged = true;
		lg->dev = st->st_dev;
		lg->ino = st->st_ino;
		lg->size = st->st_size;
		lg->mtime = st->st_mtim;
	}
	pthread_mutex_unlock(&lg->lock);
	return fresh;
}

/* File-level problems: logged when they first appear or change. */
static int file_problem(struct ssh_ak_log *lg, int err, const char *path,
			const char *what)
{
	bool fresh = true;

	if (lg) {
		struct stat none = { 0 };
		none.st_size = err; /* a pseudo version: the problem itself */
		none.st_ino = (ino_t)-1;
		fresh = claim_log(lg, &none);
	}
	if (fresh)
		log_warn("authorized_keys %s: %s; nobody can log in with it",
			 path, what);
	return err;
}

int ssh_ak_match(const char *path, const ssh_key key, struct ssh_ak_log *lg)
{
	struct stat st;
	char errbuf[128];
	int fd, found = 0;

	if (!path)
		return file_problem(lg, -ENOENT, "(none)", "no file given");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int err = -errno;
		return file_problem(lg, err, path, strerror(-err));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return file_problem(lg, -EINVAL, path, "not a regular file");
	}
	/* As OpenSSH's StrictModes: whoever may write the file decides who
	 * logs in. */
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		close(fd);
		snprintf(errbuf, sizeof(errbuf),
			 "writable by group or others (mode %03o)",
			 (unsigned)(st.st_mode & 0777));
		return file_problem(lg, -EPERM, path, errbuf);
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		close(fd);
		return file_problem(lg, -EPERM, path,
				    "owned by another user");
	}

	FILE *f = fdopen(fd, "r");
	char *line = malloc(SSH_AK_LINE_MAX + 2);
	if (!f || !line) {
		if (f)
			fclose(f);
		else
			close(fd);
		free(line);
		return -ENOMEM;
	}
	bool report = claim_log(lg, &st);
	unsigned lineno = 0;
	while (fgets(line, SSH_AK_LINE_MAX + 2, f)) {
		size_t n = strlen(line);
		lineno++;
		if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
			/* Too long: skip the rest of it. */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			if (report)
				log_warn("authorized_keys %s line %u: longer than %d bytes, skipped",
					 path, lineno, SSH_AK_LINE_MAX);
			continue;
		}
		ssh_key k = NULL;
		switch (ssh_ak_parse_line(line, &k)) {
		case SSH_AK_KEY:
			if (ssh_key_cmp(k, key, SSH_KEY_CMP_PUBLIC) == 0)
				found = 1;
			ssh_key_free(k);
			break;
		case SSH_AK_EMPTY:
			break;
		case SSH_AK_OPTIONS:
			if (report)
				log_warn("authorized_keys %s line %u: key options are not supported, line skipped",
					 path, lineno);
			break;
		case SSH_AK_BAD:
			if (report)
				log_warn("authorized_keys %s line %u: not a public key, skipped",
					 path, lineno);
			break;
		}
	}
	free(line);
	fclose(f);
	return found;
}
