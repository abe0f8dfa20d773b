/* QMP client (see qmp.h). QEMU's messages are JSON objects, one after
 * another, each followed by a newline unless the monitor pretty-prints
 * them; so a message is found by scanning for the '}' that closes the
 * first '{' (outside strings), and only then handed to jansson once. The
 * buffer never holds more than one message plus one read. */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmi_err.h"

#define CHUNK 65536

struct qmp {
	int fd;
	int timeout_ms;
	int broken;      /* the error that made the connection unusable */
	int64_t id;      /* of the last command sent */
	int ver[3];
	char *buf;       /* received, not returned yet; a message at buf[0] */
	size_t len, cap;
	/* Scanner state over buf[0..scan): depth 0 = no message started. */
	size_t scan;
	int depth;
	bool in_str, esc;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t d = deadline - now_ms();

	return d < 0 ? 0 : d > INT32_MAX ? INT32_MAX : (int)d;
}

void qmp_printable(const char *s, char *out, size_t outlen)
{
	size_t i = 0;

	if (!outlen)
		return;
	for (; s && s[i] && i + 1 < outlen; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?'
								      : s[i];
	out[i] = 0;
}

/* Marks the connection unusable after err, which it returns. */
static int fail(struct qmp *q, int ret)
{
	q->broken = ret;
	return ret;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void consume(struct qmp *q, size_t n)
{
	if (n && n < q->len)
		memmove(q->buf, q->buf + n, q->len - n);
	q->len -= n;
	q->scan = 0;
}

/* The length of the complete object at buf[0] in *n (0: not complete
 * yet), or -EPROTO when what starts there is not an object. */
static int scan(struct qmp *q, size_t *n, char *err, size_t errlen)
{
	size_t i = 0;

	*n = 0;
	if (q->depth == 0) {
		while (i < q->len && is_ws(q->buf[i]))
			i++;
		consume(q, i);
		if (q->len == 0)
			return 0;
		if (q->buf[0] != '{')
			return vmi_err(err, errlen, -EPROTO, "QMP: expected a "
				       "JSON object from QEMU, got byte 0x%02x "
				       "(not a QMP socket?)",
				       (unsigned char)q->buf[0]);
		q->depth = 1;
		q->scan = 1;
		q->in_str = q->esc = false;
	}
	for (i = q->scan; i < q->len; i++) {
		char c = q->buf[i];

		if (q->in_str) {
			if (q->esc)
				q->esc = false;
			else if (c == '\\')
				q->esc = true;
			else if (c == '"')
				q->in_str = false;
		} else if (c == '"') {
			q->in_str = true;
		} else if (c == '{' || c == '[') {
			q->depth++;
		} else if ((c == '}' || c == ']') && --q->depth == 0) {
			*n = i + 1;
			return 0;
		}
	}
	q->scan = i;
	return 0;
}

/* Reads what QEMU sent, waiting until deadline. */
static int fill(struct qmp *q, int64_t deadline, const char *what, char *err,
		size_t errlen)
{
	if (q->cap - q->len < CHUNK) {
		size_t cap = q->cap ? q->cap * 2 : 2 * CHUNK;
		char *b;

		if (cap > QMP_MAX_MSG + 2 * CHUNK)
			cap = QMP_MAX_MSG + 2 * CHUNK;
		b = realloc(q->buf, cap);
		if (!b)
			return vmi_err(err, errlen, -ENOMEM, "out of memory");
		q->buf = b;
		q->cap = cap;
	}
	for (;;) {
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int r = poll(&p, 1, left_ms(deadline));
		ssize_t got;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(q, vmi_err(err, errlen, -errno, "QMP %s: "
					       "poll: %s", what,
					       strerror(errno)));
		if (r == 0)
			return vmi_err(err, errlen, -ETIMEDOUT, "QMP %s: no "
				       "complete reply within %d ms", what,
				       q->timeout_ms);
		got = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return fail(q, vmi_err(err, errlen, -ECONNRESET,
					       "QMP %s: read: %s", what,
					       strerror(errno)));
		if (got == 0)
			return fail(q, vmi_err(err, errlen, -ECONNRESET,
					       "QMP %s: QEMU closed the "
					       "connection", what));
		q->len += got;
		return 0;
	}
}

/* The next message, a JSON object (new reference). */
static int next_msg(struct qmp *q, int64_t deadline, const char *what,
		    json_t **msg, char *err, size_t errlen)
{
	for (;;) {
		json_error_t je;
		size_t n;
		int r = scan(q, &n, err, errlen);

		if (r < 0)
			return fail(q, r);
		if (n > QMP_MAX_MSG || (!n && q->len > QMP_MAX_MSG))
			return fail(q, vmi_err(err, errlen, -EMSGSIZE,
					       "QMP %s: message from QEMU "
					       "larger than %u bytes", what,
					       QMP_MAX_MSG));
		if (n) {
			*msg = json_loadb(q->buf, n, JSON_REJECT_DUPLICATES,
					  &je);
			consume(q, n);
			if (!*msg)
				return fail(q, vmi_err(err, errlen, -EPROTO,
						       "QMP %s: malformed "
						       "JSON from QEMU: %s "
						       "(byte %d)", what,
						       je.text, je.position));
			return 0;
		}
		r = fill(q, deadline, what, err, errlen);
		if (r < 0)
			return r;
	}
}

static int send_all(struct qmp *q, const char *p, size_t n, int64_t deadline,
		    const char *what, char *err, size_t errlen)
{
	while (n) {
		ssize_t w = send(q->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = q->fd, .events = POLLOUT };

			if (poll(&pf, 1, left_ms(deadline)) == 0)
				return fail(q, vmi_err(err, errlen, -ETIMEDOUT,
						       "QMP %s: QEMU does "
						       "not read its socket",
						       what));
			continue;
		}
		if (w < 0)
			return fail(q, vmi_err(err, errlen, -ECONNRESET,
					       "QMP %s: send: %s", what,
					       strerror(errno)));
		p += w;
		n -= w;
	}
	return 0;
}

static int qmp_error(json_t *e, const char *cmd, char *err, size_t errlen)
{
	const char *cls = json_string_value(json_object_get(e, "class"));
	const char *desc = json_string_value(json_object_get(e, "desc"));
	char c[64], d[256];

	if (!cls || !desc)
		return -EPROTO;
	qmp_printable(cls, c, sizeof(c));
	qmp_printable(desc, d, sizeof(d));
	return vmi_err(err, errlen, strcmp(cls, "CommandNotFound") ? -EREMOTEIO
								   : -ENOSYS,
		       "QMP %s: %s (%s)", cmd, d, c);
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret,
		char *err, size_t errlen)
{
	int64_t deadline = now_ms() + q->timeout_ms;
	json_t *req, *msg = NULL;
	char *text;
	int r;

	if (ret)
		*ret = NULL;
	if (q->broken)
		return vmi_err(err, errlen, -ENOTCONN, "QMP %s: connection "
			       "unusable after an earlier error", cmd);
	req = json_pack("{s:s, s:I}", "execute", cmd, "id",
			(json_int_t)++q->id);
	if (!req || (args && json_object_set(req, "arguments", args))) {
		json_decref(req);
		return vmi_err(err, errlen, -EINVAL, "QMP %s: cannot build the "
			       "command", cmd);
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	r = send_all(q, text, strlen(text), deadline, cmd, err, errlen);
	if (r == 0)
		r = send_all(q, "\n", 1, deadline, cmd, err, errlen);
	free(text);
	if (r < 0)
		return r;
	/* Events may come first; a reply with another id answers a command
	 * that timed out earlier. Both are skipped until the deadline. */
	for (;;) {
		json_t *id, *v;

		json_decref(msg);
		r = next_msg(q, deadline, cmd, &msg, err, errlen);
		if (r < 0)
			return r;
		if (json_object_get(msg, "event"))
			continue;
		id = json_object_get(msg, "id");
		if (id && (!json_is_integer(id) ||
			   json_integer_value(id) != q->id))
			continue;
		if ((v = json_object_get(msg, "return"))) {
			if (ret)
				*ret = json_incref(v);
			json_decref(msg);
			return 0;
		}
		v = json_object_get(msg, "error");
		r = v ? qmp_error(v, cmd, err, errlen) : -EPROTO;
		json_decref(msg);
		if (r == -EPROTO)
			return fail(q, vmi_err(err, errlen, -EPROTO, "QMP %s: "
					       "QEMU sent %s", cmd, v ?
					       "an error without class and "
					       "desc" : "neither a reply nor "
					       "an event"));
		return r;
	}
}

static int greeting(struct qmp *q, char *err, size_t errlen)
{
	json_t *msg, *qmp, *v;
	int r = next_msg(q, now_ms() + q->timeout_ms, "greeting", &msg, err,
			 errlen);

	if (r == -ETIMEDOUT)
		return fail(q, vmi_err(err, errlen, r, "QMP: no greeting "
				       "within %d ms (QEMU hung, or another "
				       "client holds this QMP socket: QEMU "
				       "serves one at a time)",
				       q->timeout_ms));
	if (r < 0)
		return r;
	qmp = json_object_get(msg, "QMP");
	if (!json_is_object(qmp)) {
		json_decref(msg);
		return fail(q, vmi_err(err, errlen, -EPROTO, "QMP: the first "
				       "message is not a QMP greeting (not a "
				       "QMP socket?)"));
	}
	v = json_object_get(json_object_get(qmp, "version"), "qemu");
	q->ver[0] = json_integer_value(json_object_get(v, "major"));
	q->ver[1] = json_integer_value(json_object_get(v, "minor"));
	q->ver[2] = json_integer_value(json_object_get(v, "micro"));
	json_decref(msg);
	return 0;
}

int qmp_open_fd(int fd, int timeout_ms, struct qmp **out, char *err,
		size_t errlen)
{
	struct qmp *q;
	int fl, r;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	q->fd = fd;
	qmp_set_timeout(q, timeout_ms);
	/* Non-blocking: every wait is a poll with the deadline. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = vmi_err(err, errlen, -errno, "QMP: fcntl: %s",
			    strerror(errno));
		qmp_close(q);
		return r;
	}
	r = greeting(q, err, errlen);
	if (r == 0)
		r = qmp_execute(q, "qmp_capabilities", NULL, NULL, err, errlen);
	if (r < 0) {
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

int qmp_open(const char *path, int timeout_ms, struct qmp **out, char *err,
	     size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms
						      : QMP_TIMEOUT_MS);
	int fd, r;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return vmi_err(err, errlen, -ENAMETOOLONG, "QMP socket path "
			       "of %zu bytes (at most %zu)", strlen(path),
			       sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vmi_err(err, errlen, -errno, "socket: %s",
			       strerror(errno));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		socklen_t sl = sizeof(r);

		r = -errno;
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN && left_ms(deadline) > 0) {
			/* The listener's backlog is full: try again. */
			usleep(10000);
			continue;
		}
		if (r == -EINPROGRESS && poll(&p, 1, left_ms(deadline)) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &sl) == 0) {
			if (r == 0)
				break;
			r = -r;
		} else if (r == -EINPROGRESS || r == -EAGAIN) {
			r = -ETIMEDOUT;
		}
		close(fd);
		return vmi_err(err, errlen, r, "QMP socket %s: %s%s", path,
			       strerror(-r), r == -ENOENT || r == -ECONNREFUSED
			       ? " (is QEMU running with -qmp unix:PATH,"
				 "server=on,wait=off?)" : "");
	}
	return qmp_open_fd(fd, timeout_ms, out, err, errlen);
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	close(q->fd);
	free(q->buf);
	free(q);
}

void qmp_set_timeout(struct qmp *q, int timeout_ms)
{
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : QMP_TIMEOUT_MS;
}

void qmp_version(const struct qmp *q, int *major, int *minor, int *micro)
{
	*major = q->ver[0];
	*minor = q->ver[1];
	*micro = q->ver[2];
}

int qmp_stop(struct qmp *q, char *err, size_t errlen)
{
	return qmp_execute(q, "stop", NULL, NULL, err, errlen);
}

int qmp_cont(struct qmp *q, char *err, size_t errlen)
{
	return qmp_execute(q, "cont", NULL, NULL, err, errlen);
}

int qmp_query_status(struct qmp *q, bool *running, char *status,
		     size_t statuslen, char *err, size_t errlen)
{
	json_t *ret, *run;
	const char *st;
	int r = qmp_execute(q, "query-status", NULL, &ret, err, errlen);

	if (r < 0)
		return r;
	run = json_object_get(ret, "running");
	st = json_string_value(json_object_get(ret, "status"));
	if (!json_is_boolean(run) || !st) {
		json_decref(ret);
		return vmi_err(err, errlen, -EPROTO, "QMP query-status: no "
			       "running/status in the reply");
	}
	*running = json_is_true(run);
	if (status)
		qmp_printable(st, status, statuslen);
	json_decref(ret);
	return 0;
}

int qmp_hmp(struct qmp *q, const char *cmdline, int cpu_index, char **text,
	    char *err, size_t errlen)
{
	json_t *args, *ret;
	int r;

	*text = NULL;
	args = cpu_index >= 0
		? json_pack("{s:s, s:i}", "command-line", cmdline,
			    "cpu-index", cpu_index)
		: json_pack("{s:s}", "command-line", cmdline);
	if (!args)
		return vmi_err(err, errlen, -EINVAL, "QMP: cannot build "
			       "human-monitor-command");
	r = qmp_execute(q, "human-monitor-command", args, &ret, err, errlen);
	json_decref(args);
	if (r < 0)
		return r;
	if (!json_is_string(ret)) {
		json_decref(ret);
		return vmi_err(err, errlen, -EPROTO, "QMP "
			       "human-monitor-command: the reply is not a "
			       "string");
	}
	*text = strndup(json_string_value(ret), json_string_length(ret));
	json_decref(ret);
	if (!*text)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	return 0;
}
