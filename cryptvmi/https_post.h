/* One HTTPS POST of a JSON body with libcurl, bounded in time and size:
 * the tenant CLI's request to the handler. */
#ifndef VSB_CVMI_HTTPS_POST_H
#define VSB_CVMI_HTTPS_POST_H

#include <stddef.h>

struct https_reply {
	long status;	/* HTTP status, 0 when there was no answer */
	char *body;	/* NUL-terminated, malloc'd; NULL when none */
	size_t len;
};

/* POSTs body to url with header "Authorization: Bearer token" (token may
 * be NULL), verifying the server against ca_file (NULL: the system's
 * CAs). 0 with *r filled (any status), or -errno with a message: no
 * connection (-ECONNREFUSED), timeout (-ETIMEDOUT), an answer over
 * max_reply bytes (-EMSGSIZE), TLS failure (-EPROTO). */
int https_post_json(const char *url, const char *token, const char *ca_file,
		    const char *body, size_t max_reply, long timeout_ms,
		    struct https_reply *r, char *err, size_t errlen);
void https_reply_free(struct https_reply *r);

#endif
