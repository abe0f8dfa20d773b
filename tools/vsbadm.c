/* vsbadm: the administrator's tool for VM definitions. Each VM is a
 * directory DIR/NAME holding vm.conf (read by "vsbd run --config") and the
 * tenant's authorized_keys; vsbadm creates, lists, shows and removes them
 * and adds tenant keys, checking each is a real public key. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libssh/libssh.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../vmm/vmconf.h"

#define KEY_LINE_MAX 16384

static const char *vm_dir_root;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vsbadm [--dir DIR] COMMAND ...\n"
"\n"
"Commands:\n"
"  create NAME --kernel FILE [--initrd FILE] [--append TEXT]\n"
"         [--memory SIZE] [--cpus N] [--ssh [ADDR:]PORT] [--key PUBFILE]...\n"
"         [--fb WxH|none] [--vnc-listen [127.0.0.1:]PORT]\n"
"                        define a VM; --key adds a tenant's public key\n"
"  add-key NAME PUBFILE  let one more tenant key in (no restart needed)\n"
"  list                  the defined VMs\n"
"  show NAME             a VM's definition and its tenant keys\n"
"  start NAME [VSBD-RUN-OPTIONS]\n"
"                        run it: exec vsbd run --config DIR/NAME/vm.conf\n"
"  remove NAME           delete a VM's definition\n"
"\n"
"  --dir DIR  where VM definitions live (default /var/lib/vsbd/vms for\n"
"             root, else ~/.local/state/vsbd/vms)\n"
"\n"
"Exit status: 0 done, 1 failed (message says why), 2 bad usage.\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("vsbadm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static char *vm_path(const char *name, const char *file)
{
	char *p;
	if (asprintf(&p, "%s/%s%s%s", vm_dir_root, name, file ? "/" : "",
		     file ? file : "") < 0) {
		perror("vsbadm");
		exit(1);
	}
	return p;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = -errno;
			free(p);
			return e;
		}
		*s = '/';
	}
	free(p);
	return mkdir(path, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/* Reads the first key line of an OpenSSH .pub file and checks it with
 * libssh. Private keys are refused: libssh would happily derive the public
 * half, but a private key must never be copied to the VMM host. */
static int read_pubkey(const char *path, char *line, size_t len)
{
	FILE *f = fopen(path, "r");
	ssh_key key = NULL;

	if (!f)
		return fail("cannot open %s: %s", path, strerror(errno));
	line[0] = '\0';
	while (fgets(line, (int)len, f)) {
		if (strstr(line, "PRIVATE KEY")) {
			fclose(f);
			return fail("%s is a private key: give the tenant's "
				    "public key (.pub)", path);
		}
		if (line[0] != '#' && line[0] != '\n')
			break;
		line[0] = '\0';
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	char type[64], b64[KEY_LINE_MAX];
	if (sscanf(line, "%63s %16383s", type, b64) != 2 ||
	    ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type),
					 &key) != SSH_OK)
		return fail("%s: not an OpenSSH public key line (type base64 "
			    "[comment])", path);
	ssh_key_free(key);
	return 0;
}

static int append_key(const char *name, const char *pubfile)
{
	char line[KEY_LINE_MAX];
	if (read_pubkey(pubfile, line, sizeof(line)))
		return 1;
	char *path = vm_path(name, "authorized_keys");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		free(path);
		return fail("cannot open %s/authorized_keys: %s", name,
			    strerror(e));
	}
	dprintf(fd, "%s\n", line);
	close(fd);
	free(path);
	printf("added key from %s to VM %s\n", pubfile, name);
	return 0;
}

static bool vm_exists(const char *name)
{
	char *p = vm_path(name, "vm.conf");
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "ssh", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'K' },
		{ "fb", required_argument, NULL, 'f' },
		{ "vnc-listen", required_argument, NULL, 'l' },
		{ 0 },
	};
	const char *keys[16];
	int nkeys = 0, c;
	char conf[8192];
	size_t n = 0;
	const char *kernel = NULL;

	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (!vmconf_valid_name(name))
		return fail("bad VM name '%s': 1 to %d letters, digits, '.', "
			    "'_' or '-'", name, VM_NAME_MAX);
	n += (size_t)snprintf(conf, sizeof(conf), "# vsbd VM definition "
			      "(vsbd --help lists the keys)\nname = %s\n",
			      name);
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *key = NULL;
		char *abs = NULL;
		switch (c) {
		case 'k':
		case 'i':
			/* Paths are stored absolute: the file lives elsewhere. */
			abs = realpath(optarg, NULL);
			if (!abs)
				return fail("%s: %s", optarg, strerror(errno));
			if (c == 'k')
				kernel = optarg;
			key = c == 'k' ? "kernel" : "initrd";
			break;
		case 'a': key = "append"; break;
		case 'm': key = "memory"; break;
		case 'c': key = "cpus"; break;
		case 's': key = "ssh"; break;
		case 'f': key = "fb"; break;
		case 'l': key = "vnc-listen"; break;
		case 'K':
			if (nkeys == 16)
				return fail("at most 16 --key at creation");
			keys[nkeys++] = optarg;
			continue;
		default:
			return 2;
		}
		const char *v = abs ? abs : optarg;
		if (strpbrk(v, "\n\r"))
			return fail("--%s: a value may not contain a newline",
				    key);
		n += (size_t)snprintf(conf + n, sizeof(conf) - n, "%s = %s\n",
				      key, v);
		free(abs);
		if (n >= sizeof(conf))
			return fail("definition too long");
	}
	if (optind != argc)
		return fail("create: unexpected argument '%s'", argv[optind]);
	if (!kernel)
		return fail("create: --kernel FILE is required");
	if (vm_exists(name))
		return fail("VM %s exists already (vsbadm remove %s first)",
			    name, name);
	/* Validate every key before writing anything. */
	char line[KEY_LINE_MAX];
	for (int i = 0; i < nkeys; i++)
		if (read_pubkey(keys[i], line, sizeof(line)))
			return 1;
	n += (size_t)snprintf(conf + n, sizeof(conf) - n,
			      "authorized-keys = authorized_keys\n");
	char *dir = vm_path(name, NULL);
	int e = mkdir_p(dir, 0755);
	free(dir);
	if (e)
		return fail("cannot create %s/%s: %s", vm_dir_root, name,
			    strerror(-e));
	char *path = vm_path(name, "authorized_keys");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return fail("cannot create authorized_keys: %s", strerror(errno));
	close(fd);
	for (int i = 0; i < nkeys; i++)
		if (append_key(name, keys[i]))
			return 1;
	path = vm_path(name, "vm.conf");
	char *tmp;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return fail("out of memory");
	FILE *f = fopen(tmp, "w");
	if (!f || fwrite(conf, 1, n, f) != n || fclose(f) != 0 ||
	    rename(tmp, path) < 0)
		return fail("cannot write %s: %s", path, strerror(errno));
	printf("created VM %s in %s/%s\nstart it with: vsbd run --config %s\n",
	       name, vm_dir_root, name, path);
	free(tmp);
	free(path);
	return 0;
}

static int cat_file(const char *path, const char *indent)
{
	char line[KEY_LINE_MAX];
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		printf("%s%s", indent, line);
	fclose(f);
	return 0;
}

static int cmd_show(const char *name)
{
	if (!vmconf_valid_name(name) || !vm_exists(name))
		return fail("no VM named '%s' in %s", name, vm_dir_root);
	char *p = vm_path(name, "vm.conf");
	printf("%s:\n", p);
	cat_file(p, "  ");
	free(p);
	p = vm_path(name, "authorized_keys");
	printf("%s:\n", p);
	cat_file(p, "  ");
	free(p);
	return 0;
}

static int cmd_list(void)
{
	DIR *d = opendir(vm_dir_root);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : fail("%s: %s", vm_dir_root,
						  strerror(errno));
	while ((de = readdir(d)))
		if (vmconf_valid_name(de->d_name) && vm_exists(de->d_name))
			printf("%s\n", de->d_name);
	closedir(d);
	return 0;
}

static int cmd_remove(const char *name)
{
	if (!vmconf_valid_name(name) || !vm_exists(name))
		return fail("no VM named '%s' in %s", name, vm_dir_root);
	static const char *const files[] = { "vm.conf", "authorized_keys" };
	for (size_t i = 0; i < 2; i++) {
		char *p = vm_path(name, files[i]);
		if (unlink(p) < 0 && errno != ENOENT)
			return fail("cannot remove %s: %s", p, strerror(errno));
		free(p);
	}
	char *dir = vm_path(name, NULL);
	if (rmdir(dir) < 0)
		fprintf(stderr, "vsbadm: kept %s: %s\n", dir, strerror(errno));
	free(dir);
	printf("removed VM %s\n", name);
	return 0;
}

/* vsbd next to this program first (a build tree), then $PATH. */
static int cmd_start(const char *self, const char *name, int argc,
		     char **argv)
{
	if (!vmconf_valid_name(name) || !vm_exists(name))
		return fail("no VM named '%s' in %s", name, vm_dir_root);
	char **args = calloc((size_t)argc + 5, sizeof(char *));
	char *conf = vm_path(name, "vm.conf");
	char *vsbd = NULL, *slash = strrchr(self, '/');
	if (!args)
		return fail("out of memory");
	if (slash && asprintf(&vsbd, "%.*s/vsbd", (int)(slash - self), self) >= 0
	    && access(vsbd, X_OK) != 0) {
		free(vsbd);
		vsbd = NULL;
	}
	int n = 0;
	args[n++] = vsbd ? vsbd : "vsbd";
	args[n++] = "run";
	args[n++] = "--config";
	args[n++] = conf;
	for (int i = 0; i < argc; i++)
		args[n++] = argv[i];
	execvp(args[0], args);
	return fail("cannot run %s: %s", args[0], strerror(errno));
}

int main(int argc, char **argv)
{
	char *def = NULL;
	int i = 1;

	if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (i + 1 < argc && !strcmp(argv[i], "--dir")) {
		vm_dir_root = argv[i + 1];
		i += 2;
	} else if (i < argc && !strncmp(argv[i], "--dir=", 6)) {
		vm_dir_root = argv[i++] + 6;
	}
	if (!vm_dir_root) {
		const char *home = getenv("HOME");
		if (geteuid() == 0)
			vm_dir_root = "/var/lib/vsbd/vms";
		else if (home && asprintf(&def, "%s/.local/state/vsbd/vms",
					  home) >= 0)
			vm_dir_root = def;
		else
			return fail("no VM directory: give --dir DIR");
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int left = argc - i;
	if (!strcmp(cmd, "create"))
		return cmd_create(left, argv + i);
	if (!strcmp(cmd, "list") && left == 1)
		return cmd_list();
	if (!strcmp(cmd, "show") && left == 2)
		return cmd_show(argv[i + 1]);
	if (!strcmp(cmd, "remove") && left == 2)
		return cmd_remove(argv[i + 1]);
	if (!strcmp(cmd, "add-key") && left == 3) {
		if (!vmconf_valid_name(argv[i + 1]) || !vm_exists(argv[i + 1]))
			return fail("no VM named '%s' in %s", argv[i + 1],
				    vm_dir_root);
		return append_key(argv[i + 1], argv[i + 2]);
	}
	if (!strcmp(cmd, "start") && left >= 2)
		return cmd_start(argv[0], argv[i + 1], left - 2, argv + i + 2);
	usage(stderr);
	free(def);
	return 2;
}
