/* Traditional routing's consoles inside vsb-ghv: see ghv_console.h. The
 * wiring mirrors vsbd's (vmm/machine.c, vmm/main.c): COM1 feeds a console
 * hub that the SSH server serves, the i8042 takes the VNC server's keys;
 * only the frame differs (no KVM dirty log here: fb_wrap's compare). */
#include "ghv_console.h"
#include "ghv_tap.h"
#include "../devices/i8042.h"
#include "../devices/uart16550.h"
#include "../remote/ssh_hostkeys.h"
#include "../remote/ssh_listen.h"
#include "../remote/ssh_server.h"
#include "../remote/vnc_server.h"
#include "../vmm/conhub.h"
#include "../vmm/framebuffer.h"
#include "../vmm/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libssh/libssh.h>

#define COM1_BASE 0x3f8
#define COM1_GSI 4
/* As vsbd: bytes of console output kept for sessions that attach later. */
#define CONSOLE_HISTORY (64 * 1024)
/* How often the screen is offered to the tap (which skips repeats). */
#define SCREEN_TAP_MS 200

struct ghv_console {
	struct ghv_console_env env;
	struct uart16550 *com1;
	struct i8042 *kbd;
	struct conhub *hub;
	struct framebuffer fb;   /* wrapped; pixels NULL without a screen */
	struct vnc_server *vnc;
	struct ssh_server *ssh;
	struct ssh_vm svm;       /* must outlive the SSH server */
	char *name, *ssh_listen, *authorized_keys, *host_keys;
	int stop_fd;             /* eventfd: the screen thread ends */
	pthread_t screen_th;
	bool screen_started, started;
};

/* ---- device callbacks ---- */

static void com1_irq(void *ctx, int level)
{
	struct ghv_console *c = ctx;

	c->env.irq(c->env.ctx, COM1_GSI, level);
}

/* The guest's output: recorded by the operator, then served. */
static void com1_tx(void *ctx, const uint8_t *buf, size_t len)
{
	struct ghv_console *c = ctx;

	ghv_tap_console(c->env.tap, false, buf, len);
	conhub_output(c->hub, buf, len);
}

static void com1_rx_room(void *ctx)
{
	struct ghv_console *c = ctx;

	conhub_rx_room(c->hub);
}

static void kbd_irq(void *ctx, unsigned irq, int level)
{
	struct ghv_console *c = ctx;

	c->env.irq(c->env.ctx, irq, level);
}

static void kbd_reset(void *ctx)
{
	struct ghv_console *c = ctx;

	log_info("guest requested a reset through the i8042");
	if (c->env.reset)
		c->env.reset(c->env.ctx);
}

/* The tenant's typing, as the UART took it. */
static void console_input_seen(void *ctx, const uint8_t *buf, size_t len)
{
	struct ghv_console *c = ctx;

	ghv_tap_console(c->env.tap, true, buf, len);
}

static void key_seen(void *ctx, uint32_t keysym, bool down)
{
	struct ghv_console *c = ctx;

	ghv_tap_key(c->env.tap, keysym, down);
}

static int vnc_connect(void *ctx)
{
	return vnc_server_connect(ctx);
}

static const struct uart16550_ops com1_ops = {
	.tx = com1_tx, .irq = com1_irq, .rx_room = com1_rx_room,
};

static const struct i8042_ops kbd_ops = {
	.irq = kbd_irq, .reset = kbd_reset,
};

/* ---- creation ---- */

/* strdup that keeps NULL; false only when a copy failed. */
static bool dup_opt(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

static bool copy_opts(struct ghv_console *c, const struct ghv_console_opts *o)
{
	return dup_opt(&c->name, o->vm_name ? o->vm_name : "vm") &&
	       dup_opt(&c->ssh_listen, o->ssh_listen) &&
	       dup_opt(&c->authorized_keys, o->authorized_keys) &&
	       dup_opt(&c->host_keys, o->host_keys);
}

static int new_devices(struct ghv_console *c)
{
	c->hub = conhub_new(CONSOLE_HISTORY);
	c->com1 = uart16550_new(&com1_ops, c);
	c->kbd = i8042_new(&kbd_ops, c);
	if (!c->hub || !c->com1 || !c->kbd)
		return log_errno(-ENOMEM, "console: cannot create devices");
	conhub_attach_uart(c->hub, c->com1);
	conhub_set_input_observer(c->hub, console_input_seen, c);
	return 0;
}

static int new_screen(struct ghv_console *c, const char *vnc_listen,
		      uint8_t *pixels, uint32_t w, uint32_t h, uint32_t stride)
{
	if (!pixels) {
		if (!vnc_listen)
			return 0;
		log_error("console: a VNC listener needs a framebuffer");
		return -EINVAL;
	}
	int ret = fb_wrap(&c->fb, pixels, w, h, stride);
	if (ret)
		return ret;
	struct vnc_opts vo = {
		.name = c->name,
		.listen = vnc_listen,
		.key_observer = key_seen,
		.key_observer_ctx = c,
	};
	c->vnc = vnc_server_new(&c->fb, c->kbd, &vo);
	return c->vnc ? 0 : -EINVAL;
}

/* Everything the SSH server would otherwise write or refuse late: the
 * host keys are created now (before the sandbox), the address checked. */
static int prepare_ssh(struct ghv_console *c)
{
	char host[256];
	ssh_key keys[SSH_HOSTKEYS_MAX];
	int port, n;

	if (!c->ssh_listen)
		return 0;
	if (!c->host_keys) {
		log_error("console: SSH needs a host key directory");
		return -EINVAL;
	}
	if (ssh_listen_parse(c->ssh_listen, host, sizeof(host), &port)) {
		log_error("console: bad SSH listen address \"%s\"",
			  c->ssh_listen);
		return -EINVAL;
	}
	if (ssh_init() != SSH_OK) {
		log_error("console: libssh initialisation failed");
		return -EIO;
	}
	n = ssh_hostkeys_load(c->host_keys, keys);
	for (int i = 0; i < n; i++)
		ssh_key_free(keys[i]);
	ssh_finalize();
	if (n < 0)
		return n;
	c->svm = (struct ssh_vm){
		.name = c->name,
		.authorized_keys = c->authorized_keys,
		.hub = c->hub,
		.vnc_connect = c->vnc ? vnc_connect : NULL,
		.vnc_ctx = c->vnc,
	};
	return 0;
}

struct ghv_console *ghv_console_new(const struct ghv_console_opts *o,
				    const struct ghv_console_env *env,
				    uint8_t *fb_pixels, uint32_t width,
				    uint32_t height, uint32_t stride)
{
	struct ghv_console *c;

	if (!o || !env || !env->irq) {
		log_error("console: no options or no IRQ callback");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("console: out of memory");
		return NULL;
	}
	c->env = *env;
	c->fb.memfd = c->fb.vm_fd = -1;
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stop_fd < 0 || !copy_opts(c, o)) {
		log_error("console: out of resources");
		goto fail;
	}
	if (new_devices(c) ||
	    new_screen(c, o->vnc_listen, fb_pixels, width, height, stride) ||
	    prepare_ssh(c))
		goto fail;
	return c;
fail:
	ghv_console_free(c);
	return NULL;
}

/* ---- threads ---- */

/* The operator holds the frame whether or not anyone watches: it is
 * offered to the tap every SCREEN_TAP_MS (the tap keeps distinct ones). */
static void *screen_main(void *arg)
{
	struct ghv_console *c = arg;
	struct pollfd p = { .fd = c->stop_fd, .events = POLLIN };

	for (;;) {
		ghv_tap_screen(c->env.tap, c->fb.pixels, c->fb.width,
			       c->fb.height, c->fb.stride);
		int n = poll(&p, 1, SCREEN_TAP_MS);
		if (n > 0 || (n < 0 && errno != EINTR))
			return NULL;
	}
}

/* Our threads take no signals: vsb-ghv's main thread handles them. */
static int start_screen_thread(struct ghv_console *c)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&c->screen_th, NULL, screen_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return log_errno(-err, "console: screen thread");
	c->screen_started = true;
	return 0;
}

int ghv_console_start(struct ghv_console *c)
{
	int ret;

	if (c->started)
		return -EALREADY;
	c->started = true;
	if (c->vnc && (ret = vnc_server_start(c->vnc)))
		return ret;
	if (c->ssh_listen) {
		struct ssh_server_opts so = {
			.listen = c->ssh_listen,
			.host_key_dir = c->host_keys,
		};
		c->ssh = ssh_server_start(&so, &c->svm, 1);
		if (!c->ssh)
			return -EIO; /* the reason is logged */
	}
	if (c->env.tap && c->fb.pixels)
		return start_screen_thread(c);
	return 0;
}

/* ---- guest accesses ---- */

bool ghv_console_pio(struct ghv_console *c, uint16_t port, void *data,
		     uint32_t len, bool is_write)
{
	if (!c || !data || len < 1 || len > 4)
		return false;
	if (port >= COM1_BASE && port < COM1_BASE + 8)
		uart16550_io(c->com1, port - COM1_BASE, data, len, is_write);
	else if (port == 0x60)
		i8042_data_io(c->kbd, 0, data, len, is_write);
	else if (port == 0x64)
		i8042_cmd_io(c->kbd, 0, data, len, is_write);
	else
		return false;
	return true;
}

int ghv_console_ssh_port(const struct ghv_console *c)
{
	return c ? ssh_server_port(c->ssh) : 0;
}

int ghv_console_vnc_port(const struct ghv_console *c)
{
	return c && c->vnc ? vnc_server_port(c->vnc) : 0;
}

/* ---- the end ---- */

void ghv_console_free(struct ghv_console *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	/* Sessions first: they use the hub, the VNC server and the devices
	 * behind them (as in vsbd's main). */
	ssh_server_stop(c->ssh);
	if (c->screen_started) {
		if (write(c->stop_fd, &one, sizeof(one)) < 0)
			log_errno(-errno, "console: stop");
		pthread_join(c->screen_th, NULL);
	}
	vnc_server_free(c->vnc);
	if (c->com1)
		uart16550_free(c->com1);
	if (c->kbd)
		i8042_free(c->kbd);
	conhub_free(c->hub);
	fb_destroy(&c->fb);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	free(c->name);
	free(c->ssh_listen);
	free(c->authorized_keys);
	free(c->host_keys);
	free(c);
}
