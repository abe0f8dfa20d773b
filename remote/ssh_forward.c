/* direct-tcpip to the VM's VNC server (see ssh_forward.h).
 *
 * Both directions are flow-controlled: socket bytes are read only as far
 * as the client's SSH window allows, and channel bytes only once the
 * socket took everything read before (then all that libssh holds, for the
 * reason given at the top of ssh_console.c). */
#include "ssh_forward.h"
#include "ssh_conn.h"
#include "ssh_server.h"
#include "ssh_util.h"
#include "../vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX (2u << 20) /* channel bytes held for the socket */
#define CHUNK 32768

struct forward {
	struct ssh_chan base;
	int fd;
	struct ssh_fdwatch w;
	struct sbuf to_sock;
	struct sbuf to_chan;
	bool chan_eof; /* the client sent EOF; the socket's writing side is shut */
	bool sock_eof; /* the VNC side closed (or failed) */
	uint8_t tmp[CHUNK];
};

bool ssh_forward_allowed(const char *host, int port)
{
	static const char *const names[] = { "localhost", "127.0.0.1", "::1",
					     "vnc" };

	if (!host || port != SSH_VNC_PORT)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(host, names[i]) == 0)
			return true;
	return false;
}

/* Returns false if the channel must end. */
static bool to_socket(struct forward *f)
{
	ssh_channel ch = f->base.ch;

	for (;;) {
		if (f->to_sock.len) {
			ssize_t n = send(f->fd, sbuf_data(&f->to_sock),
					 f->to_sock.len,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return true;
			if (n < 0)
				return false;
			sbuf_consume(&f->to_sock, (size_t)n);
			continue;
		}
		if (f->chan_eof)
			return true;
		int avail = ssh_channel_poll(ch, 0);
		if (avail == SSH_EOF) {
			f->chan_eof = true;
			shutdown(f->fd, SHUT_WR);
			return true;
		}
		if (avail <= 0)
			return true;
		size_t want = (size_t)avail < IN_MAX ? (size_t)avail : IN_MAX;
		uint8_t *dst = sbuf_reserve(&f->to_sock, want);
		if (!dst)
			return true;
		int n = ssh_channel_read_nonblocking(ch, dst, (uint32_t)want, 0);
		if (n <= 0)
			return true;
		sbuf_commit(&f->to_sock, (size_t)n);
	}
}

static bool to_channel(struct forward *f)
{
	ssh_channel ch = f->base.ch;

	for (;;) {
		uint32_t win = ssh_channel_window_size(ch);
		if (f->to_chan.len) {
			size_t n = f->to_chan.len;
			if (n > win)
				n = win;
			if (n > CHUNK)
				n = CHUNK;
			if (n == 0)
				return true;
			int w = ssh_channel_write(ch, sbuf_data(&f->to_chan),
						  (uint32_t)n);
			if (w < 0)
				return false;
			sbuf_consume(&f->to_chan, (size_t)w);
			if ((size_t)w < n)
				return true;
			continue;
		}
		if (f->sock_eof || win == 0)
			return true;
		ssize_t n = recv(f->fd, f->tmp,
				 win < sizeof(f->tmp) ? win : sizeof(f->tmp),
				 MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n <= 0) {
			f->sock_eof = true;
			return true;
		}
		if (sbuf_add(&f->to_chan, f->tmp, (size_t)n) < 0)
			return false;
	}
}

static void close_channel(struct forward *f)
{
	ssh_channel ch = f->base.ch;

	if (!ssh_channel_is_closed(ch)) {
		ssh_channel_send_eof(ch);
		ssh_channel_close(ch);
	}
}

static bool fwd_pump(struct ssh_chan *c)
{
	struct forward *f = (struct forward *)c;

	if (ssh_channel_is_closed(c->ch))
		return false;
	if (!to_socket(f) || !to_channel(f)) {
		close_channel(f);
		return false;
	}
	if (f->sock_eof && !f->to_chan.len) {
		close_channel(f);
		return false;
	}
	short ev = 0;
	if (f->to_sock.len)
		ev |= POLLOUT;
	if (!f->sock_eof && !f->to_chan.len && ssh_channel_window_size(c->ch))
		ev |= POLLIN;
	f->w.revents = 0;
	ssh_conn_watch(c->conn, &f->w, f->fd, ev);
	return true;
}

static void fwd_stop(struct ssh_chan *c)
{
	close_channel((struct forward *)c);
}

static void fwd_destroy(struct ssh_chan *c)
{
	struct forward *f = (struct forward *)c;

	ssh_conn_watch(c->conn, &f->w, f->fd, 0);
	close(f->fd);
	sbuf_free(&f->to_sock);
	sbuf_free(&f->to_chan);
	log_info("ssh: VM %s screen forwarding from %s closed",
		 c->conn->vm->name, c->conn->peer);
	free(f);
}

static const struct ssh_chan_ops forward_ops = {
	.pump = fwd_pump,
	.stop = fwd_stop,
	.destroy = fwd_destroy,
};

void ssh_forward_request(struct ssh_conn *c, ssh_message msg)
{
	const struct ssh_vm *vm = c->vm;
	const char *host = ssh_message_channel_request_open_destination(msg);
	int port = ssh_message_channel_request_open_destination_port(msg);
	char shown[SSH_LOGSTR_MAX];
	const char *why = NULL;
	struct forward *f = NULL;
	int fd = -1;

	if (!ssh_forward_allowed(host, port))
		why = "only localhost:5900 (the VM's screen) can be reached";
	else if (!vm->vnc_connect)
		why = "the VM has no screen";
	else if (c->nchans >= SSH_CONN_MAX_CHANNELS)
		why = "too many channels";
	if (why) {
		log_info("ssh: VM %s: forwarding to %s:%d from %s refused: %s",
			 vm->name, ssh_logstr(host, shown), port, c->peer, why);
		ssh_message_reply_default(msg);
		return;
	}
	fd = vm->vnc_connect(vm->vnc_ctx);
	if (fd < 0) {
		log_warn("ssh: VM %s: cannot reach the VNC server for %s: %s",
			 vm->name, c->peer, strerror(-fd));
		ssh_message_reply_default(msg);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	f = calloc(1, sizeof(*f));
	ssh_channel ch = f ? ssh_message_channel_request_open_reply_accept(msg)
			   : NULL;
	if (!ch) {
		if (!f)
			ssh_message_reply_default(msg);
		close(fd);
		free(f);
		return;
	}
	f->base.conn = c;
	f->base.ch = ch;
	f->base.ops = &forward_ops;
	f->fd = fd;
	f->w.fd = -1;
	ssh_conn_add_chan(c, &f->base);
	log_info("ssh: VM %s screen (VNC) forwarded for %s", vm->name,
		 c->peer);
}
