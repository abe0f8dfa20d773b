/* SSH host keys: load or generate (see ssh_hostkeys.h). */
#include "ssh_hostkeys.h"
#include "ssh_util.h"
#include "../vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A private key file is a few KiB at most (RSA 16384 is about 13 KiB). */
#define KEY_FILE_MAX (64 * 1024)

static const struct {
	const char *file;
	enum ssh_keytypes_e type;
	int bits;
	bool generate;
} kinds[SSH_HOSTKEYS_MAX] = {
	{ "ssh_host_ed25519_key", SSH_KEYTYPE_ED25519, 0, true },
	{ "ssh_host_ecdsa_key", SSH_KEYTYPE_ECDSA_P256, 256, true },
	{ "ssh_host_rsa_key", SSH_KEYTYPE_RSA, 0, false },
};

/* mkdir -p, new directories 0700. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

static int check_dir(const char *dir)
{
	struct stat st;
	int err = make_dirs(dir);

	if (err) {
		log_errno(err, "SSH host key directory %s", dir);
		return err;
	}
	if (stat(dir, &st) < 0)
		return log_errno(-errno, "SSH host key directory %s", dir);
	if (!S_ISDIR(st.st_mode)) {
		log_error("SSH host key directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		log_error("SSH host key directory %s belongs to uid %u, not to us (uid %u): refusing it",
			  dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_error("SSH host key directory %s is writable by group or others (mode %03o): chmod 700 it",
			  dir, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	return 0;
}

int ssh_hostkey_read(const char *path, ssh_key *key)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, err = 0;

	*key = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
			O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		if (err != -ENOENT)
			log_errno(err, "SSH host key %s", path);
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = log_errno(-errno, "SSH host key %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("SSH host key %s is not a regular file", path);
		err = -EINVAL;
		goto out;
	}
	if (st.st_uid != geteuid()) {
		log_error("SSH host key %s belongs to uid %u, not to us (uid %u): refusing it",
			  path, (unsigned)st.st_uid, (unsigned)geteuid());
		err = -EPERM;
		goto out;
	}
	if (st.st_mode & 077) {
		log_error("SSH host key %s is accessible to group or others (mode %03o): refusing it; chmod 600 it (and consider it leaked)",
			  path, (unsigned)(st.st_mode & 0777));
		err = -EPERM;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
		log_error("SSH host key %s: size %lld is not that of a key",
			  path, (long long)st.st_size);
		err = -EINVAL;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = log_errno(n < 0 ? -errno : -EIO,
					"SSH host key %s", path);
			goto out;
		}
		len += (size_t)n;
	}
	text[len] = '\0';
	if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, key) !=
		    SSH_OK || !*key) {
		log_error("SSH host key %s: not a private key libssh can read (it must not have a passphrase)",
			  path);
		ssh_key_free(*key);
		*key = NULL;
		err = -EINVAL;
	}
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	close(fd);
	return err;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes text to path through a temporary file created with the final
 * mode, so the key is never readable by others, not even briefly. With
 * exclusive, an existing path is left alone (-EEXIST): another vsbd may
 * have generated it meanwhile. */
static int write_file(const char *path, const char *text, mode_t mode,
		      bool exclusive)
{
	char tmp[PATH_MAX];
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		return -errno;
	err = fchmod(fd, mode) < 0 ? -errno : 0;
	if (!err)
		err = write_all(fd, text, strlen(text));
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err) {
		if (exclusive)
			err = link(tmp, path) < 0 ? -errno : 0;
		else
			err = rename(tmp, path) < 0 ? -errno : 0;
	}
	unlink(tmp);
	return err;
}

static int generate(const char *path, int i, ssh_key *key)
{
	char *priv = NULL, *pub = NULL, *publine = NULL;
	char pubpath[PATH_MAX];
	int err;

	if (ssh_pki_generate(kinds[i].type, kinds[i].bits, key) != SSH_OK) {
		log_error("cannot generate SSH host key %s", path);
		return -EIO;
	}
	if (ssh_pki_export_privkey_base64(*key, NULL, NULL, NULL, &priv) !=
	    SSH_OK) {
		log_error("cannot encode SSH host key %s", path);
		err = -EIO;
		goto out;
	}
	err = write_file(path, priv, 0600, true);
	if (err) {
		if (err != -EEXIST)
			log_errno(err, "cannot write SSH host key %s", path);
		goto out;
	}
	/* The public half, for known_hosts files. */
	if (ssh_pki_export_pubkey_base64(*key, &pub) == SSH_OK &&
	    asprintf(&publine, "%s %s vsbd\n",
		     ssh_key_type_to_char(kinds[i].type), pub) > 0 &&
	    snprintf(pubpath, sizeof(pubpath), "%s.pub", path) <
		    (int)sizeof(pubpath)) {
		int e = write_file(pubpath, publine, 0644, false);
		if (e)
			log_errno(e, "cannot write %s", pubpath);
	}
out:
	if (priv) {
		explicit_bzero(priv, strlen(priv));
		ssh_string_free_char(priv);
	}
	ssh_string_free_char(pub);
	free(publine);
	if (err) {
		ssh_key_free(*key);
		*key = NULL;
	}
	return err;
}

int ssh_hostkeys_load(const char *dir, ssh_key keys[SSH_HOSTKEYS_MAX])
{
	char path[PATH_MAX], fp[SSH_FP_MAX];
	int n = 0, err;

	for (int i = 0; i < SSH_HOSTKEYS_MAX; i++)
		keys[i] = NULL;
	if (!dir || !*dir) {
		log_error("no SSH host key directory");
		return -EINVAL;
	}
	err = check_dir(dir);
	if (err)
		return err;
	for (int i = 0; i < SSH_HOSTKEYS_MAX; i++) {
		ssh_key key = NULL;
		bool made = false;

		if (snprintf(path, sizeof(path), "%s/%s", dir, kinds[i].file) >=
		    (int)sizeof(path)) {
			err = -ENAMETOOLONG;
			goto fail;
		}
		err = ssh_hostkey_read(path, &key);
		if (err == -ENOENT && kinds[i].generate) {
			err = generate(path, i, &key);
			made = !err;
			if (err == -EEXIST) /* someone else made it */
				err = ssh_hostkey_read(path, &key);
		}
		if (err == -ENOENT)
			continue;
		if (err)
			goto fail;
		if (ssh_key_type(key) != kinds[i].type &&
		    !(kinds[i].type == SSH_KEYTYPE_ECDSA_P256 &&
		      (ssh_key_type(key) == SSH_KEYTYPE_ECDSA_P384 ||
		       ssh_key_type(key) == SSH_KEYTYPE_ECDSA_P521))) {
			log_error("SSH host key %s is a %s key, not %s", path,
				  ssh_key_type_to_char(ssh_key_type(key)),
				  ssh_key_type_to_char(kinds[i].type));
			ssh_key_free(key);
			err = -EINVAL;
			goto fail;
		}
		log_info("SSH host key %s %s (%s %s)",
			 ssh_key_type_to_char(ssh_key_type(key)),
			 ssh_key_fp(key, fp), made ? "generated in" : "from",
			 path);
		keys[n++] = key;
	}
	if (n == 0) {
		log_error("no SSH host key in %s", dir);
		return -ENOENT;
	}
	return n;
fail:
	for (int i = 0; i < n; i++) {
		ssh_key_free(keys[i]);
		keys[i] = NULL;
	}
	return err;
}
