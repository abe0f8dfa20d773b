/* cryptvmi: the tenant's command. It seals an introspection request for
 * the agent next to the instance's VM, sends it through the operator's
 * handler, and opens and prints the answer. The handler sees ciphertext
 * only (PROTOCOL.md). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_config.h"
#include "cli_print.h"
#include "https_post.h"
#include "proto.h"

/* Exit statuses (documented in --help and README.md). */
#define EX_OK 0
#define EX_OPFAIL 1	/* the agent ran the operation and it failed */
#define EX_USAGE 2
#define EX_REFUSED 3	/* the handler or agent refused the request */
#define EX_FORGED 4	/* an answer that does not authenticate or match */
#define EX_LOCAL 5	/* configuration, keys, network */

#define REPLY_MAX (8u << 20)

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cryptvmi [--config DIR] [--json] COMMAND ...\n"
"\n"
"Encrypted introspection of your VMs: requests are sealed for the agent on\n"
"the VM's compute node and pass the operator's handler as ciphertext.\n"
"\n"
"Set-up:\n"
"  keygen                     make your key pair (DIR/tenant.key, 0600)\n"
"  enroll                     print your public key and what to do with it\n"
"  configure --handler URL --tenant NAME --token TOKEN [--ca FILE]\n"
"                             where the handler is and who you are\n"
"  trust INSTANCE AGENT.pub   the agent key for INSTANCE, from its node's\n"
"                             administrator (compare the fingerprint)\n"
"Queries (INSTANCE: your VM's name):\n"
"  info INSTANCE              kernel release, KASLR offset, ...\n"
"  ps INSTANCE                processes\n"
"  lsmod INSTANCE             kernel modules\n"
"  read INSTANCE ADDR LEN [--pid PID | --phys] [--raw]\n"
"                             memory (kernel virtual by default)\n"
"  regs INSTANCE [VCPU]       a vCPU's registers\n"
"  pause INSTANCE | resume INSTANCE\n"
"\n"
"Options: --config DIR (default $CRYPTVMI_DIR or ~/.config/cryptvmi),\n"
"  --json (the agent's JSON result), --timeout MS (default 10000).\n"
"Exit status: 0 success; 1 the operation failed in the VM; 2 bad usage;\n"
"3 refused by the handler or agent; 4 an answer that did not authenticate\n"
"or answered another request; 5 local trouble (config, keys, network).\n");
}

struct cli {
	const char *dir_opt;
	char dir[PATH_MAX];
	bool json, raw, phys;
	long pid, timeout_ms;
	const char *handler, *tenant, *token, *ca;
	char err[512];
};

static int fail(struct cli *c, int status)
{
	fprintf(stderr, "cryptvmi: %s\n", c->err);
	return status;
}

static int cmd_keygen(struct cli *c)
{
	char sec[PATH_MAX + 16], pub[PATH_MAX + 16], fp[64];
	struct cvmi_keypair kp;

	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(c->err, sizeof(c->err), "%.300s: %s", c->dir,
			 strerror(errno));
		return fail(c, EX_LOCAL);
	}
	snprintf(sec, sizeof(sec), "%s/tenant.key", c->dir);
	snprintf(pub, sizeof(pub), "%s/tenant.pub", c->dir);
	cvmi_keygen(&kp);
	if (cvmi_key_save(sec, pub, &kp, c->err, sizeof(c->err)) < 0)
		return fail(c, EX_LOCAL);
	cvmi_key_fingerprint(kp.pk, fp, sizeof(fp));
	printf("key pair written: %s (secret), %s\nfingerprint %s\n", sec,
	       pub, fp);
	return EX_OK;
}

static int cmd_enroll(struct cli *c)
{
	char pub[PATH_MAX + 16], fp[64];
	uint8_t pk[CVMI_KEY_BYTES];

	snprintf(pub, sizeof(pub), "%s/tenant.pub", c->dir);
	if (cvmi_key_load_public(pub, pk, c->err, sizeof(c->err)) < 0)
		return fail(c, EX_LOCAL);
	char *line = cvmi_key_format_public(pk);
	cvmi_key_fingerprint(pk, fp, sizeof(fp));
	printf("Your public key (%s), fingerprint %s:\n\n  %s\n\n"
	       "1. Give it to the administrator of the compute node that runs "
	       "your VM,\n   who installs it in the agent:\n"
	       "     cryptvmi-agent enroll-tenant YOUR_NAME tenant.pub\n"
	       "   and gives you the agent's public key and fingerprint.\n"
	       "2. Check that fingerprint with them by a channel you trust, "
	       "then:\n     cryptvmi trust INSTANCE agent.pub\n"
	       "3. The operator's administrator registers you and your "
	       "instance with\n   the handler (cryptvmi-admin add-tenant / "
	       "add-instance) and gives you\n   your token:\n"
	       "     cryptvmi configure --handler URL --tenant YOUR_NAME "
	       "--token TOKEN\n"
	       "The handler never gets your key or the agent's: it could "
	       "substitute them.\n", pub, fp, line ? line : "?");
	free(line);
	return EX_OK;
}

static int cmd_configure(struct cli *c)
{
	struct cli_config cfg = { 0 };

	if (!c->handler || !c->tenant || !c->token) {
		fprintf(stderr, "cryptvmi: configure needs --handler, "
			"--tenant and --token\n");
		return EX_USAGE;
	}
	if (!cvmi_valid_name(c->tenant) ||
	    strlen(c->handler) >= sizeof(cfg.handler) ||
	    strlen(c->token) >= sizeof(cfg.token) || strchr(c->token, '\n') ||
	    strchr(c->handler, '\n') ||
	    (c->ca && (strlen(c->ca) >= sizeof(cfg.ca) ||
		       strchr(c->ca, '\n')))) {
		fprintf(stderr, "cryptvmi: configure: bad value\n");
		return EX_USAGE;
	}
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", c->dir);
	strcpy(cfg.handler, c->handler);
	strcpy(cfg.tenant, c->tenant);
	strcpy(cfg.token, c->token);
	if (c->ca && realpath(c->ca, cfg.ca) == NULL) {
		snprintf(c->err, sizeof(c->err), "%.300s: %s", c->ca,
			 strerror(errno));
		return fail(c, EX_LOCAL);
	}
	if (cli_config_save(&cfg, c->err, sizeof(c->err)) < 0)
		return fail(c, EX_LOCAL);
	printf("configuration written: %s/config\n", c->dir);
	return EX_OK;
}

static int cmd_trust(struct cli *c, const char *instance, const char *file)
{
	char dir[PATH_MAX + 16], dst[PATH_MAX + 96], fp[64];
	uint8_t pk[CVMI_KEY_BYTES];

	if (!cvmi_valid_name(instance)) {
		fprintf(stderr, "cryptvmi: bad instance name\n");
		return EX_USAGE;
	}
	if (cvmi_key_load_public(file, pk, c->err, sizeof(c->err)) < 0)
		return fail(c, EX_LOCAL);
	snprintf(dir, sizeof(dir), "%s/agents", c->dir);
	if ((mkdir(c->dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		snprintf(c->err, sizeof(c->err), "%.300s: %s", dir,
			 strerror(errno));
		return fail(c, EX_LOCAL);
	}
	snprintf(dst, sizeof(dst), "%s/%s.pub", dir, instance);
	char *line = cvmi_key_format_public(pk);
	FILE *f = line ? fopen(dst, "we") : NULL;
	if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0) {
		snprintf(c->err, sizeof(c->err), "%.300s: %s", dst,
			 strerror(errno));
		free(line);
		return fail(c, EX_LOCAL);
	}
	free(line);
	cvmi_key_fingerprint(pk, fp, sizeof(fp));
	printf("instance %s: agent key %s trusted\n", instance, fp);
	return EX_OK;
}

/* Seals op for instance, sends it, opens the answer, prints it. */
static int query(struct cli *c, const char *op, const char *instance,
		 json_t *args)
{
	struct cli_config cfg;
	struct cvmi_keypair me;
	uint8_t agent[CVMI_KEY_BYTES];
	char key[PATH_MAX + 16], id[CVMI_ID_HEX + 1], url[600];
	char *ct = NULL, *body = NULL, *agent_error = NULL;
	struct https_reply rep = { 0 };
	json_t *req = NULL, *ans = NULL, *result = NULL;
	int status = EX_LOCAL;

	if (!cvmi_valid_name(instance)) {
		fprintf(stderr, "cryptvmi: bad instance name\n");
		json_decref(args);
		return EX_USAGE;
	}
	snprintf(key, sizeof(key), "%s/tenant.key", c->dir);
	if (cli_config_load(c->dir, &cfg, c->err, sizeof(c->err)) < 0 ||
	    cvmi_key_load_secret(key, &me, c->err, sizeof(c->err)) < 0 ||
	    cli_agent_key(&cfg, instance, agent, c->err, sizeof(c->err)) < 0 ||
	    cvmi_request_seal(cfg.tenant, instance, op, args, time(NULL),
			      agent, me.sk, id, &ct, c->err,
			      sizeof(c->err)) < 0)
		goto out;
	req = json_pack("{s:i, s:s, s:s, s:s}", "v", CVMI_VERSION, "tenant",
			cfg.tenant, "instance", instance, "ciphertext", ct);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	snprintf(url, sizeof(url), "%s/v1/query", cfg.handler);
	if (!body) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		goto out;
	}
	if (https_post_json(url, cfg.token, cfg.ca[0] ? cfg.ca : NULL, body,
			    REPLY_MAX, c->timeout_ms, &rep, c->err,
			    sizeof(c->err)) < 0)
		goto out;
	ans = rep.body ? json_loads(rep.body, JSON_REJECT_DUPLICATES, NULL) :
			 NULL;
	if (rep.status != 200) {
		const char *e = json_string_value(json_object_get(ans,
								  "error"));
		snprintf(c->err, sizeof(c->err), "refused (HTTP %ld): %s",
			 rep.status, e ? e : "no reason given");
		status = EX_REFUSED;
		goto out;
	}
	const char *rct = json_string_value(json_object_get(ans,
							    "ciphertext"));
	status = EX_FORGED;
	if (!rct) {
		snprintf(c->err, sizeof(c->err), "the handler's answer has no "
			 "ciphertext");
		goto out;
	}
	if (cvmi_response_open(rct, id, instance, agent, me.sk, &result,
			       &agent_error, c->err, sizeof(c->err)) < 0)
		goto out;
	if (agent_error) {
		snprintf(c->err, sizeof(c->err), "%.300s: %s", op, agent_error);
		status = EX_OPFAIL;
		goto out;
	}
	if (cli_print(op, result, c->json, c->raw) < 0) {
		snprintf(c->err, sizeof(c->err), "unexpected result shape");
		goto out;
	}
	status = EX_OK;
out:
	sodium_memzero(&me, sizeof(me));
	if (status != EX_OK)
		fprintf(stderr, "cryptvmi: %s\n", c->err);
	json_decref(args);
	json_decref(req);
	json_decref(ans);
	json_decref(result);
	https_reply_free(&rep);
	free(ct);
	free(body);
	free(agent_error);
	return status;
}

int main(int argc, char **argv)
{
	enum { O_CONFIG = 256, O_JSON, O_RAW, O_PID, O_PHYS, O_HANDLER,
	       O_TENANT, O_TOKEN, O_CA, O_TIMEOUT };
	static const struct option opts[] = {
		{ "config", required_argument, 0, O_CONFIG },
		{ "json", no_argument, 0, O_JSON },
		{ "raw", no_argument, 0, O_RAW },
		{ "pid", required_argument, 0, O_PID },
		{ "phys", no_argument, 0, O_PHYS },
		{ "handler", required_argument, 0, O_HANDLER },
		{ "tenant", required_argument, 0, O_TENANT },
		{ "token", required_argument, 0, O_TOKEN },
		{ "ca", required_argument, 0, O_CA },
		{ "timeout", required_argument, 0, O_TIMEOUT },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct cli c = { .pid = -1, .timeout_ms = 10000 };
	char *end;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case O_CONFIG: c.dir_opt = optarg; break;
		case O_JSON: c.json = true; break;
		case O_RAW: c.raw = true; break;
		case O_PHYS: c.phys = true; break;
		case O_HANDLER: c.handler = optarg; break;
		case O_TENANT: c.tenant = optarg; break;
		case O_TOKEN: c.token = optarg; break;
		case O_CA: c.ca = optarg; break;
		case O_PID:
			c.pid = strtol(optarg, &end, 10);
			if (*end || c.pid < 0 || c.pid > 0x7fffffff) {
				fprintf(stderr, "cryptvmi: --pid %s\n", optarg);
				return EX_USAGE;
			}
			break;
		case O_TIMEOUT:
			c.timeout_ms = strtol(optarg, &end, 10);
			if (*end || c.timeout_ms < 1 || c.timeout_ms > 600000) {
				fprintf(stderr, "cryptvmi: --timeout %s\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'h': usage(stdout); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (cvmi_init() < 0) {
		fprintf(stderr, "cryptvmi: libsodium failed to start\n");
		return EX_LOCAL;
	}
	if (cli_config_dir(c.dir_opt, c.dir, sizeof(c.dir), c.err,
			   sizeof(c.err)) < 0)
		return fail(&c, EX_LOCAL);
	const char *cmd = argv[optind];
	char **a = argv + optind + 1;
	int n = argc - optind - 1;

	if (!strcmp(cmd, "keygen") && n == 0)
		return cmd_keygen(&c);
	if (!strcmp(cmd, "enroll") && n == 0)
		return cmd_enroll(&c);
	if (!strcmp(cmd, "configure") && n == 0)
		return cmd_configure(&c);
	if (!strcmp(cmd, "trust") && n == 2)
		return cmd_trust(&c, a[0], a[1]);
	if ((!strcmp(cmd, "info") || !strcmp(cmd, "ps") ||
	     !strcmp(cmd, "lsmod") || !strcmp(cmd, "pause") ||
	     !strcmp(cmd, "resume")) && n == 1)
		return query(&c, cmd, a[0], NULL);
	if (!strcmp(cmd, "regs") && (n == 1 || n == 2)) {
		long v = 0;
		if (n == 2 && ((v = strtol(a[1], &end, 10)) < 0 || *end ||
			       v > 8191)) {
			fprintf(stderr, "cryptvmi: regs INSTANCE [VCPU]\n");
			return EX_USAGE;
		}
		return query(&c, cmd, a[0], json_pack("{s:i}", "vcpu",
						      (int)v));
	}
	if (!strcmp(cmd, "read") && n == 3) {
		long len = strtol(a[2], &end, 0);
		if (*end || len < 1 || len > 1048576 ||
		    strncmp(a[1], "0x", 2) || (c.phys && c.pid >= 0)) {
			fprintf(stderr, "cryptvmi: read INSTANCE 0xADDR LEN "
				"(1..1048576) [--pid PID | --phys]\n");
			return EX_USAGE;
		}
		json_t *args = json_pack("{s:s, s:i}", "addr", a[1], "len",
					 (int)len);
		if (c.pid >= 0)
			json_object_set_new(args, "pid",
					    json_integer(c.pid));
		if (c.phys)
			json_object_set_new(args, "phys", json_true());
		return query(&c, cmd, a[0], args);
	}
	fprintf(stderr, "cryptvmi: unknown command or wrong arguments: %s "
		"(see --help)\n", cmd);
	return EX_USAGE;
}
