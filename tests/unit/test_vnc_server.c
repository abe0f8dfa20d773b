/* Tests of the VNC server without KVM: a framebuffer in plain memory, a
 * real i8042, and RFB 3.8 spoken by hand over vnc_server_connect's socket
 * (handshake, raw updates, keys and pointer reaching the guest's ports),
 * several viewers, misbehaving viewers, the listener option, and a frame
 * wrapped with fb_wrap (pushed updates from the compare path, the key
 * observer).
 *
 * SIGPIPE is deliberately left at its default here: a server write to a
 * vanished viewer must not kill the process. Our own writes use
 * MSG_NOSIGNAL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/keysym.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "framebuffer.h"
#include "i8042.h"
#include "log.h"
#include "vnc_server.h"

#define W 640
#define H 480
#define IO_TIMEOUT_MS 3000

struct env {
	struct framebuffer fb;
	struct i8042 *kbd;
	struct vnc_server *s;
	uint8_t *shot; /* what a viewer received */
	/* The key observer's record (wrapped fixture). */
	pthread_mutex_t klock;
	uint32_t keysyms[16];
	bool downs[16];
	unsigned nkeys;
};

static void no_irq(void *ctx, unsigned irq, int level)
{
	(void)ctx;
	(void)irq;
	(void)level;
}

static const struct i8042_ops kbd_ops = { .irq = no_irq };

static uint32_t pattern(uint32_t x, uint32_t y)
{
	return (x * 7 + y * 13) ^ (y << 16) ^ (x << 9);
}

static struct vnc_server *new_server(struct env *e, const char *listen)
{
	struct vnc_opts o = { .name = "test-vm", .listen = listen };

	return vnc_server_new(&e->fb, e->kbd, &o);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	/* A frame as fb_init would describe it, minus the VM: no dirty log. */
	e->fb.width = W;
	e->fb.height = H;
	e->fb.stride = W * 4;
	e->fb.size = (size_t)W * H * 4;
	e->fb.pixels = malloc(e->fb.size);
	e->fb.memfd = e->fb.vm_fd = -1;
	assert_non_null(e->fb.pixels);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			((uint32_t *)e->fb.pixels)[y * W + x] = pattern(x, y);
	e->shot = calloc(1, e->fb.size);
	assert_non_null(e->shot);
	e->kbd = i8042_new(&kbd_ops, NULL);
	assert_non_null(e->kbd);
	e->s = new_server(e, NULL);
	assert_non_null(e->s);
	assert_int_equal(vnc_server_port(e->s), 0);
	assert_int_equal(vnc_server_start(e->s), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vnc_server_free(e->s);
	i8042_free(e->kbd);
	free(e->fb.pixels);
	free(e->shot);
	free(e);
	return 0;
}

/* ---- the viewer side ---- */

static void wr(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
		if (r < 0)
			fail_msg("send: %s", strerror(errno));
		b += r;
		n -= (size_t)r;
	}
}

/* Reads exactly n bytes; false on EOF, error or timeout. */
static bool rd_timeout(int fd, void *p, size_t n, int ms)
{
	uint8_t *b = p;

	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, ms) <= 0)
			return false;
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static void rd(int fd, void *p, size_t n)
{
	if (!rd_timeout(fd, p, n, IO_TIMEOUT_MS))
		fail_msg("short read from the server (%zu bytes wanted)", n);
}

/* True once the server closed its end (reading and dropping anything). */
static bool wait_eof(int fd)
{
	uint8_t buf[65536];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
			return false;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		if (r < 0)
			return false;
	}
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* ProtocolVersion, security None, ClientInit; checks ServerInit. */
static void handshake(int fd)
{
	uint8_t buf[64];

	rd(fd, buf, 12);
	assert_memory_equal(buf, "RFB 003.008\n", 12);
	wr(fd, "RFB 003.008\n", 12);
	rd(fd, buf, 1); /* number of security types */
	assert_int_equal(buf[0], 1);
	rd(fd, buf, 1);
	assert_int_equal(buf[0], 1); /* None: SSH did the authentication */
	wr(fd, "\x01", 1);
	rd(fd, buf, 4); /* SecurityResult */
	assert_int_equal(be32(buf), 0);
	wr(fd, "\x01", 1); /* ClientInit: shared */

	rd(fd, buf, 24); /* ServerInit */
	assert_int_equal(be16(buf), W);
	assert_int_equal(be16(buf + 2), H);
	const uint8_t *pf = buf + 4;
	assert_int_equal(pf[0], 32); /* bits per pixel */
	assert_int_equal(pf[1], 24); /* depth */
	assert_int_equal(pf[2], 0);  /* little endian */
	assert_true(pf[3] != 0);     /* true colour (libvncserver sends 0xff) */
	assert_int_equal(be16(pf + 4), 255);
	assert_int_equal(be16(pf + 6), 255);
	assert_int_equal(be16(pf + 8), 255);
	assert_int_equal(pf[10], 16); /* XRGB8888 */
	assert_int_equal(pf[11], 8);
	assert_int_equal(pf[12], 0);
	uint32_t len = be32(buf + 20);
	assert_int_equal(len, 7);
	rd(fd, buf, len);
	assert_memory_equal(buf, "test-vm", 7);
}

static int viewer(struct env *e)
{
	int fd = vnc_server_connect(e->s);

	assert_true(fd >= 0);
	handshake(fd);
	return fd;
}

static void request(int fd, bool incremental, uint16_t x, uint16_t y,
		    uint16_t w, uint16_t h)
{
	uint8_t m[10] = { 3, incremental, (uint8_t)(x >> 8), (uint8_t)x,
			  (uint8_t)(y >> 8), (uint8_t)y, (uint8_t)(w >> 8),
			  (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h };

	wr(fd, m, sizeof(m));
}

/* Reads one FramebufferUpdate of Raw rectangles into e->shot; returns the
 * number of pixels it covered. */
static size_t read_update(struct env *e, int fd)
{
	uint8_t hdr[12];
	size_t covered = 0;

	rd(fd, hdr, 4);
	assert_int_equal(hdr[0], 0); /* FramebufferUpdate */
	uint16_t nrects = be16(hdr + 2);
	assert_true(nrects > 0);
	for (uint16_t i = 0; i < nrects; i++) {
		rd(fd, hdr, 12);
		uint16_t x = be16(hdr), y = be16(hdr + 2), w = be16(hdr + 4),
			 h = be16(hdr + 6);
		assert_int_equal(be32(hdr + 8), 0); /* Raw */
		assert_true(x + w <= W && y + h <= H);
		for (uint16_t r = 0; r < h; r++)
			rd(fd, e->shot + ((size_t)(y + r) * W + x) * 4,
			   (size_t)w * 4);
		covered += (size_t)w * h;
	}
	return covered;
}

static void check_full_update(struct env *e, int fd)
{
	memset(e->shot, 0, e->fb.size);
	request(fd, false, 0, 0, W, H);
	assert_int_equal(read_update(e, fd), W * H);
	assert_memory_equal(e->shot, e->fb.pixels, e->fb.size);
}

static void key(int fd, bool down, uint32_t keysym)
{
	uint8_t m[8] = { 4, down, 0, 0, (uint8_t)(keysym >> 24),
			 (uint8_t)(keysym >> 16), (uint8_t)(keysym >> 8),
			 (uint8_t)keysym };

	wr(fd, m, sizeof(m));
}

static void pointer(int fd, uint8_t mask, uint16_t x, uint16_t y)
{
	uint8_t m[6] = { 5, mask, (uint8_t)(x >> 8), (uint8_t)x,
			 (uint8_t)(y >> 8), (uint8_t)y };

	wr(fd, m, sizeof(m));
}

/* ---- the guest side: ports 0x64 and 0x60 ---- */

static uint8_t in64(struct env *e)
{
	uint8_t v;

	i8042_cmd_io(e->kbd, 0, &v, 1, false);
	return v;
}

static void out64(struct env *e, uint8_t v)
{
	i8042_cmd_io(e->kbd, 0, &v, 1, true);
}

static uint8_t in60(struct env *e)
{
	uint8_t v;

	i8042_data_io(e->kbd, 0, &v, 1, false);
	return v;
}

static void out60(struct env *e, uint8_t v)
{
	i8042_data_io(e->kbd, 0, &v, 1, true);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Expects these bytes from the keyboard (or the mouse, aux) as the guest
 * reads them, then nothing more for a moment. */
static void expect_guest(struct env *e, const uint8_t *want, size_t n,
			 bool aux)
{
	for (size_t i = 0; i < n; i++) {
		int waited = 0;
		uint8_t st;
		while (!((st = in64(e)) & 0x01)) {
			if (waited++ > IO_TIMEOUT_MS)
				fail_msg("guest byte %zu (%#x) never came", i,
					 want[i]);
			sleep_ms(1);
		}
		assert_int_equal(!!(st & 0x20), aux);
		uint8_t b = in60(e);
		if (b != want[i])
			fail_msg("guest byte %zu: %#x, want %#x", i, b,
				 want[i]);
	}
	sleep_ms(30);
	assert_int_equal(in64(e) & 0x01, 0);
}

#define EXPECT_KBD(e, ...)                                                  \
	do {                                                                \
		static const uint8_t w_[] = { __VA_ARGS__ };                \
		expect_guest(e, w_, sizeof(w_), false);                     \
	} while (0)
#define EXPECT_AUX(e, ...)                                                  \
	do {                                                                \
		static const uint8_t w_[] = { __VA_ARGS__ };                \
		expect_guest(e, w_, sizeof(w_), true);                      \
	} while (0)

/* ---- tests ---- */

static void test_handshake_and_update(void **state)
{
	struct env *e = *state;
	int fd = viewer(e);
	uint8_t b;

	check_full_update(e, fd);
	/* A part of the screen, asked again. */
	memset(e->shot, 0, e->fb.size);
	request(fd, false, 100, 50, 20, 10);
	assert_true(read_update(e, fd) >= 200);
	for (uint32_t y = 50; y < 60; y++)
		assert_memory_equal(e->shot + (y * W + 100) * 4,
				    e->fb.pixels + (y * W + 100) * 4, 80);
	/* Nothing changed (and no dirty log here): an incremental request
	 * stays pending. */
	request(fd, true, 0, 0, W, H);
	assert_false(rd_timeout(fd, &b, 1, 100));
	close(fd);
}

static void test_keys(void **state)
{
	struct env *e = *state;
	int fd = viewer(e);

	/* Translation on (the PC default): set 1. */
	key(fd, true, XK_a);
	key(fd, false, XK_a);
	EXPECT_KBD(e, 0x1e, 0x9e);
	key(fd, true, XK_A); /* the same key */
	key(fd, false, XK_A);
	key(fd, true, XK_Left);
	key(fd, false, XK_Left);
	EXPECT_KBD(e, 0x1e, 0x9e, 0xe0, 0x4b, 0xe0, 0xcb);
	key(fd, true, XK_eacute); /* no key on a US keyboard: nothing */
	key(fd, false, XK_eacute);
	key(fd, true, XK_Return);
	EXPECT_KBD(e, 0x1c);
	key(fd, false, XK_Return);
	EXPECT_KBD(e, 0x9c);

	/* The guest turns translation off: set 2 as the keyboard sends it. */
	out64(e, 0x60);
	out60(e, 0x25);
	key(fd, true, XK_a);
	key(fd, false, XK_a);
	key(fd, false, XK_Left);
	EXPECT_KBD(e, 0x1c, 0xf0, 0x1c, 0xe0, 0xf0, 0x6b);
	close(fd);
}

static void test_two_viewers(void **state)
{
	struct env *e = *state;
	int a = viewer(e), b = viewer(e);

	check_full_update(e, a);
	check_full_update(e, b);
	key(a, true, XK_1);
	EXPECT_KBD(e, 0x02);
	key(b, true, XK_2);
	EXPECT_KBD(e, 0x03);
	key(a, false, XK_1);
	EXPECT_KBD(e, 0x82);
	key(b, false, XK_2);
	EXPECT_KBD(e, 0x83);
	close(b);
	check_full_update(e, a);
	close(a);
}

/* Viewers that send garbage, vanish, or stop reading are dropped; the
 * others never notice (and the process does not die of SIGPIPE). */
static void test_bad_viewers(void **state)
{
	struct env *e = *state;
	int good = viewer(e), fd;
	uint8_t buf[12];

	/* Not RFB at all. */
	fd = vnc_server_connect(e->s);
	assert_true(fd >= 0);
	wr(fd, "GARBAGE GARBAGE GARBAGE\n", 24);
	assert_true(wait_eof(fd));
	close(fd);

	/* A bad protocol version after the server's. */
	fd = vnc_server_connect(e->s);
	rd(fd, buf, 12);
	wr(fd, "RFB 999.xyz\n", 12);
	assert_true(wait_eof(fd));
	close(fd);

	/* An unknown message type after a good handshake. */
	fd = viewer(e);
	wr(fd, "\xab\xcd\xef\x01", 4);
	assert_true(wait_eof(fd));
	close(fd);

	/* Gone before the handshake. */
	fd = vnc_server_connect(e->s);
	close(fd);

	/* Asks for 1.2 MB and leaves without reading: the server's write
	 * fails with EPIPE. */
	fd = viewer(e);
	request(fd, false, 0, 0, W, H);
	sleep_ms(20);
	close(fd);

	check_full_update(e, good);
	key(good, true, XK_z);
	key(good, false, XK_z);
	EXPECT_KBD(e, 0x2c, 0xac);
	close(good);
}

/* Keys and buttons a viewer holds when it leaves are released. */
static void test_release_on_disconnect(void **state)
{
	struct env *e = *state;
	int fd = viewer(e);

	key(fd, true, XK_Shift_L);
	key(fd, true, XK_Control_R);
	key(fd, true, XK_q);
	key(fd, false, XK_q);
	EXPECT_KBD(e, 0x2a, 0xe0, 0x1d, 0x10, 0x90);
	close(fd);
	/* In key order: Shift_L (0x2a) before Control_R (0xe0 0x1d). */
	EXPECT_KBD(e, 0xaa, 0xe0, 0x9d);
}

static void enable_mouse(struct env *e)
{
	out64(e, 0x60);
	out60(e, 0x47); /* aux port on with IRQ12, translation kept */
	out64(e, 0xd4);
	out60(e, 0xf4); /* enable data reporting */
	EXPECT_AUX(e, 0xfa);
}

static void test_pointer(void **state)
{
	struct env *e = *state;
	int fd = viewer(e);

	/* Reporting off: the guest gets nothing. */
	pointer(fd, 0, 10, 10);
	pointer(fd, 1, 20, 20);
	sleep_ms(30);
	assert_int_equal(in64(e) & 0x01, 0);

	enable_mouse(e);
	pointer(fd, 1, 25, 17); /* +5 right, +3 up, left button */
	EXPECT_AUX(e, 0x09, 0x05, 0x03);
	pointer(fd, 1, 15, 30); /* -10, -13: both sign bits */
	EXPECT_AUX(e, 0x39, 0xf6, 0xf3);
	pointer(fd, 1, 15, 30); /* no change: no packet */
	pointer(fd, 4, 15, 30); /* RFB button 3 is PS/2's right (bit 1) */
	EXPECT_AUX(e, 0x0a, 0x00, 0x00);
	pointer(fd, 2, 15, 30); /* RFB button 2 is PS/2's middle (bit 2) */
	EXPECT_AUX(e, 0x0c, 0x00, 0x00);
	pointer(fd, 0, 615, 30); /* +600: clamped to 255 */
	EXPECT_AUX(e, 0x08, 0xff, 0x00);
	pointer(fd, 0, 15, 470); /* -600, -440 */
	EXPECT_AUX(e, 0x38, 0x01, 0x01);
	pointer(fd, 8, 15, 470); /* the wheel: nothing on a plain mouse */
	sleep_ms(30);
	assert_int_equal(in64(e) & 0x01, 0);

	/* A button held when the viewer leaves is released. */
	pointer(fd, 1, 15, 470);
	EXPECT_AUX(e, 0x09, 0x00, 0x00);
	close(fd);
	EXPECT_AUX(e, 0x08, 0x00, 0x00);
}

static void test_viewer_limit(void **state)
{
	struct env *e = *state;
	int fds[16], fd;
	uint8_t buf[12];

	for (int i = 0; i < 16; i++) {
		fds[i] = vnc_server_connect(e->s);
		assert_true(fds[i] >= 0);
		rd(fds[i], buf, 12);
	}
	fd = vnc_server_connect(e->s);
	assert_true(fd >= 0);
	assert_true(wait_eof(fd)); /* the 17th is refused */
	close(fd);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	sleep_ms(50);
	fd = viewer(e); /* room again */
	check_full_update(e, fd);
	close(fd);
}

/* Freeing the server closes every viewer. */
static void test_free_disconnects(void **state)
{
	struct env *e = *state;
	int a = viewer(e), b = viewer(e);
	int c = vnc_server_connect(e->s); /* maybe not yet taken */

	vnc_server_free(e->s);
	e->s = NULL;
	assert_true(wait_eof(a));
	assert_true(wait_eof(b));
	assert_true(wait_eof(c));
	close(a);
	close(b);
	close(c);
}

/* A server not started yet keeps its viewers waiting, then serves them. */
static void test_connect_before_start(void **state)
{
	struct env *e = *state;
	struct vnc_server *s = new_server(e, NULL);
	uint8_t b;
	int fd;

	assert_non_null(s);
	fd = vnc_server_connect(s);
	assert_true(fd >= 0);
	assert_false(rd_timeout(fd, &b, 1, 150));
	assert_int_equal(vnc_server_start(s), 0);
	assert_int_equal(vnc_server_start(s), -EALREADY);
	vnc_server_free(e->s);
	e->s = s;
	handshake(fd);
	check_full_update(e, fd);
	close(fd);
}

static int tcp_connect(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
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
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		fail_msg("connect to port %d: %s", port, strerror(errno));
	return fd;
}

static bool ipv6_loopback_works(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_listener(void **state)
{
	struct env *e = *state;
	static const char *const refused[] = {
		"0.0.0.0:5900", "192.168.1.1:1", "[::]:5900", "::1:5900",
		"localhost:5900", "127.0.0.2:5900", "[::ffff:127.0.0.1]:1",
		"", "abc", "70000", "127.0.0.1:", "127.0.0.1:-1",
		"127.0.0.1:5900x", "[::1]:", " 5900",
	};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct vnc_server *s = new_server(e, refused[i]);
		if (s) {
			vnc_server_free(s);
			fail_msg("listen \"%s\" accepted", refused[i]);
		}
	}

	struct vnc_server *s = new_server(e, "127.0.0.1:0");
	assert_non_null(s);
	int port = vnc_server_port(s);
	assert_true(port > 0);
	assert_int_equal(vnc_server_start(s), 0);
	vnc_server_free(e->s);
	e->s = s;
	int fd = tcp_connect(AF_INET, port);
	handshake(fd);
	check_full_update(e, fd);
	/* The SSH path still works beside the listener. */
	int fd2 = viewer(e);
	check_full_update(e, fd2);
	close(fd2);
	close(fd);

	/* Bare port: loopback too. */
	s = new_server(e, "0");
	assert_non_null(s);
	assert_true(vnc_server_port(s) > 0);
	vnc_server_free(s);

	if (ipv6_loopback_works()) {
		s = new_server(e, "[::1]:0");
		assert_non_null(s);
		port = vnc_server_port(s);
		assert_true(port > 0);
		assert_int_equal(vnc_server_start(s), 0);
		fd = tcp_connect(AF_INET6, port);
		handshake(fd);
		close(fd);
		vnc_server_free(s);
	}
}

static void test_bad_new(void **state)
{
	struct env *e = *state;
	struct framebuffer fb = e->fb;

	assert_null(vnc_server_new(NULL, e->kbd, NULL));
	assert_null(vnc_server_new(&e->fb, NULL, NULL));
	fb.pixels = NULL;
	assert_null(vnc_server_new(&fb, e->kbd, NULL));
	fb = e->fb;
	fb.stride = 4; /* shorter than a line */
	assert_null(vnc_server_new(&fb, e->kbd, NULL));
	fb = e->fb;
	fb.height = 0;
	assert_null(vnc_server_new(&fb, e->kbd, NULL));
	vnc_server_free(NULL);
}

/* ---- a wrapped frame (vsb-ghv's case): compare path, key observer ---- */

static void observe_key(void *ctx, uint32_t keysym, bool down)
{
	struct env *e = ctx;

	pthread_mutex_lock(&e->klock);
	if (e->nkeys < 16) {
		e->keysyms[e->nkeys] = keysym;
		e->downs[e->nkeys] = down;
	}
	e->nkeys++;
	pthread_mutex_unlock(&e->klock);
}

static int setup_wrapped(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	uint8_t *frame = malloc((size_t)W * H * 4);

	assert_non_null(e);
	assert_non_null(frame);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			((uint32_t *)frame)[y * W + x] = pattern(x, y);
	assert_int_equal(fb_wrap(&e->fb, frame, W, H, W * 4), 0);
	e->shot = calloc(1, e->fb.size);
	assert_non_null(e->shot);
	pthread_mutex_init(&e->klock, NULL);
	e->kbd = i8042_new(&kbd_ops, NULL);
	assert_non_null(e->kbd);
	struct vnc_opts o = { .name = "test-vm", .key_observer = observe_key,
			      .key_observer_ctx = e };
	e->s = vnc_server_new(&e->fb, e->kbd, &o);
	assert_non_null(e->s);
	assert_int_equal(vnc_server_start(e->s), 0);
	*state = e;
	return 0;
}

static int teardown_wrapped(void **state)
{
	struct env *e = *state;
	uint8_t *frame = e->fb.pixels;

	vnc_server_free(e->s);
	i8042_free(e->kbd);
	fb_destroy(&e->fb);
	free(frame);
	free(e->shot);
	pthread_mutex_destroy(&e->klock);
	free(e);
	return 0;
}

static void fill_lines(struct env *e, uint32_t y0, uint32_t n, uint32_t v)
{
	for (uint32_t y = y0; y < y0 + n; y++)
		for (uint32_t x = 0; x < W; x++)
			((uint32_t *)e->fb.pixels)[y * W + x] = v;
}

/* Reads pushed updates until the viewer has the frame as it is now (a
 * compare may catch a fill half done: the rest comes in the next update,
 * after the next request). Returns the pixels covered. */
static size_t read_until_current(struct env *e, int fd)
{
	size_t covered = read_update(e, fd);

	for (int i = 0; i < 10; i++) {
		if (!memcmp(e->shot, e->fb.pixels, e->fb.size))
			return covered;
		request(fd, true, 0, 0, W, H);
		covered += read_update(e, fd);
	}
	fail_msg("the viewer never got the current frame");
	return 0;
}

/* What changes in the frame is pushed to a viewer with a pending
 * incremental request, with the new pixels, and nothing else is. */
static void test_wrapped_pushes_updates(void **state)
{
	struct env *e = *state;
	int fd = viewer(e);
	uint8_t b;

	check_full_update(e, fd);
	request(fd, true, 0, 0, W, H);
	assert_false(rd_timeout(fd, &b, 1, 100)); /* nothing changed */

	fill_lines(e, 100, 10, 0x00abcdef);
	size_t covered = read_until_current(e, fd);
	assert_true(covered >= W * 10);
	assert_true(covered < W * H); /* only what changed */

	/* Again, at the other end of the frame. */
	request(fd, true, 0, 0, W, H);
	fill_lines(e, H - 3, 3, 0x00123456);
	assert_true(read_until_current(e, fd) >= W * 3);
	request(fd, true, 0, 0, W, H);
	assert_false(rd_timeout(fd, &b, 1, 100));
	close(fd);
}

static unsigned observed(struct env *e)
{
	pthread_mutex_lock(&e->klock);
	unsigned n = e->nkeys;
	pthread_mutex_unlock(&e->klock);
	return n;
}

/* Every key event is observed, those without a PS/2 key too, and the
 * guest still gets the mapped ones. */
static void test_key_observer(void **state)
{
	struct env *e = *state;
	int fd = viewer(e);

	key(fd, true, XK_a);
	key(fd, false, XK_a);
	key(fd, true, XK_eacute);
	key(fd, false, XK_eacute);
	EXPECT_KBD(e, 0x1e, 0x9e);
	for (int i = 0; observed(e) < 4 && i < IO_TIMEOUT_MS; i++)
		sleep_ms(1);
	assert_int_equal(observed(e), 4);
	assert_int_equal(e->keysyms[0], XK_a);
	assert_true(e->downs[0]);
	assert_int_equal(e->keysyms[1], XK_a);
	assert_false(e->downs[1]);
	assert_int_equal(e->keysyms[2], XK_eacute);
	assert_true(e->downs[2]);
	assert_int_equal(e->keysyms[3], XK_eacute);
	assert_false(e->downs[3]);
	close(fd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TW(f) cmocka_unit_test_setup_teardown(f, setup_wrapped, \
					      teardown_wrapped)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_handshake_and_update),
		T(test_keys),
		T(test_two_viewers),
		T(test_bad_viewers),
		T(test_release_on_disconnect),
		T(test_pointer),
		T(test_viewer_limit),
		T(test_free_disconnects),
		T(test_connect_before_start),
		T(test_listener),
		T(test_bad_new),
		TW(test_wrapped_pushes_updates),
		TW(test_key_observer),
		TW(test_handshake_and_update),
		TW(test_keys),
		TW(test_two_viewers),
	};

	if (getenv("VSB_TEST_DEBUG"))
		log_init("test_vnc_server", LOG_DEBUG);
	else
		log_init("test_vnc_server", LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
