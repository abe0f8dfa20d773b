/* CryptVMI plaintexts (PROTOCOL.md), without the crypto: the parsers
 * cvmi_request_open and cvmi_response_open run once a box has opened,
 * exposed so they can be tested and fuzzed on their own. Internal to
 * cryptvmi/. */
#ifndef VSB_CVMI_PROTO_PLAIN_H
#define VSB_CVMI_PROTO_PLAIN_H

#include "proto.h"

/* A response as the tenant sees it once opened. */
struct cvmi_response {
	int version;
	char id[CVMI_ID_HEX + 1];
	char instance[CVMI_NAME_MAX + 1];
	int64_t ts;		/* unix seconds, the agent's clock */
	bool ok;
	json_t *result;		/* ok: an object or array (owned) */
	char *error;		/* !ok: the agent's error text (malloc'd) */
};

/* Parse and check a request's plaintext (json[0..len), no NUL needed):
 * an object with exactly v, type, tenant, instance, id, ts, op and args,
 * each of its documented type and range, and args valid for op. 0 or
 * -EPROTO (-ENOMEM) with one line in err; on failure out holds nothing
 * to free (cvmi_request_clear is still safe). */
int cvmi_request_parse_plain(const char *json, size_t len,
			     struct cvmi_request *out, char *err,
			     size_t errlen);

/* The same for a response: exactly v, type, id, instance, ts, ok and
 * either result (ok true: object or array) or error (ok false: string). */
int cvmi_response_parse_plain(const char *json, size_t len,
			      struct cvmi_response *out, char *err,
			      size_t errlen);
void cvmi_response_clear(struct cvmi_response *resp);

/* vmi_err, then anything but printable ASCII in err becomes '?': messages
 * quote names, paths and JSON text and must stay one safe line. */
int cvmi_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* True if s is exactly CVMI_ID_HEX lowercase hex digits. */
bool cvmi_valid_id(const char *s);
/* True if op is one of the protocol's operations. */
bool cvmi_valid_op(const char *op);

#endif
