/* Public-key authentication against an OpenSSH authorized_keys file.
 *
 * The file is read again on every attempt, so keys added or removed take
 * effect at once. Format: one key per line, "type base64 [comment]"; blank
 * lines and lines starting with '#' are ignored. Lines with options before
 * the key ("no-pty ssh-ed25519 ...") are skipped: vsbd implements no
 * options, and skipping is safer than ignoring a restriction. Problems are
 * logged once per version of the file. */
#ifndef VSB_SSH_AUTH_H
#define VSB_SSH_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <libssh/libssh.h>

/* Longest line read (OpenSSH's limit on a public key blob is 16 KiB). */
#define SSH_AK_LINE_MAX 16384

enum ssh_ak_line {
	SSH_AK_KEY,     /* a key: *key is set (caller frees) */
	SSH_AK_EMPTY,   /* blank or comment */
	SSH_AK_OPTIONS, /* key options, unsupported: skipped */
	SSH_AK_BAD,     /* not a public key line */
};

/* Parses one line (no newline). */
enum ssh_ak_line ssh_ak_parse_line(const char *line, ssh_key *key);

/* Which version of an authorized_keys file was last complained about, so
 * the same problems are not logged on every login. One per VM; the server
 * initialises it with ssh_ak_log_init. */
struct ssh_ak_log {
	pthread_mutex_t lock;
	bool logged;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

void ssh_ak_log_init(struct ssh_ak_log *lg);
void ssh_ak_log_destroy(struct ssh_ak_log *lg);

/* Is key listed in the authorized_keys file at path? Returns 1 if listed,
 * 0 if not, a negative errno if the file cannot be used (missing, not a
 * regular file, writable by group or others, or not owned by us or root;
 * logged). lg may be NULL (then every problem is logged). */
int ssh_ak_match(const char *path, const ssh_key key, struct ssh_ak_log *lg);

#endif
