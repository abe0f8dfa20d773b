/* cryptvmi-handler's HTTPS server (PROTOCOL.md, "Handler"):
 * libmicrohttpd over GnuTLS, one thread per connection (a request blocks
 * on its agent for up to the agent timeout, which would starve a small
 * pool), a bounded number of connections, idle ones dropped.
 *
 * POST /v1/query, in this order, so nothing about the directory leaks to
 * whoever has no token: size (413), strict JSON (400), the tenant's token
 * (401, the same answer for an unknown tenant and a wrong token), then
 * the instance (404) and its owner (403), the node (502), the agent (its
 * answer, 502 or 504). */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "body_buf.h"
#include "handler.h"
#include "handler_req.h"

/* Seconds a connection may sit idle (headers or body trickling in). */
#define IDLE_TIMEOUT_S 30
/* Beyond this much discarded chunked body, hang up instead of reading
 * on just to say 413. */
#define DISCARD_MAX (2 * (size_t)CVMI_BODY_MAX)

struct cvmi_handler {
	struct MHD_Daemon *mhd;
	struct cvmi_dir *dir;
	long agent_timeout_ms;
	struct cvmi_metrics metrics;
	unsigned port;
	/* While starting, microhttpd's complaint is kept for our one-line
	 * error instead of being logged. */
	_Atomic bool starting;
	char start_error[512];
};

enum endpoint { EP_QUERY, EP_HEALTH, EP_METRICS, EP_OTHER };

/* One request in progress (MHD's con_cls). */
struct req {
	struct timespec t0;
	enum endpoint ep;
	struct cvmi_body body;
	size_t discarded;
	bool answered;
	/* For the log: valid names only, else "-". */
	char tenant[CVMI_NAME_MAX + 1];
	char instance[CVMI_NAME_MAX + 1];
};

static const char *const ep_names[] = {
	[EP_QUERY] = "query", [EP_HEALTH] = "health",
	[EP_METRICS] = "metrics", [EP_OTHER] = "other",
};

static long since_us(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L +
	       (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* Queues a response whose body is malloc'd (taken), counts and logs it.
 * code and detail only go to the log. */
static enum MHD_Result respond(struct cvmi_handler *h,
			       struct MHD_Connection *conn, struct req *r,
			       unsigned status, char *body, size_t len,
			       const char *type, const char *code,
			       const char *detail)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char clean[256];
	size_t i;

	/* The detail comes from libraries: one printable line, no quotes. */
	for (i = 0; detail && detail[i] && i + 1 < sizeof(clean); i++)
		clean[i] = detail[i] >= ' ' && detail[i] < 0x7f &&
			   detail[i] != '"' ? detail[i] : '?';
	clean[i] = '\0';
	resp = MHD_create_response_from_buffer(len, body,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	if (code && !strcmp(code, "bad_token"))	/* ours, not an agent's */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					r->ep == EP_QUERY ? "POST" : "GET");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	r->answered = true;
	cvmi_metrics_status(&h->metrics, status);
	cvmi_hlog("%s tenant=%s instance=%s status=%u us=%ld%s%s%s%s%s",
		  ep_names[r->ep], r->tenant[0] ? r->tenant : "-",
		  r->instance[0] ? r->instance : "-", status, since_us(&r->t0),
		  code ? " code=" : "", code ? code : "",
		  detail ? " detail=\"" : "", clean,
		  detail ? "\"" : "");
	return ret;
}

static enum MHD_Result respond_json(struct cvmi_handler *h,
				    struct MHD_Connection *conn,
				    struct req *r, unsigned status,
				    const char *text)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return respond(h, conn, r, status, body, strlen(body),
		       "application/json", NULL, NULL);
}

/* {"error": text, "code": code}; detail (for the log only) may say more. */
static enum MHD_Result fail(struct cvmi_handler *h,
			    struct MHD_Connection *conn, struct req *r,
			    unsigned status, const char *code,
			    const char *text, const char *detail)
{
	json_t *o = json_pack("{s:s, s:s}", "error", text, "code", code);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!body)
		return MHD_NO;
	return respond(h, conn, r, status, body, strlen(body),
		       "application/json", code, detail);
}

static enum MHD_Result internal_error(struct cvmi_handler *h,
				      struct MHD_Connection *conn,
				      struct req *r, const char *detail)
{
	return fail(h, conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "internal error", detail);
}

/* The bearer token's hash; false when the header is missing or cannot
 * hold a token. */
static bool presented_token(struct MHD_Connection *conn,
			    uint8_t hash[CVMI_TOKEN_HASH_BYTES])
{
	const char *a = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!a || strncasecmp(a, "Bearer ", 7))
		return false;
	a += 7;
	while (*a == ' ')
		a++;
	return cvmi_token_hash(a, strlen(a), hash) == 0;
}

/* 200 with the agent's body as is, its 4xx with its body, or a 502/504. */
static enum MHD_Result answer_forward(struct cvmi_handler *h,
				      struct MHD_Connection *conn,
				      struct req *r, struct cvmi_fwd *f)
{
	struct cvmi_metrics *m = &h->metrics;
	char detail[64];
	char *body;

	atomic_fetch_add(&m->forwards, 1);
	atomic_fetch_add(&m->forward_us, (unsigned long)f->us);
	switch (f->kind) {
	case CVMI_FWD_UNREACHABLE:
		atomic_fetch_add(&m->agent_unreachable, 1);
		return fail(h, conn, r, MHD_HTTP_BAD_GATEWAY,
			    "agent_unreachable", "the agent is unreachable",
			    f->reason);
	case CVMI_FWD_TIMEOUT:
		atomic_fetch_add(&m->agent_timeout, 1);
		return fail(h, conn, r, MHD_HTTP_GATEWAY_TIMEOUT,
			    "agent_timeout", "the agent answered too slowly",
			    f->reason);
	case CVMI_FWD_BAD_REPLY:
		break;
	case CVMI_FWD_ANSWER:
		snprintf(detail, sizeof(detail), "agent status %ld",
			 f->status);
		if (f->status == MHD_HTTP_OK &&
		    cvmi_agent_reply_ok(f->body, f->len)) {
			body = f->body;
			f->body = NULL;
			return respond(h, conn, r, MHD_HTTP_OK, body, f->len,
				       "application/json", NULL, NULL);
		}
		if (f->status >= 400 && f->status < 500 &&
		    cvmi_agent_refusal_ok(f->body, f->len)) {
			atomic_fetch_add(&m->agent_refusals, 1);
			body = f->body;
			f->body = NULL;
			return respond(h, conn, r, (unsigned)f->status, body,
				       f->len, "application/json", "agent",
				       detail);
		}
		atomic_fetch_add(&m->agent_bad_reply, 1);
		snprintf(detail, sizeof(detail),
			 "agent status %ld, unexpected body", f->status);
		return fail(h, conn, r, MHD_HTTP_BAD_GATEWAY, "agent_error",
			    "the agent's answer was unusable", detail);
	}
	atomic_fetch_add(&m->agent_bad_reply, 1);
	return fail(h, conn, r, MHD_HTTP_BAD_GATEWAY, "agent_error",
		    "the agent's answer was unusable", f->reason);
}

static enum MHD_Result do_query(struct cvmi_handler *h,
				struct MHD_Connection *conn, struct req *r)
{
	uint8_t presented[CVMI_TOKEN_HASH_BYTES] = { 0 };
	uint8_t stored[CVMI_TOKEN_HASH_BYTES];
	struct cvmi_instance_info inst;
	struct cvmi_node_info node;
	struct cvmi_query q;
	struct cvmi_fwd f;
	char err[256];
	bool has_token, known = true;
	char *fwd_body;
	enum MHD_Result ret;
	int rc;

	if (r->body.too_large)
		return fail(h, conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
			    "the body is over the limit", NULL);
	rc = cvmi_query_parse(r->body.buf ? r->body.buf : "", r->body.len, &q,
			      err, sizeof(err));
	free(r->body.buf);	/* the parsed copy is all we need now */
	r->body.buf = NULL;
	if (rc)
		return fail(h, conn, r, MHD_HTTP_BAD_REQUEST, "bad_request",
			    err, NULL);
	if (!cvmi_valid_name(q.tenant) || !cvmi_valid_name(q.instance)) {
		cvmi_query_clear(&q);
		return fail(h, conn, r, MHD_HTTP_BAD_REQUEST, "bad_request",
			    "bad tenant or instance name", NULL);
	}
	memcpy(r->tenant, q.tenant, sizeof(r->tenant));
	memcpy(r->instance, q.instance, sizeof(r->instance));

	/* Authentication first. An unknown tenant is compared against a
	 * hash no token has, so both failures cost the same and read
	 * the same. */
	has_token = presented_token(conn, presented);
	rc = h->dir->ops->lookup_tenant(h->dir, q.tenant, stored, err,
					sizeof(err));
	if (rc == -ENOENT) {
		known = false;
		memset(stored, 0xff, sizeof(stored));
	} else if (rc) {
		ret = internal_error(h, conn, r, err);
		goto out;
	}
	if (!cvmi_token_equal(presented, stored) || !has_token || !known) {
		ret = fail(h, conn, r, MHD_HTTP_UNAUTHORIZED, "bad_token",
			   "unknown tenant or bad token", NULL);
		goto out;
	}

	rc = h->dir->ops->lookup_instance(h->dir, q.instance, &inst, err,
					  sizeof(err));
	if (rc == -ENOENT) {
		ret = fail(h, conn, r, MHD_HTTP_NOT_FOUND, "unknown_instance",
			   "no such instance", NULL);
		goto out;
	}
	if (rc) {
		ret = internal_error(h, conn, r, err);
		goto out;
	}
	if (strcmp(inst.tenant, q.tenant)) {
		ret = fail(h, conn, r, MHD_HTTP_FORBIDDEN, "not_owner",
			   "the instance belongs to another tenant", NULL);
		goto out;
	}
	rc = h->dir->ops->lookup_node(h->dir, inst.node, &node, err,
				      sizeof(err));
	if (rc == -ENOENT) {
		atomic_fetch_add(&h->metrics.unknown_node, 1);
		ret = fail(h, conn, r, MHD_HTTP_BAD_GATEWAY,
			   "agent_unreachable",
			   "the instance's node is unknown", err);
		goto out;
	}
	if (rc) {
		ret = internal_error(h, conn, r, err);
		goto out;
	}

	fwd_body = cvmi_query_forward_body(&q, inst.vm);
	cvmi_query_clear(&q);	/* the ciphertext now lives in fwd_body */
	if (!fwd_body)
		return internal_error(h, conn, r, "out of memory");
	cvmi_forward(&node, fwd_body, strlen(fwd_body), h->agent_timeout_ms,
		     &f);
	free(fwd_body);
	ret = answer_forward(h, conn, r, &f);
	cvmi_fwd_clear(&f);
	return ret;
out:
	cvmi_query_clear(&q);
	return ret;
}

/* Takes a piece of the body; past the limit, keeps only the count. */
static enum MHD_Result take_body(struct req *r, const char *data, size_t n)
{
	int ret = cvmi_body_add(&r->body, data, n);

	if (ret == -ENOMEM)
		return MHD_NO;
	if (ret) {
		free(r->body.buf);
		r->body.buf = NULL;
		r->discarded += n;
		return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	return MHD_YES;
}

static enum endpoint endpoint_of(const char *url)
{
	if (!strcmp(url, "/v1/query"))
		return EP_QUERY;
	if (!strcmp(url, "/v1/health"))
		return EP_HEALTH;
	if (!strcmp(url, "/metrics"))
		return EP_METRICS;
	return EP_OTHER;
}

/* A request whose headers just arrived: answer it now unless it is a
 * query whose body is still to come. */
static enum MHD_Result on_headers(struct cvmi_handler *h,
				  struct MHD_Connection *conn, struct req *r,
				  const char *method)
{
	const char *cl;
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET);
	char *text;
	size_t len;

	switch (r->ep) {
	case EP_OTHER:
		return fail(h, conn, r, MHD_HTTP_NOT_FOUND, "not_found",
			    "no such endpoint", NULL);
	case EP_HEALTH:
		if (!get)
			break;
		return respond_json(h, conn, r, MHD_HTTP_OK,
				    "{\"status\":\"ok\"}");
	case EP_METRICS:
		if (!get)
			break;
		text = cvmi_metrics_text(&h->metrics, &len);
		if (!text)
			return MHD_NO;
		return respond(h, conn, r, MHD_HTTP_OK, text, len,
			       "text/plain; version=0.0.4", NULL, NULL);
	case EP_QUERY:
		if (strcmp(method, MHD_HTTP_METHOD_POST))
			break;
		/* Refused before a byte of it is read. */
		cl = MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > CVMI_BODY_MAX)
			return fail(h, conn, r, MHD_HTTP_CONTENT_TOO_LARGE,
				    "too_large", "the body is over the limit",
				    NULL);
		return MHD_YES;
	}
	return fail(h, conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "bad_method", "method not allowed", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct cvmi_handler *h = cls;
	struct req *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &r->t0);
		r->ep = endpoint_of(url);
		r->body.max = CVMI_BODY_MAX;
		*con_cls = r;
		return on_headers(h, conn, r, method);
	}
	if (*data_size) {
		size_t n = *data_size;
		*data_size = 0;
		/* A body after an early answer is skipped. */
		return r->answered ? MHD_YES : take_body(r, data, n);
	}
	return r->answered ? MHD_YES : do_query(h, conn, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r) {
		free(r->body.buf);
		free(r);
		*con_cls = NULL;
	}
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	struct cvmi_handler *h = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (h->starting)
		snprintf(h->start_error, sizeof(h->start_error), "%s", line);
	else
		cvmi_hlog("microhttpd: %s", line);
}

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6), numeric only. */
static int parse_listen(const char *s, struct sockaddr_storage *ss,
			bool *v6, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':'), *port, *h0 = s;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST |
					      AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	size_t hl;
	char *end;

	if (!colon)
		goto bad;
	port = colon + 1;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			goto bad;
		h0 = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	unsigned long p = strtoul(port, &end, 10);
	if (!*port || *end || p > 65535)
		goto bad;
	memcpy(host, h0, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, port, &hints, &ai))
		goto bad;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen,
		 "bad listen address '%s': want ADDR:PORT or [ADDR6]:PORT", s);
	return -EINVAL;
}

/* The listening socket, made here so a failure says exactly why. */
static int listen_on(const char *spec, const struct sockaddr_storage *ss,
		     bool v6, char *err, size_t errlen)
{
	socklen_t len = v6 ? sizeof(struct sockaddr_in6)
			   : sizeof(struct sockaddr_in);
	int one = 1, e;
	int fd = socket(v6 ? AF_INET6 : AF_INET,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		goto fail;
	/* Restarting must not wait for TIME_WAIT connections. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(e));
	return -e;
}

/* Loads the pair once with GnuTLS, for a clear message when it is bad
 * (microhttpd would only fail to start). */
static int check_tls(const char *cert, const char *key, char *err,
		     size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = { (unsigned char *)cert, (unsigned)strlen(cert) };
	gnutls_datum_t k = { (unsigned char *)key, (unsigned)strlen(key) };
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k,
						 GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		snprintf(err, errlen, "bad certificate or key: %s",
			 gnutls_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

int cvmi_handler_start(const struct cvmi_handler_conf *conf,
		       struct cvmi_handler **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen = sizeof(ss);
	struct cvmi_handler *h;
	bool v6 = false;
	int ret, fd;

	*out = NULL;
	ret = parse_listen(conf->listen, &ss, &v6, err, errlen);
	if (!ret)
		ret = check_tls(conf->cert_pem, conf->key_pem, err, errlen);
	if (ret)
		return ret;
	fd = listen_on(conf->listen, &ss, v6, err, errlen);
	if (fd < 0)
		return fd;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		sslen = 0;
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			   : ((struct sockaddr_in *)&ss)->sin_port);
	h->dir = conf->dir;
	h->agent_timeout_ms = conf->agent_timeout_ms;
	h->starting = true;
	h->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION |
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			MHD_USE_TLS | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_HTTPS_MEM_CERT, conf->cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, conf->key_pem,
		MHD_OPTION_HTTPS_PRIORITIES,
		"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		MHD_OPTION_CONNECTION_LIMIT, conf->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "cannot start the HTTPS server: %s",
			 h->start_error[0] ? h->start_error
					   : "microhttpd failed");
		close(fd);
		free(h);
		return -EIO;
	}
	h->starting = false;
	*out = h;
	return 0;
}

unsigned cvmi_handler_port(struct cvmi_handler *h)
{
	return h->port;
}

void cvmi_handler_stop(struct cvmi_handler *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
