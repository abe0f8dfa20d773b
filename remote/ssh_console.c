/* Session channels: the serial console (see ssh_console.h).
 *
 * Output: the hub reader is read only as far as the client's SSH window
 * allows, so a client that stops reading never makes us buffer: its reader
 * falls behind in the hub's ring and later gets a "skipped" marker.
 *
 * Input: libssh 0.10 grows a channel's window whenever it is read while
 * the window is below half its size, whatever is still buffered. Reading a
 * little at a time while the UART is slow would let a client push without
 * bound, so the raw input is read only once everything read before has
 * gone to the UART, and then all of it at once (up to IN_MAX): libssh then
 * holds at most about one window (1.28 MB) and we at most IN_MAX. */
#include "ssh_console.h"
#include "ssh_conn.h"
#include "ssh_escape.h"
#include "ssh_server.h"
#include "ssh_util.h"
#include "../vmm/conhub.h"
#include "../vmm/log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_MAX (2u << 20)  /* raw client bytes held by us */
#define STAGE_MAX 512      /* filtered bytes handed to the UART at once */
#define OUT_CHUNK 16384    /* hub bytes read per round */
#define MAX_BREAKS 8       /* break requests queued behind typed bytes */

enum con_state {
	CON_NEW,      /* no shell or exec yet */
	CON_ATTACHED, /* streaming */
	CON_CLOSING,  /* detached: flushing what is left, then closing */
	CON_DONE,
};

struct console {
	struct ssh_chan base;
	enum con_state state;
	bool writer;
	bool pty;
	struct conhub *hub;
	struct conhub_reader *rd;
	struct ssh_fdwatch rd_w, room_w;
	struct sbuf out; /* to the client */
	struct sbuf err; /* to the client's stderr, once out is sent */
	int exit_status;

	/* Input: raw bytes read from the channel, filtered through the
	 * escape into stage, which goes to the UART. */
	struct sbuf in;
	uint8_t stage[STAGE_MAX + 1];
	size_t stage_off, stage_len;
	enum ssh_esc_action act; /* to do once stage is delivered */
	bool waiting_room;       /* the UART is full: wait for room_fd */
	bool client_eof;
	struct ssh_escape esc;
	uint64_t in_read;    /* raw bytes read from the channel */
	uint64_t in_arrived; /* raw bytes the channel had received when the
				last data packet came (read or not) */
	uint64_t in_done;    /* raw bytes filtered */
	uint64_t breaks[MAX_BREAKS]; /* RFC 4335 breaks: after that many
					raw bytes */
	unsigned nbreaks;

	uint8_t tmp[OUT_CHUNK];
};

static struct console *con_of(struct ssh_chan *c)
{
	return (struct console *)c;
}

static const char *vm_name(const struct console *k)
{
	return k->base.conn->vm->name;
}

static void say(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct sbuf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		sbuf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n
							   : sizeof(line) - 1);
}

/* Lets go of the hub: another session may take the console at once. */
static void release(struct console *k)
{
	struct ssh_conn *c = k->base.conn;

	ssh_conn_watch(c, &k->rd_w, k->rd_w.fd, 0);
	ssh_conn_watch(c, &k->room_w, k->room_w.fd, 0);
	if (k->rd) {
		conhub_reader_close(k->rd);
		k->rd = NULL;
	}
	if (k->writer && k->hub)
		conhub_release_writer(k->hub, k);
	k->hub = NULL;
	sbuf_free(&k->in);
	k->stage_off = k->stage_len = 0;
	k->waiting_room = false;
}

static void detach(struct console *k, int status, const char *why)
{
	if (k->state == CON_ATTACHED)
		log_info("ssh: VM %s console detached (%s) from %s: %s",
			 vm_name(k), k->writer ? "writer" : "watcher",
			 k->base.conn->peer, why);
	release(k);
	k->exit_status = status;
	k->state = CON_CLOSING;
}

/* exit-status, EOF, close: the client's ssh then exits with status. */
static void finish(struct console *k, bool status)
{
	ssh_channel ch = k->base.ch;

	if (!ssh_channel_is_closed(ch)) {
		if (status)
			ssh_channel_request_send_exit_status(ch,
							     k->exit_status);
		ssh_channel_send_eof(ch);
		ssh_channel_close(ch);
	}
	k->state = CON_DONE;
}

static void say_help(struct console *k)
{
	char name[16];
	const char *nl = "\r\n";

	ssh_escape_name(k->esc.byte, name);
	say(&k->out,
	    "%svsbd: escape is %s, then:%s"
	    "  .   detach%s"
	    "  b   send a serial break%s%s"
	    "  %s  send %s itself%s"
	    "  ?   this help%s"
	    "OpenSSH's own escapes work too (~. disconnects, ~B sends a break).%s",
	    nl, name, nl, nl, k->writer ? "" : " (not when watching)", nl,
	    name, name, nl, nl, nl);
}

static void usage(struct sbuf *b, const char *vm, bool pty)
{
	const char *nl = pty ? "\r\n" : "\n";

	say(b,
	    "vsbd: commands: ssh [-p PORT] %s@HOST [COMMAND]%s"
	    "  (none), console  attach to the serial console (one writer at a time)%s"
	    "  watch            watch the console, read-only%s"
	    "  help             this text%s"
	    "The screen (VNC): ssh -L 5900:localhost:5900 %s@HOST, then a VNC viewer on localhost:5900%s",
	    vm, nl, nl, nl, nl, vm, nl);
}

/* shell, exec "console" or exec "watch". Called from a libssh callback:
 * only records; the pump does the I/O. */
static int attach(struct console *k, bool writer)
{
	struct ssh_conn *c = k->base.conn;
	const struct ssh_vm *vm = c->vm;
	char name[16];

	if (k->state != CON_NEW)
		return SSH_ERROR;
	k->writer = writer;
	if (writer && conhub_claim_writer(vm->hub, k) < 0) {
		k->writer = false;
		say(&k->err,
		    "vsbd: %s console already has a writer; use 'ssh %s@host watch' to watch\r\n",
		    vm->name, vm->name);
		log_info("ssh: VM %s console: writer from %s refused: console busy",
			 vm->name, c->peer);
		k->exit_status = 1;
		k->state = CON_CLOSING;
		return SSH_OK;
	}
	k->hub = vm->hub;
	k->rd = conhub_reader_open(vm->hub, c->cfg->replay);
	if (!k->rd) {
		if (writer)
			conhub_release_writer(vm->hub, k);
		k->hub = NULL;
		say(&k->err, "vsbd: out of memory\r\n");
		k->exit_status = 1;
		k->state = CON_CLOSING;
		return SSH_OK;
	}
	ssh_escape_init(&k->esc, c->cfg->escape);
	ssh_escape_name(c->cfg->escape, name);
	if (c->cfg->escape < 0)
		say(&k->out, "vsbd: attached to %s console%s\r\n", vm->name,
		    writer ? "" : ", read-only (watch)");
	else
		say(&k->out,
		    "vsbd: attached to %s console%s (%s . detaches, %s ? help)\r\n",
		    vm->name, writer ? "" : ", read-only (watch)", name, name);
	k->state = CON_ATTACHED;
	log_info("ssh: VM %s console attached (%s) from %s", vm->name,
		 writer ? "writer" : "read-only watcher", c->peer);
	return SSH_OK;
}

static int on_pty(ssh_session s, ssh_channel ch, const char *term, int w,
		  int h, int pw, int ph, void *userdata)
{
	struct console *k = userdata;
	(void)s, (void)ch, (void)term, (void)w, (void)h, (void)pw, (void)ph;
	k->pty = true;
	return SSH_OK;
}

static int on_winch(ssh_session s, ssh_channel ch, int w, int h, int pw,
		    int ph, void *userdata)
{
	(void)s, (void)ch, (void)w, (void)h, (void)pw, (void)ph, (void)userdata;
	return SSH_OK;
}

static int on_shell(ssh_session s, ssh_channel ch, void *userdata)
{
	(void)s, (void)ch;
	return attach(userdata, true);
}

static int on_exec(ssh_session s, ssh_channel ch, const char *command,
		   void *userdata)
{
	struct console *k = userdata;
	char cmd[32], shown[SSH_LOGSTR_MAX];
	const char *p = command ? command : "";
	size_t n;
	(void)s, (void)ch;

	if (k->state != CON_NEW)
		return SSH_ERROR;
	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
			 p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n < sizeof(cmd)) {
		memcpy(cmd, p, n);
		cmd[n] = '\0';
	} else {
		cmd[0] = '\0';
	}
	if (n == 0 || strcmp(cmd, "console") == 0)
		return attach(k, true);
	if (strcmp(cmd, "watch") == 0)
		return attach(k, false);
	if (strcmp(cmd, "help") == 0) {
		usage(&k->out, k->base.conn->vm->name, k->pty);
		k->exit_status = 0;
		k->state = CON_CLOSING;
		return SSH_OK;
	}
	say(&k->err, "vsbd: unknown command '%s'; try 'console', 'watch' or 'help'\r\n",
	    ssh_logstr(command, shown));
	log_info("ssh: VM %s: unknown command '%s' from %s refused",
		 k->base.conn->vm->name, shown, k->base.conn->peer);
	k->exit_status = 2;
	k->state = CON_CLOSING;
	return SSH_OK;
}

/* Client data arrived. It stays in libssh's buffer (returning 0) until the
 * pump reads it; this only counts it, to place break requests. */
static int on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
		   int is_stderr, void *userdata)
{
	struct console *k = userdata;
	(void)s, (void)ch, (void)data;
	if (!is_stderr)
		k->in_arrived = k->in_read + len;
	return 0;
}

/* A break goes to the guest once the raw input before position pos has.
 * Breaks beyond MAX_BREAKS pending are dropped: a client asking for that
 * many before the guest reads is not asking for anything useful. */
static void queue_break(struct console *k, uint64_t pos)
{
	unsigned i;

	if (k->nbreaks == MAX_BREAKS)
		return;
	for (i = k->nbreaks; i > 0 && k->breaks[i - 1] > pos; i--)
		k->breaks[i] = k->breaks[i - 1];
	k->breaks[i] = pos;
	k->nbreaks++;
}

/* Returns 0, or -EAGAIN if the UART had no room for the break's 0 byte
 * (then wait for the room fd, as for typed bytes). */
static int send_break(struct console *k)
{
	int ret = conhub_break(k->hub, k);

	return ret == -EPERM ? 0 : ret;
}

/* libssh 0.10 hands us channel requests it does not know without their
 * name. From OpenSSH's client the only such request is "break" (RFC 4335,
 * its ~B escape); other clients send other things (PuTTY's
 * "winadj@putty.projects.tartarus.org"), so only OpenSSH's count. */
static bool con_unknown_request(struct ssh_chan *c)
{
	struct console *k = con_of(c);

	if (!c->conn->openssh_client || k->state != CON_ATTACHED || !k->writer)
		return false;
	queue_break(k, k->in_arrived);
	return true;
}

static void do_action(struct console *k, enum ssh_esc_action act)
{
	switch (act) {
	case SSH_ESC_DETACH:
		say(&k->out, "\r\nvsbd: detached from %s console\r\n",
		    vm_name(k));
		detach(k, 0, "escape");
		break;
	case SSH_ESC_BREAK:
		if (k->writer)
			queue_break(k, k->in_done);
		else
			say(&k->out, "\r\nvsbd: watching only, no break sent\r\n");
		break;
	case SSH_ESC_HELP:
		say_help(k);
		break;
	case SSH_ESC_NONE:
		break;
	}
}

/* The UART had no room: has it some now? */
static bool room_signalled(struct console *k)
{
	uint64_t v;
	int fd = conhub_room_fd(k->hub);

	k->room_w.revents = 0;
	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

static void input_pump(struct console *k)
{
	ssh_channel ch = k->base.ch;

	while (k->state == CON_ATTACHED) {
		if (k->stage_off < k->stage_len) {
			if (!k->writer) { /* a watcher's typing goes nowhere */
				k->stage_off = k->stage_len = 0;
				continue;
			}
			if (k->waiting_room && !room_signalled(k))
				return;
			k->waiting_room = false;
			k->stage_off += conhub_input(k->hub, k,
						     k->stage + k->stage_off,
						     k->stage_len - k->stage_off);
			if (k->stage_off < k->stage_len) {
				k->waiting_room = true;
				return;
			}
			continue;
		}
		if (k->act != SSH_ESC_NONE) {
			enum ssh_esc_action act = k->act;
			k->act = SSH_ESC_NONE;
			do_action(k, act);
			continue;
		}
		if (k->nbreaks && k->breaks[0] <= k->in_done) {
			if (k->waiting_room && !room_signalled(k))
				return;
			k->waiting_room = false;
			if (send_break(k) < 0) {
				k->waiting_room = true;
				return;
			}
			memmove(k->breaks, k->breaks + 1,
				--k->nbreaks * sizeof(k->breaks[0]));
			continue;
		}
		if (k->in.len) {
			size_t lim = k->in.len < STAGE_MAX ? k->in.len
							   : STAGE_MAX;
			if (k->nbreaks && k->breaks[0] - k->in_done < lim)
				lim = (size_t)(k->breaks[0] - k->in_done);
			size_t used = ssh_escape_feed(&k->esc, sbuf_data(&k->in),
						      lim, k->stage,
						      &k->stage_len, &k->act);
			sbuf_consume(&k->in, used);
			k->in_done += used;
			k->stage_off = 0;
			continue;
		}
		if (k->client_eof)
			return;
		int avail = ssh_channel_poll(ch, 0);
		if (avail == SSH_EOF) {
			k->client_eof = true;
			return;
		}
		if (avail <= 0)
			return;
		size_t want = (size_t)avail < IN_MAX ? (size_t)avail : IN_MAX;
		uint8_t *dst = sbuf_reserve(&k->in, want);
		if (!dst)
			return;
		int n = ssh_channel_read_nonblocking(ch, dst, (uint32_t)want, 0);
		if (n <= 0)
			return;
		sbuf_commit(&k->in, (size_t)n);
		k->in_read += (uint64_t)n;
		if (k->in_arrived < k->in_read)
			k->in_arrived = k->in_read;
	}
}

/* Returns false if the channel failed. */
static bool output_pump(struct console *k)
{
	ssh_channel ch = k->base.ch;

	for (;;) {
		uint32_t win = ssh_channel_window_size(ch);
		bool to_err = k->out.len == 0 && k->err.len > 0;
		struct sbuf *b = to_err ? &k->err : &k->out;

		if (b->len) {
			size_t n = b->len;
			if (n > win)
				n = win;
			if (n > OUT_CHUNK)
				n = OUT_CHUNK;
			if (n == 0)
				return true;
			int w = to_err ? ssh_channel_write_stderr(ch, sbuf_data(b),
								  (uint32_t)n)
				       : ssh_channel_write(ch, sbuf_data(b),
							   (uint32_t)n);
			if (w < 0)
				return false;
			sbuf_consume(b, (size_t)w);
			if ((size_t)w < n)
				return true;
			continue;
		}
		if (!k->rd || win == 0)
			return true;
		uint64_t lost = 0;
		size_t n = conhub_read(k->rd, k->tmp,
				       win < sizeof(k->tmp) ? win : sizeof(k->tmp),
				       &lost);
		if (lost)
			say(&k->out,
			    "\r\n[vsbd: %llu bytes of console output skipped]\r\n",
			    (unsigned long long)lost);
		if (n && sbuf_add(&k->out, k->tmp, n) < 0)
			return false;
		if (!n && !lost)
			return true;
	}
}

static bool con_pump(struct ssh_chan *c)
{
	struct console *k = con_of(c);
	struct ssh_conn *conn = c->conn;

	if (k->state == CON_DONE)
		return false;
	if (ssh_channel_is_closed(c->ch)) {
		detach(k, 0, "client closed the session");
		k->state = CON_DONE;
		return false;
	}
	if (k->state == CON_ATTACHED)
		input_pump(k);
	if (!output_pump(k)) {
		detach(k, 1, "cannot write to the client");
		finish(k, false);
		return false;
	}
	if (k->state == CON_CLOSING && !k->out.len && !k->err.len) {
		finish(k, true);
		return false;
	}
	bool can_out = k->rd && !k->out.len && ssh_channel_window_size(c->ch);
	k->rd_w.revents = 0;
	ssh_conn_watch(conn, &k->rd_w, k->rd ? conhub_reader_fd(k->rd) : -1,
		       can_out ? POLLIN : 0);
	ssh_conn_watch(conn, &k->room_w,
		       k->hub ? conhub_room_fd(k->hub) : -1,
		       k->waiting_room ? POLLIN : 0);
	return true;
}

static void con_stop(struct ssh_chan *c)
{
	struct console *k = con_of(c);

	if (k->state == CON_DONE)
		return;
	if (k->state == CON_ATTACHED) {
		say(&k->out, "\r\nvsbd: server stopping; %s console detached\r\n",
		    vm_name(k));
		detach(k, 0, "server stopping");
	}
	output_pump(k); /* as far as the window goes */
	finish(k, false);
}

static void con_destroy(struct ssh_chan *c)
{
	struct console *k = con_of(c);

	detach(k, 0, "connection closed");
	sbuf_free(&k->out);
	sbuf_free(&k->err);
	free(k);
}

static const struct ssh_chan_ops console_ops = {
	.pump = con_pump,
	.stop = con_stop,
	.destroy = con_destroy,
	.unknown_request = con_unknown_request,
};

bool ssh_console_open(struct ssh_conn *c, ssh_channel ch)
{
	struct console *k = calloc(1, sizeof(*k));

	if (!k)
		return false;
	k->base.conn = c;
	k->base.ch = ch;
	k->base.ops = &console_ops;
	k->rd_w.fd = k->room_w.fd = -1;
	k->base.cb = (struct ssh_channel_callbacks_struct){
		.userdata = k,
		.channel_data_function = on_data,
		.channel_pty_request_function = on_pty,
		.channel_pty_window_change_function = on_winch,
		.channel_shell_request_function = on_shell,
		.channel_exec_request_function = on_exec,
	};
	ssh_callbacks_init(&k->base.cb);
	if (ssh_set_channel_callbacks(ch, &k->base.cb) != SSH_OK) {
		free(k);
		return false;
	}
	k->base.cb_set = true;
	ssh_conn_add_chan(c, &k->base);
	return true;
}
