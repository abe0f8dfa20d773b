/* See vmcoreinfo.h. The text is copied once; keys and values point into
 * the copy, split at each line's first '='. In RAM the kernel keeps it in
 * a zeroed page of its own (crash_core.c, vmcoreinfo_data), at most a
 * page long, so a scan looks at page starts only. */
#include "vmcoreinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmi_err.h"
#include "vmi_text.h"

#define VCI_MAX_FIELD 255
#define VCI_MAX_LINES 4096
#define VCI_PAGE      4096u
#define VCI_CHUNK     (1u << 20)
#define VCI_MAGIC     "OSRELEASE="
#define VCI_MAGIC_LEN (sizeof(VCI_MAGIC) - 1)

struct vci_kv {
	const char *key, *val;
};

struct vmi_vmcoreinfo {
	char *text;
	struct vci_kv *kv;
	unsigned n;
};

/* Control bytes in a key or value: not text the kernel wrote. */
static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int vmi_vmcoreinfo_parse(const char *text, size_t len,
			 struct vmi_vmcoreinfo **out, char *err,
			 size_t errlen)
{
	struct vmi_vmcoreinfo *v;
	const char *nul = text ? memchr(text, '\0', len) : NULL;
	unsigned line = 0, cap = 1;
	bool release = false;
	char *p, *end;
	int r = 0;

	*out = NULL;
	if (!text)
		len = 0;
	if (nul)
		len = (size_t)(nul - text);
	/* Room for every line, up to the limit. */
	for (size_t i = 0; i < len && cap <= VCI_MAX_LINES; i++)
		cap += text[i] == '\n';
	if (cap > VCI_MAX_LINES)
		cap = VCI_MAX_LINES;
	v = calloc(1, sizeof(*v));
	if (v) {
		v->text = malloc(len + 1);
		v->kv = calloc(cap, sizeof(*v->kv));
	}
	if (!v || !v->text || !v->kv) {
		vmi_vmcoreinfo_free(v);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	if (len)
		memcpy(v->text, text, len);
	v->text[len] = '\0';
	end = v->text + len;
	for (p = v->text; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl ? nl : end, *eq;
		size_t klen, vlen;

		line++;
		if (eol == p) { /* an empty line: nothing to keep */
			p = eol + 1;
			continue;
		}
		eq = memchr(p, '=', (size_t)(eol - p));
		klen = eq ? (size_t)(eq - p) : 0;
		vlen = eq ? (size_t)(eol - eq - 1) : 0;
		if (!eq)
			r = vmi_err(err, errlen, -EINVAL, "VMCOREINFO line %u: "
				    "no '='", line);
		else if (!klen || klen > VCI_MAX_FIELD || vlen > VCI_MAX_FIELD)
			r = vmi_err(err, errlen, -EINVAL, "VMCOREINFO line %u: "
				    "key of %zu bytes, value of %zu (1..%d, "
				    "0..%d)", line, klen, vlen, VCI_MAX_FIELD,
				    VCI_MAX_FIELD);
		else if (!printable(p, (size_t)(eol - p)))
			r = vmi_err(err, errlen, -EINVAL, "VMCOREINFO line %u: "
				    "control characters", line);
		else if (v->n == cap)
			r = vmi_err(err, errlen, -EINVAL, "VMCOREINFO: more "
				    "than %d lines", VCI_MAX_LINES);
		if (r)
			break;
		*eq = '\0';
		*eol = '\0';
		v->kv[v->n].key = p;
		v->kv[v->n].val = eq + 1;
		v->n++;
		if (!strcmp(p, "OSRELEASE"))
			release = true;
		p = eol + 1;
	}
	if (!r && !release)
		r = vmi_err(err, errlen, -EINVAL, "VMCOREINFO: no OSRELEASE "
			    "line (%u lines)", v->n);
	if (r) {
		vmi_vmcoreinfo_free(v);
		return r;
	}
	*out = v;
	return 0;
}

void vmi_vmcoreinfo_free(struct vmi_vmcoreinfo *v)
{
	if (!v)
		return;
	free(v->text);
	free(v->kv);
	free(v);
}

const char *vmi_vmcoreinfo_get(const struct vmi_vmcoreinfo *v,
			       const char *key)
{
	for (unsigned i = 0; i < v->n; i++)
		if (!strcmp(v->kv[i].key, key))
			return v->kv[i].val;
	return NULL;
}

static int digit(char c, unsigned base)
{
	int d = vmi_hexval(c);

	return d >= 0 && (unsigned)d < base ? d : -1;
}

int vmi_vmcoreinfo_u64(const struct vmi_vmcoreinfo *v, const char *key,
		       uint64_t *val)
{
	const char *s = vmi_vmcoreinfo_get(v, key);
	unsigned base = 10;
	bool neg = false;
	uint64_t x = 0;

	if (!s)
		return -ENOENT;
	/* The kernel prints addresses and the KASLR offset with %lx. */
	if (!strncmp(key, "SYMBOL(", 7) || !strcmp(key, "KERNELOFFSET"))
		base = 16;
	else if (!strncmp(key, "NUMBER(", 7) && s[0] == '-') {
		neg = true;
		s++;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		int d = digit(*s, base);

		if (d < 0 || x > (UINT64_MAX - (unsigned)d) / base)
			return -EINVAL;
		x = x * base + (unsigned)d;
	}
	if (neg) {
		if (x > (uint64_t)INT64_MAX + 1)
			return -EINVAL;
		x = -x;
	}
	*val = x;
	return 0;
}

/* The page at p (avail bytes of it readable) as VMCOREINFO with PAGESIZE
 * and KERNELOFFSET, or NULL. */
static struct vmi_vmcoreinfo *try_page(const uint8_t *p, size_t avail)
{
	struct vmi_vmcoreinfo *v;

	if (vmi_vmcoreinfo_parse((const char *)p, avail, &v, NULL, 0))
		return NULL;
	if (vmi_vmcoreinfo_get(v, "PAGESIZE") &&
	    vmi_vmcoreinfo_get(v, "KERNELOFFSET"))
		return v;
	vmi_vmcoreinfo_free(v);
	return NULL;
}

int vmi_vmcoreinfo_scan(struct vmi_mem *m, struct vmi_vmcoreinfo **out,
			uint64_t *pa, char *err, size_t errlen)
{
	uint8_t *buf = malloc(VCI_CHUNK);
	struct vmi_range r;
	uint64_t at = 0;
	unsigned tried = 0;

	*out = NULL;
	if (!buf)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	while (vmi_mem_next_range(m, at, &r) == 0) {
		uint64_t end = r.pa + r.len;
		uint64_t pos = (r.pa > at ? r.pa : at) + VCI_PAGE - 1;

		pos &= ~(uint64_t)(VCI_PAGE - 1);
		if (end <= at || pos < at)
			break; /* wrapped: nothing sane beyond */
		for (; pos < end; pos += VCI_CHUNK) {
			size_t want = end - pos < VCI_CHUNK ? end - pos
							    : VCI_CHUNK;
			ssize_t n = vmi_read_pa(m, pos, buf, want);

			for (size_t o = 0; n > 0 && o + VCI_MAGIC_LEN <=
			     (size_t)n; o += VCI_PAGE) {
				size_t avail = (size_t)n - o;
				struct vmi_vmcoreinfo *v;

				if (memcmp(buf + o, VCI_MAGIC, VCI_MAGIC_LEN))
					continue;
				tried++;
				v = try_page(buf + o, avail < VCI_PAGE
							  ? avail : VCI_PAGE);
				if (v) {
					free(buf);
					*out = v;
					if (pa)
						*pa = pos + o;
					return 0;
				}
			}
			if (pos + VCI_CHUNK < pos)
				break;
		}
		at = end;
	}
	free(buf);
	return vmi_err(err, errlen, -ENOENT, "no VMCOREINFO page in guest "
		       "memory (%u pages starting \"%s\" refused)", tried,
		       VCI_MAGIC);
}
