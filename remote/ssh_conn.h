/* One SSH connection, served by one thread: key exchange, public-key
 * authentication that picks the VM, and an event loop over the session
 * socket and the channels' file descriptors (console hub, forwarded
 * sockets). Channels are "kinds" (ssh_console.c, ssh_forward.c) behind
 * struct ssh_chan_ops. Internal to the SSH server. */
#ifndef VSB_SSH_CONN_H
#define VSB_SSH_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

struct ssh_vm;
struct ssh_ak_log;

/* Most channels (console sessions and forwards) one connection may have. */
#define SSH_CONN_MAX_CHANNELS 16
/* Failed authentication requests before the connection is dropped. */
#define SSH_CONN_MAX_AUTH_TRIES 10

/* What all connections of one server share; read-only while they run. */
struct ssh_srv_cfg {
	const struct ssh_vm *vms;
	size_t nvms;
	struct ssh_ak_log *aklog; /* one per VM */
	int escape;               /* console escape byte; negative: none */
	size_t replay;            /* console bytes replayed on attach */
	int grace_ms;             /* to authenticate */
	int stop_fd;              /* readable once the server stops */
	/* Connections not authenticated yet: the server counts one up for
	 * each it accepts, the connection counts it down once it has
	 * authenticated or ends. */
	atomic_int *unauth;
};

struct ssh_conn;
struct ssh_chan;

struct ssh_chan_ops {
	/* Moves data; called after every round of the event loop (never
	 * from a libssh callback). Returns false once the channel is done:
	 * the connection then frees it. */
	bool (*pump)(struct ssh_chan *c);
	/* The server is stopping: say so to the client if it can. */
	void (*stop)(struct ssh_chan *c);
	/* Releases what the kind holds (fds, hub reader, writer claim) and
	 * frees c; the connection frees the libssh channel afterwards. */
	void (*destroy)(struct ssh_chan *c);
	/* A channel request libssh 0.10 does not parse (it does not say
	 * which): returns true if taken. May be NULL. */
	bool (*unknown_request)(struct ssh_chan *c);
};

struct ssh_chan {
	struct ssh_conn *conn;
	ssh_channel ch;
	const struct ssh_chan_ops *ops;
	/* The kind's libssh callbacks, if any (removed before freeing). */
	struct ssh_channel_callbacks_struct cb;
	bool cb_set;
	struct ssh_chan *next;
};

/* One fd in the connection's event loop; events 0 = not watched. */
struct ssh_fdwatch {
	int fd;
	short events;
	short revents; /* accumulated by the loop; the owner clears it */
};

struct ssh_conn {
	const struct ssh_srv_cfg *cfg;
	ssh_session session;
	ssh_event event;
	const char *peer;          /* "ADDR:PORT" of the client */
	const struct ssh_vm *vm;   /* set once authenticated */
	size_t vm_index;
	bool openssh_client;       /* the client's banner says OpenSSH */
	bool stopping;             /* the server stops */
	int nchans;
	struct ssh_chan *chans;
	/* private to ssh_conn.c */
	struct ssh_server_callbacks_struct scb;
	struct ssh_fdwatch stop_w;
	int auth_failures;
	bool refusal_logged;
	bool drop;                 /* too many failures: hang up */
};

/* Serves one connection until it ends; session comes from
 * ssh_bind_accept_fd. Disconnects the session (the caller frees it). */
void ssh_conn_serve(const struct ssh_srv_cfg *cfg, ssh_session session,
		    const char *peer);

/* Watches fd for events (0: stop watching) in the connection's loop. Only
 * from a pump or setup code, never from a libssh callback. */
void ssh_conn_watch(struct ssh_conn *c, struct ssh_fdwatch *w, int fd,
		    short events);

/* Takes a new channel into the connection (the kind set c->ops). */
void ssh_conn_add_chan(struct ssh_conn *c, struct ssh_chan *ch);

#endif
