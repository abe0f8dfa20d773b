/* POST /v1/query at the agent: the checks of PROTOCOL.md in their order,
 * then the operation. The body comes from the untrusted handler, so the
 * refusals are fixed texts: they never echo what the body or the opened
 * plaintext held, and nothing about keys. */
#include "agent_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../vmi/vmi_json.h"

static int refuse(int http, const char *code, const char *text,
		  char **reply, int *status, struct agent_qlog *log)
{
	json_t *j = json_pack("{s:s, s:s}", "error", text, "code", code);

	*reply = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	*status = http;
	if (log)
		log->code = code;
	return *reply ? 0 : -ENOMEM;
}

/* The outer request: exactly v (1), tenant, instance, vm, ciphertext,
 * names valid. NULL (and the reason in *why) when not. */
static const char *outer_fields[] = { "v", "tenant", "instance", "vm",
				      "ciphertext" };

static json_t *parse_outer(const char *body, size_t len, const char **why)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	const char *k;
	json_t *v;

	if (!o) {
		*why = "the body is not JSON";
		return NULL;
	}
	if (!json_is_object(o)) {
		*why = "the body is not a JSON object";
		goto bad;
	}
	json_object_foreach(o, k, v) {
		size_t i = 0;
		while (i < 5 && strcmp(outer_fields[i], k))
			i++;
		if (i == 5) {
			*why = "unknown field (v, tenant, instance, vm, "
			       "ciphertext only)";
			goto bad;
		}
		if (i == 0 ? !json_is_integer(v) : !json_is_string(v)) {
			*why = "a field of the wrong type";
			goto bad;
		}
	}
	if (json_object_size(o) != 5) {
		*why = "missing fields (v, tenant, instance, vm, ciphertext)";
		goto bad;
	}
	if (json_integer_value(json_object_get(o, "v")) != CVMI_VERSION) {
		*why = "unsupported version";
		goto bad;
	}
	if (!cvmi_valid_name(json_string_value(json_object_get(o, "tenant"))) ||
	    !cvmi_valid_name(json_string_value(json_object_get(o, "instance"))) ||
	    !cvmi_valid_name(json_string_value(json_object_get(o, "vm")))) {
		*why = "a bad tenant, instance or VM name";
		goto bad;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* Runs the opened request and seals its answer: an operation that fails
 * is an answer too (ok false), for the tenant's eyes only. */
static int answer(struct agent *a, const struct agent_tenant *t,
		  struct agent_instance *in, const struct cvmi_request *req,
		  char **reply, int *status, struct agent_qlog *log)
{
	char operr[512], msg[256];
	json_t *result = NULL;
	char *ct = NULL;
	int r;

	r = agent_vm_run(&in->vm, &in->conf.src, req->op, req->args, &result,
			 operr, sizeof(operr));
	r = cvmi_response_seal(req, r < 0 ? NULL : result,
			       r < 0 ? operr : NULL, time(NULL), t->pk,
			       a->key.sk, &ct, msg, sizeof(msg));
	json_decref(result);
	if (r == -EMSGSIZE || r == -E2BIG)
		r = cvmi_response_seal(req, NULL, "the result is too large to "
				       "send", time(NULL), t->pk, a->key.sk,
				       &ct, msg, sizeof(msg));
	if (r < 0)
		return refuse(500, "internal", "cannot seal the response",
			      reply, status, log);
	json_t *j = json_pack("{s:i, s:s}", "v", CVMI_VERSION, "ciphertext",
			      ct);
	free(ct);
	*reply = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	*status = 200;
	return *reply ? 0 : -ENOMEM;
}

int agent_handle_query(struct agent *a, const char *body, size_t len,
		       char **reply, int *status, struct agent_qlog *log)
{
	struct cvmi_request req = { 0 };
	const struct agent_tenant *t;
	struct agent_instance *in;
	const char *why = NULL;
	char msg[256];
	json_t *o;
	int r;

	*reply = NULL;
	if (log)
		memset(log, 0, sizeof(*log));
	if (len > AGENT_BODY_MAX)
		return refuse(413, "too_large", "the body is over 8 MiB", reply,
			      status, log);
	o = parse_outer(body, len, &why);
	if (!o)
		return refuse(400, "bad_request", why, reply, status, log);
	const char *tenant = json_string_value(json_object_get(o, "tenant"));
	const char *instance = json_string_value(json_object_get(o,
								 "instance"));
	const char *vm = json_string_value(json_object_get(o, "vm"));
	const char *ct = json_string_value(json_object_get(o, "ciphertext"));
	if (log) {
		snprintf(log->tenant, sizeof(log->tenant), "%s", tenant);
		snprintf(log->instance, sizeof(log->instance), "%s", instance);
	}
	t = agent_find_tenant(a, tenant);
	if (!t) {
		r = refuse(404, "unknown", "unknown tenant", reply, status,
			   log);
		goto out;
	}
	r = cvmi_request_open(ct, tenant, instance, t->pk, a->key.sk, &req,
			      msg, sizeof(msg));
	if (r == -EPERM) {
		r = refuse(403, "misbound", "the request is bound to another "
			   "tenant or instance", reply, status, log);
		goto out;
	}
	if (r == -EPROTO) {
		r = refuse(400, "bad_request", "the request opens but is "
			   "malformed", reply, status, log);
		goto out;
	}
	if (r == -ENOMEM) {
		r = refuse(500, "internal", "out of memory", reply, status,
			   log);
		goto out;
	}
	if (r < 0) {
		r = refuse(401, "bad_ciphertext", "the ciphertext does not "
			   "open", reply, status, log);
		goto out;
	}
	if (log)
		vmi_sanitize(req.op, log->op, sizeof(log->op));
	in = agent_find_instance(a, instance);
	if (!in) {
		r = refuse(404, "unknown", "unknown instance", reply, status,
			   log);
		goto out;
	}
	if (strcmp(in->conf.tenant, tenant) || strcmp(in->conf.vm, vm)) {
		r = refuse(403, "misbound", "the instance is not this "
			   "tenant's, or not that VM", reply, status, log);
		goto out;
	}
	r = cvmi_replay_check(a->replay, tenant, req.id, req.ts, time(NULL));
	if (r == -EALREADY) {
		r = refuse(409, "replay", "the request was seen before", reply,
			   status, log);
		goto out;
	}
	if (r == -ETIME) {
		r = refuse(409, "stale", "the request's time is out of the "
			   "window", reply, status, log);
		goto out;
	}
	if (r < 0) {
		r = refuse(503, "busy", "too many recent requests", reply,
			   status, log);
		goto out;
	}
	r = answer(a, t, in, &req, reply, status, log);
out:
	cvmi_request_clear(&req);
	json_decref(o);
	return r;
}
