/* cryptvmi-handler's parts (cryptvmi/README.md, "Handler"): the HTTPS
 * server (handler_http.c), the forwarder to agents (handler_fwd.c), the
 * counters (handler_metrics.c) and the request log (handler_log.c). The
 * handler is untrusted by design: it routes sealed boxes it cannot open,
 * so none of this holds a key; it must only keep serving, and keep the
 * tenants' tokens and boxes out of its logs. */
#ifndef VSB_CVMI_HANDLER_H
#define VSB_CVMI_HANDLER_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dir.h"

#define CVMI_AGENT_TIMEOUT_MS 5000

/* Counters for GET /metrics, updated lock-free from every thread. */
struct cvmi_metrics {
	atomic_ulong by_status[600];	/* index: HTTP status */
	atomic_ulong forwards;
	atomic_ulong forward_us;	/* sum of forwards' durations */
	atomic_ulong agent_unreachable;
	atomic_ulong agent_timeout;
	atomic_ulong agent_bad_reply;
	atomic_ulong agent_refusals;	/* 4xx passed through */
	atomic_ulong unknown_node;
};

void cvmi_metrics_status(struct cvmi_metrics *m, unsigned status);
/* Prometheus text exposition format, malloc'd (NULL: out of memory). */
char *cvmi_metrics_text(struct cvmi_metrics *m, size_t *len);

/* The request log: one line each, "TIME text". path NULL: stderr. Lines
 * are written with one write(2) each, so threads never interleave. */
int cvmi_hlog_open(const char *path, char *err, size_t errlen);
/* Reopens the file (SIGHUP, after log rotation). */
int cvmi_hlog_reopen(void);
void cvmi_hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cvmi_vhlog(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));
void cvmi_hlog_close(void);

/* One forward to an agent (handler_fwd.c). */
enum cvmi_fwd_kind {
	CVMI_FWD_ANSWER,	/* the agent answered: status and body */
	CVMI_FWD_UNREACHABLE,	/* no TLS connection (in time), or reset */
	CVMI_FWD_TIMEOUT,	/* the request sent, no answer in time */
	CVMI_FWD_BAD_REPLY,	/* too large */
};

struct cvmi_fwd {
	enum cvmi_fwd_kind kind;
	long status;
	char *body;		/* malloc'd, CVMI_FWD_ANSWER only */
	size_t len;
	long us;		/* how long it took */
	char reason[256];	/* for the log, when not an answer */
};

/* Call once before threads start (curl_global_init). */
int cvmi_fwd_global_init(void);
/* POSTs body to node->url + "/v1/query", TLS checked against
 * node->ca_file (or the system's CAs), both the connection and the whole
 * exchange bounded by timeout_ms. Never fails otherwise: everything is
 * in out (cvmi_fwd_clear frees its body). */
void cvmi_forward(const struct cvmi_node_info *node, const char *body,
		  size_t len, long timeout_ms, struct cvmi_fwd *out);
void cvmi_fwd_clear(struct cvmi_fwd *f);

/* The HTTPS server (handler_http.c). */
struct cvmi_handler_conf {
	struct cvmi_dir *dir;
	const char *listen;	/* "ADDR:PORT", IPv4 or [IPv6]; port 0: any */
	const char *cert_pem;	/* file contents, NUL-terminated */
	const char *key_pem;
	long agent_timeout_ms;
	unsigned max_connections;
};

struct cvmi_handler;
int cvmi_handler_start(const struct cvmi_handler_conf *conf,
		       struct cvmi_handler **out, char *err, size_t errlen);
/* The port it listens on (useful with port 0). */
unsigned cvmi_handler_port(struct cvmi_handler *h);
/* Stops accepting, waits for the requests in progress, frees. */
void cvmi_handler_stop(struct cvmi_handler *h);

#endif
