/* Traditional routing's consoles, inside vsb-ghv: the VM's COM1 (16550A,
 * IRQ 4) and i8042 (ports 0x60/0x64, IRQs 1 and 12) emulated here with the
 * very device code vsbd uses for its shadow devices, and served to the
 * tenant by the operator's own SSH server (the console; "ssh -p PORT
 * VMNAME@host", "ssh ... -L LPORT:localhost:5900" for the screen) and VNC
 * server, the same code as vsbd's. This is how an operator's QEMU and its
 * console proxies work today: everything the tenant types and sees passes
 * through the operator, which the operator tap (ghv_tap.h) records.
 * operator/README.md, "Traditional routing: the operator's consoles". */
#ifndef VSB_GHV_CONSOLE_H
#define VSB_GHV_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

struct ghv_tap;
struct ghv_console;

struct ghv_console_opts {
	const char *vm_name;         /* the SSH user name, the VNC desktop name */
	const char *ssh_listen;      /* NULL: no SSH server; else as vsbd's --ssh */
	const char *authorized_keys; /* the tenant's keys, for the SSH server */
	const char *host_keys;       /* the operator's host key directory;
					required with ssh_listen */
	const char *vnc_listen;      /* NULL, or a loopback listener as
					vsbd's --vnc-listen; needs a frame */
};

struct ghv_console_env {
	/* An IRQ line of COM1 (4) or the i8042 (1, 12) changed. Called with
	 * that device's lock held: it must not call back into the console. */
	void (*irq)(void *ctx, unsigned gsi, int level);
	/* The guest pulsed the reset line through the i8042. May be NULL. */
	void (*reset)(void *ctx);
	void *ctx;
	struct ghv_tap *tap; /* NULL: nothing recorded */
};

/* Creates the devices and the servers' state; binds listening sockets and
 * loads/creates host keys now (it is called before the process's seccomp
 * sandbox is applied). fb_pixels may be NULL (no screen → no VNC). NULL on
 * error (logged).
 *
 * What happens here, before the sandbox: the VNC loopback listener is
 * bound, the SSH host keys are created if missing (so nothing is written
 * to disk later) and the SSH listen address is checked. The SSH listening
 * socket itself is bound by ghv_console_start: the shared SSH server binds,
 * loads its keys and starts its threads in one call, and threads must be
 * started after the sandbox so that they run under it. */
struct ghv_console *ghv_console_new(const struct ghv_console_opts *o,
				    const struct ghv_console_env *env,
				    uint8_t *fb_pixels, uint32_t width,
				    uint32_t height, uint32_t stride);
/* Starts its threads: the VNC server, the SSH server (which binds now:
 * the sandbox must allow socket, setsockopt, bind, listen and reading the
 * host key files) and, with a tap and a screen, the screen recorder.
 * Returns 0 or a negative errno (logged). */
int ghv_console_start(struct ghv_console *c);
/* A forwarded port access to 0x3f8-0x3ff (COM1, IRQ 4), 0x60 or 0x64
 * (i8042, IRQs 1 and 12): true if handled. len 1 to 4; wider accesses act
 * on the low byte, reads zero-extend (as the devices do). Any thread. */
bool ghv_console_pio(struct ghv_console *c, uint16_t port, void *data,
		     uint32_t len, bool is_write);
/* The bound ports (useful with port 0): 0 when there is no such server
 * (SSH: also before ghv_console_start). */
int ghv_console_ssh_port(const struct ghv_console *c);
int ghv_console_vnc_port(const struct ghv_console *c);
/* Stops the servers (sessions are told), joins every thread, frees all.
 * No ghv_console_pio may run concurrently or later. NULL is fine. */
void ghv_console_free(struct ghv_console *c);

#endif
