/* A small client of QEMU's QMP monitor over a UNIX socket: the greeting,
 * capabilities negotiation, then one command at a time. Every wait has a
 * deadline and every message a size bound, so a hung or hostile QEMU gives
 * an error, never a hang or a crash. A connection is not thread-safe: one
 * caller at a time. QEMU serves one client per QMP socket: while we are
 * connected, nobody else can use that socket (start QEMU with a second
 * -qmp for other tools).
 *
 * Errors are negative errnos with one line in (err, errlen):
 *   -ETIMEDOUT   no (complete) reply before the deadline
 *   -ECONNRESET  QEMU closed the connection
 *   -EPROTO      not QMP: malformed JSON, no greeting, odd messages
 *   -EMSGSIZE    a message larger than QMP_MAX_MSG
 *   -ENOSYS      QMP error CommandNotFound
 *   -EREMOTEIO   any other QMP error (the message has its class and desc)
 * After a connection or protocol error the connection is unusable and
 * every later call fails with -ENOTCONN. */
#ifndef VSB_VMI_QMP_H
#define VSB_VMI_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define QMP_MAX_MSG (4u << 20)  /* bytes in one message from QEMU */
#define QMP_TIMEOUT_MS 5000     /* default deadline of one command */

struct qmp;

/* Connects, reads the greeting and negotiates capabilities, each step
 * within timeout_ms (<= 0: QMP_TIMEOUT_MS), which then applies to every
 * command. 0 with *out set, or -errno. */
int qmp_open(const char *path, int timeout_ms, struct qmp **out, char *err,
	     size_t errlen);
/* The same over a connected stream socket, which the handle then owns
 * (closed on failure too). */
int qmp_open_fd(int fd, int timeout_ms, struct qmp **out, char *err,
		size_t errlen);
void qmp_close(struct qmp *q);
void qmp_set_timeout(struct qmp *q, int timeout_ms);
/* QEMU's version from the greeting (zeros if it gave none). */
void qmp_version(const struct qmp *q, int *major, int *minor, int *micro);

/* Runs cmd with args (a JSON object, or NULL; not consumed). On success
 * *ret (if ret) gets the "return" value, a new reference for the caller
 * to json_decref. Events arriving meanwhile are skipped. */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret,
		char *err, size_t errlen);

int qmp_stop(struct qmp *q, char *err, size_t errlen);
int qmp_cont(struct qmp *q, char *err, size_t errlen);
/* *running from query-status; status (if non-NULL) gets QEMU's state
 * name: "running", "paused", "prelaunch", "shutdown", ... */
int qmp_query_status(struct qmp *q, bool *running, char *status,
		     size_t statuslen, char *err, size_t errlen);
/* human-monitor-command: runs an HMP command line, on vCPU cpu_index if
 * >= 0, and gives its text output in *text (malloc'd, NUL-terminated;
 * free it). */
int qmp_hmp(struct qmp *q, const char *cmdline, int cpu_index, char **text,
	    char *err, size_t errlen);

/* Copies s into out with control characters replaced by '?', so text
 * from QEMU (error descriptions, paths) stays one line in a message. */
void qmp_printable(const char *s, char *out, size_t outlen);

#endif
