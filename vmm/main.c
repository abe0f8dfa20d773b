/* vsbd: the trusted VMM. "vsbd run" boots one VM with its serial console on
 * the terminal or a UNIX socket, and serves it to its tenant over SSH (the
 * console) and VNC (the screen and keyboard). */
#include "conhub.h"
#include "console.h"
#include "control.h"
#include "framebuffer.h"
#include "ghv_link.h"
#include "kernel_load.h"
#include "log.h"
#include "machine.h"
#include "run_options.h"
#include "vm.h"
#include "../boot/boot.h"
#include "../remote/ssh_server.h"
#include "../remote/vnc_server.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
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

/* Runs until the VM stops: signals, the halt watchdog, the operator's
 * requests that must run here (link may be NULL). */
static void main_loop(struct vm *vm, int sfd, struct ghv_link *link)
{
	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		struct pollfd p[3] = { { sfd, POLLIN, 0 },
				       { vm->stop_efd, POLLIN, 0 },
				       { link ? ghv_link_fd(link) : -1,
					 POLLIN, 0 } };
		int n = poll(p, 3, 100);
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
		if (p[2].revents & POLLIN)
			ghv_link_service(link);
		vm_watchdog_tick(vm);
	}
	/* vCPUs waiting in a forwarded access are released first. */
	ghv_link_vm_stopped(link, atomic_load(&vm->stop_reason));
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

/* Bytes of console output kept for sessions that attach later. */
#define CONSOLE_HISTORY (64 * 1024)

static int vnc_connect(void *ctx)
{
	return vnc_server_connect(ctx);
}

static struct ssh_server *start_ssh(const struct run_opts *o,
				    struct ssh_vm *svm)
{
	char *dir = o->host_keys ? strdup(o->host_keys)
				 : default_host_key_dir();
	if (!dir) {
		log_error("no SSH host key directory: give --host-keys DIR");
		return NULL;
	}
	struct ssh_server_opts so = {
		.listen = o->ssh_listen,
		.host_key_dir = dir,
	};
	struct ssh_server *s = ssh_server_start(&so, svm, 1);
	free(dir);
	return s;
}

/* --operator-user: a user name or a numeric uid. */
static bool operator_ids(const char *user, uid_t *uid, gid_t *gid)
{
	char *end;
	unsigned long n = strtoul(user, &end, 10);
	struct passwd *pw = *end || end == user ? getpwnam(user)
						: getpwuid((uid_t)n);

	if (pw) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		return true;
	}
	if (*end || end == user || n > 0xfffffffeUL)
		return false;
	*uid = (uid_t)n;
	*gid = (gid_t)n;
	return true;
}

static struct ghv_link *open_operator(const struct run_opts *o,
				      struct vm *vm, struct pci_host *pci,
				      const struct framebuffer *fb)
{
	struct ghv_link_opts lo = {
		.path = o->operator_path,
		.vm_name = o->name,
		.routing = o->traditional ? GHV_ROUTING_TRADITIONAL
					  : GHV_ROUTING_BYPASS,
		.timeout_ms = o->operator_timeout_ms,
	};
	if (o->operator_user) {
		if (!operator_ids(o->operator_user, &lo.uid, &lo.gid)) {
			log_error("--operator-user %s: no such user",
				  o->operator_user);
			return NULL;
		}
		lo.check_uid = true;
	}
	return ghv_link_open(&lo, vm, pci, fb);
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct vm vm;
	struct machine board = { 0 };
	struct framebuffer fb = { .memfd = -1 };
	struct boot_fb bfb;
	struct console *con = NULL;
	struct conhub *hub = NULL;
	struct control *ctl = NULL;
	struct vnc_server *vnc = NULL;
	struct ssh_server *ssh = NULL;
	struct ghv_link *link = NULL;
	struct boot_entry entry;
	int code = VM_STOP_ERROR;
	int sfd = -1;

	int ret = run_options_parse(argc, argv, &o);
	if (ret) {
		run_options_free(&o);
		return ret;
	}
	log_init("vsbd", o.log_level);
	sfd = block_signals();
	if (sfd < 0) {
		log_errno(-errno, "signalfd");
		run_options_free(&o);
		return VM_STOP_ERROR;
	}

	if (vm_create(&vm, &o.vm))
		goto out;
	if (o.fb_width) {
		if (fb_init(&fb, vm.fd, o.fb_width, o.fb_height))
			goto out;
		bfb = (struct boot_fb){ .base = fb.gpa, .width = fb.width,
					.height = fb.height,
					.stride = fb.stride };
		o.kernel.fb = &bfb;
	}
	if (kernel_load(&vm, &o.kernel, &entry)) {
		code = EXIT_BAD_IMAGE;
		goto out;
	}
	if (vm_setup_vcpus(&vm, &entry))
		goto out;
	/* In traditional routing the serial line is the operator's. */
	if (!o.console_none && !o.traditional &&
	    !(con = console_open(&o.console, quit_from_console, &vm)))
		goto out;
	hub = conhub_new(CONSOLE_HISTORY);
	if (!hub) {
		log_error("cannot allocate the console hub");
		goto out;
	}
	if (machine_init(&board, &vm, con, hub, !o.traditional))
		goto out;
	if (o.operator_path &&
	    !(link = open_operator(&o, &vm, board.pci, &fb)))
		goto out;
	if (o.fb_width) {
		struct vnc_opts vo = { .name = o.name, .listen = o.vnc_listen };
		vnc = vnc_server_new(&fb, board.i8042, &vo);
		if (!vnc || vnc_server_start(vnc))
			goto out;
	}
	struct ssh_vm svm = {
		.name = o.name,
		.authorized_keys = o.authorized_keys,
		.hub = hub,
		.vnc_connect = vnc ? vnc_connect : NULL,
		.vnc_ctx = vnc,
	};
	if (o.ssh_listen && !(ssh = start_ssh(&o, &svm)))
		goto out;
	if (!con && !ssh && !o.traditional)
		log_warn("no local console and no --ssh: nobody can reach "
			 "the serial console of VM %s", o.name);
	if (con && !console_wait_client(con, sfd)) {
		code = VM_STOP_SIGNAL + SIGINT;
		goto out;
	}
	struct control_hooks hooks = { ghv_link_describe, link };
	if (o.control &&
	    !(ctl = control_open(o.control, &vm, link ? &hooks : NULL)))
		goto out;
	if (link && !ghv_link_wait_start(link, sfd, &code))
		goto out;
	if (con && console_start(con))
		goto out;
	/* On failure vm_start has requested a stop: the loop below then only
	 * waits for the vCPU threads that did start. */
	vm_start(&vm);
	log_debug("VM %s running: %d vCPU(s), %llu MiB", o.name, vm.nr_vcpus,
		  (unsigned long long)(vm.mem.size >> 20));
	main_loop(&vm, sfd, link);
	code = vm_wait(&vm);
out:
	/* Tenant sessions go first: they use the hub, the VNC server and
	 * the devices behind them. */
	ssh_server_stop(ssh);
	vnc_server_free(vnc);
	control_close(ctl);
	ghv_link_close(link);
	console_close(con);
	machine_destroy(&board);
	conhub_free(hub);
	fb_destroy(&fb);
	vm_destroy(&vm);
	close(sfd);
	run_options_free(&o);
	return code;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		run_usage(stdout);
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
