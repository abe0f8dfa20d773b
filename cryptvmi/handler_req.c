/* The handler's outer JSON (handler_req.h). Strict on purpose: what the
 * tenant sent is what the agent gets, so an ambiguous body (a duplicate
 * key two parsers could read differently, an unknown member) is refused
 * rather than guessed at. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "handler_req.h"

/* Duplicates refused; jansson also refuses invalid UTF-8, "\u0000",
 * trailing garbage and nesting deeper than its limit. */
#define STRICT_FLAGS JSON_REJECT_DUPLICATES

static int bad(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

static bool is_b64(const char *s, size_t len)
{
	size_t pad = 0;

	if (len == 0 || len % 4)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)	/* '=' only at the end */
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

static int get_name(json_t *root, const char *key, char *out, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(root, key);
	size_t n;

	if (!json_is_string(v))
		return bad(err, errlen, strcmp(key, "tenant") ?
			   "\"instance\" must be a string" :
			   "\"tenant\" must be a string");
	n = json_string_length(v);
	if (n == 0 || n > CVMI_NAME_MAX)
		return bad(err, errlen, "name of bad length");
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return 0;
}

int cvmi_query_parse(const char *body, size_t len, struct cvmi_query *q,
		     char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v, *ct;
	int ret;

	memset(q, 0, sizeof(*q));
	if (len > CVMI_BODY_MAX)
		return bad(err, errlen, "body too large");
	root = json_loadb(body, len, STRICT_FLAGS, &jerr);
	if (!root)
		return bad(err, errlen, "malformed JSON");
	ret = bad(err, errlen, "body must be a JSON object");
	if (!json_is_object(root))
		goto fail;
	ret = bad(err, errlen, "expected exactly v, tenant, instance, "
		  "ciphertext");
	if (json_object_size(root) != 4)
		goto fail;
	v = json_object_get(root, "v");
	ct = json_object_get(root, "ciphertext");
	if (!v || !ct || !json_object_get(root, "tenant") ||
	    !json_object_get(root, "instance"))
		goto fail;
	ret = bad(err, errlen, "unsupported version");
	if (!json_is_integer(v) || json_integer_value(v) != CVMI_VERSION)
		goto fail;
	ret = get_name(root, "tenant", q->tenant, err, errlen);
	if (!ret)
		ret = get_name(root, "instance", q->instance, err, errlen);
	if (ret)
		goto fail;
	ret = bad(err, errlen, "\"ciphertext\" must be a base64 string");
	if (!json_is_string(ct) ||
	    !is_b64(json_string_value(ct), json_string_length(ct)))
		goto fail;
	q->ciphertext = json_string_value(ct);
	q->ciphertext_len = json_string_length(ct);
	q->root = root;
	if (err && errlen)
		err[0] = '\0';
	return 0;
fail:
	json_decref(root);
	memset(q, 0, sizeof(*q));
	return ret;
}

void cvmi_query_clear(struct cvmi_query *q)
{
	json_decref(q->root);
	memset(q, 0, sizeof(*q));
}

char *cvmi_query_forward_body(const struct cvmi_query *q, const char *vm)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s%}", "v", CVMI_VERSION,
			      "tenant", q->tenant, "instance", q->instance,
			      "vm", vm, "ciphertext", q->ciphertext,
			      q->ciphertext_len);
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static json_t *load_object(const char *body, size_t len)
{
	json_t *root;

	if (len > CVMI_BODY_MAX)
		return NULL;
	root = json_loadb(body, len, STRICT_FLAGS, NULL);
	if (root && !json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

bool cvmi_agent_reply_ok(const char *body, size_t len)
{
	json_t *root = load_object(body, len), *v, *ct;
	bool ok;

	if (!root)
		return false;
	v = json_object_get(root, "v");
	ct = json_object_get(root, "ciphertext");
	ok = json_is_integer(v) && json_integer_value(v) == CVMI_VERSION &&
	     json_is_string(ct);
	json_decref(root);
	return ok;
}

bool cvmi_agent_refusal_ok(const char *body, size_t len)
{
	json_t *root = load_object(body, len);

	json_decref(root);
	return root != NULL;
}
