/* libcurl, used the simple way: one easy handle per request. */
#include "https_post.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vmi/vmi_err.h"
#include "body_buf.h"

int https_post_json(const char *url, const char *token, const char *ca_file,
		    const char *body, size_t max_reply, long timeout_ms,
		    struct https_reply *r, char *err, size_t errlen)
{
	struct cvmi_body s = { .max = max_reply };
	struct curl_slist *h = NULL;
	char auth[512];
	CURLcode c;
	int ret = 0;
	CURL *e;

	memset(r, 0, sizeof(*r));
	if (token && snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			      token) >= (int)sizeof(auth))
		return vmi_err(err, errlen, -EINVAL, "token too long");
	e = curl_easy_init();
	if (!e)
		return vmi_err(err, errlen, -ENOMEM, "curl_easy_init failed");
	h = curl_slist_append(h, "Content-Type: application/json");
	if (token)
		h = curl_slist_append(h, auth);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)strlen(body));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cvmi_body_curl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	if (ca_file) {
		/* That CA only: Debian's libcurl would also trust every CA
		 * in /etc/ssl/certs. */
		curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	c = curl_easy_perform(e);
	if (c == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
		r->body = s.buf;
		r->len = s.len;
		s.buf = NULL;
	} else {
		ret = s.too_large ? -EMSGSIZE :
		      c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		      c == CURLE_COULDNT_CONNECT ? -ECONNREFUSED :
		      (c == CURLE_SSL_CONNECT_ERROR ||
		       c == CURLE_PEER_FAILED_VERIFICATION ||
		       c == CURLE_SSL_CACERT_BADFILE) ? -EPROTO : -EIO;
		vmi_err(err, errlen, ret, "%s: %s", url,
			s.too_large ? "reply too large" :
				      curl_easy_strerror(c));
	}
	free(s.buf);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return ret;
}

void https_reply_free(struct https_reply *r)
{
	free(r->body);
	r->body = NULL;
}
