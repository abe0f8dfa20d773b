/* The VNC server of one VM (libvncserver): serves the shadow framebuffer
 * straight from guest memory (no copy), updates clients from KVM's dirty
 * log (or, for a frame wrapped with fb_wrap, from comparing it with its
 * shadow copy, which is then what is served), and turns RFB key and
 * pointer events into PS/2 input on the VM's i8042. Several viewers may watch at once (at most 16), all shared.
 *
 * By default nothing listens: libvncserver has no server-side TLS, so
 * viewers arrive through vnc_server_connect (the SSH server's port
 * forwarding). A loopback-only TCP listener is an explicit option.
 *
 * One thread per server owns everything libvncserver has; it sleeps in
 * poll() and, while at least one viewer is connected, reads the dirty log
 * every poll_ms. A viewer that stalls (stops reading, or sends half a
 * message) holds the others up to 5 s, then is dropped. The server thread
 * blocks SIGPIPE for itself, so a vanished viewer cannot kill the process.
 * See remote/README.md. */
#ifndef VSB_VNC_SERVER_H
#define VSB_VNC_SERVER_H

#include <stdbool.h>
#include <stdint.h>

struct framebuffer;
struct i8042;
struct vnc_server;

struct vnc_opts {
	const char *name;   /* desktop name shown by viewers */
	/* NULL: no listener. Else "PORT" or "127.0.0.1:PORT" or "[::1]:PORT"
	 * (PORT 0 picks a free one: see vnc_server_port); any other address,
	 * a wildcard included, is refused. */
	const char *listen;
	int poll_ms;        /* dirty-log poll interval; 0 = default (10) */
	/* Optional: told of every key event a viewer sends (its keysym and
	 * whether pressed), mapped or not, before the guest gets it; in the
	 * server thread, so it must not block for long. vsb-ghv's operator
	 * tap uses it; vsbd sets none. */
	void (*key_observer)(void *ctx, uint32_t keysym, bool down);
	void *key_observer_ctx;
};

/* Returns NULL (message logged) on error, e.g. a refused listen address.
 * fb and kbd must outlive it. A wrapped frame (fb_wrap) gets pushed
 * updates like a VM's; a frame with neither a VM nor a shadow (vm_fd < 0,
 * shadow NULL) is served as it is at each request, with no pushed
 * updates. One VNC server
 * per process at a time is what libvncserver is safe for (rfbGetScreen
 * re-initializes a library-global mutex). */
struct vnc_server *vnc_server_new(struct framebuffer *fb, struct i8042 *kbd,
				  const struct vnc_opts *o);
/* Starts the server thread. Returns 0 or a negative errno. */
int vnc_server_start(struct vnc_server *s);
/* A new viewer: returns a connected stream socket the caller owns (the
 * other end is served as an RFB client), or a negative errno. Any thread,
 * until vnc_server_free starts. The server speaks first ("RFB 003.008"),
 * about 100 ms after this call (libvncserver waits that long to see
 * whether the client speaks WebSocket first). Closing the socket ends the
 * viewer; keys and buttons it held are released in the guest. */
int vnc_server_connect(struct vnc_server *s);
/* The listener's bound TCP port, 0 if none. */
int vnc_server_port(const struct vnc_server *s);
/* Stops the thread, disconnects every viewer, frees everything. NULL is
 * fine. No vnc_server_connect may run concurrently or later. */
void vnc_server_free(struct vnc_server *s);

#endif
