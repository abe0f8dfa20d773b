/* The tenant SSH server inside vsbd (libssh). "ssh -p PORT VMNAME@host"
 * attaches to that VM's serial console; "ssh ... VMNAME@host watch" watches
 * it read-only; "ssh -L LPORT:localhost:5900 VMNAME@host" reaches the VM's
 * VNC server. Public-key authentication only, against the VM's own
 * authorized_keys; host keys are generated on first start (mode 0600).
 * See remote/README.md for the whole user-facing behaviour. */
#ifndef VSB_SSH_SERVER_H
#define VSB_SSH_SERVER_H

#include <stddef.h>

struct conhub;
struct ssh_server;

/* The port a direct-tcpip (ssh -L) request must name to reach the screen;
 * the host must be "localhost", "127.0.0.1", "::1" or "vnc". */
#define SSH_VNC_PORT 5900

struct ssh_vm {
	const char *name;            /* the SSH user name that selects the VM */
	const char *authorized_keys; /* OpenSSH authorized_keys file */
	struct conhub *hub;          /* the VM's serial console */
	/* NULL if the VM has no screen; else returns a socket fd connected to
	 * a new viewer slot of the VM's VNC server, or a negative errno. */
	int (*vnc_connect)(void *ctx);
	void *vnc_ctx;
};

struct ssh_server_opts {
	const char *listen;       /* "PORT", "ADDR:PORT" or "[ADDR6]:PORT";
				     port 0 picks a free one */
	const char *host_key_dir; /* host keys live here (created 0700) */
	int escape;               /* detach prefix byte: 0 = default (Ctrl-],
				     0x1d); negative = no escape */
	size_t replay;            /* recent console bytes replayed on attach;
				     0 = default (4096) */
	int max_sessions;         /* concurrent connections; 0 = default (64) */
	int login_grace;          /* seconds to authenticate; 0 = default (30) */
};

/* Binds, loads or creates the host keys and starts serving: one thread
 * accepts, one thread serves each connection. o's strings are copied; vms
 * (and everything they point to) must outlive the server. Returns NULL
 * with a message logged on error. */
struct ssh_server *ssh_server_start(const struct ssh_server_opts *o,
				    const struct ssh_vm *vms, size_t nvms);
/* The bound TCP port (useful with port 0). */
int ssh_server_port(const struct ssh_server *s);
/* Stops accepting, tells every session the server stops, closes them,
 * joins all threads and frees everything. NULL is a no-op. */
void ssh_server_stop(struct ssh_server *s);

#endif
