/* A message body taken in pieces, up to a bound: what the agent's and
 * the handler's HTTPS servers read of an upload, and what the tenant
 * CLI's and the handler's curl clients read of an answer. */
#ifndef VSB_CVMI_BODY_BUF_H
#define VSB_CVMI_BODY_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct cvmi_body {
	char *buf;	/* NUL-terminated, malloc'd; NULL until data */
	size_t len, cap;
	size_t max;	/* the most it takes */
	bool too_large;	/* went over max: takes nothing more */
};

/* Appends n bytes: 0, -EMSGSIZE (over max or too_large already; the
 * piece is dropped) or -ENOMEM. */
int cvmi_body_add(struct cvmi_body *b, const char *data, size_t n);

/* cvmi_body_add as a CURLOPT_WRITEFUNCTION, with the struct cvmi_body as
 * CURLOPT_WRITEDATA: a failure makes curl stop with CURLE_WRITE_ERROR. */
size_t cvmi_body_curl_write(char *data, size_t size, size_t nmemb,
			    void *arg);

#endif
