/* System.map parsing: every line "ADDRESS TYPE NAME", sorted twice (by
 * name for lookups, by address for symbolizing). */
#include "sysmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmi_err.h"
#include "vmi_text.h"

#define SYSMAP_MAX_BYTES (256u << 20)
#define SYSMAP_NAME_MAX 512

struct sym {
	uint64_t addr;
	size_t order;	/* line number: the first of equal names wins */
	char *name;
};

struct vmi_sysmap {
	struct sym *by_name, *by_addr;
	size_t n;
	char *names;	/* every name, NUL-separated */
};

static int cmp_name(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* One line [p, end): "hex type name". 0 with the name's span, or -1. */
static int parse_line(const char *p, const char *end, uint64_t *addr,
		      const char **name, size_t *nlen)
{
	uint64_t a = 0;
	int digits = 0, h;

	while (p < end && (h = vmi_hexval(*p)) >= 0) {
		if (++digits > 16)
			return -1;
		a = a << 4 | (uint64_t)h;
		p++;
	}
	/* " T " */
	if (digits == 0 || end - p < 4 || p[0] != ' ' || p[2] != ' ' ||
	    !((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')))
		return -1;
	p += 3;
	if (end - p < 1 || end - p > SYSMAP_NAME_MAX)
		return -1;
	for (const char *q = p; q < end; q++)
		if (*q <= ' ' || *q > '~')
			return -1;
	*addr = a;
	*name = p;
	*nlen = (size_t)(end - p);
	return 0;
}

int vmi_sysmap_parse(const char *text, size_t len, struct vmi_sysmap **out,
		     char *err, size_t errlen)
{
	struct vmi_sysmap *s;
	size_t lines = 0, line = 0, n = 0;
	const char *p = text, *end = text + len;
	char *w;

	*out = NULL;
	if (memmem(text, len, "The real System.map is in", 25))
		return vmi_err(err, errlen, -EINVAL, "this System.map is "
			       "Debian's placeholder (the real one is in the "
			       "linux-image-*-dbg package); without it the "
			       "guest's own kallsyms are used");
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	lines++;
	s = calloc(1, sizeof(*s));
	if (!s)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	s->by_name = calloc(lines, sizeof(*s->by_name));
	s->by_addr = calloc(lines, sizeof(*s->by_addr));
	s->names = malloc(len + 1);
	if (!s->by_name || !s->by_addr || !s->names) {
		vmi_sysmap_free(s);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	w = s->names;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *name;
		size_t nlen;
		uint64_t addr;

		line++;
		if (eol > p) {
			if (parse_line(p, eol, &addr, &name, &nlen) < 0) {
				vmi_sysmap_free(s);
				return vmi_err(err, errlen, -EINVAL,
					       "System.map line %zu is not "
					       "\"ADDRESS TYPE NAME\"", line);
			}
			memcpy(w, name, nlen);
			w[nlen] = '\0';
			s->by_name[n] = (struct sym){ addr, n, w };
			w += nlen + 1;
			n++;
		}
		p = eol + 1;
	}
	if (n == 0) {
		vmi_sysmap_free(s);
		return vmi_err(err, errlen, -EINVAL, "System.map has no "
			       "symbols");
	}
	s->n = n;
	memcpy(s->by_addr, s->by_name, n * sizeof(*s->by_name));
	qsort(s->by_name, n, sizeof(*s->by_name), cmp_name);
	qsort(s->by_addr, n, sizeof(*s->by_addr), cmp_addr);
	*out = s;
	return 0;
}

int vmi_sysmap_open(const char *path, struct vmi_sysmap **out, char *err,
		    size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ret;

	*out = NULL;
	if (!f) {
		ret = -errno;
		return vmi_err(err, errlen, ret, "%s: %s", path,
			       strerror(-ret));
	}
	for (;;) {
		if (len == cap) {
			if (cap >= SYSMAP_MAX_BYTES) {
				fclose(f);
				free(buf);
				return vmi_err(err, errlen, -EFBIG, "%s: "
					       "over %u MiB", path,
					       SYSMAP_MAX_BYTES >> 20);
			}
			cap = cap ? cap * 2 : 1 << 20;
			char *nb = realloc(buf, cap);
			if (!nb) {
				fclose(f);
				free(buf);
				return vmi_err(err, errlen, -ENOMEM,
					       "out of memory");
			}
			buf = nb;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		if (r == 0)
			break;
		len += r;
	}
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	if (ret == 0)
		ret = vmi_sysmap_parse(buf ? buf : "", len, out, err, errlen);
	else
		vmi_err(err, errlen, ret, "%s: read error", path);
	free(buf);
	return ret;
}

void vmi_sysmap_free(struct vmi_sysmap *s)
{
	if (!s)
		return;
	free(s->by_name);
	free(s->by_addr);
	free(s->names);
	free(s);
}

size_t vmi_sysmap_count(const struct vmi_sysmap *s)
{
	return s->n;
}

int vmi_sysmap_lookup(const struct vmi_sysmap *s, const char *name,
		      uint64_t *addr)
{
	size_t lo = 0, hi = s->n;

	/* The first entry whose name is >= name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->by_name[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n || strcmp(s->by_name[lo].name, name) != 0)
		return -ENOENT;
	*addr = s->by_name[lo].addr;
	return 0;
}

const char *vmi_sysmap_symbolize(const struct vmi_sysmap *s, uint64_t addr,
				 uint64_t *off)
{
	size_t lo = 0, hi = s->n;

	/* The first entry above addr; the one before it is the answer. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->by_addr[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	uint64_t a = s->by_addr[lo - 1].addr;
	/* Ties: the first in file order among equal addresses. */
	while (lo > 1 && s->by_addr[lo - 2].addr == a)
		lo--;
	*off = addr - a;
	return s->by_addr[lo - 1].name;
}
