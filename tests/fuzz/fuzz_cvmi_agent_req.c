/* libFuzzer target: the agent's request handling (cryptvmi/agent_query.c,
 * agent_vm.c), whose input comes from the untrusted handler.
 *
 * A state directory is made once: the agent's key, tenant alice, and
 * instance web1 on a 1 MiB RAM file. An input starting with '!' is sealed
 * by alice as a real request (byte 1 picks the op, the rest is its args
 * JSON), so the fuzzer reaches the operations on guest memory; any other
 * input is the raw POST body (outer JSON, lookups, opening the box).
 *
 * Checked: a reply always comes back as a JSON object with "v" and
 * "ciphertext" (200) or "error" and "code" (a documented 4xx/5xx). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cryptvmi/agent.h"
#include "cryptvmi/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct agent *agent;
static struct cvmi_keypair alice, agent_kp;
static char state_dir[] = "/tmp/fuzz-agent.XXXXXX";

/* libFuzzer ends with exit(): leave no state directory behind. */
static void cleanup(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_cvmi_agent_req: %s left behind\n",
			state_dir);
}

static void setup(void)
{
	char *dir = state_dir, p[256], q[256], err[256];
	FILE *f;

	if (cvmi_init() < 0 || !mkdtemp(dir))
		abort();
	atexit(cleanup);
	cvmi_keygen(&agent_kp);
	cvmi_keygen(&alice);
	snprintf(p, sizeof(p), "%s/agent.key", dir);
	snprintf(q, sizeof(q), "%s/agent.pub", dir);
	if (cvmi_key_save(p, q, &agent_kp, err, sizeof(err)) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/tenants", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/tenants/alice.pub", dir);
	char *line = cvmi_key_format_public(alice.pk);
	f = fopen(p, "w");
	if (!f || !line || fprintf(f, "%s\n", line) < 0 || fclose(f))
		abort();
	free(line);
	snprintf(p, sizeof(p), "%s/ram", dir);
	f = fopen(p, "w");
	if (!f || ftruncate(fileno(f), 1 << 20) < 0 || fclose(f))
		abort();
	snprintf(q, sizeof(q), "%s/instances", dir);
	f = fopen(q, "w");
	if (!f || fprintf(f, "web1 alice vm-a ram:%s:pc\n", p) < 0 ||
	    fclose(f))
		abort();
	if (agent_load(dir, CVMI_MAX_SKEW_S, &agent, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_cvmi_agent_req: %s\n", err);
		abort();
	}
}

static char *sealed_body(const uint8_t *data, size_t size)
{
	static const char *const ops[] = { "info", "ps", "lsmod", "read",
					   "regs", "pause", "resume" };
	char id[CVMI_ID_HEX + 1], *ct = NULL, *body = NULL;
	json_t *args = size > 2 ? json_loadb((const char *)data + 2, size - 2,
					     0, NULL) : NULL;

	if (size < 2 ||
	    cvmi_request_seal("alice", "web1", ops[data[1] % 7], args,
			      time(NULL), agent_kp.pk, alice.sk, id, &ct, NULL,
			      0) < 0) {
		json_decref(args);
		return NULL;
	}
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "tenant",
			      "alice", "instance", "web1", "vm", "vm-a",
			      "ciphertext", ct);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	json_decref(args);
	free(ct);
	return body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *reply = NULL, *body = NULL;
	int status = 0;

	if (!agent)
		setup();
	if (size > 0 && data[0] == '!') {
		body = sealed_body(data, size);
		if (!body)
			return 0;
		data = (const uint8_t *)body;
		size = strlen(body);
	}
	if (agent_handle_query(agent, (const char *)data, size, &reply,
			       &status, NULL) < 0) {
		free(body);
		return 0;
	}
	json_t *r = reply ? json_loads(reply, 0, NULL) : NULL;
	if (!r || !json_is_object(r))
		__builtin_trap();
	if (status == 200 ? !json_is_string(json_object_get(r, "ciphertext"))
			  : (status < 400 || status > 599 ||
			     !json_is_string(json_object_get(r, "error")) ||
			     !json_is_string(json_object_get(r, "code"))))
		__builtin_trap();
	json_decref(r);
	free(reply);
	free(body);
	return 0;
}
