/* Helpers shared by the SSH server's modules (see ssh_util.h). */
#include "ssh_util.h"
#include "../vmm/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/callbacks.h>

/* An emptied buffer larger than this is given back to the allocator. */
#define SBUF_KEEP (64 * 1024)

uint8_t *sbuf_reserve(struct sbuf *b, size_t n)
{
	if (b->len == 0)
		b->off = 0;
	if (b->off + b->len + n <= b->cap)
		return b->p + b->off + b->len;
	if (b->off) { /* slide the data to the front first */
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		if (b->len + n <= b->cap)
			return b->p + b->len;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return NULL;
	b->p = p;
	b->cap = cap;
	return b->p + b->len;
}

void sbuf_commit(struct sbuf *b, size_t n)
{
	b->len += n;
}

int sbuf_add(struct sbuf *b, const void *data, size_t n)
{
	uint8_t *dst = sbuf_reserve(b, n);

	if (!dst)
		return -ENOMEM;
	memcpy(dst, data, n);
	b->len += n;
	return 0;
}

void sbuf_consume(struct sbuf *b, size_t n)
{
	if (n >= b->len) {
		b->off = b->len = 0;
		if (b->cap > SBUF_KEEP)
			sbuf_free(b);
		return;
	}
	b->off += n;
	b->len -= n;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ 0 };
}

const char *ssh_logstr(const char *in, char *out)
{
	size_t o = 0;
	int shown = 0;

	if (!in) {
		snprintf(out, SSH_LOGSTR_MAX, "(none)");
		return out;
	}
	for (; *in && shown < 64; in++, shown++) {
		unsigned char ch = (unsigned char)*in;
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
	}
	if (*in) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *ssh_key_fp(const ssh_key key, char *out)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;

	snprintf(out, SSH_FP_MAX, "?");
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
				   &hlen) == 0) {
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
					      hlen);
		if (fp)
			snprintf(out, SSH_FP_MAX, "%s", fp);
	}
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	return out;
}

static void libssh_log(int priority, const char *function, const char *buffer,
		       void *userdata)
{
	(void)priority;
	(void)function;
	(void)userdata;
	log_debug("libssh: %s", buffer);
}

void ssh_log_setup_thread(void)
{
	/* libssh logs protocol details only; WARNING keeps it to problems.
	 * Nothing at that level carries channel data. */
	if (log_get_level() >= LOG_DEBUG) {
		ssh_set_log_callback(libssh_log);
		ssh_set_log_level(SSH_LOG_WARNING);
	} else {
		ssh_set_log_level(SSH_LOG_NOLOG);
	}
}
