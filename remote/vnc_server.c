/* The VNC server of one VM on libvncserver. See vnc_server.h and the
 * "VNC server" part of README.md.
 *
 * Thread model: libvncserver's screen and client list belong to one server
 * thread, which runs libvncserver's single-threaded loop (rfbProcessEvents)
 * and nothing else touches them. Other threads hand it new viewers through
 * a small queue and an eventfd. The thread sleeps in poll() on that eventfd,
 * the optional listener and every viewer socket; while viewers are
 * connected it also wakes every poll_ms to read KVM's dirty log (or to
 * compare a wrapped frame with its shadow). */
#include "vnc_server.h"
#include "keymap.h"
#include "../devices/i8042.h"
#include "../vmm/framebuffer.h"
#include "../vmm/log.h"
#include "../vmm/mono_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>

#define VNC_DEFAULT_POLL_MS 10
#define VNC_MAX_VIEWERS 16
#define VNC_MAX_PENDING 16
/* How long one stuck viewer (not reading, or sending half a message) may
 * hold up the others before libvncserver drops it. */
#define VNC_CLIENT_WAIT_MS 5000

#define LONG_BITS (sizeof(unsigned long) * CHAR_BIT)

/* Per viewer, as rfbClientRec.clientData. */
struct viewer {
	struct vnc_server *s;
	unsigned id;
	int last_x, last_y;  /* last pointer position; -1: none yet */
	uint8_t buttons;     /* PS/2 button bits last sent */
	/* Keys this viewer holds down, released for it when it leaves. */
	unsigned long held[KEYMAP_NKEYS / LONG_BITS];
};

struct vnc_server {
	struct framebuffer *fb;
	struct i8042 *kbd;
	rfbScreenInfoPtr screen;
	char *name;
	int poll_ms;
	void (*key_observer)(void *ctx, uint32_t keysym, bool down);
	void *key_observer_ctx;
	uint64_t fast_until; /* mono_ms() before which the log is read fast */
	int listen_fd; /* our loopback listener, or -1 */
	int port;
	int wake_fd;   /* eventfd: a viewer was queued, or stop */
	pthread_t thread;
	bool started;

	pthread_mutex_t lock; /* guards the fields below */
	int pending[VNC_MAX_PENDING];
	unsigned npending;
	bool stopping;

	/* The server thread only (and vnc_server_free after joining it). */
	unsigned next_id, nviewers;
	bool no_dirty_log; /* fb_collect_dirty failed: stop asking */
};

/* libvncserver's messages (connections, protocol errors) are diagnostics
 * for us: debug level, one line each, never key data (it logs none). */
__attribute__((format(printf, 1, 2)))
static void rfb_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	if (log_get_level() < LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	log_debug("vnc: %s", line);
}

static void wake(struct vnc_server *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		log_debug("vnc: wake: %s", strerror(errno));
}

/* ---- keyboard and pointer ---- */

static void send_key(struct vnc_server *s, unsigned key, bool down)
{
	uint8_t buf[KEYMAP_MAX_BYTES];
	size_t n = keymap_key_ps2(key, down, i8042_kbd_scancode_set(s->kbd),
				  buf);

	if (n)
		i8042_kbd_input(s->kbd, buf, n);
}

/* A guest usually draws what a key or a click does within a few ms: read
 * the dirty log every VNC_FAST_POLL_MS for a while after viewer input, so
 * the echo goes out at once instead of up to poll_ms later. Idle screens
 * keep the slow poll. */
#define VNC_FAST_POLL_MS 2
#define VNC_FAST_WINDOW_MS 100

static void input_seen(struct vnc_server *s)
{
	s->fast_until = mono_ms() + VNC_FAST_WINDOW_MS;
}

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct viewer *v = cl->clientData;
	unsigned key = keymap_key(keysym);
	unsigned long bit;

	if (!v)
		return;
	if (v->s->key_observer)
		v->s->key_observer(v->s->key_observer_ctx, (uint32_t)keysym,
				   down);
	if (!key)
		return;
	bit = 1UL << (key % LONG_BITS);
	if (down)
		v->held[key / LONG_BITS] |= bit;
	else
		v->held[key / LONG_BITS] &= ~bit;
	send_key(v->s, key, down);
	input_seen(v->s);
}

/* One standard 3-byte PS/2 packet: buttons and 9-bit relative motion, y up. */
static void send_motion(struct vnc_server *s, uint8_t buttons, int dx, int dy)
{
	uint8_t pkt[3];

	dx = dx > 255 ? 255 : dx < -255 ? -255 : dx;
	dy = dy > 255 ? 255 : dy < -255 ? -255 : dy;
	pkt[0] = (uint8_t)(0x08 | buttons | (dx < 0 ? 0x10 : 0) |
			   (dy < 0 ? 0x20 : 0));
	pkt[1] = (uint8_t)(dx & 0xff);
	pkt[2] = (uint8_t)(dy & 0xff);
	i8042_aux_input(s->kbd, pkt, sizeof(pkt));
}

/* RFB gives absolute positions and buttons 1/2/3 = left/middle/right in
 * bits 0/1/2 (3/4 are the wheel, which a plain PS/2 mouse lacks); PS/2
 * wants motion since the last packet and left/right/middle in bits 0/1/2. */
static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	struct viewer *v = cl->clientData;
	uint8_t buttons = (uint8_t)((mask & 1) | (mask & 4 ? 2 : 0) |
				    (mask & 2 ? 4 : 0));
	int dx = 0, dy = 0;

	if (!v)
		return;
	if (v->last_x >= 0) {
		dx = x - v->last_x;
		dy = v->last_y - y;
	}
	v->last_x = x;
	v->last_y = y;
	if (!dx && !dy && buttons == v->buttons)
		return;
	v->buttons = buttons;
	send_motion(v->s, buttons, dx, dy);
	input_seen(v->s);
}

/* ---- viewers ---- */

static void on_client_gone(rfbClientPtr cl)
{
	struct viewer *v = cl->clientData;
	struct vnc_server *s = v->s;

	/* A viewer that vanishes with a key or button down must not leave
	 * it stuck in the guest. */
	for (unsigned key = 0; key < KEYMAP_NKEYS; key++)
		if (v->held[key / LONG_BITS] >> (key % LONG_BITS) & 1)
			send_key(s, key, false);
	if (v->buttons)
		send_motion(s, 0, 0, 0);
	s->nviewers--;
	log_info("vnc: viewer %u disconnected (%u connected)", v->id,
		 s->nviewers);
	cl->clientData = NULL;
	free(v);
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	struct viewer *v;

	if (s->nviewers >= VNC_MAX_VIEWERS) {
		log_warn("vnc: viewer refused: %d already connected",
			 VNC_MAX_VIEWERS);
		return RFB_CLIENT_REFUSE;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		log_warn("vnc: viewer refused: out of memory");
		return RFB_CLIENT_REFUSE;
	}
	v->s = s;
	v->id = ++s->next_id;
	v->last_x = v->last_y = -1;
	cl->clientData = v;
	cl->clientGoneHook = on_client_gone;
	s->nviewers++;
	log_info("vnc: viewer %u connected (%u connected)", v->id,
		 s->nviewers);
	return RFB_CLIENT_ACCEPT;
}

/* ---- the loopback listener ---- */

static bool parse_port(const char *p, int *port)
{
	long v = 0;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return false;
	}
	*port = (int)v;
	return true;
}

/* "PORT", "127.0.0.1:PORT" or "[::1]:PORT"; anything else is refused, so
 * the screen is never offered beyond this host without SSH. */
static int open_listener(const char *spec, int *bound_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, port, one = 1;
	bool v6 = false;
	const char *p = spec;

	memset(&ss, 0, sizeof(ss));
	if (!strncmp(p, "127.0.0.1:", 10)) {
		p += 10;
	} else if (!strncmp(p, "[::1]:", 6)) {
		p += 6;
		v6 = true;
	}
	if (!parse_port(p, &port)) {
		log_error("vnc: listen address \"%s\" refused: only PORT, "
			  "127.0.0.1:PORT or [::1]:PORT (loopback; remote "
			  "viewers come through SSH)", spec);
		return -EINVAL;
	}
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons((uint16_t)port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons((uint16_t)port);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return log_errno(-errno, "vnc: socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
		int e = -errno;
		close(fd);
		return log_errno(e, "vnc: cannot listen on %s", spec);
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		int e = -errno;
		close(fd);
		return log_errno(e, "vnc: getsockname");
	}
	*bound_port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				 ((struct sockaddr_in *)&ss)->sin_port);
	log_info("vnc: listening on %s port %d", v6 ? "[::1]" : "127.0.0.1",
		 *bound_port);
	return fd;
}

/* ---- creation ---- */

static void setup_screen(struct vnc_server *s)
{
	rfbScreenInfoPtr sc = s->screen;

	/* Zero copy: libvncserver encodes straight from the guest's frame
	 * (a wrapped frame: from the shadow its compare keeps). */
	sc->frameBuffer = (char *)fb_served_pixels(s->fb);
	sc->paddedWidthInBytes = (int)s->fb->stride;
	/* XRGB8888 little endian: 0x00RRGGBB in a 32-bit word. */
	sc->serverFormat.bitsPerPixel = 32;
	sc->serverFormat.depth = 24;
	sc->serverFormat.bigEndian = FALSE;
	sc->serverFormat.trueColour = TRUE;
	sc->serverFormat.redMax = 255;
	sc->serverFormat.greenMax = 255;
	sc->serverFormat.blueMax = 255;
	sc->serverFormat.redShift = 16;
	sc->serverFormat.greenShift = 8;
	sc->serverFormat.blueShift = 0;
	sc->desktopName = s->name;

	/* libvncserver listens on 5900 (IPv4 and IPv6, every address) by
	 * default: nothing of its own may listen. Our listener, if any, is
	 * ours, bound to loopback only. */
	sc->port = 0;
	sc->ipv6port = 0;
	sc->autoPort = FALSE;
	sc->listenInterface = htonl(INADDR_LOOPBACK);
	sc->listen6Interface = NULL;
	sc->udpPort = 0;
	sc->httpPort = 0;
	sc->http6Port = 0;
	sc->httpDir = NULL;
	sc->inetdSock = RFB_INVALID_SOCKET;

	/* Its soft cursor is drawn into frameBuffer, i.e. into guest memory:
	 * no server-side cursor. */
	sc->cursor = NULL;
	/* Writes to a vanished viewer fail with EPIPE in our thread, which
	 * blocks SIGPIPE; the process-wide disposition is not ours to set. */
	sc->ignoreSIGPIPE = FALSE;
	/* Several viewers watch together; one asking for exclusive access
	 * must not disconnect the others. */
	sc->alwaysShared = TRUE;
	sc->neverShared = FALSE;
	/* The dirty-log poll already batches; send as soon as asked. */
	sc->deferUpdateTime = 0;
	sc->deferPtrUpdateTime = 0;
	sc->maxClientWait = VNC_CLIENT_WAIT_MS;
	sc->permitFileTransfer = FALSE;

	sc->screenData = s;
	sc->newClientHook = on_new_client;
	sc->kbdAddEvent = on_key;
	sc->ptrAddEvent = on_pointer;
}

struct vnc_server *vnc_server_new(struct framebuffer *fb, struct i8042 *kbd,
				  const struct vnc_opts *o)
{
	/* rfbGetScreen re-initializes a mutex global to libvncserver; keep
	 * two creations from overlapping at least. */
	static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
	struct vnc_server *s;

	if (!fb || !fb->pixels || !kbd || !fb->width || !fb->height ||
	    fb->width > FB_MAX_DIM || fb->height > FB_MAX_DIM ||
	    fb->stride < fb->width * 4) {
		log_error("vnc: no framebuffer or keyboard");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("vnc: out of memory");
		return NULL;
	}
	s->fb = fb;
	s->kbd = kbd;
	s->listen_fd = s->wake_fd = -1;
	s->poll_ms = o && o->poll_ms > 0 ? o->poll_ms : VNC_DEFAULT_POLL_MS;
	if (s->poll_ms > 1000)
		s->poll_ms = 1000;
	s->name = strdup(o && o->name ? o->name : "vsbd");
	if (o) {
		s->key_observer = o->key_observer;
		s->key_observer_ctx = o->key_observer_ctx;
	}
	pthread_mutex_init(&s->lock, NULL);
	if (!s->name) {
		log_error("vnc: out of memory");
		goto fail;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		log_errno(-errno, "vnc: eventfd");
		goto fail;
	}
	if (o && o->listen) {
		s->listen_fd = open_listener(o->listen, &s->port);
		if (s->listen_fd < 0)
			goto fail;
	}

	rfbLog = rfb_log;
	rfbErr = rfb_log;
	pthread_mutex_lock(&create_lock);
	s->screen = rfbGetScreen(NULL, NULL, (int)fb->width, (int)fb->height,
				 8, 3, 4);
	pthread_mutex_unlock(&create_lock);
	if (!s->screen) {
		log_error("vnc: cannot create the screen");
		goto fail;
	}
	setup_screen(s);
	rfbInitServer(s->screen);
	return s;

fail:
	vnc_server_free(s);
	return NULL;
}

int vnc_server_port(const struct vnc_server *s)
{
	return s->port;
}

/* ---- the server thread ---- */

static void mark_rect(void *ctx, uint32_t x, uint32_t y, uint32_t w,
		      uint32_t h)
{
	rfbMarkRectAsModified(ctx, (int)x, (int)y, (int)(x + w), (int)(y + h));
}

/* Returns how many rectangles were marked. */
static int collect_dirty(struct vnc_server *s)
{
	int n = fb_collect_dirty(s->fb, mark_rect, s->screen);

	if (n < 0) {
		/* No dirty log and no shadow (a bare frame, as in the unit
		 * test): viewers get what they request, no push updates. */
		log_warn("vnc: framebuffer dirty log unavailable (%s); "
			 "screen changes are not sent", strerror(-n));
		s->no_dirty_log = true;
		return 0;
	}
	return n;
}

/* Hands queued viewer sockets to libvncserver. */
static bool take_pending(struct vnc_server *s)
{
	int fds[VNC_MAX_PENDING];
	unsigned n;
	bool stop;
	uint64_t v;

	if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("vnc: wake read: %s", strerror(errno));
	pthread_mutex_lock(&s->lock);
	stop = s->stopping;
	n = s->npending;
	memcpy(fds, s->pending, n * sizeof(fds[0]));
	s->npending = 0;
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++) {
		if (stop)
			close(fds[i]);
		else /* on failure it has closed the socket itself */
			rfbNewClient(s->screen, fds[i]);
	}
	return !stop;
}

static void accept_viewers(struct vnc_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("vnc: accept: %s", strerror(errno));
			if (errno != EINTR && errno != ECONNABORTED)
				return;
			continue;
		}
		if (fd >= FD_SETSIZE) { /* libvncserver uses select() */
			log_warn("vnc: viewer refused: descriptor %d too high",
				 fd);
			close(fd);
			continue;
		}
		rfbNewClient(s->screen, fd);
	}
}

static void *server_thread(void *arg)
{
	struct vnc_server *s = arg;
	struct pollfd pfd[2 + VNC_MAX_VIEWERS + 8];
	uint64_t next_poll = 0;
	sigset_t pipe_set;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	for (;;) {
		nfds_t n = 0;
		int timeout = -1;
		bool watching = false;

		pfd[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		if (s->listen_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = s->listen_fd,
						    .events = POLLIN };
		rfbClientIteratorPtr it = rfbGetClientIterator(s->screen);
		rfbClientPtr cl;
		while ((cl = rfbClientIteratorNext(it))) {
			watching = true;
			if (n < sizeof(pfd) / sizeof(pfd[0]))
				pfd[n++] = (struct pollfd){ .fd = cl->sock,
							    .events = POLLIN };
			else /* cannot happen with the viewer limit */
				timeout = 1;
		}
		rfbReleaseClientIterator(it);

		/* The dirty log is read only while someone watches; what it
		 * marks goes out at once, below. */
		if (watching && !s->no_dirty_log) {
			uint64_t now = mono_ms();
			int every = now < s->fast_until ? VNC_FAST_POLL_MS
							 : s->poll_ms;
			int left;
			if (next_poll > now + (uint64_t)every)
				next_poll = now + (uint64_t)every;
			if (now >= next_poll) {
				left = collect_dirty(s) > 0 ? 0 : every;
				next_poll = now + (uint64_t)every;
			} else {
				left = (int)(next_poll - now);
			}
			if (timeout < 0 || left < timeout)
				timeout = left;
		}

		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			log_errno(-errno, "vnc: poll");
			break;
		}
		if (pfd[0].revents && !take_pending(s))
			break;
		if (s->listen_fd >= 0 && pfd[1].revents)
			accept_viewers(s);
		/* Reads what viewers sent (one message each), sends the
		 * updates they asked for, drops the ones that left. */
		rfbProcessEvents(s->screen, 0);
	}
	return NULL;
}

int vnc_server_start(struct vnc_server *s)
{
	int ret;

	if (s->started)
		return -EALREADY;
	ret = -pthread_create(&s->thread, NULL, server_thread, s);
	if (ret)
		return log_errno(ret, "vnc: cannot start the server thread");
	s->started = true;
	return 0;
}

int vnc_server_connect(struct vnc_server *s)
{
	int sv[2], ret = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (sv[0] >= FD_SETSIZE) { /* libvncserver uses select() */
		ret = -EMFILE;
		goto fail;
	}
	pthread_mutex_lock(&s->lock);
	if (s->stopping)
		ret = -ESHUTDOWN;
	else if (s->npending == VNC_MAX_PENDING)
		ret = -EAGAIN;
	else
		s->pending[s->npending++] = sv[0];
	pthread_mutex_unlock(&s->lock);
	if (ret)
		goto fail;
	wake(s);
	return sv[1];

fail:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

void vnc_server_free(struct vnc_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->started) {
		wake(s);
		pthread_join(s->thread, NULL);
	}
	for (unsigned i = 0; i < s->npending; i++)
		close(s->pending[i]);
	if (s->screen) {
		/* Closes every viewer (our gone hook logs each) and frees. */
		rfbShutdownServer(s->screen, TRUE);
		rfbScreenCleanup(s->screen);
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s->name);
	free(s);
}
