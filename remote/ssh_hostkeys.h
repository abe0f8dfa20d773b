/* The SSH server's host keys: loaded from a directory, generated there on
 * first start. An Ed25519 and an ECDSA P-256 key are created when missing;
 * an RSA key ("ssh_host_rsa_key") is used if an administrator put one
 * there. Private key files must be regular files owned by us and not
 * accessible to group or others (0600); the directory is created 0700 and
 * must not be writable by group or others. */
#ifndef VSB_SSH_HOSTKEYS_H
#define VSB_SSH_HOSTKEYS_H

#include <libssh/libssh.h>

#define SSH_HOSTKEYS_MAX 3

/* Fills keys[] (private keys the caller owns) and returns how many there
 * are, at least one; or a negative errno with the reason logged. Logs each
 * key's SHA256 fingerprint. */
int ssh_hostkeys_load(const char *dir, ssh_key keys[SSH_HOSTKEYS_MAX]);

/* Reads one private key file, refusing an unsafe one (logged). Returns 0,
 * -ENOENT if there is no such file (not logged), or another -errno. */
int ssh_hostkey_read(const char *path, ssh_key *key);

#endif
