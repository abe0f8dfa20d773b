/* CryptVMI key pairs and key files (proto.h). A key file is one line,
 * "cryptvmi-{secret,public}-key-v1 BASE64" and a newline; anything else
 * is refused, so a truncated, concatenated or hand-mangled file never
 * yields a key. */
#include "proto.h"
#include "proto_plain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define B64 sodium_base64_VARIANT_ORIGINAL
#define SECRET_TAG "cryptvmi-secret-key-v1"
#define PUBLIC_TAG "cryptvmi-public-key-v1"
/* tag, space, base64 of sk||pk, newline, NUL */
#define LINE_MAX_LEN (sizeof(SECRET_TAG) + \
		      sodium_base64_ENCODED_LEN(2 * CVMI_KEY_BYTES, B64) + 1)

void cvmi_keygen(struct cvmi_keypair *kp)
{
	crypto_box_keypair(kp->pk, kp->sk);
}

/* "TAG BASE64(key)\n" into line (LINE_MAX_LEN); its length. */
static size_t format_line(char *line, const char *tag, const uint8_t *key,
			  size_t keylen)
{
	size_t n = strlen(tag);

	memcpy(line, tag, n);
	line[n++] = ' ';
	sodium_bin2base64(line + n, LINE_MAX_LEN - n, key, keylen, B64);
	n += strlen(line + n);
	line[n++] = '\n';
	line[n] = 0;
	return n;
}

/* Parses buf[0..len): exactly "TAG BASE64" and at most one final
 * newline, the base64 canonical and of exactly keylen bytes. */
static int parse_line(const char *buf, size_t len, const char *tag,
		      uint8_t *key, size_t keylen, const char *what,
		      char *err, size_t errlen)
{
	size_t tlen = strlen(tag);
	size_t b64len = sodium_base64_ENCODED_LEN(keylen, B64) - 1;
	size_t got;
	bool want_secret = !strcmp(tag, SECRET_TAG);
	const char *other = want_secret ? PUBLIC_TAG : SECRET_TAG;

	if (len && buf[len - 1] == '\n')
		len--;
	if (len >= strlen(other) && !memcmp(buf, other, strlen(other)))
		return cvmi_err(err, errlen, -EINVAL,
				"%s: is a %s key, not a %s key", what,
				want_secret ? "public" : "secret",
				want_secret ? "secret" : "public");
	if (len < tlen + 1 || memcmp(buf, tag, tlen) || buf[tlen] != ' ')
		return cvmi_err(err, errlen, -EINVAL,
				"%s: does not start with \"%s \"", what, tag);
	if (len - tlen - 1 != b64len ||
	    memchr(buf + tlen + 1, '\n', len - tlen - 1))
		return cvmi_err(err, errlen, -EINVAL,
				"%s: not one line of \"%s\" and %zu base64 characters",
				what, tag, b64len);
	if (sodium_base642bin(key, keylen, buf + tlen + 1, b64len, NULL, &got,
			      NULL, B64) != 0 || got != keylen) {
		sodium_memzero(key, keylen);
		return cvmi_err(err, errlen, -EINVAL, "%s: bad base64", what);
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates path (never an existing file) with exactly mode and line. */
static int write_new(const char *path, mode_t mode, const char *line,
		     size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      mode);
	int ret;

	if (fd < 0)
		return cvmi_err(err, errlen, -errno, "%s: %s", path,
				strerror(errno));
	/* The umask may have taken bits away, never added any: set the
	 * exact mode. */
	ret = fchmod(fd, mode) ? -errno : 0;
	if (!ret)
		ret = write_all(fd, line, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret) {
		unlink(path);
		return cvmi_err(err, errlen, ret, "%s: %s", path,
				strerror(-ret));
	}
	return 0;
}

int cvmi_key_save(const char *secret_path, const char *public_path,
		  const struct cvmi_keypair *kp, char *err, size_t errlen)
{
	uint8_t both[2 * CVMI_KEY_BYTES];
	char line[LINE_MAX_LEN];
	size_t n;
	int ret;

	if (!secret_path)
		return cvmi_err(err, errlen, -EINVAL, "no secret key path");
	memcpy(both, kp->sk, CVMI_KEY_BYTES);
	memcpy(both + CVMI_KEY_BYTES, kp->pk, CVMI_KEY_BYTES);
	n = format_line(line, SECRET_TAG, both, sizeof(both));
	ret = write_new(secret_path, 0600, line, n, err, errlen);
	sodium_memzero(both, sizeof(both));
	sodium_memzero(line, sizeof(line));
	if (ret || !public_path)
		return ret;
	n = format_line(line, PUBLIC_TAG, kp->pk, CVMI_KEY_BYTES);
	ret = write_new(public_path, 0644, line, n, err, errlen);
	/* All or nothing, so that saving again can succeed. */
	if (ret)
		unlink(secret_path);
	return ret;
}

/* Reads a small key file into buf (LINE_MAX_LEN); secret ones must be
 * private to their owner. */
static int read_key_file(const char *path, bool secret, char *buf,
			 size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t n = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cvmi_err(err, errlen, -errno, "%s: %s", path,
				strerror(errno));
	if (fstat(fd, &st)) {
		ret = cvmi_err(err, errlen, -errno, "%s: %s", path,
			       strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = cvmi_err(err, errlen, -EINVAL, "%s: not a regular file",
			       path);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		ret = cvmi_err(err, errlen, -EACCES,
			       "%s: secret key has mode %04o, others can access it (chmod 600)",
			       path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	/* Read one byte more than a key line can have, to see excess. */
	while (n < LINE_MAX_LEN) {
		ssize_t r = read(fd, buf + n, LINE_MAX_LEN - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = cvmi_err(err, errlen, -errno, "%s: %s", path,
				       strerror(errno));
			goto out;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	if (n == LINE_MAX_LEN)
		ret = cvmi_err(err, errlen, -EINVAL, "%s: too long for a key file",
			       path);
	*len = n;
out:
	close(fd);
	return ret;
}

int cvmi_key_load_secret(const char *path, struct cvmi_keypair *kp,
			 char *err, size_t errlen)
{
	uint8_t both[2 * CVMI_KEY_BYTES];
	uint8_t derived[CVMI_KEY_BYTES];
	char buf[LINE_MAX_LEN];
	size_t len = 0;
	int ret;

	ret = read_key_file(path, true, buf, &len, err, errlen);
	if (!ret)
		ret = parse_line(buf, len, SECRET_TAG, both, sizeof(both), path,
				 err, errlen);
	sodium_memzero(buf, sizeof(buf));
	if (ret)
		return ret;
	/* The public half must be the secret one's: a file with a swapped
	 * public key would make us hand out a key we cannot open for. */
	if (crypto_scalarmult_base(derived, both) != 0 ||
	    sodium_memcmp(derived, both + CVMI_KEY_BYTES, CVMI_KEY_BYTES)) {
		sodium_memzero(both, sizeof(both));
		return cvmi_err(err, errlen, -EINVAL,
				"%s: the public key does not match the secret key",
				path);
	}
	memcpy(kp->sk, both, CVMI_KEY_BYTES);
	memcpy(kp->pk, both + CVMI_KEY_BYTES, CVMI_KEY_BYTES);
	sodium_memzero(both, sizeof(both));
	return 0;
}

int cvmi_key_load_public(const char *path, uint8_t pk[CVMI_KEY_BYTES],
			 char *err, size_t errlen)
{
	char buf[LINE_MAX_LEN];
	size_t len = 0;
	int ret;

	ret = read_key_file(path, false, buf, &len, err, errlen);
	if (!ret)
		ret = parse_line(buf, len, PUBLIC_TAG, pk, CVMI_KEY_BYTES, path,
				 err, errlen);
	return ret;
}

int cvmi_key_parse_public(const char *line, uint8_t pk[CVMI_KEY_BYTES],
			  char *err, size_t errlen)
{
	if (!line)
		return cvmi_err(err, errlen, -EINVAL, "no public key");
	return parse_line(line, strlen(line), PUBLIC_TAG, pk, CVMI_KEY_BYTES,
			  "public key", err, errlen);
}

char *cvmi_key_format_public(const uint8_t pk[CVMI_KEY_BYTES])
{
	char line[LINE_MAX_LEN];
	size_t n = format_line(line, PUBLIC_TAG, pk, CVMI_KEY_BYTES);

	line[n - 1] = 0;	/* no newline */
	return strdup(line);
}

void cvmi_key_fingerprint(const uint8_t pk[CVMI_KEY_BYTES], char *buf,
			  size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[16];
	size_t o = 0;

	if (!buf || !len)
		return;
	crypto_generichash(h, sizeof(h), pk, CVMI_KEY_BYTES, NULL, 0);
	for (size_t i = 0; i < sizeof(h); i++) {
		if (o + (i ? 3 : 2) + 1 > len)
			break;
		if (i)
			buf[o++] = ':';
		buf[o++] = hex[h[i] >> 4];
		buf[o++] = hex[h[i] & 15];
	}
	buf[o] = 0;
}
