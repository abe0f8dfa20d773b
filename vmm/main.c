/* vsbd: the trusted VMM. "vsbd run" boots one VM with its serial console on
 * the terminal or a UNIX socket. */
#include "console.h"
#include "control.h"
#include "kernel_load.h"
#include "log.h"
#include "machine.h"
#include "vm.h"
#include "../boot/boot.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define VSBD_VERSION "0.1.0"

/* Process exit codes beyond the VM's own stop reasons (vm.h). */
enum {
	EXIT_USAGE = 2,
	EXIT_BAD_IMAGE = 3,
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vsbd run [OPTIONS] KERNEL\n"
"       vsbd --help | --version\n"
"\n"
"Boots KERNEL, a Linux bzImage or a PVH ELF kernel, in a new KVM virtual\n"
"machine whose serial console (a 16550A UART at 0x3f8, IRQ 4) is a shadow\n"
"device inside vsbd.\n"
"\n"
"Options:\n"
"  -m, --memory SIZE    guest RAM, with an optional K, M or G suffix\n"
"                       (default 256M; at least 16M)\n"
"  -c, --cpus N         number of vCPUs, 1 to %d (default 1)\n"
"  -a, --append TEXT    kernel command line\n"
"  -i, --initrd FILE    initramfs (Linux) or first module (PVH)\n"
"  -s, --console SPEC   where the serial console goes:\n"
"                         stdio (default): this terminal, or stdin/stdout\n"
"                           when they are pipes or files\n"
"                         unix:PATH[,nowait]: a UNIX stream socket; the\n"
"                           guest starts when the first client connects\n"
"                           unless nowait is given; one client at a time\n"
"  -C, --control PATH   serve the control socket at PATH (mode 0600): one\n"
"                       command a line: status, pause, resume, stop\n"
"      --allow-pvm      boot a bzImage even on kvm_pvm, where guest kernel\n"
"                       code is emulated (slow: for smoke tests only)\n"
"  -e, --escape KEY     terminal escape prefix: a letter for Ctrl-letter\n"
"                       (default a, i.e. Ctrl-A), or 'none'. Then x quits,\n"
"                       b sends a serial break, h shows help\n"
"  -v, --verbose        log debugging detail to stderr\n"
"  -q, --quiet          log errors only\n"
"  -h, --help           show this help\n"
"  -V, --version        show the version\n"
"\n"
"Exit status:\n"
"  0    the guest powered off (ACPI PM1a sleep, or KVM shutdown event)\n"
"  1    error: KVM refused the VM or a vCPU, or an internal error\n"
"  2    bad command line\n"
"  3    the kernel or initrd was rejected (message says why), or a\n"
"       bzImage was given on kvm_pvm without --allow-pvm\n"
"  4    the guest asked for a reset (i8042 pulse or KVM reset event)\n"
"  5    the guest triple-faulted\n"
"  6    every vCPU halted with interrupts disabled\n"
"  7    the guest kernel panicked (pvpanic)\n"
"  128+N  stopped by signal N (130: SIGINT or the escape key, 143: SIGTERM)\n",
		VM_MAX_VCPUS);
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

struct run_opts {
	struct vm_config vm;
	struct kernel_spec kernel;
	struct console_opts console;
	const char *control;
	enum log_level log_level;
};

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "append", required_argument, NULL, 'a' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "console", required_argument, NULL, 's' },
		{ "escape", required_argument, NULL, 'e' },
		{ "control", required_argument, NULL, 'C' },
		{ "allow-pvm", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char *end;
	int c;

	*o = (struct run_opts){
		.vm = { .ram_size = 256ULL << 20, .nr_vcpus = 1 },
		.console = { .kind = CONSOLE_STDIO, .escape = 1 },
		.log_level = LOG_INFO,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:c:a:i:s:e:C:vqh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!parse_size(optarg, &o->vm.ram_size) ||
			    o->vm.ram_size < (16ULL << 20)) {
				fprintf(stderr, "vsbd: bad --memory '%s': need a "
					"size of at least 16M\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'c': {
			long n = strtol(optarg, &end, 10);
			if (*end || end == optarg || n < 1 || n > VM_MAX_VCPUS) {
				fprintf(stderr, "vsbd: bad --cpus '%s': need 1 to "
					"%d\n", optarg, VM_MAX_VCPUS);
				return EXIT_USAGE;
			}
			o->vm.nr_vcpus = (int)n;
			break;
		}
		case 'a':
			o->kernel.cmdline = optarg;
			break;
		case 'i':
			o->kernel.initrd = optarg;
			break;
		case 's': {
			int esc = o->console.escape;
			if (!console_parse_spec(optarg, &o->console)) {
				fprintf(stderr, "vsbd: bad --console '%s': use "
					"stdio or unix:PATH[,nowait]\n", optarg);
				return EXIT_USAGE;
			}
			o->console.escape = esc;
			break;
		}
		case 'e':
			if (strcmp(optarg, "none") == 0) {
				o->console.escape = -1;
			} else if (strlen(optarg) == 1 &&
				   ((optarg[0] | 0x20) >= 'a' &&
				    (optarg[0] | 0x20) <= 'z')) {
				o->console.escape = (optarg[0] | 0x20) - 'a' + 1;
			} else {
				fprintf(stderr, "vsbd: bad --escape '%s': use a "
					"letter or 'none'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'C':
			o->control = optarg;
			break;
		case 'P':
			o->kernel.allow_pvm = true;
			break;
		case 'v':
			o->log_level = LOG_DEBUG;
			break;
		case 'q':
			o->log_level = LOG_ERROR;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'vsbd --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "vsbd run: %s\nTry 'vsbd --help'.\n",
			optind >= argc ? "missing KERNEL" : "too many arguments");
		return EXIT_USAGE;
	}
	o->kernel.kernel = argv[optind];
	return 0;
}

static void quit_from_console(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_SIGNAL + SIGINT);
}

/* Signals are taken synchronously by the main thread through a signalfd;
 * vCPU and console threads never see them. */
static int block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1); /* only vCPU threads unblock the kick */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&set, SIGUSR1);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Runs until the VM stops: signals, the halt watchdog. */
static void main_loop(struct vm *vm, int sfd)
{
	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		struct pollfd p[2] = { { sfd, POLLIN, 0 },
				       { vm->stop_efd, POLLIN, 0 } };
		int n = poll(p, 2, 100);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("stopping on signal %u", si.ssi_signo);
				vm_request_stop(vm, VM_STOP_SIGNAL +
						    (int)si.ssi_signo);
			}
		}
		vm_watchdog_tick(vm);
	}
	/* Keep kicking until every vCPU thread has left KVM_RUN. */
	for (;;) {
		pthread_mutex_lock(&vm->lock);
		int running = vm->running;
		pthread_mutex_unlock(&vm->lock);
		if (running == 0)
			break;
		vm_watchdog_tick(vm);
		poll(NULL, 0, 20);
	}
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct vm vm;
	struct machine board = { 0 };
	struct console *con = NULL;
	struct control *ctl = NULL;
	struct boot_entry entry;
	int code = VM_STOP_ERROR;

	int ret = parse_run(argc, argv, &o);
	if (ret)
		return ret;
	log_init("vsbd", o.log_level);
	int sfd = block_signals();
	if (sfd < 0)
		return log_errno(-errno, "signalfd"), VM_STOP_ERROR;

	if (vm_create(&vm, &o.vm))
		goto out;
	if (kernel_load(&vm, &o.kernel, &entry)) {
		code = EXIT_BAD_IMAGE;
		goto out;
	}
	if (vm_setup_vcpus(&vm, &entry))
		goto out;
	con = console_open(&o.console, quit_from_console, &vm);
	if (!con)
		goto out;
	if (machine_init(&board, &vm, con))
		goto out;
	if (!console_wait_client(con, sfd)) {
		code = VM_STOP_SIGNAL + SIGINT;
		goto out;
	}
	if (o.control && !(ctl = control_open(o.control, &vm)))
		goto out;
	if (console_start(con))
		goto out;
	/* On failure vm_start has requested a stop: the loop below then only
	 * waits for the vCPU threads that did start. */
	vm_start(&vm);
	log_debug("VM running: %d vCPU(s), %llu MiB", vm.nr_vcpus,
		  (unsigned long long)(vm.mem.size >> 20));
	main_loop(&vm, sfd);
	code = vm_wait(&vm);
out:
	control_close(ctl);
	console_close(con);
	machine_destroy(&board);
	vm_destroy(&vm);
	close(sfd);
	return code;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "--version") ||
			  !strcmp(argv[1], "-V"))) {
		printf("vsbd %s\n", VSBD_VERSION);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	fprintf(stderr, "vsbd: %s\nTry 'vsbd --help'.\n",
		argc < 2 ? "missing command" : "unknown command");
	return EXIT_USAGE;
}
