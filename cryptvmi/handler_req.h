/* The handler's JSON (PROTOCOL.md, "Handler"): the tenant's outer request
 * read strictly, the body forwarded to the agent, and the checks on what
 * the agent answers. Only jansson: no HTTP, no directory, so a fuzzer can
 * drive it alone (tests/fuzz/fuzz_cvmi_handler_req.c). The handler never
 * looks inside a ciphertext, only at its alphabet. */
#ifndef VSB_CVMI_HANDLER_REQ_H
#define VSB_CVMI_HANDLER_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

/* Bodies both ways, as PROTOCOL.md bounds them. */
#define CVMI_BODY_MAX (8u << 20)

struct cvmi_query {
	/* At most CVMI_NAME_MAX bytes, no NUL; whether they are valid
	 * names is for cvmi_valid_name. */
	char tenant[CVMI_NAME_MAX + 1];
	char instance[CVMI_NAME_MAX + 1];
	const char *ciphertext;	/* inside root */
	size_t ciphertext_len;
	json_t *root;
};

/* Parses {"v": 1, "tenant": S, "instance": S, "ciphertext": S} with
 * exactly these members once each, v the integer 1, names of 1 to
 * CVMI_NAME_MAX bytes, ciphertext non-empty padded standard base64
 * characters. 0, or -EINVAL with a short reason in err that never quotes
 * the input. On success cvmi_query_clear frees q. */
int cvmi_query_parse(const char *body, size_t len, struct cvmi_query *q,
		     char *err, size_t errlen);
void cvmi_query_clear(struct cvmi_query *q);

/* The agent's request body: the tenant's fields plus the directory's VM
 * name, as compact JSON (malloc'd), or NULL when out of memory. */
char *cvmi_query_forward_body(const struct cvmi_query *q, const char *vm);

/* Is an agent's 200 body {"v": 1, "ciphertext": S, ...}? (The tenant gets
 * it byte for byte.) */
bool cvmi_agent_reply_ok(const char *body, size_t len);
/* Is an agent's refusal body a JSON object (passed through as is)? */
bool cvmi_agent_refusal_ok(const char *body, size_t len);

#endif
