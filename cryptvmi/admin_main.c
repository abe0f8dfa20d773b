/* cryptvmi-admin: the handler administrator's tool (cryptvmi/README.md,
 * "Admin tool"). Registers tenants (each gets a bearer token, shown once
 * and stored only as a hash), compute nodes (their agent's URL and CA)
 * and instances (tenant, node, hypervisor-side VM name) in the handler's
 * directory. It never sees a tenant's or an agent's keys: those are
 * exchanged without the handler (PROTOCOL.md, "Keys"). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cryptvmi-admin --db FILE COMMAND ...\n"
"\n"
"Commands:\n"
"  add-tenant NAME         register a tenant; prints its bearer token, once\n"
"  rotate-token NAME       a new token for NAME (the old one stops working)\n"
"  add-node NAME URL [--ca CAFILE]\n"
"                          a compute node whose agent listens at URL\n"
"                          (https://HOST:PORT); CAFILE checks its certificate\n"
"                          (default: the system's CAs)\n"
"  add-instance NAME --tenant T --node N --vm VM\n"
"                          tenant T's instance NAME, VM VM on node N\n"
"  remove-tenant NAME      (once it has no instances)\n"
"  remove-node NAME        (once it has no instances)\n"
"  remove-instance NAME\n"
"  list                    tenants, nodes and instances (never tokens)\n"
"\n"
"  --db FILE  the handler's directory; add-* create it (mode 0600)\n"
"\n"
"Names: 1 to %d letters, digits, '.', '_' or '-', not starting with '.'\n"
"or '-'. Exit status: 0 done, 1 failed (message says why), 2 bad usage.\n",
		CVMI_NAME_MAX);
}

/* One line on stderr: our name, the message, then tail. */
static void vsay(const char *tail, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void vsay(const char *tail, const char *fmt, va_list ap)
{
	fputs("cryptvmi-admin: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(tail, stderr);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay("\n", fmt, ap);
	va_end(ap);
	return 1;
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(" (see --help)\n", fmt, ap);
	va_end(ap);
	return 2;
}

static int check_name(const char *kind, const char *name)
{
	if (cvmi_valid_name(name))
		return 0;
	return fail("bad %s name '%s': 1 to %d letters, digits, '.', '_' or "
		    "'-', not starting with '.' or '-'", kind, name,
		    CVMI_NAME_MAX);
}

/* An agent's URL: https only (the agents speak nothing else), printable,
 * no spaces. */
static bool valid_agent_url(const char *url)
{
	size_t len = strlen(url);

	if (len <= 8 || len > CVMI_URL_MAX || strncmp(url, "https://", 8))
		return false;
	for (size_t i = 0; i < len; i++)
		if (url[i] <= ' ' || url[i] >= 0x7f)
			return false;
	return true;
}

/* Prints a new token once: stdout gets only the token, for scripts. */
static int new_token(struct cvmi_dir *d, const char *name, bool rotate)
{
	char token[CVMI_TOKEN_TEXT + 1], err[512];
	uint8_t hash[CVMI_TOKEN_HASH_BYTES];
	int ret;

	cvmi_token_new(token, hash);
	ret = rotate ? d->ops->set_token(d, name, hash, err, sizeof(err))
		     : d->ops->add_tenant(d, name, hash, err, sizeof(err));
	if (ret) {
		sodium_memzero(token, sizeof(token));
		return fail("%s", err);
	}
	printf("%s\n", token);
	fflush(stdout);
	sodium_memzero(token, sizeof(token));
	fprintf(stderr,
		"cryptvmi-admin: %s '%s'; its bearer token is above, shown "
		"only this once: give it to the tenant privately\n",
		rotate ? "new token for tenant" : "added tenant", name);
	return 0;
}

static int add_node(struct cvmi_dir *d, const char *name, const char *url,
		    const char *ca)
{
	struct cvmi_node_info info = { 0 };
	char err[512];

	if (!valid_agent_url(url))
		return fail("bad agent URL '%s': want https://HOST:PORT, at "
			    "most %d characters, no spaces", url,
			    CVMI_URL_MAX);
	snprintf(info.url, sizeof(info.url), "%s", url);
	if (ca) {
		/* Absolute, so the handler finds it from any directory. */
		char *abs = realpath(ca, NULL);
		FILE *f = abs ? fopen(abs, "re") : NULL;
		char line[128];
		bool pem = false;

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "-----BEGIN CERTIFICATE-----")) {
				pem = true;
				break;
			}
		if (f)
			fclose(f);
		if (!abs || !pem || strlen(abs) >= sizeof(info.ca_file)) {
			int e = errno;
			free(abs);
			return fail("CA file %s: %s", ca,
				    !abs || !f ? strerror(e)
					       : "no PEM certificate in it");
		}
		snprintf(info.ca_file, sizeof(info.ca_file), "%s", abs);
		free(abs);
	}
	if (d->ops->add_node(d, name, &info, err, sizeof(err)))
		return fail("%s", err);
	return 0;
}

static int print_entry(const struct cvmi_dir_entry *e, void *arg)
{
	(void)arg;
	switch (e->kind) {
	case CVMI_DIR_TENANT:
		printf("tenant   %s\n", e->name);
		break;
	case CVMI_DIR_NODE:
		printf("node     %s  url=%s  ca=%s\n", e->name, e->node->url,
		       e->node->ca_file[0] ? e->node->ca_file : "(system)");
		break;
	case CVMI_DIR_INSTANCE:
		printf("instance %s  tenant=%s  node=%s  vm=%s\n", e->name,
		       e->instance->tenant, e->instance->node,
		       e->instance->vm);
		break;
	}
	return 0;
}

struct args {
	const char *db, *tenant, *node, *vm, *ca;
	const char *cmd;
	char **pos;		/* the command's arguments */
	int npos;
};

/* Which command takes how many arguments and which options. */
static int check_usage(const struct args *a, int want, bool ca,
		       bool instance_opts)
{
	if (a->npos != want)
		return usage_error("%s takes %d argument%s, not %d", a->cmd,
				   want, want == 1 ? "" : "s", a->npos);
	if (a->ca && !ca)
		return usage_error("--ca is only for add-node");
	if ((a->tenant || a->node || a->vm) && !instance_opts)
		return usage_error("--tenant, --node and --vm are only for "
				   "add-instance");
	if (instance_opts && (!a->tenant || !a->node || !a->vm))
		return usage_error("add-instance needs --tenant, --node and "
				   "--vm");
	return 0;
}

static int run(struct args *a)
{
	static const char *const cmds[] = {
		"add-tenant", "rotate-token", "add-node", "add-instance",
		"remove-tenant", "remove-node", "remove-instance", "list",
	};
	struct cvmi_instance_info inst = { 0 };
	struct cvmi_dir *d;
	char err[512];
	const char *c = a->cmd, *name = a->npos ? a->pos[0] : "";
	bool known = false;
	int ret;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		known |= !strcmp(c, cmds[i]);
	if (!known)
		return usage_error("unknown command '%s'", c);
	ret = check_usage(a, !strcmp(c, "list") ? 0 :
			     !strcmp(c, "add-node") ? 2 : 1,
			  !strcmp(c, "add-node"), !strcmp(c, "add-instance"));
	if (ret)
		return ret;
	if (!strcmp(c, "add-instance")) {
		if (check_name("instance", name) ||
		    check_name("tenant", a->tenant) ||
		    check_name("node", a->node) || check_name("VM", a->vm))
			return 1;
		snprintf(inst.tenant, sizeof(inst.tenant), "%s", a->tenant);
		snprintf(inst.node, sizeof(inst.node), "%s", a->node);
		snprintf(inst.vm, sizeof(inst.vm), "%s", a->vm);
	} else if (strcmp(c, "list") &&
		   check_name(!strcmp(c, "rotate-token") ? "tenant"
							  : strchr(c, '-') + 1,
			      name)) {
		return 1;
	}

	if (cvmi_dir_sqlite_open(a->db, !strncmp(c, "add-", 4), &d, err,
				 sizeof(err)))
		return fail("%s", err);
	if (!strcmp(c, "add-tenant") || !strcmp(c, "rotate-token"))
		ret = new_token(d, name, c[0] == 'r');
	else if (!strcmp(c, "add-node"))
		ret = add_node(d, name, a->pos[1], a->ca);
	else if (!strcmp(c, "list"))
		ret = d->ops->list(d, print_entry, NULL, err, sizeof(err)) ?
			      fail("%s", err) : 0;
	else if (!strcmp(c, "add-instance"))
		ret = d->ops->add_instance(d, name, &inst, err, sizeof(err)) ?
			      fail("%s", err) : 0;
	else if (!strcmp(c, "remove-tenant"))
		ret = d->ops->remove_tenant(d, name, err, sizeof(err)) ?
			      fail("%s", err) : 0;
	else if (!strcmp(c, "remove-node"))
		ret = d->ops->remove_node(d, name, err, sizeof(err)) ?
			      fail("%s", err) : 0;
	else
		ret = d->ops->remove_instance(d, name, err, sizeof(err)) ?
			      fail("%s", err) : 0;
	cvmi_dir_close(d);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "tenant", required_argument, NULL, 't' },
		{ "node", required_argument, NULL, 'n' },
		{ "vm", required_argument, NULL, 'v' },
		{ "ca", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct args a = { 0 };
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': a.db = optarg; break;
		case 't': a.tenant = optarg; break;
		case 'n': a.node = optarg; break;
		case 'v': a.vm = optarg; break;
		case 'c': a.ca = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fputs("Try 'cryptvmi-admin --help'.\n", stderr);
			return 2;
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	if (!a.db)
		return usage_error("--db FILE is required");
	a.cmd = argv[optind];
	a.pos = argv + optind + 1;
	a.npos = argc - optind - 1;
	if (sodium_init() < 0)
		return fail("libsodium failed to start");
	return run(&a);
}
