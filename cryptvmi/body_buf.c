/* See body_buf.h. */
#include "body_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cvmi_body_add(struct cvmi_body *b, const char *data, size_t n)
{
	if (b->too_large || n > b->max - b->len) {
		b->too_large = true;
		return -EMSGSIZE;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->buf, cap);
		if (!p)
			return -ENOMEM;
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

size_t cvmi_body_curl_write(char *data, size_t size, size_t nmemb,
			    void *arg)
{
	size_t n = size * nmemb;

	/* Anything but n is an error to curl. */
	return cvmi_body_add(arg, data, n) ? 0 : n;
}
