/* cryptvmi-agent: the compute node's CryptVMI agent (README.md "Agent"):
 * its key, the tenants it trusts, which instance is which VM, and the
 * HTTPS server the operator's handler calls. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../vmi/vmi_err.h"
#include "agent_priv.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cryptvmi-agent [--dir DIR] COMMAND [ARGS]\n"
"\n"
"The compute node's CryptVMI agent: opens tenants' sealed introspection\n"
"requests, checks what each is bound to, runs it on the tenant's VM and\n"
"seals the answer for the tenant alone.\n"
"\n"
"Commands:\n"
"  keygen              make the agent's key pair (DIR/agent.key, agent.pub);\n"
"                      prints the public key line and its fingerprint, for\n"
"                      tenants (cryptvmi trust)\n"
"  enroll-tenant NAME PUBFILE\n"
"                      trust tenant NAME's public key (DIR/tenants/NAME.pub)\n"
"  add-instance INSTANCE TENANT VM SOURCE\n"
"                      TENANT's INSTANCE is the VM named VM here, reached\n"
"                      through SOURCE (a line of DIR/instances):\n"
"                        vsbd:/CONTROL/SOCKET     a vsbd VM's control socket\n"
"                        qemu:/RAM/FILE:/QMP/SOCKET  a QEMU guest\n"
"                        core:/CORE/FILE          a QEMU dump-guest-memory core\n"
"                        ram:/RAM/FILE:pc|q35|vsbd   a RAM file alone\n"
"  list                the key's fingerprint, tenants and instances\n"
"  serve --listen ADDR:PORT --cert CERT.pem --key KEY.pem [--max-skew S]\n"
"                      serve HTTPS for the handler until SIGINT or SIGTERM\n"
"                      (requests more than S seconds off, default %d, are\n"
"                      refused)\n"
"\n"
"Options:\n"
"  --dir DIR           state directory (default %s)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.\n"
"See cryptvmi/README.md.\n", CVMI_MAX_SKEW_S, AGENT_DEFAULT_DIR);
}

static int fail(const char *msg)
{
	fprintf(stderr, "cryptvmi-agent: %s\n", msg);
	return EXIT_FAIL;
}

static int bad_usage(const char *msg)
{
	fprintf(stderr, "cryptvmi-agent: %s (see --help)\n", msg);
	return EXIT_USAGE;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	vmi_err(err, errlen, -1, "%s: %s", path, strerror(errno));
	return -1;
}

static int print_key(const char *what, const uint8_t pk[CVMI_KEY_BYTES])
{
	char fp[64];
	char *line = cvmi_key_format_public(pk);

	if (!line)
		return fail("out of memory");
	cvmi_key_fingerprint(pk, fp, sizeof(fp));
	printf("%s%s\nfingerprint %s\n", what, line, fp);
	free(line);
	return 0;
}

static int cmd_keygen(const char *dir)
{
	char sk[PATH_MAX], pk[PATH_MAX], err[512];
	struct cvmi_keypair kp;
	int ret;

	if (make_dir(dir, err, sizeof(err)) < 0)
		return fail(err);
	if (agent_path(sk, sizeof(sk), dir, "agent.key") < 0 ||
	    agent_path(pk, sizeof(pk), dir, "agent.pub") < 0)
		return fail("the directory's path is too long");
	cvmi_keygen(&kp);
	ret = cvmi_key_save(sk, pk, &kp, err, sizeof(err));
	sodium_memzero(kp.sk, sizeof(kp.sk));
	if (ret < 0)
		return fail(err);
	return print_key("", kp.pk);
}

/* Writes text to path through a temporary file and a rename, so readers
 * see the old file or the new one. */
static int write_file(const char *path, const char *text, bool exclusive,
		      char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8];
	size_t len = strlen(text);
	int fd;

	if (exclusive) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			vmi_err(err, errlen, -1, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
			vmi_err(err, errlen, -1, "%s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		close(fd);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		vmi_err(err, errlen, -1, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return 0;
}

static int cmd_enroll(const char *dir, int argc, char **argv)
{
	char tdir[PATH_MAX], path[PATH_MAX], name[CVMI_NAME_MAX + 8];
	char err[600], *line, *text;
	uint8_t pk[CVMI_KEY_BYTES];
	int r;

	if (argc != 2)
		return bad_usage("enroll-tenant NAME PUBFILE");
	if (!cvmi_valid_name(argv[0]))
		return bad_usage("a tenant name is letters, digits, '.', '_' "
				 "and '-', at most 64");
	if (cvmi_key_load_public(argv[1], pk, err, sizeof(err)) < 0)
		return fail(err);
	snprintf(name, sizeof(name), "%s.pub", argv[0]);
	if (agent_path(tdir, sizeof(tdir), dir, "tenants") < 0 ||
	    agent_path(path, sizeof(path), tdir, name) < 0)
		return fail("the directory's path is too long");
	if (make_dir(tdir, err, sizeof(err)) < 0)
		return fail(err);
	line = cvmi_key_format_public(pk);
	text = line ? malloc(strlen(line) + 2) : NULL;
	if (!text) {
		free(line);
		return fail("out of memory");
	}
	sprintf(text, "%s\n", line);
	free(line);
	r = write_file(path, text, true, err, sizeof(err));
	free(text);
	if (r < 0) {
		if (access(path, F_OK) == 0)
			fprintf(stderr, "cryptvmi-agent: tenant %s is already "
				"enrolled (remove %s to replace its key)\n",
				argv[0], path);
		else
			fprintf(stderr, "cryptvmi-agent: %s\n", err);
		return EXIT_FAIL;
	}
	printf("enrolled tenant %s\n", argv[0]);
	return print_key("key ", pk);
}

static int read_instances(const char *path, char **text, size_t *len,
			  char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t cap = AGENT_INSTANCES_FILE_MAX + 1;

	*text = NULL;
	*len = 0;
	if (!f) {
		if (errno != ENOENT) {
			vmi_err(err, errlen, -1, "%s: %s", path, strerror(errno));
			return -1;
		}
		*text = strdup("");
		return *text ? 0 : -1;
	}
	*text = malloc(cap + 1);
	if (*text)
		*len = fread(*text, 1, cap, f);
	fclose(f);
	if (!*text) {
		vmi_err(err, errlen, -1, "out of memory");
		return -1;
	}
	(*text)[*len] = '\0';
	return 0;
}

static int cmd_add_instance(const char *dir, int argc, char **argv)
{
	struct agent_instance_conf *c, one;
	char path[PATH_MAX], tpath[PATH_MAX], name[CVMI_NAME_MAX + 8];
	char err[700], msg[600];
	uint8_t pk[CVMI_KEY_BYTES];
	size_t len, n;
	char *text;
	int r;

	if (argc != 4)
		return bad_usage("add-instance INSTANCE TENANT VM SOURCE");
	for (int i = 0; i < 3; i++) {
		if (!cvmi_valid_name(argv[i]))
			return bad_usage("instance, tenant and VM names are "
					 "letters, digits, '.', '_' and '-', "
					 "at most 64");
	}
	if (agent_source_parse(argv[3], &one.src, msg, sizeof(msg)) < 0)
		return bad_usage(msg);
	snprintf(name, sizeof(name), "tenants/%s.pub", argv[1]);
	if (agent_path(tpath, sizeof(tpath), dir, name) < 0 ||
	    agent_path(path, sizeof(path), dir, "instances") < 0)
		return fail("the directory's path is too long");
	if (cvmi_key_load_public(tpath, pk, msg, sizeof(msg)) < 0) {
		vmi_err(err, sizeof(err), -1, "tenant %s is not enrolled here "
			 "(enroll-tenant): %s", argv[1], msg);
		return fail(err);
	}
	if (read_instances(path, &text, &len, err, sizeof(err)) < 0)
		return fail(err);
	r = agent_instances_parse(text, len, &c, &n, msg, sizeof(msg));
	if (r < 0) {
		free(text);
		vmi_err(err, sizeof(err), -1, "%s: %s", path, msg);
		return fail(err);
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(c[i].name, argv[0])) {
			vmi_err(err, sizeof(err), -1, "instance %s is already "
				 "there (tenant %s, VM %s)", argv[0],
				 c[i].tenant, c[i].vm);
			free(c);
			free(text);
			return fail(err);
		}
	}
	free(c);
	size_t add = strlen(argv[0]) + strlen(argv[1]) + strlen(argv[2]) +
		     strlen(argv[3]) + 6;
	char *nt = realloc(text, len + add);
	if (!nt) {
		free(text);
		return fail("out of memory");
	}
	text = nt;
	snprintf(text + len, add, "%s%s %s %s %s\n",
		 len && text[len - 1] != '\n' ? "\n" : "", argv[0], argv[1],
		 argv[2], argv[3]);
	/* The whole file must still parse (its size, the count). */
	r = agent_instances_parse(text, strlen(text), &c, &n, msg,
				  sizeof(msg));
	if (r == 0) {
		free(c);
		r = write_file(path, text, false, err, sizeof(err));
	} else {
		vmi_err(err, sizeof(err), -1, "%s", msg);
	}
	free(text);
	if (r < 0)
		return fail(err);
	printf("instance %s: tenant %s, VM %s, %s\n", argv[0], argv[1],
	       argv[2], argv[3]);
	return 0;
}

static const char *source_text(const struct agent_source *s, char *buf,
			       size_t len)
{
	static const char *const machines[] = { "pc", "q35", "vsbd" };

	switch (s->kind) {
	case AGENT_SRC_VSBD:
		snprintf(buf, len, "vsbd:%s", s->path);
		break;
	case AGENT_SRC_QEMU:
		snprintf(buf, len, "qemu:%s:%s", s->path, s->qmp);
		break;
	case AGENT_SRC_CORE:
		snprintf(buf, len, "core:%s", s->path);
		break;
	default:
		snprintf(buf, len, "ram:%s:%s", s->path, machines[s->machine]);
		break;
	}
	return buf;
}

static int cmd_list(const char *dir)
{
	char err[700], fp[64], src[2 * PATH_MAX + 16];
	struct agent *a;

	if (agent_load(dir, CVMI_MAX_SKEW_S, &a, err, sizeof(err)) < 0)
		return fail(err);
	cvmi_key_fingerprint(a->key.pk, fp, sizeof(fp));
	printf("agent key fingerprint %s\n", fp);
	printf("tenants (%zu):\n", a->ntenants);
	for (size_t i = 0; i < a->ntenants; i++) {
		cvmi_key_fingerprint(a->tenants[i].pk, fp, sizeof(fp));
		printf("  %-24s %s\n", a->tenants[i].name, fp);
	}
	printf("instances (%zu):\n", a->ninst);
	for (size_t i = 0; i < a->ninst; i++) {
		const struct agent_instance_conf *c = &a->inst[i].conf;
		printf("  %-16s tenant %-16s vm %-16s %s\n", c->name,
		       c->tenant, c->vm, source_text(&c->src, src,
						      sizeof(src)));
	}
	agent_free(a);
	return 0;
}

static int cmd_serve(const char *dir, int argc, char **argv)
{
	enum { O_LISTEN = 256, O_CERT, O_KEY, O_SKEW };
	static const struct option opts[] = {
		{ "listen", required_argument, 0, O_LISTEN },
		{ "cert", required_argument, 0, O_CERT },
		{ "key", required_argument, 0, O_KEY },
		{ "max-skew", required_argument, 0, O_SKEW },
		{ 0, 0, 0, 0 },
	};
	const char *listen = NULL, *cert = NULL, *key = NULL;
	int skew = CVMI_MAX_SKEW_S, o;
	char err[700], *end;
	struct agent *a;

	optind = 0;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case O_LISTEN: listen = optarg; break;
		case O_CERT: cert = optarg; break;
		case O_KEY: key = optarg; break;
		case O_SKEW: {
			long v;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 ||
			    v > 3600)
				return bad_usage("--max-skew: 1 to 3600 "
						 "seconds");
			skew = (int)v;
			break;
		}
		default:
			return bad_usage("serve --listen ADDR:PORT --cert "
					 "CERT.pem --key KEY.pem [--max-skew "
					 "S]");
		}
	}
	if (optind != argc || !listen || !cert || !key)
		return bad_usage("serve --listen ADDR:PORT --cert CERT.pem "
				 "--key KEY.pem [--max-skew S]");
	if (agent_load(dir, skew, &a, err, sizeof(err)) < 0)
		return fail(err);
	int r = agent_serve(a, listen, cert, key, err, sizeof(err));
	agent_free(a);
	return r < 0 ? fail(err) : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'd' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = AGENT_DEFAULT_DIR, *cmd;
	int o;

	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cvmi_init() < 0)
		return fail("libsodium cannot start");
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	if (!strcmp(cmd, "keygen"))
		return argc ? bad_usage("keygen takes no arguments") :
			      cmd_keygen(dir);
	if (!strcmp(cmd, "enroll-tenant"))
		return cmd_enroll(dir, argc, argv);
	if (!strcmp(cmd, "add-instance"))
		return cmd_add_instance(dir, argc, argv);
	if (!strcmp(cmd, "list"))
		return argc ? bad_usage("list takes no arguments") :
			      cmd_list(dir);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(dir, argc + 1, argv - 1);
	return bad_usage("unknown command");
}
