/* Forwarding one request to a compute node's agent (handler.h): libcurl,
 * one easy handle per request (the server runs a thread per connection,
 * and a handle must not be shared between threads), all of them sharing
 * one connection cache, TLS sessions and DNS through a curl share, so a
 * forward reuses a warm TLS connection to its agent instead of paying a
 * handshake (about 20 ms on loopback) every time. HTTPS only, the
 * agent's certificate checked against its node's CA file, no proxies from
 * the environment, no redirects, the answer bounded in size and time. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "body_buf.h"
#include "handler.h"
#include "handler_req.h"

static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a,
		       void *arg)
{
	(void)c;
	(void)a;
	(void)arg;
	pthread_mutex_lock(&share_locks[d]);
}

static void share_unlock(CURL *c, curl_lock_data d, void *arg)
{
	(void)c;
	(void)arg;
	pthread_mutex_unlock(&share_locks[d]);
}

int cvmi_fwd_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_locks[i], NULL);
	share = curl_share_init();
	/* Without a share each forward still works, only colder. */
	if (share &&
	    (curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock) ||
	     curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	     curl_share_setopt(share, CURLSHOPT_SHARE,
			       CURL_LOCK_DATA_CONNECT) ||
	     curl_share_setopt(share, CURLSHOPT_SHARE,
			       CURL_LOCK_DATA_SSL_SESSION) ||
	     curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS))) {
		curl_share_cleanup(share);
		share = NULL;
	}
	return 0;
}

static long elapsed_us(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L +
	       (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* Keeps only printable ASCII and no quotes, so the text is safe in a log
 * line. */
static void set_reason(struct cvmi_fwd *out, const char *text)
{
	size_t i;

	for (i = 0; text[i] && i + 1 < sizeof(out->reason); i++)
		out->reason[i] = text[i] >= ' ' && text[i] < 0x7f &&
				 text[i] != '"' ? text[i] : '?';
	while (i && out->reason[i - 1] == '\n')
		i--;
	out->reason[i] = '\0';
}

static void classify(CURL *c, CURLcode rc, const struct cvmi_body *s,
		     const char *errbuf, struct cvmi_fwd *out)
{
	curl_off_t connected = 0;

	set_reason(out, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_WRITE_ERROR && s->too_large) {
		out->kind = CVMI_FWD_BAD_REPLY;
		set_reason(out, "answer larger than the body limit");
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		/* Timed out after TLS was up: the agent has the request and
		 * is slow. Before: it never took the request (a kernel
		 * accepts TCP even for a hung process, so TCP alone says
		 * little). */
		curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME_T, &connected);
		out->kind = connected > 0 ? CVMI_FWD_TIMEOUT
					  : CVMI_FWD_UNREACHABLE;
	} else {
		out->kind = CVMI_FWD_UNREACHABLE;
	}
}

void cvmi_forward(const struct cvmi_node_info *node, const char *body,
		  size_t len, long timeout_ms, struct cvmi_fwd *out)
{
	char url[CVMI_URL_MAX + 16], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *h;
	struct cvmi_body s = { .max = CVMI_BODY_MAX };
	struct timespec t0;
	size_t ulen = strlen(node->url);
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURL *c;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ulen && node->url[ulen - 1] == '/')
		ulen--;
	snprintf(url, sizeof(url), "%.*s/v1/query", (int)ulen, node->url);

	c = curl_easy_init();
	if (!c)
		goto fail;
	static const char *const headers[] = {
		"Content-Type: application/json", "Accept: application/json",
		"Expect:",	/* no 100-continue round trip */
	};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		h = curl_slist_append(hdrs, headers[i]);
		if (!h)
			goto fail;
		hdrs = h;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (node->ca_file[0]) {
		/* That CA only: Debian's libcurl also trusts every CA in
		 * /etc/ssl/certs by default, which would let any public CA
		 * vouch for an agent. */
		curl_easy_setopt(c, CURLOPT_CAINFO, node->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cryptvmi-handler");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cvmi_body_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (share)
		curl_easy_setopt(c, CURLOPT_SHARE, share);

	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		out->kind = CVMI_FWD_ANSWER;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
		out->body = s.buf;
		out->len = s.len;
		s.buf = NULL;
		if (!out->body) {	/* an empty body */
			out->body = calloc(1, 1);
			if (!out->body) {
				out->kind = CVMI_FWD_BAD_REPLY;
				set_reason(out, "out of memory");
			}
		}
	} else {
		classify(c, rc, &s, errbuf, out);
	}
	goto done;
fail:
	out->kind = CVMI_FWD_UNREACHABLE;
	set_reason(out, "out of memory");
done:
	free(s.buf);
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	out->us = elapsed_us(&t0);
}

void cvmi_fwd_clear(struct cvmi_fwd *f)
{
	free(f->body);
	f->body = NULL;
	f->len = 0;
}
