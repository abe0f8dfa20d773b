/* vsb-ghv: the operator's guest hypervisor, an untrusted process that
 * drives one VM in vsbd over the boundary protocol and emulates the
 * devices vsbd forwards to it. operator/README.md has the whole story. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../vmm/log.h"
#include "ghv_client.h"
#include "ghv_console.h"
#include "ghv_disk.h"
#include "ghv_sandbox.h"
#include "ghv_tap.h"

#define GHV_PROG_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_VSBD = 3 };

struct options {
	const char *vsbd, *vm, *disk, *user, *tap;
	const char *ssh, *authorized_keys, *host_keys, *vnc;
	enum log_level level;
	bool no_start;
};

struct ghv {
	struct options o;
	struct ghv_client *client;
	struct ghv_disk *disk;
	struct ghv_console *console;
	struct ghv_tap *tap;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vsb-ghv --vsbd SOCK --vm NAME [OPTIONS]\n"
"       vsb-ghv --help | --version\n"
"\n"
"The operator's guest hypervisor: connects to vsbd's operator socket\n"
"(vsbd run --operator SOCK), creates and starts the VM NAME there and\n"
"emulates the devices vsbd forwards to it. It is not trusted by vsbd.\n"
"\n"
"  --vsbd SOCK            vsbd's operator socket\n"
"  --vm NAME              the VM to drive (vsbd's --name)\n"
"  --disk FILE[,ro][,slot=N]  a virtio-blk disk on FILE at PCI slot N\n"
"                         (default %d); ro: read-only\n"
"  --user NAME|UID[:GID]  run as this user once files are open (required\n"
"                         when started as root)\n"
"  --tap DIR              record every access, console byte, key and\n"
"                         screen served into DIR (the operator tap)\n"
"  --no-start             do not send START (vsbd keeps the VM waiting)\n"
"  --log-level LEVEL      error, warn, info (default) or debug\n"
"\n"
"Traditional routing only (vsbd --routing traditional): the consoles\n"
"are served by vsb-ghv itself:\n"
"  --ssh [ADDR:]PORT      the VM's serial console over SSH\n"
"  --authorized-keys FILE the tenant's public keys\n"
"  --host-keys DIR        SSH host keys, created if missing\n"
"  --vnc 127.0.0.1:PORT   the screen over VNC, loopback only\n"
"\n"
"Exit status:\n"
"  0  the VM stopped (vsbd's reason is logged)\n"
"  1  error\n"
"  2  bad command line (also: root without --user)\n"
"  3  vsbd is not there, refused us, or went away\n",
		GHV_DISK_DEFAULT_SLOT);
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "vsb-ghv: %s%s\nTry 'vsb-ghv --help'.\n", msg,
		arg ? arg : "");
	return -1;
}

static int parse_level(const char *s, enum log_level *l)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*l = (enum log_level)i;
			return 0;
		}
	return -1;
}

/* Returns 1 to run, 0 after --help/--version, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	enum { O_VSBD = 256, O_VM, O_DISK, O_USER, O_TAP, O_SSH, O_KEYS,
	       O_HOSTKEYS, O_VNC, O_LEVEL, O_NOSTART };
	static const struct option longs[] = {
		{ "vsbd", required_argument, NULL, O_VSBD },
		{ "vm", required_argument, NULL, O_VM },
		{ "disk", required_argument, NULL, O_DISK },
		{ "user", required_argument, NULL, O_USER },
		{ "tap", required_argument, NULL, O_TAP },
		{ "ssh", required_argument, NULL, O_SSH },
		{ "authorized-keys", required_argument, NULL, O_KEYS },
		{ "host-keys", required_argument, NULL, O_HOSTKEYS },
		{ "vnc", required_argument, NULL, O_VNC },
		{ "log-level", required_argument, NULL, O_LEVEL },
		{ "no-start", no_argument, NULL, O_NOSTART },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->level = LOG_INFO;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "hV", longs, NULL)) != -1) {
		switch (ch) {
		case O_VSBD: o->vsbd = optarg; break;
		case O_VM: o->vm = optarg; break;
		case O_DISK:
			if (o->disk)
				return usage_error("only one --disk", NULL);
			o->disk = optarg;
			break;
		case O_USER: o->user = optarg; break;
		case O_TAP: o->tap = optarg; break;
		case O_SSH: o->ssh = optarg; break;
		case O_KEYS: o->authorized_keys = optarg; break;
		case O_HOSTKEYS: o->host_keys = optarg; break;
		case O_VNC: o->vnc = optarg; break;
		case O_LEVEL:
			if (parse_level(optarg, &o->level))
				return usage_error("bad --log-level ", optarg);
			break;
		case O_NOSTART: o->no_start = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vsb-ghv %s\n", GHV_PROG_VERSION); return 0;
		default:
			return usage_error("unknown or incomplete option ",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument ", argv[optind]);
	if (!o->vsbd || !o->vm)
		return usage_error("--vsbd and --vm are required", NULL);
	if (strlen(o->vm) >= GHV_NAME_MAX)
		return usage_error("VM name too long: ", o->vm);
	if (o->ssh && (!o->authorized_keys || !o->host_keys))
		return usage_error("--ssh needs --authorized-keys and "
				   "--host-keys", NULL);
	return 1;
}

/* ---- device routing ---- */

static bool console_port(uint64_t port)
{
	return (port >= 0x3f8 && port <= 0x3ff) || port == 0x60 || port == 0x64;
}

/* Every forwarded access: the disk, the consoles, or nothing (reads
 * all-ones, writes dropped, as on a bus with nothing behind the address).
 * All of them go to the tap. */
static uint64_t on_io(void *ctx, const struct ghv_io *io)
{
	struct ghv *g = ctx;
	uint64_t data = ~0ULL;
	bool done = ghv_disk_io(g->disk, io, &data);

	if (!done && g->console && io->space == GHV_SPACE_PIO &&
	    console_port(io->addr)) {
		uint64_t v = io->is_write ? io->data : 0;
		done = ghv_console_pio(g->console, (uint16_t)io->addr, &v,
				       io->len, io->is_write);
		if (done)
			data = v;
	}
	if (!done) {
		data = ~0ULL;
		log_debug("no device at %s %#llx", io->space == GHV_SPACE_PIO ?
			  "port" : io->space == GHV_SPACE_MMIO ? "address" :
			  "PCI config", (unsigned long long)io->addr);
	}
	ghv_tap_io(g->tap, io, io->is_write ? io->data : data);
	return data;
}

static void console_irq(void *ctx, unsigned gsi, int level)
{
	struct ghv *g = ctx;
	ghv_client_irq(g->client, gsi, level);
}

/* The guest pulsed the i8042's reset line: vsbd resets (stops) the VM. No
 * wait: this runs inside the I/O handler. */
static void console_reset(void *ctx)
{
	struct ghv *g = ctx;
	struct ghv_destroy d = { .how = GHV_DESTROY_RESET };
	ghv_client_request(g->client, GHV_DESTROY, &d, sizeof(d), NULL);
}

static int open_console(struct ghv *g)
{
	const struct ghv_welcome *w = ghv_client_welcome(g->client);
	struct ghv_console_opts co = {
		.vm_name = g->o.vm, .ssh_listen = g->o.ssh,
		.authorized_keys = g->o.authorized_keys,
		.host_keys = g->o.host_keys, .vnc_listen = g->o.vnc,
	};
	struct ghv_console_env env = {
		.irq = console_irq, .reset = console_reset, .ctx = g,
		.tap = g->tap,
	};

	if (w->routing != GHV_ROUTING_TRADITIONAL) {
		if (g->o.ssh || g->o.vnc)
			log_warn("bypass routing: the consoles are vsbd's, "
				 "--ssh and --vnc are ignored");
		return 0;
	}
	g->console = ghv_console_new(&co, &env, ghv_client_fb(g->client),
				     w->fb_width, w->fb_height, w->fb_stride);
	return g->console ? 0 : -1;
}

/* ---- set-up, in the order the sandbox needs ---- */

/* Files first, as whoever started us; the tap directory is handed to the
 * user we become if we created it, so screens can still be written. */
static int open_files(struct ghv *g, bool drop, uid_t uid, gid_t gid)
{
	if (g->o.disk && !(g->disk = ghv_disk_open(g->o.disk)))
		return -1; /* errno EINVAL: a bad --disk */
	if (g->o.tap) {
		struct stat st;
		bool existed = stat(g->o.tap, &st) == 0;
		if (!(g->tap = ghv_tap_open(g->o.tap))) {
			log_errno(-errno, "opening the tap in %s", g->o.tap);
			errno = EIO;
			return -1;
		}
		if (drop && !existed && chown(g->o.tap, uid, gid) < 0)
			log_errno(-errno, "handing %s to uid %u", g->o.tap,
				  (unsigned)uid);
	}
	return 0;
}

static bool vsbd_refused(int err)
{
	return err == -EPIPE || err == -ENOENT || err == -EPERM ||
	       err == -ESHUTDOWN;
}

static int run(struct ghv *g)
{
	struct ghv_create cr = { { 0 } };
	struct ghv_reply r;
	uid_t uid = 0;
	gid_t gid = 0;
	bool root = geteuid() == 0;
	int ret, status = 0;

	if (root && !g->o.user) {
		log_error("refusing to run as root: give --user NAME to run "
			  "as once the files are open");
		return EXIT_USAGE;
	}
	if (g->o.user && ghv_sandbox_parse_user(g->o.user, &uid, &gid) < 0)
		return EXIT_USAGE;
	bool drop = g->o.user && (root || uid != geteuid());
	if (open_files(g, drop, uid, gid) < 0)
		return errno == EINVAL ? EXIT_USAGE : EXIT_ERROR;
	if (drop && ghv_sandbox_drop(uid, gid) < 0)
		return EXIT_ERROR;
	if (ghv_client_connect(g->o.vsbd, &g->client) < 0)
		return EXIT_VSBD;
	strncpy(cr.name, g->o.vm, sizeof(cr.name) - 1);
	ret = ghv_client_request(g->client, GHV_CREATE, &cr, sizeof(cr), &r);
	if (ret < 0) {
		log_errno(ret, "vsbd refused to create VM %s", g->o.vm);
		return EXIT_VSBD;
	}
	if (g->disk && (ret = ghv_disk_attach(g->disk, g->client)) < 0)
		return vsbd_refused(ret) ? EXIT_VSBD : EXIT_ERROR;
	if (open_console(g) < 0)
		return EXIT_ERROR;
	ghv_client_set_handler(g->client, on_io, g);
	if (ghv_sandbox_seccomp(g->console != NULL) < 0)
		return EXIT_ERROR;
	if (g->console && ghv_console_start(g->console) < 0)
		return EXIT_ERROR;
	if (!g->o.no_start) {
		ret = ghv_client_request(g->client, GHV_START, NULL, 0, &r);
		if (ret < 0) {
			log_errno(ret, "vsbd refused to start VM %s", g->o.vm);
			return ret == -ESHUTDOWN ? EXIT_OK : EXIT_VSBD;
		}
		log_info("VM %s started", g->o.vm);
	}
	ret = ghv_client_run(g->client, &status);
	if (ret == -EPIPE) {
		log_error("vsbd went away");
		return EXIT_VSBD;
	}
	if (ret < 0)
		return EXIT_ERROR;
	log_info("VM %s stopped, vsbd's exit status %d", g->o.vm, status);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct ghv g;

	memset(&g, 0, sizeof(g));
	int ret = parse_args(argc, argv, &g.o);

	if (ret <= 0)
		return ret == 0 ? EXIT_OK : EXIT_USAGE;
	log_init("vsb-ghv", g.o.level);
	/* A tenant closing an SSH or VNC connection must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	int code = run(&g);
	if (g.client) {
		struct ghv_client_stats s;
		ghv_client_stats(g.client, &s);
		log_info("%llu forwarded accesses, %llu replies, %llu dropped "
			 "messages, %llu waits on a full ring",
			 (unsigned long long)s.io_reqs,
			 (unsigned long long)s.replies,
			 (unsigned long long)s.dropped,
			 (unsigned long long)s.up_full_waits);
	}
	/* The console's threads use the client: they go first. */
	ghv_console_free(g.console);
	ghv_disk_free(g.disk);
	ghv_client_close(g.client);
	ghv_tap_close(g.tap);
	return code;
}
