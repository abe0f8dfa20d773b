/* Tests of vsb-ghv's traditional-routing consoles (ghv_console.h), driven
 * through ghv_console_pio as a guest drives its ports: which ports it
 * takes, COM1's registers and IRQ 4, the i8042's IRQs 1 and 12 and its
 * reset pulse, and what the operator tap records (ghv_tap.h, a real one in
 * a temporary directory): console bytes both ways, keys and screens.
 * The servers are the real ones: VNC spoken by hand over the loopback
 * listener, and the real OpenSSH client for the console and "ssh -L" to
 * the screen (those parts skip without ssh/ssh-keygen). Also the console
 * hub's input observer the tap relies on, alone. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rfb/keysym.h>

#include "conhub.h"
#include "ghv_console.h"
#include "ghv_tap.h"
#include "log.h"
#include "uart16550.h"

enum { RBR = 0x3f8, THR = 0x3f8, IER = 0x3f9, IIR = 0x3fa, FCR = 0x3fa,
       LCR = 0x3fb, MCR = 0x3fc, LSR = 0x3fd, MSR = 0x3fe, SCR = 0x3ff };
#define LSR_DR 0x01
#define KBD_DATA 0x60
#define KBD_CMD 0x64
#define FB_W 640
#define FB_H 480
#define WAIT_MS 15000

static struct {
	char dir[64], tapdir[96];
	struct ghv_tap *tap;
	struct ghv_console *c;
	uint8_t *frame; /* the "memfd" of the screen, when there is one */
	pthread_mutex_t lock;
	int level[24];  /* each GSI's last level */
	int rises[24];  /* and its rising edges */
	int resets;
	char guest[1 << 16]; /* what the guest read from COM1 */
	size_t nguest;
} E;

/* ---- the vsbd side: IRQ lines and reset ---- */

static void env_irq(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	assert_true(gsi < 24);
	assert_true(level == 0 || level == 1);
	pthread_mutex_lock(&E.lock);
	if (level && !E.level[gsi])
		E.rises[gsi]++;
	E.level[gsi] = level;
	pthread_mutex_unlock(&E.lock);
}

static void env_reset(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&E.lock);
	E.resets++;
	pthread_mutex_unlock(&E.lock);
}

static int level(unsigned gsi)
{
	pthread_mutex_lock(&E.lock);
	int v = E.level[gsi];
	pthread_mutex_unlock(&E.lock);
	return v;
}

static int rises(unsigned gsi)
{
	pthread_mutex_lock(&E.lock);
	int v = E.rises[gsi];
	pthread_mutex_unlock(&E.lock);
	return v;
}

static struct ghv_console_env env(void)
{
	return (struct ghv_console_env){ .irq = env_irq, .reset = env_reset,
					 .ctx = &E, .tap = E.tap };
}

/* ---- the guest's ports ---- */

static uint8_t inb(uint16_t port)
{
	uint8_t v = 0xee;

	assert_true(ghv_console_pio(E.c, port, &v, 1, false));
	return v;
}

static void outb(uint16_t port, uint8_t v)
{
	assert_true(ghv_console_pio(E.c, port, &v, 1, true));
}

static void guest_puts(const char *s)
{
	while (*s)
		outb(THR, (uint8_t)*s++);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Reads what COM1 holds, as a polling guest does. */
static void guest_poll(void)
{
	while (inb(LSR) & LSR_DR) {
		uint8_t ch = inb(RBR);
		if (E.nguest < sizeof(E.guest) - 1)
			E.guest[E.nguest++] = (char)ch;
		E.guest[E.nguest] = '\0';
	}
}

static void guest_expect(const char *needle)
{
	long long end = now_ms() + WAIT_MS;

	while (!strstr(E.guest, needle)) {
		if (now_ms() > end)
			fail_msg("guest never read '%s'; it has '%s'", needle,
				 E.guest);
		guest_poll();
		sleep_ms(1);
	}
}

/* ---- files ---- */

/* The whole file (NUL terminated; caller frees), or NULL. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[160];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* Waits until the tap file holds needle (raw bytes, len of them). */
static void tap_expect(const char *name, const char *needle, size_t len)
{
	long long end = now_ms() + WAIT_MS;

	for (;;) {
		size_t n = 0;
		char *buf = slurp(E.tapdir, name, &n);
		bool found = buf && memmem(buf, n, needle, len);
		free(buf);
		if (found)
			return;
		if (now_ms() > end)
			fail_msg("tap %s never got '%.*s'", name, (int)len,
				 needle);
		sleep_ms(10);
	}
}

static bool file_exists(const char *dir, const char *name)
{
	char path[200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* ---- fixtures ---- */

static struct ghv_console *make(const struct ghv_console_opts *o, bool fb)
{
	struct ghv_console_env e = env();

	return ghv_console_new(o, &e, fb ? E.frame : NULL, FB_W, FB_H,
			       FB_W * 4);
}

static int setup(void **state)
{
	(void)state;
	memset(E.level, 0, sizeof(E.level));
	memset(E.rises, 0, sizeof(E.rises));
	E.resets = 0;
	E.nguest = 0;
	E.guest[0] = '\0';
	snprintf(E.dir, sizeof(E.dir), "/tmp/vsb-ghvcon-XXXXXX");
	if (!mkdtemp(E.dir))
		return -1;
	snprintf(E.tapdir, sizeof(E.tapdir), "%s/tap", E.dir);
	E.tap = ghv_tap_open(E.tapdir);
	E.frame = calloc(FB_W * FB_H, 4);
	if (!E.tap || !E.frame)
		return -1;
	struct ghv_console_opts o = { .vm_name = "vm1" };
	E.c = make(&o, false);
	return E.c ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	ghv_console_free(E.c);
	E.c = NULL;
	ghv_tap_close(E.tap);
	free(E.frame);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Replaces the fixture's console. */
static void remake(const struct ghv_console_opts *o, bool fb)
{
	ghv_console_free(E.c);
	E.c = make(o, fb);
	assert_non_null(E.c);
}

/* ---- ports ---- */

static void test_ports(void **state)
{
	static const uint16_t mine[] = { 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc,
					 0x3fd, 0x3fe, 0x3ff, 0x60, 0x64 };
	static const uint16_t others[] = { 0x3f7, 0x400, 0x2f8, 0x5f, 0x61,
					   0x63, 0x65, 0x70, 0x80, 0xcf8 };
	uint32_t v = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
		assert_true(ghv_console_pio(E.c, mine[i], &v, 1, false));
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		v = 0x12345678;
		assert_false(ghv_console_pio(E.c, others[i], &v, 1, false));
		assert_false(ghv_console_pio(E.c, others[i], &v, 1, true));
		assert_int_equal(v, 0x12345678); /* untouched */
	}
	assert_false(ghv_console_pio(E.c, SCR, &v, 0, false));
	assert_false(ghv_console_pio(E.c, SCR, &v, 5, false));
	assert_false(ghv_console_pio(E.c, SCR, NULL, 1, false));
	assert_false(ghv_console_pio(NULL, SCR, &v, 1, false));
}

/* COM1 after reset, the scratch register, wide accesses. */
static void test_uart_registers(void **state)
{
	uint32_t v;

	(void)state;
	assert_int_equal(inb(LSR), 0x60); /* THRE | TEMT: nothing to send */
	assert_int_equal(inb(IIR), 0x01); /* no interrupt */
	assert_int_equal(inb(IER), 0x00);
	outb(SCR, 0xa5);
	assert_int_equal(inb(SCR), 0xa5);
	v = 0x12345678; /* wider than a byte: the low byte counts */
	assert_true(ghv_console_pio(E.c, SCR, &v, 4, true));
	v = 0xffffffff;
	assert_true(ghv_console_pio(E.c, SCR, &v, 2, false));
	assert_int_equal(v, 0xffff0078); /* 2 bytes written, zero-extended */
	outb(LCR, 0x80); /* DLAB: the divisor latch */
	outb(0x3f8, 0x01);
	assert_int_equal(inb(0x3f8), 0x01);
	outb(LCR, 0x03);
	assert_int_equal(level(4), 0);
}

/* The THRE interrupt on IRQ 4, gated by OUT2; bytes written to THR are
 * the guest's output and reach the tap. */
static void test_uart_output_and_irq(void **state)
{
	(void)state;
	outb(IER, 0x02); /* ETBEI: THRE interrupt armed, but OUT2 is off */
	assert_int_equal(level(4), 0);
	outb(MCR, 0x08); /* OUT2: the line reaches the PIC */
	assert_int_equal(level(4), 1);
	assert_int_equal(inb(IIR), 0x02); /* THR empty; reading clears it */
	assert_int_equal(level(4), 0);
	int before = rises(4);
	guest_puts("hi there\r\n");
	assert_int_equal(rises(4), before + 10); /* an edge per byte */
	assert_int_equal(inb(LSR) & 0x60, 0x60);
	tap_expect("console-out.log", "hi there\r\n", 10);
	outb(MCR, 0x00);
	assert_int_equal(level(4), 0);
}

/* The i8042: self-test, IRQ 1 for keyboard bytes, IRQ 12 for the mouse,
 * each dropped when the guest reads the byte. */
static void test_i8042_irqs(void **state)
{
	(void)state;
	outb(KBD_CMD, 0xaa);
	assert_int_equal(inb(KBD_CMD) & 0x01, 1);
	assert_int_equal(inb(KBD_DATA), 0x55);

	outb(KBD_CMD, 0xd2); /* as if from the keyboard */
	outb(KBD_DATA, 0x1e);
	assert_int_equal(level(1), 1);
	assert_int_equal(inb(KBD_DATA), 0x1e);
	assert_int_equal(level(1), 0);

	outb(KBD_CMD, 0x60); /* command byte: AUX interrupt on too */
	outb(KBD_DATA, 0x47);
	outb(KBD_CMD, 0xd3); /* as if from the mouse */
	outb(KBD_DATA, 0x08);
	assert_int_equal(level(12), 1);
	assert_int_equal(level(1), 0);
	assert_int_equal(inb(KBD_CMD) & 0x21, 0x21); /* AUX OBF */
	assert_int_equal(inb(KBD_DATA), 0x08);
	assert_int_equal(level(12), 0);
	assert_true(rises(1) >= 1);
	assert_int_equal(rises(12), 1);
}

/* The reset pulse (Linux's reboot=k) reaches env->reset; without one it
 * is only logged. */
static void test_i8042_reset(void **state)
{
	struct ghv_console_opts o = { .vm_name = "vm1" };

	(void)state;
	outb(KBD_CMD, 0xfe);
	assert_int_equal(E.resets, 1);
	outb(KBD_CMD, 0xd1); /* output port with bit 0 clear: reset too */
	outb(KBD_DATA, 0x00);
	assert_int_equal(E.resets, 2);

	struct ghv_console_env e = env();
	e.reset = NULL;
	ghv_console_free(E.c);
	E.c = ghv_console_new(&o, &e, NULL, 0, 0, 0);
	assert_non_null(E.c);
	outb(KBD_CMD, 0xfe);
	assert_int_equal(E.resets, 2);
}

static void test_bad_new(void **state)
{
	struct ghv_console_env e = env();
	struct ghv_console_opts o = { .vm_name = "vm1" };

	(void)state;
	assert_null(ghv_console_new(NULL, &e, NULL, 0, 0, 0));
	assert_null(ghv_console_new(&o, NULL, NULL, 0, 0, 0));
	e.irq = NULL;
	assert_null(ghv_console_new(&o, &e, NULL, 0, 0, 0));
	e = env();
	/* A VNC listener needs a screen. */
	o.vnc_listen = "127.0.0.1:0";
	assert_null(ghv_console_new(&o, &e, NULL, 0, 0, 0));
	o.vnc_listen = "0.0.0.0:5900"; /* never beyond loopback */
	assert_null(ghv_console_new(&o, &e, E.frame, FB_W, FB_H, FB_W * 4));
	o.vnc_listen = NULL;
	/* A frame out of range. */
	assert_null(ghv_console_new(&o, &e, E.frame, 10, 10, 40));
	assert_null(ghv_console_new(&o, &e, E.frame, FB_W, FB_H, 4));
	/* SSH needs host keys and an address it can parse. */
	o.ssh_listen = "127.0.0.1:0";
	assert_null(ghv_console_new(&o, &e, NULL, 0, 0, 0));
	o.host_keys = E.dir;
	o.ssh_listen = "127.0.0.1:notaport";
	assert_null(ghv_console_new(&o, &e, NULL, 0, 0, 0));
	ghv_console_free(NULL);
}

/* Without servers start only starts what there is; twice is refused. */
static void test_start_twice(void **state)
{
	(void)state;
	assert_int_equal(ghv_console_start(E.c), 0);
	assert_int_equal(ghv_console_start(E.c), -EALREADY);
	assert_int_equal(ghv_console_ssh_port(E.c), 0);
	assert_int_equal(ghv_console_vnc_port(E.c), 0);
	guest_puts("x");
	tap_expect("console-out.log", "x", 1);
}

/* ---- the screen ---- */

static bool ppm_has(unsigned n, uint32_t px0)
{
	char name[32];
	size_t len = 0;

	snprintf(name, sizeof(name), "screen-%04u.ppm", n);
	char *buf = slurp(E.tapdir, name, &len);
	if (!buf)
		return false;
	static const char head[] = "P6\n640 480\n255\n";
	bool ok = len == sizeof(head) - 1 + FB_W * FB_H * 3 &&
		  !memcmp(buf, head, sizeof(head) - 1);
	const uint8_t *rgb = (const uint8_t *)buf + sizeof(head) - 1;
	ok = ok && rgb[0] == (uint8_t)(px0 >> 16) &&
	     rgb[1] == (uint8_t)(px0 >> 8) && rgb[2] == (uint8_t)px0;
	free(buf);
	return ok;
}

static void wait_ppm(unsigned n, uint32_t px0)
{
	long long end = now_ms() + WAIT_MS;

	while (!ppm_has(n, px0)) {
		if (now_ms() > end)
			fail_msg("screen %u never recorded", n);
		sleep_ms(20);
	}
}

/* With a tap and a frame, the screen is recorded, and again when it
 * changes. */
static void test_screen_tap(void **state)
{
	struct ghv_console_opts o = { .vm_name = "vm1" };

	(void)state;
	((uint32_t *)E.frame)[0] = 0x00102030;
	remake(&o, true);
	assert_int_equal(ghv_console_start(E.c), 0);
	wait_ppm(0, 0x00102030);
	((uint32_t *)E.frame)[0] = 0x00a0b0c0;
	wait_ppm(1, 0x00a0b0c0);
	sleep_ms(500); /* no change: no new file */
	assert_false(file_exists(E.tapdir, "screen-0002.ppm"));
}

/* ---- VNC, spoken by hand ---- */

static void wr(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void rd(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, WAIT_MS) <= 0)
			fail_msg("VNC server silent");
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			fail_msg("VNC server closed");
		b += r;
		n -= (size_t)r;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* RFB 3.8 with security None up to ServerInit; checks size and name. */
static void rfb_handshake(int fd)
{
	uint8_t buf[64];

	rd(fd, buf, 12);
	assert_memory_equal(buf, "RFB 003.008\n", 12);
	wr(fd, "RFB 003.008\n", 12);
	rd(fd, buf, 2);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], 1); /* None */
	wr(fd, "\x01", 1);
	rd(fd, buf, 4);
	assert_int_equal(be32(buf), 0);
	wr(fd, "\x01", 1);
	rd(fd, buf, 24);
	assert_int_equal(buf[0] << 8 | buf[1], FB_W);
	assert_int_equal(buf[2] << 8 | buf[3], FB_H);
	assert_int_equal(be32(buf + 20), 3);
	rd(fd, buf, 3);
	assert_memory_equal(buf, "vm1", 3);
}

static void rfb_key(int fd, bool down, uint32_t keysym)
{
	uint8_t m[8] = { 4, down, 0, 0, (uint8_t)(keysym >> 24),
			 (uint8_t)(keysym >> 16), (uint8_t)(keysym >> 8),
			 (uint8_t)keysym };

	wr(fd, m, sizeof(m));
}

/* Asks for the pixel at (x, 0) and returns it. */
static uint32_t rfb_pixel(int fd, uint16_t x, bool incremental)
{
	uint8_t m[10] = { 3, incremental, (uint8_t)(x >> 8), (uint8_t)x, 0, 0,
			  0, 1, 0, 1 };
	uint8_t hdr[16];
	uint32_t px;

	wr(fd, m, sizeof(m));
	rd(fd, hdr, 4);
	assert_int_equal(hdr[0], 0);
	assert_int_equal(hdr[2] << 8 | hdr[3], 1);
	rd(fd, hdr, 12);
	assert_int_equal(be32(hdr + 8), 0); /* Raw */
	assert_int_equal(hdr[4] << 8 | hdr[5], 1);
	assert_int_equal(hdr[6] << 8 | hdr[7], 1);
	rd(fd, &px, 4);
	return px;
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Expects these scancodes at port 0x60, as the guest reads them. */
static void kbd_expect(const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long long end = now_ms() + WAIT_MS;
		while (!(inb(KBD_CMD) & 0x01)) {
			if (now_ms() > end)
				fail_msg("scancode %zu never came", i);
			sleep_ms(1);
		}
		assert_int_equal(inb(KBD_DATA), want[i]);
	}
}

/* The operator's VNC server serves the frame (pushed changes included),
 * its keys reach the guest's i8042 (IRQ 1) and the tap's keys.log. */
static void test_vnc(void **state)
{
	struct ghv_console_opts o = { .vm_name = "vm1",
				      .vnc_listen = "127.0.0.1:0" };
	static const uint8_t a_make_break[] = { 0x1e, 0x9e };

	(void)state;
	((uint32_t *)E.frame)[5] = 0x00112233;
	remake(&o, true);
	int port = ghv_console_vnc_port(E.c);
	assert_true(port > 0);
	assert_int_equal(ghv_console_start(E.c), 0);
	int fd = tcp_connect(port);
	assert_true(fd >= 0);
	rfb_handshake(fd);
	assert_int_equal(rfb_pixel(fd, 5, false), 0x00112233);
	((uint32_t *)E.frame)[5] = 0x00445566; /* the guest draws */
	assert_int_equal(rfb_pixel(fd, 5, true), 0x00445566);

	rfb_key(fd, true, XK_a);
	rfb_key(fd, false, XK_a);
	kbd_expect(a_make_break, 2);
	assert_true(rises(1) >= 1);
	tap_expect("keys.log", "61 1\n61 0\n", 10);
	close(fd);
}

/* ---- SSH, with the real OpenSSH client ---- */

struct proc {
	pid_t pid;
	int in, out; /* its stdin; its stdout and stderr together */
	char buf[1 << 16];
	size_t len;
};

static bool have_prog(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static void spawn_ssh(struct proc *p, const char *key, int port,
		      const char *const *extra)
{
	int in[2], out[2];
	char portstr[16];
	const char *argv[40];
	int n = 0;
	static const char *const base[] = {
		"ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=10", NULL,
	};

	snprintf(portstr, sizeof(portstr), "%d", port);
	for (const char *const *b = base; *b; b++)
		argv[n++] = *b;
	argv[n++] = "-i";
	argv[n++] = key;
	argv[n++] = "-p";
	argv[n++] = portstr;
	while (*extra)
		argv[n++] = *extra++;
	argv[n++] = "vm1@127.0.0.1";
	argv[n] = NULL;

	memset(p, 0, sizeof(*p));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		unsetenv("SSH_AUTH_SOCK");
		execvp("ssh", (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	fcntl(p->out, F_SETFL, O_NONBLOCK);
}

static void proc_expect(struct proc *p, const char *needle)
{
	long long end = now_ms() + WAIT_MS;

	while (!strstr(p->buf, needle)) {
		struct pollfd f = { p->out, POLLIN, 0 };
		ssize_t n;
		if (now_ms() > end)
			fail_msg("ssh never printed '%s'; it printed '%s'",
				 needle, p->buf);
		poll(&f, 1, 20);
		while (p->len < sizeof(p->buf) - 1 &&
		       (n = read(p->out, p->buf + p->len,
				 sizeof(p->buf) - 1 - p->len)) > 0)
			p->len += (size_t)n;
		p->buf[p->len] = '\0';
		guest_poll();
	}
}

static int proc_wait(struct proc *p)
{
	long long end = now_ms() + WAIT_MS;
	int st;

	while (waitpid(p->pid, &st, WNOHANG) != p->pid) {
		if (now_ms() > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			fail_msg("ssh did not exit: '%s'", p->buf);
		}
		guest_poll();
		sleep_ms(10);
	}
	p->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void proc_end(struct proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
	}
	close(p->in);
	close(p->out);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* The tenant's console and screen through the operator's SSH server:
 * output replayed and live, typing into COM1 (IRQ 4), "ssh -L" to the
 * VNC server; the tap has every console byte of both directions. */
static void test_ssh(void **state)
{
	char key[128], auth[128], hostkeys[128], cmd[800];
	struct proc p;

	(void)state;
	if (!have_prog("ssh") || !have_prog("ssh-keygen"))
		skip();
	snprintf(key, sizeof(key), "%s/tenant", E.dir);
	snprintf(auth, sizeof(auth), "%s/authorized_keys", E.dir);
	snprintf(hostkeys, sizeof(hostkeys), "%s/hostkeys", E.dir);
	snprintf(cmd, sizeof(cmd),
		 "ssh-keygen -q -t ed25519 -N '' -C test -f '%s' </dev/null "
		 "&& cp '%s.pub' '%s' && chmod 600 '%s'", key, key, auth, auth);
	assert_int_equal(system(cmd), 0);

	struct ghv_console_opts o = { .vm_name = "vm1",
				      .ssh_listen = "127.0.0.1:0",
				      .authorized_keys = auth,
				      .host_keys = hostkeys };
	remake(&o, true);
	/* Host keys exist before start (i.e. before the sandbox). */
	assert_true(file_exists(hostkeys, "ssh_host_ed25519_key"));
	assert_int_equal(ghv_console_ssh_port(E.c), 0);
	assert_int_equal(ghv_console_start(E.c), 0);
	int port = ghv_console_ssh_port(E.c);
	assert_true(port > 0);

	outb(FCR, 0x07); /* as Linux's 8250 driver: FIFOs, RX interrupt */
	outb(IER, 0x01);
	outb(MCR, 0x0b);
	guest_puts("boot message\r\n");
	spawn_ssh(&p, key, port, (const char *const[]){ "-tt", NULL });
	proc_expect(&p, "attached to vm1 console");
	proc_expect(&p, "boot message"); /* replayed */
	int before = rises(4);
	assert_int_equal(write(p.in, "secret typed\r", 13), 13);
	guest_expect("secret typed\r");
	assert_true(rises(4) > before);
	guest_puts("guest reply\r\n");
	proc_expect(&p, "guest reply");
	assert_int_equal(write(p.in, "\x1d.", 2), 2); /* detach */
	assert_int_equal(proc_wait(&p), 0);
	proc_end(&p);
	tap_expect("console-out.log", "boot message\r\n", 14);
	tap_expect("console-in.log", "secret typed\r", 13);
	tap_expect("console-out.log", "guest reply\r\n", 13);

	/* The screen through the tunnel, as a tenant's viewer reaches it. */
	int lport = free_port();
	char fwd[64];
	snprintf(fwd, sizeof(fwd), "%d:localhost:5900", lport);
	spawn_ssh(&p, key, port,
		  (const char *const[]){ "-N", "-o", "ExitOnForwardFailure=yes",
					 "-L", fwd, NULL });
	int fd = -1;
	for (long long end = now_ms() + WAIT_MS; fd < 0; sleep_ms(50)) {
		if (now_ms() > end)
			fail_msg("the tunnel never opened");
		fd = tcp_connect(lport);
	}
	rfb_handshake(fd);
	close(fd);
	proc_end(&p);
	/* ghv_console_free (teardown) with the server running. */
}

/* ---- the hub's input observer, alone ---- */

static char seen[64];
static size_t nseen;

static void seen_input(void *ctx, const uint8_t *buf, size_t len)
{
	assert_ptr_equal(ctx, seen);
	assert_true(nseen + len < sizeof(seen));
	memcpy(seen + nseen, buf, len);
	nseen += len;
}

static void quiet_tx(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static void quiet_irq(void *ctx, int lvl)
{
	(void)ctx;
	(void)lvl;
}

/* Only bytes the UART accepted, each once, and only from the writer. */
static void test_hub_input_observer(void **state)
{
	static const struct uart16550_ops ops = { .tx = quiet_tx,
						  .irq = quiet_irq };
	struct conhub *h = conhub_new(4096);
	struct uart16550 *u = uart16550_new(&ops, NULL);
	int writer, other;
	uint8_t v;

	(void)state;
	assert_non_null(h);
	assert_non_null(u);
	nseen = 0;
	conhub_attach_uart(h, u);
	conhub_set_input_observer(h, seen_input, seen);
	assert_int_equal(conhub_claim_writer(h, &writer), 0);
	/* No FIFO: one byte at a time. */
	assert_int_equal(conhub_input(h, &writer, (const uint8_t *)"abc", 3),
			 1);
	assert_int_equal(conhub_input(h, &writer, (const uint8_t *)"bc", 2),
			 0); /* full: nothing accepted, nothing observed */
	assert_int_equal(conhub_input(h, &other, (const uint8_t *)"zz", 2),
			 0);
	uart16550_io(u, 0, &v, 1, false);
	assert_int_equal(v, 'a');
	assert_int_equal(conhub_input(h, &writer, (const uint8_t *)"bc", 2),
			 1);
	assert_int_equal(nseen, 2);
	assert_memory_equal(seen, "ab", 2);
	uart16550_io(u, 0, &v, 1, false);
	conhub_set_input_observer(h, NULL, NULL);
	assert_int_equal(conhub_input(h, &writer, (const uint8_t *)"c", 1),
			 1);
	assert_int_equal(nseen, 2);
	conhub_release_writer(h, &writer);
	conhub_free(h);
	uart16550_free(u);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ports),
		T(test_uart_registers),
		T(test_uart_output_and_irq),
		T(test_i8042_irqs),
		T(test_i8042_reset),
		T(test_bad_new),
		T(test_start_twice),
		T(test_screen_tap),
		T(test_vnc),
		T(test_ssh),
		cmocka_unit_test(test_hub_input_observer),
	};

	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&E.lock, NULL);
	log_init("test_ghv_console", getenv("VSB_TEST_DEBUG") ? LOG_DEBUG
							      : LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
