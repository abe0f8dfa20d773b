/* The SSH server against the real OpenSSH client: a server on 127.0.0.1:0
 * with a temporary host key directory and authorized_keys, its console hub
 * attached to a real 16550A that the test reads as the guest would (LSR,
 * RBR), and ssh run with fork/exec. Covers typing and output both ways,
 * refusals, the single writer, watchers, replay, breaks, escapes, flow
 * control, port forwarding to a fake VNC server, the login grace time, the
 * connection cap, garbage from a client and stopping with sessions open.
 * Skipped when there is no ssh or ssh-keygen. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conhub.h"
#include "ssh_server.h"
#include "uart16550.h"

enum { RBR = 0, FCR = 2, LSR = 5 };
#define LSR_DR 0x01
#define LSR_BI 0x10

static struct {
	char dir[64];
	char key[128], stranger[128], auth[128], hostkeys[128];
	struct conhub *hub;
	struct uart16550 *uart;
	struct ssh_vm vm;
	struct ssh_server *srv;
	int port;
	/* What the guest read so far. */
	char guest[4 << 20];
	size_t nguest;
	int guest_breaks;
	/* The fake VNC server: the test's end of the last connection. */
	pthread_mutex_t vnc_lock;
	int vnc_peer;
	int vnc_calls;
	bool have_ssh;
} E;

/* ---- the guest side of the UART ---- */

static void g_tx(void *ctx, const uint8_t *buf, size_t len)
{
	conhub_output(E.hub, buf, len);
	(void)ctx;
}

static void g_irq(void *ctx, int level)
{
	(void)ctx;
	(void)level;
}

static void g_room(void *ctx)
{
	(void)ctx;
	conhub_rx_room(E.hub);
}

static const struct uart16550_ops uart_ops = {
	.tx = g_tx, .irq = g_irq, .rx_room = g_room,
};

static uint8_t uart_rd(unsigned reg)
{
	uint8_t v = 0;
	uart16550_io(E.uart, reg, &v, 1, false);
	return v;
}

/* Reads what the UART holds, as a polling guest would. */
static void guest_poll(void)
{
	for (;;) {
		uint8_t lsr = uart_rd(LSR);
		if (lsr & LSR_BI)
			E.guest_breaks++;
		if (!(lsr & LSR_DR))
			return;
		uint8_t c = uart_rd(RBR);
		if (!(lsr & LSR_BI) && E.nguest < sizeof(E.guest) - 1)
			E.guest[E.nguest++] = (char)c;
		E.guest[E.nguest] = '\0';
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void guest_expect(const char *needle)
{
	long long end = now_ms() + 15000;
	while (!strstr(E.guest, needle)) {
		if (now_ms() > end)
			fail_msg("guest never got '%s'; it has '%.200s'", needle,
				 E.nguest > 200 ? E.guest + E.nguest - 200
						: E.guest);
		guest_poll();
		usleep(1000);
	}
}

static void guest_expect_break(int n)
{
	long long end = now_ms() + 15000;
	while (E.guest_breaks < n) {
		if (now_ms() > end)
			fail_msg("guest saw %d breaks, not %d", E.guest_breaks, n);
		guest_poll();
		usleep(1000);
	}
}

static void guest_output(const char *s)
{
	conhub_output(E.hub, (const uint8_t *)s, strlen(s));
}

/* A session that ended may hold the writer a moment longer. */
static void wait_writer_free(void)
{
	static int dummy;
	long long end = now_ms() + 15000;
	while (conhub_claim_writer(E.hub, &dummy) != 0) {
		if (now_ms() > end)
			fail_msg("the console writer was never released");
		usleep(10000);
	}
	conhub_release_writer(E.hub, &dummy);
}

/* ---- the fake VNC server ---- */

static int fake_vnc_connect(void *ctx)
{
	int sv[2];
	(void)ctx;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pthread_mutex_lock(&E.vnc_lock);
	if (E.vnc_peer >= 0)
		close(E.vnc_peer);
	E.vnc_peer = sv[1];
	E.vnc_calls++;
	pthread_mutex_unlock(&E.vnc_lock);
	return sv[0];
}

/* ---- ssh client processes ---- */

struct proc {
	pid_t pid;
	int in, out, err;
	char obuf[1 << 16], ebuf[1 << 14];
	size_t olen, elen;
	int status;
};

static void spawn(struct proc *p, const char *key, const char *user,
		  const char *const *opts, const char *const *cmd)
{
	int in[2], out[2], err[2];
	char port[16], dest[128];
	const char *argv[64];
	int n = 0;

	memset(p, 0, sizeof(*p));
	p->status = -1;
	snprintf(port, sizeof(port), "%d", E.port);
	snprintf(dest, sizeof(dest), "%s@127.0.0.1", user);
	const char *base[] = { "ssh", "-F", "/dev/null",
			       "-o", "StrictHostKeyChecking=no",
			       "-o", "UserKnownHostsFile=/dev/null",
			       "-o", "BatchMode=yes",
			       "-o", "IdentitiesOnly=yes",
			       "-o", "LogLevel=ERROR",
			       "-o", "ConnectTimeout=10",
			       "-i", key, "-p", port };
	/* ssh takes the first value given for an option: ours go first. */
	argv[n++] = base[0];
	while (opts && *opts)
		argv[n++] = *opts++;
	for (size_t i = 1; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	argv[n++] = dest;
	while (cmd && *cmd)
		argv[n++] = *cmd++;
	argv[n] = NULL;

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		unsetenv("SSH_AUTH_SOCK");
		execvp("ssh", (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	p->in = in[1];
	p->out = out[0];
	p->err = err[0];
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
}

static void drain(int fd, char *buf, size_t *len, size_t cap)
{
	ssize_t n;
	if (fd < 0)
		return;
	while (*len < cap - 1 &&
	       (n = read(fd, buf + *len, cap - 1 - *len)) > 0)
		*len += (size_t)n;
	buf[*len] = '\0';
}

static void pump_proc(struct proc *p, int ms)
{
	struct pollfd f[2] = { { p->out, POLLIN, 0 }, { p->err, POLLIN, 0 } };
	poll(f, 2, ms);
	drain(p->out, p->obuf, &p->olen, sizeof(p->obuf));
	drain(p->err, p->ebuf, &p->elen, sizeof(p->ebuf));
}

static void expect_out(struct proc *p, const char *needle)
{
	long long end = now_ms() + 15000;
	while (!strstr(p->obuf, needle) && !strstr(p->ebuf, needle)) {
		if (now_ms() > end)
			fail_msg("ssh never printed '%s'; stdout '%.300s' stderr '%.300s'",
				 needle, p->obuf, p->ebuf);
		pump_proc(p, 20);
		guest_poll();
	}
}

static void send_str(struct proc *p, const char *s)
{
	size_t len = strlen(s);
	assert_int_equal(write(p->in, s, len), (ssize_t)len);
}

/* Waits for ssh to exit; returns its exit status. */
static int wait_exit(struct proc *p)
{
	long long end = now_ms() + 15000;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			pump_proc(p, 0);
			p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
			return p->status;
		}
		if (now_ms() > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			fail_msg("ssh did not exit; stdout '%.300s' stderr '%.300s'",
				 p->obuf, p->ebuf);
		}
		pump_proc(p, 20);
		guest_poll();
	}
}

static void end_proc(struct proc *p)
{
	if (p->status < 0 && p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->in >= 0)
		close(p->in);
	close(p->out);
	close(p->err);
	p->in = -1;
}

/* ---- fixtures ---- */

static bool have_prog(const char *name)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static void keygen(const char *path)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd),
		 "ssh-keygen -q -t ed25519 -N '' -C test -f '%s' </dev/null",
		 path);
	assert_int_equal(system(cmd), 0);
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	E.vnc_peer = -1;
	pthread_mutex_init(&E.vnc_lock, NULL);
	E.have_ssh = have_prog("ssh") && have_prog("ssh-keygen");
	if (!E.have_ssh)
		return 0;
	snprintf(E.dir, sizeof(E.dir), "/tmp/vsb-sshsrv-XXXXXX");
	if (!mkdtemp(E.dir))
		return -1;
	snprintf(E.key, sizeof(E.key), "%s/tenant", E.dir);
	snprintf(E.stranger, sizeof(E.stranger), "%s/stranger", E.dir);
	snprintf(E.auth, sizeof(E.auth), "%s/authorized_keys", E.dir);
	snprintf(E.hostkeys, sizeof(E.hostkeys), "%s/hostkeys", E.dir);
	keygen(E.key);
	keygen(E.stranger);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cp '%s.pub' '%s' && chmod 600 '%s'", E.key,
		 E.auth, E.auth);
	if (system(cmd) != 0)
		return -1;

	E.hub = conhub_new(64 * 1024);
	E.uart = uart16550_new(&uart_ops, NULL);
	if (!E.hub || !E.uart)
		return -1;
	uint8_t fcr = 0x07; /* FIFOs on, as Linux's driver does */
	uart16550_io(E.uart, FCR, &fcr, 1, true);
	conhub_attach_uart(E.hub, E.uart);
	E.vm = (struct ssh_vm){
		.name = "vm1",
		.authorized_keys = E.auth,
		.hub = E.hub,
		.vnc_connect = fake_vnc_connect,
	};
	struct ssh_server_opts o = {
		.listen = "127.0.0.1:0",
		.host_key_dir = E.hostkeys,
	};
	E.srv = ssh_server_start(&o, &E.vm, 1);
	if (!E.srv)
		return -1;
	E.port = ssh_server_port(E.srv);
	return E.port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!E.have_ssh)
		return 0;
	ssh_server_stop(E.srv);
	conhub_free(E.hub);
	uart16550_free(E.uart);
	if (E.vnc_peer >= 0)
		close(E.vnc_peer);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int per_test(void **state)
{
	(void)state;
	if (!E.have_ssh)
		skip();
	wait_writer_free();
	guest_poll();
	return 0;
}

/* ---- tests ---- */

static void test_console_both_ways(void **state)
{
	struct proc p;
	(void)state;

	spawn(&p, E.key, "vm1", (const char *[]){ "-tt", NULL },
	      NULL);
	expect_out(&p, "attached to vm1 console");
	send_str(&p, "hello guest\r");
	guest_expect("hello guest\r");
	guest_output("output from the guest\r\n");
	expect_out(&p, "output from the guest");
	/* The escape's help, then a detach: ssh exits 0. */
	send_str(&p, "\x1d?");
	expect_out(&p, "detach");
	send_str(&p, "after help\r\x1d.");
	guest_expect("after help\r");
	assert_int_equal(wait_exit(&p), 0);
	assert_non_null(strstr(p.obuf, "detached"));
	/* The escape bytes themselves never reached the guest. */
	assert_null(strchr(E.guest, 0x1d));
	end_proc(&p);
}

static void test_refusals(void **state)
{
	struct proc p;
	(void)state;

	spawn(&p, E.stranger, "vm1", (const char *[]){ "-T", NULL },
	      NULL);
	assert_int_equal(wait_exit(&p), 255);
	assert_non_null(strstr(p.ebuf, "Permission denied"));
	end_proc(&p);

	/* An unknown VM looks exactly like a wrong key. */
	spawn(&p, E.key, "no-such-vm", (const char *[]){ "-T", NULL },
	      NULL);
	assert_int_equal(wait_exit(&p), 255);
	assert_non_null(strstr(p.ebuf, "Permission denied"));
	end_proc(&p);

	/* Passwords are not even offered. */
	spawn(&p, E.stranger, "vm1",
	      (const char *[]){ "-T", "-o", "PubkeyAuthentication=no", "-o", "PasswordAuthentication=yes", NULL },
	      NULL);
	assert_int_equal(wait_exit(&p), 255);
	assert_non_null(strstr(p.ebuf, "Permission denied (publickey)"));
	end_proc(&p);
}

static void test_single_writer_and_watchers(void **state)
{
	struct proc w, second, watcher;
	(void)state;

	spawn(&w, E.key, "vm1", (const char *[]){ "-tt", NULL },
	      NULL);
	expect_out(&w, "attached to vm1 console");
	spawn(&watcher, E.key, "vm1", (const char *[]){ "-tt", NULL },
	      (const char *[]){ "watch", NULL });
	expect_out(&watcher, "read-only");

	spawn(&second, E.key, "vm1", (const char *[]){ "-tt", NULL },
	      (const char *[]){ "console", NULL });
	assert_int_equal(wait_exit(&second), 1);
	assert_non_null(strstr(second.ebuf, "already has a writer"));
	assert_non_null(strstr(second.ebuf, "watch"));
	end_proc(&second);

	guest_output("for everyone\r\n");
	expect_out(&w, "for everyone");
	expect_out(&watcher, "for everyone");

	/* A watcher's typing goes nowhere; the writer's does. */
	send_str(&watcher, "watcher-typed\r");
	send_str(&w, "writer-typed\r");
	guest_expect("writer-typed\r");
	usleep(200000);
	guest_poll();
	assert_null(strstr(E.guest, "watcher-typed"));

	/* A watcher cannot send a break. */
	send_str(&watcher, "\x1d" "b");
	expect_out(&watcher, "no break sent");

	send_str(&watcher, "\x1d.");
	assert_int_equal(wait_exit(&watcher), 0);
	end_proc(&watcher);
	end_proc(&w); /* killed: the connection just drops */
}

static void test_replay_on_attach(void **state)
{
	struct proc p;
	(void)state;

	guest_output("said before anyone attached\r\n");
	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "watch", NULL });
	expect_out(&p, "said before anyone attached");
	end_proc(&p);
}

static void test_breaks(void **state)
{
	struct proc p;
	int before = E.guest_breaks;
	(void)state;

	spawn(&p, E.key, "vm1", (const char *[]){ "-tt", NULL },
	      NULL);
	expect_out(&p, "attached");
	/* vsbd's escape. */
	send_str(&p, "x\x1d" "b");
	guest_expect_break(before + 1);
	guest_expect("x");
	/* OpenSSH's own ~B (RFC 4335 "break" request), then text. */
	send_str(&p, "\r~By\r");
	guest_expect_break(before + 2);
	guest_expect("y\r");
	end_proc(&p);
}

static void test_commands(void **state)
{
	struct proc p;
	(void)state;

	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "frobnicate", NULL });
	assert_int_equal(wait_exit(&p), 2);
	assert_non_null(strstr(p.ebuf, "unknown command 'frobnicate'"));
	end_proc(&p);

	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "help", NULL });
	assert_int_equal(wait_exit(&p), 0);
	assert_non_null(strstr(p.obuf, "watch"));
	assert_non_null(strstr(p.obuf, "5900"));
	end_proc(&p);

	/* exec console without a pty works as the shell does. */
	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "console", NULL });
	expect_out(&p, "attached to vm1 console");
	send_str(&p, "no pty here\n");
	guest_expect("no pty here\n");
	end_proc(&p);
}

/* Much more input than the UART, the SSH window and the pipe hold: all of
 * it reaches the guest, in order, at the speed the guest reads. */
static void test_input_flow_control(void **state)
{
	enum { TOTAL = 1536 << 10 }; /* more than the SSH window (1.28 MB) */
	struct proc p;
	char *data = malloc(TOTAL);
	size_t sent = 0, start;
	(void)state;

	assert_non_null(data);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (char)('a' + (i * 7 + i / 97) % 26);
	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "console", NULL });
	expect_out(&p, "attached");
	guest_poll();
	start = E.nguest;
	fcntl(p.in, F_SETFL, O_NONBLOCK);
	long long end = now_ms() + 120000;
	while (E.nguest - start < TOTAL) {
		assert_true(now_ms() < end);
		if (sent < TOTAL) {
			ssize_t n = write(p.in, data + sent, TOTAL - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		guest_poll();
		pump_proc(&p, 0);
	}
	assert_memory_equal(E.guest + start, data, E.nguest - start);
	E.nguest = 0;
	E.guest[0] = '\0';
	free(data);
	end_proc(&p);
}

static int connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
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

/* Reads exactly len bytes (or fails after a while). */
static void read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;
	long long end = now_ms() + 15000;
	while (got < len) {
		struct pollfd f = { fd, POLLIN, 0 };
		assert_true(now_ms() < end);
		if (poll(&f, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* Does the other end close (within a while)? Data before the end, such
 * as a server's banner, is skipped. */
static bool reads_eof(int fd)
{
	char buf[512];
	long long end = now_ms() + 15000;
	for (;;) {
		struct pollfd f = { fd, POLLIN, 0 };
		if (poll(&f, 1, 100) > 0 && read(fd, buf, sizeof(buf)) <= 0)
			return true;
		if (now_ms() > end)
			return false;
	}
}

/* Starts ssh -N -L and connects through it. */
static int forward(struct proc *p, const char *dest)
{
	char spec[64];
	int lport = free_port(), fd = -1;

	snprintf(spec, sizeof(spec), "%d:%s", lport, dest);
	spawn(p, E.key, "vm1",
	      (const char *[]){ "-N", "-o", "LogLevel=INFO", "-o", "ExitOnForwardFailure=yes", "-L", spec, NULL },
	      NULL);
	long long end = now_ms() + 15000;
	while ((fd = connect_port(lport)) < 0) {
		if (now_ms() > end)
			fail_msg("ssh -L never listened; stderr '%s'", p->ebuf);
		pump_proc(p, 20);
	}
	return fd;
}

static void test_forward_to_vnc(void **state)
{
	struct proc p;
	char buf[64];
	(void)state;

	int calls = E.vnc_calls;
	int fd = forward(&p, "localhost:5900");
	/* The "VNC server" speaks first, as RFB does. */
	long long end = now_ms() + 15000;
	int peer = -1;
	while (peer < 0) {
		assert_true(now_ms() < end);
		pthread_mutex_lock(&E.vnc_lock);
		if (E.vnc_calls > calls)
			peer = E.vnc_peer;
		pthread_mutex_unlock(&E.vnc_lock);
		usleep(5000);
	}
	assert_int_equal(write(peer, "RFB 003.008\n", 12), 12);
	read_exact(fd, buf, 12);
	assert_memory_equal(buf, "RFB 003.008\n", 12);
	assert_int_equal(write(fd, "viewer says hi", 14), 14);
	read_exact(peer, buf, 14);
	assert_memory_equal(buf, "viewer says hi", 14);

	/* The console works on its own connection meanwhile. */
	guest_output("console still here\r\n");
	struct proc w;
	spawn(&w, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "watch", NULL });
	expect_out(&w, "console still here");
	end_proc(&w);

	/* The viewer goes: the VNC side sees the end. */
	close(fd);
	assert_true(reads_eof(peer));
	end_proc(&p);
}

static void test_forward_elsewhere_refused(void **state)
{
	struct proc p;
	(void)state;

	int calls = E.vnc_calls;
	int fd = forward(&p, "localhost:22");
	assert_true(reads_eof(fd));
	close(fd);
	expect_out(&p, "administratively prohibited");
	end_proc(&p);
	fd = forward(&p, "10.1.2.3:5900");
	assert_true(reads_eof(fd));
	close(fd);
	expect_out(&p, "administratively prohibited");
	end_proc(&p);
	assert_int_equal(E.vnc_calls, calls);
}

/* Another server on the same hub, for the tests that stop it. */
static struct ssh_server *other_server(int max_sessions, int grace)
{
	struct ssh_server_opts o = {
		.listen = "127.0.0.1:0",
		.host_key_dir = E.hostkeys,
		.max_sessions = max_sessions,
		.login_grace = grace,
	};
	struct ssh_server *s = ssh_server_start(&o, &E.vm, 1);
	assert_non_null(s);
	return s;
}

static void test_garbage_and_grace(void **state)
{
	char buf[256];
	(void)state;
	struct ssh_server *s = other_server(0, 1);
	int port = ssh_server_port(s);

	/* Garbage ends that connection only. */
	int g = connect_port(port);
	assert_true(g >= 0);
	const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(write(g, junk, sizeof(junk) - 1), (ssize_t)(sizeof(junk) - 1));
	long long t0 = now_ms();
	while (read(g, buf, sizeof(buf)) > 0)
		assert_true(now_ms() - t0 < 10000);
	close(g);

	/* Silence past the login grace time (1 s) is hung up on. */
	int q = connect_port(port);
	assert_true(q >= 0);
	t0 = now_ms();
	while (read(q, buf, sizeof(buf)) > 0)
		;
	assert_true(now_ms() - t0 >= 900);
	assert_true(now_ms() - t0 < 10000);
	close(q);
	ssh_server_stop(s);

	/* The main server is unaffected. */
	struct proc p;
	guest_output("unaffected\r\n");
	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "watch", NULL });
	expect_out(&p, "unaffected");
	end_proc(&p);
}

static void test_connection_cap(void **state)
{
	struct proc p;
	(void)state;
	struct ssh_server *s = other_server(1, 30);
	int saved = E.port;

	/* A silent connection takes the only slot. */
	int q = connect_port(ssh_server_port(s));
	assert_true(q >= 0);
	usleep(200000);
	E.port = ssh_server_port(s);
	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "watch", NULL });
	assert_int_equal(wait_exit(&p), 255);
	assert_non_null(strstr(p.ebuf, "too many SSH connections"));
	end_proc(&p);
	close(q);
	E.port = saved;
	ssh_server_stop(s);

	/* Of 8 slots, at most 2 for connections still authenticating. */
	s = other_server(8, 30);
	int q1 = connect_port(ssh_server_port(s));
	int q2 = connect_port(ssh_server_port(s));
	assert_true(q1 >= 0 && q2 >= 0);
	usleep(200000);
	E.port = ssh_server_port(s);
	spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
	      (const char *[]){ "watch", NULL });
	assert_int_equal(wait_exit(&p), 255);
	assert_non_null(strstr(p.ebuf, "too many SSH connections"));
	end_proc(&p);
	/* One of them goes: a tenant gets in again. */
	close(q1);
	long long end = now_ms() + 15000;
	for (;;) {
		spawn(&p, E.key, "vm1", (const char *[]){ "-T", NULL },
		      (const char *[]){ "watch", NULL });
		long long give_up = now_ms() + 5000;
		while (!strstr(p.obuf, "attached") && now_ms() < give_up &&
		       waitpid(p.pid, NULL, WNOHANG) == 0)
			pump_proc(&p, 50);
		if (strstr(p.obuf, "attached"))
			break;
		p.status = 0; /* reaped above (or killed below) */
		kill(p.pid, SIGKILL);
		waitpid(p.pid, NULL, 0);
		end_proc(&p);
		assert_true(now_ms() < end);
	}
	end_proc(&p);
	close(q2);
	E.port = saved;
	ssh_server_stop(s);
}

static void test_stop_with_sessions(void **state)
{
	struct proc w, fw;
	(void)state;
	struct ssh_server *s = other_server(0, 0);
	int saved = E.port;

	E.port = ssh_server_port(s);
	spawn(&w, E.key, "vm1", (const char *[]){ "-tt", NULL },
	      NULL);
	expect_out(&w, "attached");
	int calls = E.vnc_calls;
	int fd = forward(&fw, "localhost:5900");
	long long end = now_ms() + 15000;
	for (;;) { /* the forwarded channel is open */
		pthread_mutex_lock(&E.vnc_lock);
		bool open = E.vnc_calls > calls;
		pthread_mutex_unlock(&E.vnc_lock);
		if (open)
			break;
		assert_true(now_ms() < end);
		usleep(5000);
	}
	/* One still authenticating (silent). */
	int q = connect_port(E.port);
	assert_true(q >= 0);
	E.port = saved;

	long long t0 = now_ms();
	ssh_server_stop(s);
	assert_true(now_ms() - t0 < 5000);
	assert_int_not_equal(wait_exit(&w), 0);
	assert_non_null(strstr(w.obuf, "stopping"));
	assert_true(reads_eof(fd));
	assert_true(reads_eof(q));
	close(fd);
	close(q);
	end_proc(&w);
	end_proc(&fw);
	/* The writer was released. */
	wait_writer_free();
}

#define T(f) cmocka_unit_test_setup(f, per_test)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_console_both_ways),
		T(test_refusals),
		T(test_single_writer_and_watchers),
		T(test_replay_on_attach),
		T(test_breaks),
		T(test_commands),
		T(test_input_flow_control),
		T(test_forward_to_vnc),
		T(test_forward_elsewhere_refused),
		T(test_garbage_and_grace),
		T(test_connection_cap),
		T(test_stop_with_sessions),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
