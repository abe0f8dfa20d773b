/* The agent's HTTPS server: libmicrohttpd with GnuTLS, a thread per
 * connection (an operation may wait seconds on a guest), bounded
 * connections, bodies and idle time. Only the handler calls it; it gets
 * POST /v1/query and GET /v1/health. One log line a request, with names,
 * the operation, the status and the time: never arguments, results or
 * keys. */
#include "agent_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../vmi/vmi_err.h"
#include "body_buf.h"

#define MAX_CONNECTIONS 64
#define CONNECTION_TIMEOUT_S 30
#define PEM_MAX (1u << 20)
/* TLS 1.2 or 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* One request's state, from its first call to its completion. */
struct req {
	struct timespec start;
	struct cvmi_body body;
	size_t discarded;	/* bytes past the limit */
};

static int64_t micros_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000000 +
	       (now.tv_nsec - t->tv_nsec) / 1000;
}

/* One write(2), so lines from concurrent requests do not interleave. */
static void log_line(const char *method, const char *url,
		     const struct agent_qlog *q, int status,
		     const struct timespec *start)
{
	char line[512];
	int n;

	if (q)
		n = snprintf(line, sizeof(line), "cryptvmi-agent: query "
			     "tenant=%s instance=%s op=%s status=%d code=%s "
			     "us=%lld\n", q->tenant[0] ? q->tenant : "-",
			     q->instance[0] ? q->instance : "-",
			     q->op[0] ? q->op : "-", status,
			     q->code ? q->code : "ok",
			     (long long)micros_since(start));
	else
		n = snprintf(line, sizeof(line), "cryptvmi-agent: %s %s "
			     "status=%d us=%lld\n", method, url, status,
			     (long long)micros_since(start));
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof(line) ?
			     (size_t)n : sizeof(line) - 1);
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status,
				 char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;	/* out of memory: MHD closes the connection */
	r = MHD_create_response_from_buffer(strlen(body), body,
					    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status,
				  const char *code, const char *text)
{
	json_t *j = json_pack("{s:s, s:s}", "error", text, "code", code);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return send_json(c, status, s);
}

/* Takes upload data into q; false once over the limit. */
static bool take(struct req *q, const char *data, size_t n)
{
	int ret = cvmi_body_add(&q->body, data, n);

	/* One we cannot hold is refused as too large. */
	if (ret == -ENOMEM)
		q->body.too_large = true;
	return !ret;
}

static enum MHD_Result query(struct agent *a, struct MHD_Connection *c,
			     struct req *q)
{
	struct agent_qlog lg;
	char *reply;
	int status;

	if (agent_handle_query(a, q->body.buf ? q->body.buf : "", q->body.len,
			       &reply, &status, &lg) < 0) {
		log_line("POST", "/v1/query", &lg, 500, &q->start);
		return MHD_NO;
	}
	log_line("POST", "/v1/query", &lg, status, &q->start);
	return send_json(c, status, reply);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **ctx)
{
	struct agent *a = cls;
	struct req *q = *ctx;
	bool is_query = !strcmp(url, "/v1/query");
	bool is_health = !strcmp(url, "/v1/health");
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	/* Only known endpoints and methods are logged by name: the rest is
	 * the client's text. */
	const char *lurl = is_query || is_health ? url : "-";
	const char *lmethod = get || post ? method : "-";

	(void)version;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &q->start);
		q->body.max = AGENT_BODY_MAX;
		*ctx = q;
		const char *cl = MHD_lookup_connection_value(
			c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > AGENT_BODY_MAX)
			q->body.too_large = true;
		if (!q->body.too_large)
			return MHD_YES;	/* the body, if any, comes next */
	} else if (*upload_size) {
		/* MHD takes a response only before the body or after all of
		 * it: an oversized body not refused from its Content-Length
		 * (chunked) is read and dropped, up to a point. */
		if (!take(q, upload, *upload_size)) {
			q->discarded += *upload_size;
			if (q->discarded > AGENT_BODY_MAX) {
				log_line(lmethod, lurl, NULL, 413, &q->start);
				return MHD_NO;
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}
	/* Refused from its Content-Length, before the body: MHD closes the
	 * connection after this answer without reading the body. */
	if (q->body.too_large) {
		log_line(lmethod, lurl, NULL, 413, &q->start);
		return send_error(c, 413, "too_large", "the body is over "
				  "8 MiB");
	}
	if (is_query && post)
		return query(a, c, q);
	if (is_health && get) {
		log_line(lmethod, lurl, NULL, 200, &q->start);
		return send_json(c, 200, strdup("{\"status\":\"ok\"}"));
	}
	if (is_query || is_health) {
		log_line(lmethod, lurl, NULL, 405, &q->start);
		return send_error(c, 405, "bad_method", "wrong method for "
				  "this endpoint");
	}
	log_line(lmethod, lurl, NULL, 404, &q->start);
	return send_error(c, 404, "not_found", "no such endpoint");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	struct req *q = *ctx;

	(void)cls;
	(void)c;
	(void)why;
	if (q) {
		free(q->body.buf);
		free(q);
		*ctx = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[400];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strcspn(msg, "\n");
	msg[n] = '\0';
	fprintf(stderr, "cryptvmi-agent: libmicrohttpd: %s\n", msg);
}

/* A PEM file of at most PEM_MAX bytes, NUL-terminated, in sodium's
 * guarded memory (the key is secret). */
static char *read_pem(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		vmi_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > PEM_MAX) {
		close(fd);
		vmi_err(err, errlen, -EINVAL, "%s: not a PEM file of at most "
			"%u bytes", path, PEM_MAX);
		return NULL;
	}
	buf = sodium_malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		vmi_err(err, errlen, -ENOMEM, "out of memory");
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		sodium_free(buf);
		vmi_err(err, errlen, -EIO, "%s: short read", path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* GnuTLS's own check of the pair (PEM, the key matching the
 * certificate), for a message saying what is wrong before MHD starts.
 * The chain is parsed on its own first: GnuTLS 3.7 leaks what it made
 * of a certificate that does not parse inside set_x509_key_mem. */
static int check_pem_pair(const char *cert, const char *key, char *err,
			  size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = { (unsigned char *)cert, (unsigned)strlen(cert) };
	gnutls_datum_t k = { (unsigned char *)key, (unsigned)strlen(key) };
	gnutls_x509_crt_t *chain;
	unsigned n;
	int r;

	r = gnutls_x509_crt_list_import2(&chain, &n, &c, GNUTLS_X509_FMT_PEM,
					 0);
	if (r < 0)
		return vmi_err(err, errlen, -EINVAL, "the certificate is not "
			       "PEM: %s", gnutls_strerror(r));
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_free(chain);
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	r = gnutls_certificate_set_x509_key_mem(cred, &c, &k,
						GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (r < 0)
		return vmi_err(err, errlen, -EINVAL, "the certificate and key "
			       "are not a PEM pair: %s", gnutls_strerror(r));
	return 0;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss,
			bool *v6, char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':');
	char host[64], *end;
	size_t hl;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon || !colon[1])
		goto bad;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535 || colon[1] == '-' ||
	    colon[1] == '+')
		goto bad;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
		*v6 = true;
	} else {
		*v6 = false;
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (*v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) == 1)
			return 0;
	}
bad:
	return vmi_err(err, errlen, -EINVAL, "--listen: ADDR:PORT or "
		       "[V6ADDR]:PORT with a numeric address");
}

int agent_serve(struct agent *a, const char *listen, const char *cert_path,
		const char *key_path, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	char *cert, *key;
	sigset_t set;
	bool v6 = false;
	int r, sig = 0;

	if ((r = parse_listen(listen, &ss, &v6, err, errlen)) < 0)
		return r;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return vmi_err(err, errlen, -ENOTSUP, "libmicrohttpd was built "
			       "without TLS");
	cert = read_pem(cert_path, err, errlen);
	if (!cert)
		return -EINVAL;
	key = read_pem(key_path, err, errlen);
	if (!key) {
		sodium_free(cert);
		return -EINVAL;
	}
	if ((r = check_pem_pair(cert, key, err, errlen)) < 0)
		goto out;
	/* Threads started from here inherit the mask: only this thread
	 * takes the signals that stop the server. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(
		MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
		(v6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, a,
		/* First, or MHD logs the other options' errors itself. */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_HTTPS_MEM_CERT, cert,
		MHD_OPTION_HTTPS_MEM_KEY, key,
		MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_END);
	if (!d) {
		r = vmi_err(err, errlen, -EADDRNOTAVAIL, "cannot serve on %s "
			    "(address in use or not this host's?)", listen);
		goto out;
	}
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[64];
	size_t hl = (size_t)(strrchr(listen, ':') - listen);
	snprintf(host, sizeof(host), "%.*s", (int)hl, listen);
	fprintf(stderr, "cryptvmi-agent: listening on %s:%u (%zu tenants, "
		"%zu instances)\n", host, di ? di->port : 0, a->ntenants,
		a->ninst);
	do {
		r = sigwait(&set, &sig);
	} while (r == EINTR);
	fprintf(stderr, "cryptvmi-agent: stopping (signal %d)\n", sig);
	MHD_stop_daemon(d);
	r = 0;
out:
	sodium_free(key);
	sodium_free(cert);
	return r;
}
