/* libFuzzer target: the handler's JSON (cryptvmi/handler_req.c). The input
 * is an HTTP body as a tenant (POST /v1/query) or an agent (its answer)
 * could send it. Checked: a parsed query has names of 1 to 64 bytes
 * without NUL, a ciphertext of base64 characters, and exactly
 * v/tenant/instance/ciphertext; the body forwarded to the agent holds
 * exactly the tenant's fields plus vm, unchanged; an agent reply accepted
 * as a success is also an object a refusal could be. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cryptvmi/handler_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_forward(const struct cvmi_query *q)
{
	char *body = cvmi_query_forward_body(q, "vm-1");
	json_t *o, *v;

	if (!body)
		abort();
	o = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || json_object_size(o) != 5)
		__builtin_trap();
	v = json_object_get(o, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		__builtin_trap();
	if (strcmp(json_string_value(json_object_get(o, "tenant")),
		   q->tenant) ||
	    strcmp(json_string_value(json_object_get(o, "instance")),
		   q->instance) ||
	    strcmp(json_string_value(json_object_get(o, "vm")), "vm-1"))
		__builtin_trap();
	v = json_object_get(o, "ciphertext");
	if (json_string_length(v) != q->ciphertext_len ||
	    memcmp(json_string_value(v), q->ciphertext, q->ciphertext_len))
		__builtin_trap();
	json_decref(o);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct cvmi_query q;
	char err[128] = "";

	if (cvmi_query_parse(body, size, &q, err, sizeof(err)) == 0) {
		size_t t = strlen(q.tenant), i = strlen(q.instance);
		if (!t || t > CVMI_NAME_MAX || !i || i > CVMI_NAME_MAX)
			__builtin_trap();
		if (!q.ciphertext_len || q.ciphertext_len % 4 ||
		    strspn(q.ciphertext, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
			   "klmnopqrstuvwxyz0123456789+/=") !=
			    q.ciphertext_len)
			__builtin_trap();
		if (json_object_size(q.root) != 4)
			__builtin_trap();
		check_forward(&q);
		cvmi_query_clear(&q);
	} else if (!err[0] || q.root) {
		__builtin_trap();
	}
	if (cvmi_agent_reply_ok(body, size) &&
	    !cvmi_agent_refusal_ok(body, size))
		__builtin_trap();
	return 0;
}
