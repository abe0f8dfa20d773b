#include "console.h"
#include "log.h"
#include "../devices/uart16550.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

struct console {
	struct console_opts o;
	struct uart16550 *uart;
	void (*quit)(void *ctx);
	void *quit_ctx;

	int in_fd;     /* where guest input comes from, -1 if none */
	int out_fd;    /* where guest output goes, -1 if none */
	int listen_fd; /* CONSOLE_UNIX */
	pthread_mutex_t out_lock; /* out_fd changes while vCPUs write */

	int room_efd;  /* signalled when the UART's RX FIFO drained */
	int stop_efd;
	pthread_t thread;
	bool thread_started;

	bool tty;
	struct termios saved;
	bool escape_pending;
};

bool console_parse_spec(const char *spec, struct console_opts *o)
{
	o->path = NULL;
	o->wait = true;
	if (strcmp(spec, "stdio") == 0) {
		o->kind = CONSOLE_STDIO;
		return true;
	}
	if (strncmp(spec, "unix:", 5) != 0 || spec[5] == '\0')
		return false;
	o->kind = CONSOLE_UNIX;
	o->path = spec + 5;
	const char *comma = strrchr(o->path, ',');
	if (comma && strcmp(comma, ",nowait") == 0) {
		/* The path is borrowed from argv: cut the option off there. */
		*(char *)comma = '\0';
		o->wait = false;
	}
	return o->path[0] != '\0' &&
	       strlen(o->path) < sizeof(((struct sockaddr_un *)0)->sun_path);
}

static int open_listener(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno(-errno, "socket");
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	/* Replace a stale socket from an earlier run, never another file. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 1) < 0) {
		int e = -errno;
		close(fd);
		return log_errno(e, "console socket %s", path);
	}
	return fd;
}

static void tty_raw(struct console *c)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &c->saved) < 0)
		return;
	struct termios t = c->saved;
	cfmakeraw(&t);
	/* Keep output processing so a bare "\n" from a guest still starts a
	 * new line, as QEMU's stdio console does. */
	t.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		c->tty = true;
}

struct console *console_open(const struct console_opts *o,
			     void (*quit)(void *ctx), void *ctx)
{
	struct console *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = *o;
	c->quit = quit;
	c->quit_ctx = ctx;
	c->in_fd = c->out_fd = c->listen_fd = -1;
	pthread_mutex_init(&c->out_lock, NULL);
	c->room_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->room_efd < 0 || c->stop_efd < 0) {
		log_errno(-errno, "eventfd");
		console_close(c);
		return NULL;
	}
	if (o->kind == CONSOLE_STDIO) {
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		tty_raw(c);
		if (c->tty && o->escape >= 0)
			fprintf(stderr, "vsbd: console on this terminal; "
				"Ctrl-%c x quits, Ctrl-%c h for help\r\n",
				'@' + o->escape, '@' + o->escape);
	} else {
		c->listen_fd = open_listener(o->path);
		if (c->listen_fd < 0) {
			console_close(c);
			return NULL;
		}
	}
	return c;
}

static void set_client(struct console *c, int fd)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->out_fd >= 0 && c->o.kind == CONSOLE_UNIX)
		close(c->out_fd);
	c->out_fd = c->in_fd = fd;
	pthread_mutex_unlock(&c->out_lock);
}

static void accept_client(struct console *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (c->in_fd >= 0) {
		/* One writer at a time: the serial line has one end. */
		static const char busy[] = "vsbd: console busy\r\n";
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0)
			log_debug("busy notice: %s", strerror(errno));
		close(fd);
		log_info("refused a second console client");
		return;
	}
	set_client(c, fd);
	log_debug("console client attached");
}

bool console_wait_client(struct console *c, int stop_fd)
{
	if (c->o.kind != CONSOLE_UNIX || !c->o.wait)
		return true;
	log_info("waiting for a console client on %s", c->o.path);
	while (c->in_fd < 0) {
		struct pollfd p[2] = { { c->listen_fd, POLLIN, 0 },
				       { stop_fd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return false;
		if (p[1].revents)
			return false;
		if (p[0].revents)
			accept_client(c);
	}
	return true;
}

void console_attach(struct console *c, struct uart16550 *uart)
{
	c->uart = uart;
}

void console_uart_tx(void *ctx, const uint8_t *buf, size_t len)
{
	struct console *c = ctx;

	pthread_mutex_lock(&c->out_lock);
	while (len > 0 && c->out_fd >= 0) {
		ssize_t n = c->o.kind == CONSOLE_UNIX
				    ? send(c->out_fd, buf, len, MSG_NOSIGNAL)
				    : write(c->out_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A reader that went away must not stall the guest;
			 * the input side notices the hang-up and detaches. */
			if (c->o.kind == CONSOLE_UNIX)
				shutdown(c->out_fd, SHUT_RDWR);
			else
				c->out_fd = -1;
			break;
		}
		buf += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&c->out_lock);
}

void console_uart_rx_room(void *ctx)
{
	struct console *c = ctx;
	uint64_t one = 1;

	if (write(c->room_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("room eventfd: %s", strerror(errno));
}

static void print_escape_help(const struct console *c)
{
	char k = (char)('@' + c->o.escape);
	fprintf(stderr,
		"\r\nvsbd console keys:\r\n"
		"  Ctrl-%c x       quit vsbd (stops the VM)\r\n"
		"  Ctrl-%c b       send a serial break\r\n"
		"  Ctrl-%c Ctrl-%c  send Ctrl-%c itself\r\n"
		"  Ctrl-%c h       this help\r\n",
		k, k, k, k, k, k);
}

/* Escape handling on a terminal: returns how many bytes of buf remain to be
 * sent to the guest after removing escape sequences (in place). */
static size_t filter_escapes(struct console *c, uint8_t *buf, size_t n)
{
	size_t out = 0;

	if (!c->tty || c->o.escape < 0)
		return n;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (!c->escape_pending) {
			if (b == c->o.escape)
				c->escape_pending = true;
			else
				buf[out++] = b;
			continue;
		}
		c->escape_pending = false;
		if (b == c->o.escape)
			buf[out++] = b;
		else if (b == 'x' || b == 'X')
			c->quit(c->quit_ctx);
		else if (b == 'b' || b == 'B')
			uart16550_break(c->uart);
		else
			print_escape_help(c);
	}
	return out;
}

static void drop_client(struct console *c)
{
	if (c->o.kind == CONSOLE_UNIX) {
		set_client(c, -1);
		log_debug("console client detached");
	} else {
		/* End of input from a pipe or file: the guest keeps running
		 * and its output keeps flowing. */
		c->in_fd = -1;
	}
}

static void *console_thread(void *arg)
{
	struct console *c = arg;
	uint8_t buf[4096];
	size_t pos = 0, len = 0;

	for (;;) {
		if (pos < len)
			pos += uart16550_rx(c->uart, buf + pos, len - pos);
		struct pollfd p[4];
		int n = 0;
		p[n++] = (struct pollfd){ c->stop_efd, POLLIN, 0 };
		p[n++] = (struct pollfd){ c->room_efd, POLLIN, 0 };
		int in_idx = -1, lis_idx = -1;
		if (c->in_fd >= 0 && pos == len) {
			in_idx = n;
			p[n++] = (struct pollfd){ c->in_fd, POLLIN, 0 };
		}
		if (c->listen_fd >= 0) {
			lis_idx = n;
			p[n++] = (struct pollfd){ c->listen_fd, POLLIN, 0 };
		}
		/* The timeout is a safety net should a room signal be lost. */
		if (poll(p, (nfds_t)n, pos < len ? 10 : -1) < 0) {
			if (errno == EINTR)
				continue;
			log_errno(-errno, "console poll");
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			uint64_t v;
			if (read(c->room_efd, &v, sizeof(v)) < 0)
				log_debug("room eventfd: %s", strerror(errno));
		}
		if (lis_idx >= 0 && p[lis_idx].revents)
			accept_client(c);
		if (in_idx >= 0 && p[in_idx].revents) {
			ssize_t r = read(c->in_fd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				drop_client(c);
				continue;
			}
			pos = 0;
			len = filter_escapes(c, buf, (size_t)r);
		}
	}
	return NULL;
}

int console_start(struct console *c)
{
	int e = pthread_create(&c->thread, NULL, console_thread, c);
	if (e)
		return log_errno(-e, "console thread");
	c->thread_started = true;
	return 0;
}

void console_close(struct console *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		uint64_t one = 1;
		if (write(c->stop_efd, &one, sizeof(one)) < 0)
			log_debug("stop eventfd: %s", strerror(errno));
		pthread_join(c->thread, NULL);
	}
	if (c->tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
		fputc('\n', stderr);
	}
	if (c->o.kind == CONSOLE_UNIX) {
		if (c->out_fd >= 0)
			close(c->out_fd);
		if (c->listen_fd >= 0) {
			close(c->listen_fd);
			unlink(c->o.path);
		}
	}
	if (c->room_efd >= 0)
		close(c->room_efd);
	if (c->stop_efd >= 0)
		close(c->stop_efd);
	pthread_mutex_destroy(&c->out_lock);
	free(c);
}
