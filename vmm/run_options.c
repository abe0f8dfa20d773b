/* "vsbd run" command line and VM definition files: see run_options.h. */
#include "run_options.h"
#include "framebuffer.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_USAGE = 2 };

void run_usage(FILE *f)
{
	fprintf(f,
"Usage: vsbd run [OPTIONS] KERNEL\n"
"       vsbd run --config FILE [OPTIONS] [KERNEL]\n"
"       vsbd --help | --version\n"
"\n"
"Boots KERNEL, a Linux bzImage or a PVH ELF kernel, in a new KVM virtual\n"
"machine whose serial console (a 16550A UART at 0x3f8, IRQ 4), keyboard\n"
"(i8042) and screen (a linear framebuffer) are shadow devices inside vsbd.\n"
"Tenants reach them with ssh (console) and VNC through ssh -L.\n"
"\n"
"VM options:\n"
"  -f, --config FILE    read a VM definition (key = value lines; keys are\n"
"                       these long option names and 'kernel'); options on\n"
"                       the command line override it\n"
"  -n, --name NAME      the VM's name, which tenants give as the SSH user\n"
"                       name (letters, digits, . _ -; default '%s')\n"
"  -m, --memory SIZE    guest RAM, with an optional K, M or G suffix\n"
"                       (default 256M; at least 16M)\n"
"  -c, --cpus N         number of vCPUs, 1 to %d (default 1)\n"
"  -a, --append TEXT    kernel command line\n"
"  -i, --initrd FILE    initramfs (Linux) or first module (PVH)\n"
"      --fb WxH|none    the shadow framebuffer's size (default %dx%d)\n"
"      --allow-pvm      boot a bzImage even on kvm_pvm, where guest kernel\n"
"                       code is emulated (slow: for smoke tests only)\n"
"\n"
"Local console and control:\n"
"  -s, --console SPEC   where the serial console goes locally:\n"
"                         stdio (default): this terminal, or stdin/stdout\n"
"                           when they are pipes or files\n"
"                         unix:PATH[,nowait]: a UNIX stream socket; the\n"
"                           guest starts when the first client connects\n"
"                           unless nowait is given; one client at a time\n"
"                         none: no local console (use --ssh)\n"
"  -e, --escape KEY     terminal escape prefix: a letter for Ctrl-letter\n"
"                       (default a, i.e. Ctrl-A), or 'none'. Then x quits,\n"
"                       b sends a serial break, h shows help\n"
"  -C, --control PATH   serve the control socket at PATH (mode 0600): one\n"
"                       command a line: status, pause, resume, stop;\n"
"                       for introspection: vcpus, regs N (vCPU N's\n"
"                       registers), memory [rw] (the guest RAM memfd,\n"
"                       passed read-only unless rw)\n"
"\n"
"Tenant access:\n"
"      --ssh [ADDR:]PORT  serve SSH: 'ssh -p PORT NAME@host' attaches to the\n"
"                       serial console, '... NAME@host watch' watches it,\n"
"                       'ssh -L 5900:localhost:5900 ...' reaches the screen\n"
"                       over VNC. Public keys only (--authorized-keys)\n"
"      --authorized-keys FILE  the tenant's OpenSSH public keys\n"
"      --host-keys DIR  SSH host keys, created on first start (default\n"
"                       /var/lib/vsbd/host-keys, or ~/.local/state/vsbd/\n"
"                       host-keys when not root)\n"
"      --vnc-listen [127.0.0.1:]PORT | [::1]:PORT\n"
"                       also serve VNC on a loopback TCP port (no TLS in\n"
"                       VNC: loopback only; tenants use ssh -L)\n"
"\n"
"Operator side (boundary/PROTOCOL.md):\n"
"      --operator PATH  listen on the UNIX socket PATH for the operator's\n"
"                       guest hypervisor (vsb-ghv); the VM starts when it\n"
"                       says START. Port I/O and MMIO it maps, and PCI\n"
"                       slots it attaches, are forwarded to it\n"
"      --operator-user USER  only USER (name or uid) may connect; the\n"
"                       socket is given to USER, mode 0600\n"
"      --routing bypass|traditional\n"
"                       bypass (default): console, keyboard and screen are\n"
"                       shadow devices the operator never sees;\n"
"                       traditional: they are the operator's (for\n"
"                       comparison; no --ssh or --vnc-listen)\n"
"      --operator-timeout MS  a forwarded access waits this long before\n"
"                       the operator counts as down (default 2000)\n"
"\n"
"  -v, --verbose        log debugging detail to stderr\n"
"  -q, --quiet          log errors only\n"
"  -h, --help           show this help\n"
"  -V, --version        show the version\n"
"\n"
"Exit status:\n"
"  0    the guest powered off (ACPI PM1a sleep, or KVM shutdown event)\n"
"  1    error: KVM refused the VM or a vCPU, a file could not be read,\n"
"       or an internal error\n"
"  2    bad command line or VM definition\n"
"  3    the kernel or initrd was rejected (message says why), or a\n"
"       bzImage was given on kvm_pvm without --allow-pvm\n"
"  4    the guest asked for a reset (i8042 pulse or KVM reset event)\n"
"  5    the guest triple-faulted\n"
"  6    every vCPU halted with interrupts disabled\n"
"  7    the guest kernel panicked (pvpanic)\n"
"  128+N  stopped by signal N (130: SIGINT or the escape key, 143: SIGTERM)\n",
		DEFAULT_VM_NAME, VM_MAX_VCPUS, FB_DEFAULT_WIDTH,
		FB_DEFAULT_HEIGHT);
}

static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case '\0': break;
	default: return false;
	}
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end || v > (~0ULL >> shift))
		return false;
	*out = v << shift;
	return true;
}

enum {
	OPT_ALLOW_PVM = 0x100, OPT_SSH, OPT_AUTH_KEYS, OPT_HOST_KEYS, OPT_FB,
	OPT_VNC_LISTEN, OPT_OPERATOR, OPT_OPERATOR_USER, OPT_ROUTING,
	OPT_OPERATOR_TIMEOUT,
};

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'f' },
	{ "name", required_argument, NULL, 'n' },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "append", required_argument, NULL, 'a' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "console", required_argument, NULL, 's' },
	{ "escape", required_argument, NULL, 'e' },
	{ "control", required_argument, NULL, 'C' },
	{ "allow-pvm", no_argument, NULL, OPT_ALLOW_PVM },
	{ "ssh", required_argument, NULL, OPT_SSH },
	{ "authorized-keys", required_argument, NULL, OPT_AUTH_KEYS },
	{ "host-keys", required_argument, NULL, OPT_HOST_KEYS },
	{ "fb", required_argument, NULL, OPT_FB },
	{ "vnc-listen", required_argument, NULL, OPT_VNC_LISTEN },
	{ "operator", required_argument, NULL, OPT_OPERATOR },
	{ "operator-user", required_argument, NULL, OPT_OPERATOR_USER },
	{ "routing", required_argument, NULL, OPT_ROUTING },
	{ "operator-timeout", required_argument, NULL, OPT_OPERATOR_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};
static const char shortopts[] = "+f:n:m:c:a:i:s:e:C:vqh";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "vsbd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'vsbd --help'.\n");
	return EXIT_USAGE;
}

static int apply(struct run_opts *o, int c, const char *arg)
{
	char *end;

	switch (c) {
	case 'f':
		return 0; /* read before parsing (merge_config) */
	case 'n':
		if (!vmconf_valid_name(arg))
			return usage_error("bad --name '%s': 1 to 32 letters, "
					   "digits, '.', '_' or '-', not "
					   "starting with '.' or '-'", arg);
		o->name = arg;
		return 0;
	case 'm':
		if (!parse_size(arg, &o->vm.ram_size) ||
		    o->vm.ram_size < (16ULL << 20))
			return usage_error("bad --memory '%s': need a size of "
					   "at least 16M", arg);
		return 0;
	case 'c': {
		long n = strtol(arg, &end, 10);
		if (*end || end == arg || n < 1 || n > VM_MAX_VCPUS)
			return usage_error("bad --cpus '%s': need 1 to 64", arg);
		o->vm.nr_vcpus = (int)n;
		return 0;
	}
	case 'a':
		o->kernel.cmdline = arg;
		return 0;
	case 'i':
		o->kernel.initrd = arg;
		return 0;
	case 's': {
		int esc = o->console.escape;
		o->console_none = !strcmp(arg, "none");
		if (!o->console_none &&
		    !console_parse_spec(arg, &o->console))
			return usage_error("bad --console '%s': use stdio, "
					   "unix:PATH[,nowait] or none", arg);
		o->console.escape = esc;
		return 0;
	}
	case 'e':
		if (!strcmp(arg, "none")) {
			o->console.escape = -1;
		} else if (strlen(arg) == 1 && isalpha((unsigned char)arg[0])) {
			o->console.escape = (arg[0] | 0x20) - 'a' + 1;
		} else {
			return usage_error("bad --escape '%s': use a letter or "
					   "'none'", arg);
		}
		return 0;
	case 'C':
		o->control = arg;
		return 0;
	case OPT_ALLOW_PVM:
		o->kernel.allow_pvm = true;
		return 0;
	case OPT_SSH:
		o->ssh_listen = arg;
		return 0;
	case OPT_AUTH_KEYS:
		o->authorized_keys = arg;
		return 0;
	case OPT_HOST_KEYS:
		o->host_keys = arg;
		return 0;
	case OPT_FB:
		if (!strcmp(arg, "none")) {
			o->fb_width = o->fb_height = 0;
		} else if (!fb_parse_geometry(arg, &o->fb_width,
					      &o->fb_height)) {
			return usage_error("bad --fb '%s': use WxH (64 to 4096 "
					   "each, at most 64 MiB) or none", arg);
		}
		return 0;
	case OPT_VNC_LISTEN:
		o->vnc_listen = arg;
		return 0;
	case OPT_OPERATOR:
		o->operator_path = arg;
		return 0;
	case OPT_OPERATOR_USER:
		o->operator_user = arg;
		return 0;
	case OPT_ROUTING:
		if (strcmp(arg, "bypass") && strcmp(arg, "traditional"))
			return usage_error("bad --routing '%s': use bypass or "
					   "traditional", arg);
		o->traditional = !strcmp(arg, "traditional");
		return 0;
	case OPT_OPERATOR_TIMEOUT: {
		long ms = strtol(arg, &end, 10);
		if (*end || end == arg || ms < 10 || ms > 600000)
			return usage_error("bad --operator-timeout '%s': need "
					   "10 to 600000 (ms)", arg);
		o->operator_timeout_ms = (unsigned)ms;
		return 0;
	}
	case 'v':
		o->log_level = LOG_DEBUG;
		return 0;
	case 'q':
		o->log_level = LOG_ERROR;
		return 0;
	case 'h':
		run_usage(stdout);
		exit(0);
	default:
		fprintf(stderr, "Try 'vsbd --help'.\n");
		return EXIT_USAGE;
	}
}

/* Finds --config/-f before the real parse: the file's settings go first in
 * the merged vector so that the command line overrides them. */
static const char *find_config(int argc, char **argv)
{
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			break;
		if ((!strcmp(a, "-f") || !strcmp(a, "--config")) &&
		    i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(a, "--config=", 9))
			path = a + 9;
		else if (!strncmp(a, "-f", 2) && a[2])
			path = a + 2;
	}
	return path;
}

static int merge_config(int argc, char **argv, struct run_opts *o,
			int *out_argc)
{
	const char *path = find_config(argc, argv);
	size_t n = 0;

	if (path && vmconf_load(path, &o->conf))
		return 1;
	o->argv = calloc((size_t)argc + o->conf.nargs + 2, sizeof(char *));
	if (!o->argv)
		return 1;
	o->argv[n++] = argv[0];
	for (size_t i = 0; i < o->conf.nargs; i++)
		o->argv[n++] = o->conf.args[i];
	for (int i = 1; i < argc; i++)
		o->argv[n++] = argv[i];
	*out_argc = (int)n;
	return 0;
}

int run_options_parse(int argc, char **argv, struct run_opts *o)
{
	int c, ret, n;

	*o = (struct run_opts){
		.vm = { .ram_size = 256ULL << 20, .nr_vcpus = 1 },
		.console = { .kind = CONSOLE_STDIO, .escape = 1 },
		.log_level = LOG_INFO,
		.name = DEFAULT_VM_NAME,
		.fb_width = FB_DEFAULT_WIDTH,
		.fb_height = FB_DEFAULT_HEIGHT,
	};
	ret = merge_config(argc, argv, o, &n);
	if (ret)
		return ret;
	optind = 1;
	while ((c = getopt_long(n, o->argv, shortopts, longopts, NULL)) != -1) {
		ret = apply(o, c, optarg);
		if (ret)
			return ret;
	}
	if (optind < n - 1)
		return usage_error("run: %s", "too many arguments");
	o->kernel.kernel = optind < n ? o->argv[optind] : o->conf.kernel;
	if (!o->kernel.kernel)
		return usage_error("run: %s", "missing KERNEL");
	if (o->ssh_listen && !o->authorized_keys)
		return usage_error("--ssh needs --authorized-keys FILE%s", "");
	if (o->vnc_listen && !o->fb_width)
		return usage_error("--vnc-listen needs a framebuffer%s", "");
	if ((o->operator_user || o->traditional) && !o->operator_path)
		return usage_error("--operator-user and --routing traditional "
				   "need --operator PATH%s", "");
	/* In traditional routing the consoles are the operator's: vsbd has
	 * no shadow device to serve. */
	if (o->traditional && (o->ssh_listen || o->vnc_listen))
		return usage_error("--ssh and --vnc-listen serve shadow devices;"
				   " --routing traditional has none%s", "");
	return 0;
}

void run_options_free(struct run_opts *o)
{
	vmconf_free(&o->conf);
	free(o->argv);
	o->argv = NULL;
}

char *default_host_key_dir(void)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *s = NULL;

	if (geteuid() == 0)
		return strdup("/var/lib/vsbd/host-keys");
	if (state && state[0] == '/')
		return asprintf(&s, "%s/vsbd/host-keys", state) < 0 ? NULL : s;
	if (home && home[0] == '/')
		return asprintf(&s, "%s/.local/state/vsbd/host-keys", home) < 0
			       ? NULL : s;
	return NULL;
}
