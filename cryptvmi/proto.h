/* The CryptVMI protocol, version 1 (PROTOCOL.md): what a tenant sends to
 * a compute node's agent through the operator's handler, and back. Only
 * the agent can open a request and only the tenant a response; both are
 * authenticated (libsodium crypto_box: X25519, XSalsa20-Poly1305) and
 * carry, inside the encryption, everything they are bound to: tenant,
 * instance, a random request id and a timestamp. */
#ifndef VSB_CVMI_PROTO_H
#define VSB_CVMI_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CVMI_VERSION 1
#define CVMI_KEY_BYTES 32
#define CVMI_ID_HEX 32		/* request id: 16 random bytes in hex */
#define CVMI_NAME_MAX 64	/* tenant and instance names */
#define CVMI_OP_MAX 15
/* Largest plaintext we seal or accept (a 1 MiB memory read in hex and
 * its JSON fit). */
#define CVMI_PLAIN_MAX (4u << 20)
/* Default bounds on a request's age for the agent. */
#define CVMI_MAX_SKEW_S 60

struct cvmi_keypair {
	uint8_t pk[CVMI_KEY_BYTES];
	uint8_t sk[CVMI_KEY_BYTES];
};

/* libsodium's sodium_init; 0 or -1. Call once before anything else. */
int cvmi_init(void);

void cvmi_keygen(struct cvmi_keypair *kp);
/* Key files (one line of text each):
 *   secret: "cryptvmi-secret-key-v1 <base64 of sk||pk>\n", mode 0600
 *   public: "cryptvmi-public-key-v1 <base64 of pk>\n"
 * Saving refuses to overwrite. Loading a secret key refuses a file that
 * group or others can read. 0 or -errno with one line in err. */
int cvmi_key_save(const char *secret_path, const char *public_path,
		  const struct cvmi_keypair *kp, char *err, size_t errlen);
int cvmi_key_load_secret(const char *path, struct cvmi_keypair *kp,
			 char *err, size_t errlen);
int cvmi_key_load_public(const char *path, uint8_t pk[CVMI_KEY_BYTES],
			 char *err, size_t errlen);
/* The same from/to text (the public key line, e.g. from a config). */
int cvmi_key_parse_public(const char *line, uint8_t pk[CVMI_KEY_BYTES],
			  char *err, size_t errlen);
/* "cryptvmi-public-key-v1 BASE64" (no newline), malloc'd. */
char *cvmi_key_format_public(const uint8_t pk[CVMI_KEY_BYTES]);
/* A short fingerprint to compare by eye: "SHA256-like" 16 hex pairs
 * (BLAKE2b of the key), into buf (>= 48 bytes). */
void cvmi_key_fingerprint(const uint8_t pk[CVMI_KEY_BYTES], char *buf,
			  size_t len);

/* Valid tenant or instance name: [A-Za-z0-9._-]{1,64}, not starting
 * with '.' or '-'. */
bool cvmi_valid_name(const char *s);

/* A request as the agent sees it once opened. args is owned (decref). */
struct cvmi_request {
	int version;
	char tenant[CVMI_NAME_MAX + 1];
	char instance[CVMI_NAME_MAX + 1];
	char id[CVMI_ID_HEX + 1];
	int64_t ts;		/* unix seconds, the tenant's clock */
	char op[CVMI_OP_MAX + 1];
	json_t *args;		/* an object, maybe empty */
};

/* Tenant side: a fresh random id (written to id_out) and the request's
 * ciphertext, base64 of nonce(24) || crypto_box_easy(plaintext), sealed
 * from tenant_sk to agent_pk. args may be NULL ({}). *ct is malloc'd.
 * 0 or -errno. */
int cvmi_request_seal(const char *tenant, const char *instance,
		      const char *op, json_t *args, int64_t now,
		      const uint8_t agent_pk[CVMI_KEY_BYTES],
		      const uint8_t tenant_sk[CVMI_KEY_BYTES],
		      char id_out[CVMI_ID_HEX + 1], char **ct, char *err,
		      size_t errlen);

/* Agent side: opens ct with the claimed tenant's public key, then checks
 * the plaintext: version, types, lengths, and that its tenant and
 * instance are the ones claimed in the clear (outer_*: what the handler
 * forwarded). Does NOT check time or replay (cvmi_replay does). 0, or
 * -EBADMSG (not base64, too short/long, or authentication failed: wrong
 * key, tampered, truncated), -EPROTO (authentic but malformed),
 * -EPERM (bound to another tenant or instance). */
int cvmi_request_open(const char *ct, const char *outer_tenant,
		      const char *outer_instance,
		      const uint8_t tenant_pk[CVMI_KEY_BYTES],
		      const uint8_t agent_sk[CVMI_KEY_BYTES],
		      struct cvmi_request *req, char *err, size_t errlen);
void cvmi_request_clear(struct cvmi_request *req);

/* Agent side: the response to req, sealed from agent_sk to tenant_pk.
 * Either result (an object or array, borrowed) with error NULL, or
 * error text with result NULL. *ct is malloc'd. */
int cvmi_response_seal(const struct cvmi_request *req, json_t *result,
		       const char *error, int64_t now,
		       const uint8_t tenant_pk[CVMI_KEY_BYTES],
		       const uint8_t agent_sk[CVMI_KEY_BYTES], char **ct,
		       char *err, size_t errlen);

/* Tenant side: opens a response and checks it answers request id for
 * instance. On success *result is the agent's result (new reference) and
 * *agent_error NULL, or *result NULL and *agent_error the agent's error
 * text (malloc'd). -EBADMSG (tampered, wrong key), -EPROTO, -EPERM (a
 * response to another request or instance: swapped). */
int cvmi_response_open(const char *ct, const char *id, const char *instance,
		       const uint8_t agent_pk[CVMI_KEY_BYTES],
		       const uint8_t tenant_sk[CVMI_KEY_BYTES],
		       json_t **result, char **agent_error, char *err,
		       size_t errlen);

/* Replay protection (agent): remembers (tenant, id) of accepted
 * requests for 2 * max_skew seconds. A request is refused when its ts is
 * more than max_skew away from now (-ETIME), earlier than the cache's
 * creation (a request made before the agent started could have been
 * seen by an agent that forgot it: -ETIME), or seen before (-EALREADY).
 * At most max_entries remembered (-ENOSPC beyond: refuse rather than
 * forget). Thread-safe. */
struct cvmi_replay;
struct cvmi_replay *cvmi_replay_new(int64_t now, int max_skew,
				    size_t max_entries);
int cvmi_replay_check(struct cvmi_replay *r, const char *tenant,
		      const char *id, int64_t ts, int64_t now);
void cvmi_replay_free(struct cvmi_replay *r);

#endif
