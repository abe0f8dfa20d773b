/* Small helpers shared by the SSH server's modules: a growable byte queue,
 * log-safe copies of client-chosen strings, key fingerprints. */
#ifndef VSB_SSH_UTIL_H
#define VSB_SSH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

/* A FIFO of bytes: data lives in p[off .. off+len). */
struct sbuf {
	uint8_t *p;
	size_t off, len, cap;
};

/* Appends n bytes, growing the buffer. Returns 0 or -ENOMEM. */
int sbuf_add(struct sbuf *b, const void *data, size_t n);
/* Makes room for n more bytes at the tail; returns where they go (commit
 * them with sbuf_commit) or NULL on allocation failure. */
uint8_t *sbuf_reserve(struct sbuf *b, size_t n);
void sbuf_commit(struct sbuf *b, size_t n);
static inline uint8_t *sbuf_data(const struct sbuf *b)
{
	return b->p + b->off;
}
/* Drops n bytes from the head. An emptied large buffer is released. */
void sbuf_consume(struct sbuf *b, size_t n);
void sbuf_free(struct sbuf *b);

/* Copies a client-chosen string for a log line: at most 64 characters,
 * anything outside printable ASCII as \xNN, "..." if cut. out must hold
 * SSH_LOGSTR_MAX bytes. Returns out. */
#define SSH_LOGSTR_MAX 300
const char *ssh_logstr(const char *in, char *out);

/* "SHA256:..." (OpenSSH's format) of a public key, or "?" on error. */
#define SSH_FP_MAX 80
const char *ssh_key_fp(const ssh_key key, char *out);

/* Routes libssh's own log (thread-local in libssh 0.10, so every thread
 * that uses libssh calls this) to our debug level, or turns it off. */
void ssh_log_setup_thread(void);

#endif
