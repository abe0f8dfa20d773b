/* See kallsyms.h. The tables are found from the token table, the one part
 * with a fixed, recognisable shape: digits appear in symbol names, so
 * "0".."9" stay single-character tokens 0x30..0x39 and sit next to each
 * other in it; kallsyms_token_index then holds each token's offset. Going
 * back from there: markers (u32 per 256 symbols, 0 first, increasing),
 * names, num_syms, relative_base and offsets. 6.2 added
 * kallsyms_seqs_of_names (3 bytes a symbol) between markers and the token
 * table, and some 6.1 stable kernels (Debian's 6.1.192) have it too, so
 * both layouts are tried. The bytes come from the guest: every read is
 * bounds-checked, every search has a cap or a step budget. */
#include "kallsyms.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmi_err.h"

#define KS_MAX_SYMS   (1u << 22)
#define KS_MAX_MARKERS (KS_MAX_SYMS / 256)
/* Longest token string accepted (Debian 6.1: 19 bytes). */
#define KS_MAX_TOKEN  128
/* Longest name, type letter included, decoded or in tokens (6.1:
 * KSYM_NAME_LEN 512; each token stands for at least one character). */
#define KS_MAX_NAME   1024
/* All names together (Debian 6.1: about 4 MiB). */
#define KS_MAX_POOL   (64u << 20)
/* Steps (candidate positions, names walked) one token table may cost:
 * a valid table of KS_MAX_SYMS symbols needs about 6M. */
#define KS_BUDGET     (1l << 24)
/* Token tables that pass their own check, per parse or scan: each may
 * cost a budget (and, in a scan, a window read). */
#define KS_MAX_TABLES 16

/* What a scan reads around a token table: the other tables precede it
 * (about 3.5 MiB for Debian 6.1) and the index follows it. */
#define SCAN_BEFORE   (16u << 20)
#define SCAN_AFTER    (64u << 10)
#define SCAN_CHUNK    (1u << 20)
/* Enough either side of a hit to check its token table in place. */
#define SCAN_MARGIN   (32u << 10)

static const char digits[] = "0\0" "1\0" "2\0" "3\0" "4\0" "5\0" "6\0" "7\0"
			     "8\0" "9";
#define DIGITS_LEN sizeof(digits) /* 20, with the last NUL */

struct ks_sym {
	uint64_t addr;
	uint32_t name; /* in pool */
	char type;
};

struct vmi_kallsyms {
	size_t n;
	uint64_t relative_base;
	struct ks_sym *syms;
	char *pool;
	uint32_t *by_name; /* indices sorted by (name, index) */
	uint32_t *by_addr; /* indices sorted by (address, index) */
};

/* One candidate token table and what was found before it. */
struct ks_ctx {
	const uint8_t *b;
	size_t len;
	size_t tok, idx;	/* token_table, token_index */
	uint16_t toff[256];
	uint8_t tlen[256];
	long budget;
	/* Found by layout_plain or layout_seqs: */
	size_t offsets, rb, num, names, markers, seqs, names_end;
	uint32_t n, m;
	bool two_byte, has_seqs;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Length of the NUL-terminated string at off (at most KS_MAX_TOKEN), or -1
 * when it is longer or runs past len. */
static int token_len(const uint8_t *b, size_t len, size_t off)
{
	for (size_t i = 0; i <= KS_MAX_TOKEN && off + i < len; i++)
		if (!b[off + i])
			return (int)i;
	return -1;
}

/* Whether the "0".."9" at hit belong to a token table (as tokens
 * 0x30..0x39) whose kallsyms_token_index follows it; fills c->tok,
 * c->idx and the token offsets. The table's start is read from the index,
 * not walked back to, so empty tokens (small tables have them) and the
 * bytes before the table do not matter. */
static bool find_tokens(struct ks_ctx *c, size_t hit)
{
	const uint8_t *b = c->b;
	size_t end = hit;

	/* Tokens 0x30..0xff, forward from hit. */
	for (int t = 0x30; t < 256; t++) {
		int l = token_len(b, c->len, end);

		if (l < 0)
			return false;
		end += (size_t)l + 1;
	}
	/* The index is 8-byte aligned relative to the table, whose start
	 * it gives: one of the 8 positions after the table fits. */
	for (size_t p = end; p < end + 8 && p + 512 <= c->len; p++) {
		size_t s, at;
		uint16_t i30 = get16(b + p + 2 * 0x30);

		if (i30 > hit)
			continue;
		s = hit - i30;
		if ((p - s) % 8 || get16(b + p) != 0 ||
		    !all_zero(b + end, p - end))
			continue;
		at = s;
		for (int t = 0; t < 256; t++) {
			int l;

			if (get16(b + p + 2 * t) != at - s)
				break;
			l = token_len(b, end, at);
			if (l < 0)
				break;
			c->toff[t] = (uint16_t)(at - s);
			c->tlen[t] = (uint8_t)l;
			at += (size_t)l + 1;
			if (t == 255 && at == end) {
				c->tok = s;
				c->idx = p;
				return true;
			}
		}
	}
	return false;
}

/* Reads a name's length (in token codes) at *pos, not past lim, moving
 * *pos to its first code; *big notes a length byte >= 0x80. 0, or -1 when
 * malformed. */
static int name_len(const struct ks_ctx *c, bool two_byte, size_t *pos,
		    size_t lim, uint32_t *len, bool *big)
{
	uint8_t b0;

	if (*pos >= lim)
		return -1;
	b0 = c->b[(*pos)++];
	if (b0 & 0x80) {
		*big = true;
		if (two_byte) {
			uint8_t b1;

			if (*pos >= lim)
				return -1;
			b1 = c->b[(*pos)++];
			if (b1 & 0x80)
				return -1; /* three ULEB128 bytes: never */
			*len = (b0 & 0x7fu) | (uint32_t)b1 << 7;
			return *len && *len <= KS_MAX_NAME ? 0 : -1;
		}
	}
	*len = b0;
	return b0 ? 0 : -1; /* no symbol has an empty name */
}

/* Whether n names starting at ns end within the 8 bytes of zero padding
 * before the markers at c->markers, with symbol 256k at markers[k]. */
static bool names_fit(struct ks_ctx *c, size_t ns, uint32_t n, bool two_byte,
		      bool *big)
{
	size_t pos = ns, lim = c->markers;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t l;

		if (--c->budget < 0)
			return false;
		if (!(i & 0xff) &&
		    pos - ns != get32(c->b + c->markers + 4 * (i >> 8)))
			return false;
		if (name_len(c, two_byte, &pos, lim, &l, big) ||
		    l > lim - pos)
			return false;
		pos += l;
	}
	if (lim - pos >= 8 || !all_zero(c->b + pos, lim - pos))
		return false;
	c->names_end = pos;
	return true;
}

/* Looks for names and num_syms (n in [nmin, nmax]) before the c->m
 * markers at c->markers: num_syms is an 8-aligned u32 (then 4 bytes of
 * padding) right before names, and the names must walk to the markers.
 * The last marker says where the last group of names begins; each name
 * takes 2 to KS_MAX_NAME + 2 bytes. */
static bool find_names(struct ks_ctx *c, uint32_t nmin, uint32_t nmax)
{
	uint32_t last = get32(c->b + c->markers + 4 * (c->m - 1));
	size_t group = 256 * (size_t)(c->m - 1), top, bottom, min, max;

	min = last + 2 * (size_t)(nmin - group);
	if (min < 2 * (size_t)nmin)
		min = 2 * (size_t)nmin;
	max = last + (size_t)(nmax - group) * (KS_MAX_NAME + 2) + 7;
	/* num_syms and its padding come first. */
	if (c->markers < 16 || min > c->markers - 16)
		return false;
	top = c->markers - min;
	bottom = c->markers - 16 > max ? c->markers - max : 16;
	top -= (top - c->tok) % 8; /* 8-aligned with the table, down */
	/* bottom >= 16: ns - 8 never wraps. */
	for (size_t ns = top; ns >= bottom; ns -= 8) {
		uint32_t n = get32(c->b + ns - 8);
		bool big = false;

		if (--c->budget < 0)
			return false;
		if (n < nmin || n > nmax || get32(c->b + ns - 4))
			continue;
		/* 6.1 (two-byte lengths) first, then older kernels, whose
		 * single length byte could reach 0x80: both read alike up
		 * to the first such byte. */
		c->two_byte = names_fit(c, ns, n, true, &big);
		if (c->two_byte || (big && names_fit(c, ns, n, false, &big))) {
			c->names = ns;
			c->num = ns - 8;
			c->n = n;
			return true;
		}
	}
	return false;
}

/* Whether c->m u32s at c->markers look like markers: 0 first, strictly
 * increasing by at least 2 bytes a name. */
static bool markers_ok(struct ks_ctx *c)
{
	uint32_t prev = 0;

	if ((c->tok - c->markers) % 8 || get32(c->b + c->markers))
		return false;
	for (uint32_t k = 1; k < c->m; k++) {
		uint32_t v = get32(c->b + c->markers + 4 * k);

		if (--c->budget < 0 || v < (uint64_t)prev + 512)
			return false;
		prev = v;
	}
	return true;
}

/* Up to 6.1: markers end right before the token table (then 4 bytes of
 * zero padding when their count is odd). Walked back to marker 0. */
static bool layout_plain(struct ks_ctx *c)
{
	size_t end = c->tok;
	uint32_t m = 0, next = UINT32_MAX;

	if (end < 8)
		return false;
	if (get32(c->b + end - 4) == 0)
		end -= 4; /* padding: the count is odd */
	for (size_t p = end; p >= 4 && m < KS_MAX_MARKERS; p -= 4) {
		uint32_t v = get32(c->b + p - 4);

		if (v >= next)
			return false;
		m++;
		next = v;
		if (v == 0) {
			if ((end != c->tok) != (m & 1))
				return false;
			c->markers = p - 4;
			c->m = m;
			c->has_seqs = false;
			return markers_ok(c) &&
			       find_names(c, 256 * (m - 1) + 1, 256 * m);
		}
	}
	return false;
}

/* 6.2 (and some 6.1 stable kernels): kallsyms_seqs_of_names, 3 bytes a
 * symbol, between markers and token table. Its size gives the symbol
 * count within 2, so each 8-aligned start is tried with the 2 or 3 counts
 * it allows. */
static bool layout_seqs(struct ks_ctx *c)
{
	size_t max = (3 * (size_t)KS_MAX_SYMS + 7) & ~(size_t)7;

	for (size_t d = 8; d <= max && d <= c->tok; d += 8) {
		size_t e = c->tok - d;

		if (--c->budget < 0)
			return false;
		for (size_t n = (d - 5) / 3; n <= d / 3; n++) {
			size_t mend, m = (n + 255) / 256;

			/* n from ceil((d - 7) / 3): 3n within the last
			 * 8 bytes; the padding after it is zero. */
			if (n == 0 || 3 * n + 8 <= d ||
			    !all_zero(c->b + e + 3 * n, d - 3 * n))
				continue;
			mend = e;
			if (m & 1) {
				if (e < 4 || get32(c->b + e - 4))
					continue;
				mend = e - 4;
			}
			if (mend < 4 * m)
				continue;
			c->markers = mend - 4 * m;
			c->m = (uint32_t)m;
			if (!markers_ok(c) ||
			    !find_names(c, (uint32_t)n, (uint32_t)n))
				continue;
			c->seqs = e;
			c->has_seqs = true;
			return true;
		}
	}
	return false;
}

static int check_seqs(const struct ks_ctx *c, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < c->n; i++) {
		const uint8_t *p = c->b + c->seqs + 3 * (size_t)i;
		uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];

		if (v >= c->n)
			return vmi_err(err, errlen, -EINVAL, "kallsyms: "
				       "seqs_of_names[%u] = %u, beyond the %u "
				       "symbols", i, v, c->n);
	}
	return 0;
}

/* Decodes every name into k (two passes: sizes, then bytes). */
static int decode(const struct ks_ctx *c, struct vmi_kallsyms *k, char *err,
		  size_t errlen)
{
	size_t total = 0, pos;
	int32_t off;

	k->syms = calloc(c->n, sizeof(*k->syms));
	if (!k->syms)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	pos = c->names;
	for (uint32_t i = 0; i < c->n; i++) {
		size_t dl = 0;
		uint32_t l;
		bool big;

		/* Walked once already: cannot fail. */
		if (name_len(c, c->two_byte, &pos, c->names_end, &l, &big))
			return vmi_err(err, errlen, -EINVAL, "kallsyms: "
				       "name %u malformed", i);
		for (uint32_t j = 0; j < l; j++)
			dl += c->tlen[c->b[pos + j]];
		if (dl == 0 || dl > KS_MAX_NAME)
			return vmi_err(err, errlen, -EINVAL, "kallsyms: name "
				       "%u decodes to %zu bytes (1..%d)", i,
				       dl, KS_MAX_NAME);
		k->syms[i].name = (uint32_t)total;
		total += dl; /* the type letter's byte holds the NUL */
		if (total > KS_MAX_POOL)
			return vmi_err(err, errlen, -EINVAL, "kallsyms: names "
				       "decode to more than %u MiB",
				       KS_MAX_POOL >> 20);
		pos += l;
	}
	k->pool = malloc(total);
	if (!k->pool)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	pos = c->names;
	for (uint32_t i = 0; i < c->n; i++) {
		char *dst = k->pool + k->syms[i].name;
		bool first = true;
		uint32_t l;
		bool big;

		name_len(c, c->two_byte, &pos, c->names_end, &l, &big);
		for (uint32_t j = 0; j < l; j++) {
			uint8_t t = c->b[pos + j];
			const uint8_t *s = c->b + c->tok + c->toff[t];
			size_t sl = c->tlen[t];

			if (first && sl) {
				k->syms[i].type = (char)s[0];
				s++;
				sl--;
				first = false;
			}
			memcpy(dst, s, sl);
			dst += sl;
		}
		*dst = '\0';
		pos += l;
		memcpy(&off, c->b + c->offsets + 4 * (size_t)i, sizeof(off));
		/* Per-CPU symbols are absolute, the rest below the base. */
		k->syms[i].addr = off >= 0 ? (uint64_t)off
				  : k->relative_base - 1 - (uint64_t)(int64_t)off;
	}
	return 0;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
	const struct vmi_kallsyms *k = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int r = strcmp(k->pool + k->syms[i].name, k->pool + k->syms[j].name);

	return r ? r : (i > j) - (i < j);
}

static int cmp_addr(const void *a, const void *b, void *arg)
{
	const struct vmi_kallsyms *k = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	uint64_t x = k->syms[i].addr, y = k->syms[j].addr;

	if (x != y)
		return (x > y) - (x < y);
	return (i > j) - (i < j);
}

static int build(const struct ks_ctx *c, struct vmi_kallsyms **out,
		 char *err, size_t errlen)
{
	struct vmi_kallsyms *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	k->n = c->n;
	k->relative_base = get64(c->b + c->rb);
	r = decode(c, k, err, errlen);
	if (r == 0) {
		k->by_name = malloc(k->n * sizeof(uint32_t));
		k->by_addr = malloc(k->n * sizeof(uint32_t));
		if (!k->by_name || !k->by_addr)
			r = vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	if (r) {
		vmi_kallsyms_free(k);
		return r;
	}
	for (uint32_t i = 0; i < k->n; i++)
		k->by_name[i] = k->by_addr[i] = i;
	qsort_r(k->by_name, k->n, sizeof(uint32_t), cmp_name, k);
	qsort_r(k->by_addr, k->n, sizeof(uint32_t), cmp_addr, k);
	*out = k;
	return 0;
}

/* The tables around the "0".."9" at hit. -ENOENT: no token table there;
 * -EINVAL: a token table, but the rest does not fit. */
static int parse_at(const uint8_t *b, size_t len, size_t hit,
		    struct vmi_kallsyms **out, struct vmi_kallsyms_where *w,
		    char *err, size_t errlen)
{
	struct ks_ctx *c = calloc(1, sizeof(*c));
	size_t need;
	int r;

	if (!c)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	c->b = b;
	c->len = len;
	c->budget = KS_BUDGET;
	if (!find_tokens(c, hit)) {
		free(c);
		return -ENOENT;
	}
	if (!layout_plain(c) && !layout_seqs(c)) {
		r = vmi_err(err, errlen, -EINVAL, "kallsyms: token table at "
			    "0x%zx, but no markers, names and num_syms before "
			    "it%s", c->tok,
			    c->budget < 0 ? " (search budget spent)" : "");
		goto out;
	}
	/* Before num_syms: relative_base (8 bytes), and before that the
	 * offsets (4 bytes a symbol, padded to 8). */
	c->rb = c->num - 8;
	need = ((size_t)c->n * 4 + 7) & ~(size_t)7;
	if (c->rb < need) {
		r = vmi_err(err, errlen, -EINVAL, "kallsyms: %u offsets would "
			    "start 0x%zx bytes before the data", c->n,
			    need - c->rb);
		goto out;
	}
	c->offsets = c->rb - need;
	if (c->has_seqs) {
		r = check_seqs(c, err, errlen);
		if (r)
			goto out;
	}
	r = build(c, out, err, errlen);
	if (r == 0 && w) {
		w->offsets = c->offsets;
		w->relative_base = c->rb;
		w->num_syms = c->num;
		w->names = c->names;
		w->markers = c->markers;
		w->token_table = c->tok;
		w->token_index = c->idx;
	}
out:
	free(c);
	return r;
}

int vmi_kallsyms_parse(const void *buf, size_t len,
		       struct vmi_kallsyms **out,
		       struct vmi_kallsyms_where *where, char *err,
		       size_t errlen)
{
	const uint8_t *b = buf;
	unsigned tables = 0;
	int first_err = 0;

	*out = NULL;
	if (!b)
		len = 0;
	for (size_t at = 0; len - at >= DIGITS_LEN;) {
		const uint8_t *h = memmem(b + at, len - at, digits, DIGITS_LEN);
		int r;

		if (!h)
			break;
		at = (size_t)(h - b) + 1;
		/* The first refusal's message is the one kept. */
		r = parse_at(b, len, at - 1, out, where,
			     first_err ? NULL : err, errlen);
		if (r == 0 || r == -ENOMEM)
			return r;
		if (r == -EINVAL) {
			first_err = r;
			if (++tables >= KS_MAX_TABLES)
				break;
		}
	}
	if (first_err)
		return first_err;
	return vmi_err(err, errlen, -ENOENT, "kallsyms: no token table in "
		       "%zu bytes", len);
}

/* The first run of contiguous RAM ending above pa: [*start, *end). */
static int next_run(struct vmi_mem *m, uint64_t pa, uint64_t *start,
		    uint64_t *end)
{
	struct vmi_range r;
	int ret = vmi_mem_next_range(m, pa, &r);

	if (ret)
		return ret;
	*start = r.pa > pa ? r.pa : pa;
	*end = r.pa + r.len;
	/* Adjacent ranges are one run: a table may straddle them. */
	while (vmi_mem_next_range(m, *end, &r) == 0 && r.pa == *end &&
	       r.pa + r.len > *end)
		*end = r.pa + r.len;
	return 0;
}

/* Reads [pa, pa + len) into a new buffer; *got may be short. */
static uint8_t *read_window(struct vmi_mem *m, uint64_t pa, size_t len,
			    size_t *got)
{
	uint8_t *b = malloc(len ? len : 1);
	ssize_t n;

	if (!b)
		return NULL;
	n = vmi_read_pa(m, pa, b, len);
	*got = n > 0 ? (size_t)n : 0;
	return b;
}

static void where_to_pa(struct vmi_kallsyms_where *w, uint64_t base)
{
	w->offsets += base;
	w->relative_base += base;
	w->num_syms += base;
	w->names += base;
	w->markers += base;
	w->token_table += base;
	w->token_index += base;
}

/* A hit at hit_pa whose token table checked out in the chunk: reads the
 * window around it and parses. */
static int scan_window(struct vmi_mem *m, uint64_t rs, uint64_t re,
		       uint64_t hit_pa, struct vmi_kallsyms **out,
		       struct vmi_kallsyms_where *w, char *err, size_t errlen)
{
	uint64_t ws = hit_pa - rs > SCAN_BEFORE ? hit_pa - SCAN_BEFORE : rs;
	uint64_t we = re - hit_pa > SCAN_AFTER ? hit_pa + SCAN_AFTER : re;
	size_t got;
	uint8_t *b = read_window(m, ws, we - ws, &got);
	int r;

	if (!b)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	r = parse_at(b, got, hit_pa - ws, out, w, err, errlen);
	free(b);
	if (r == 0 && w)
		where_to_pa(w, ws);
	return r;
}

int vmi_kallsyms_scan(struct vmi_mem *m, struct vmi_kallsyms **out,
		      struct vmi_kallsyms_where *where, char *err,
		      size_t errlen)
{
	uint8_t *buf = malloc(SCAN_CHUNK + 2 * SCAN_MARGIN);
	struct ks_ctx *c = calloc(1, sizeof(*c));
	uint64_t rs, re, pa = 0, bytes = 0;
	unsigned tables = 0;
	int first_err = 0, r = -ENOENT;

	*out = NULL;
	if (!buf || !c) {
		free(buf);
		free(c);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	while (r == -ENOENT && tables < KS_MAX_TABLES &&
	       next_run(m, pa, &rs, &re) == 0) {
		for (uint64_t pos = rs; pos < re && r == -ENOENT &&
		     tables < KS_MAX_TABLES; pos += SCAN_CHUNK) {
			uint64_t bs = pos - rs > SCAN_MARGIN ? pos - SCAN_MARGIN
							     : rs;
			uint64_t be = re - pos > SCAN_CHUNK + SCAN_MARGIN
					      ? pos + SCAN_CHUNK + SCAN_MARGIN
					      : re;
			ssize_t n = vmi_read_pa(m, bs, buf, be - bs);
			size_t at = pos - bs, lim;

			if (n <= 0 || (size_t)n <= at)
				continue;
			bytes += (size_t)n - at;
			lim = at + SCAN_CHUNK;
			/* Hits start in [pos, pos + chunk); their token
			 * tables are checked in place. */
			while (at < lim && (size_t)n - at >= DIGITS_LEN) {
				const uint8_t *h = memmem(buf + at,
							  (size_t)n - at,
							  digits, DIGITS_LEN);
				size_t hit;

				if (!h || (hit = (size_t)(h - buf)) >= lim)
					break;
				at = hit + 1;
				c->b = buf;
				c->len = (size_t)n;
				if (!find_tokens(c, hit))
					continue;
				r = scan_window(m, rs, re, bs + hit, out, where,
						first_err ? NULL : err, errlen);
				if (r == -EINVAL) {
					first_err = r;
					r = -ENOENT;
					if (++tables >= KS_MAX_TABLES)
						break;
				}
				if (r != -ENOENT)
					break;
			}
		}
		if (re <= rs)
			break;
		pa = re;
	}
	free(buf);
	free(c);
	if (r != -ENOENT)
		return r;
	if (first_err)
		return first_err;
	return vmi_err(err, errlen, -ENOENT, "kallsyms: no token table in "
		       "%llu bytes of guest memory", (unsigned long long)bytes);
}

void vmi_kallsyms_free(struct vmi_kallsyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->pool);
	free(k->by_name);
	free(k->by_addr);
	free(k);
}

size_t vmi_kallsyms_count(const struct vmi_kallsyms *k)
{
	return k->n;
}

uint64_t vmi_kallsyms_relative_base(const struct vmi_kallsyms *k)
{
	return k->relative_base;
}

int vmi_kallsyms_get(const struct vmi_kallsyms *k, size_t i,
		     const char **name, uint64_t *addr, char *type)
{
	if (i >= k->n)
		return -ENOENT;
	if (name)
		*name = k->pool + k->syms[i].name;
	if (addr)
		*addr = k->syms[i].addr;
	if (type)
		*type = k->syms[i].type;
	return 0;
}

int vmi_kallsyms_lookup(const struct vmi_kallsyms *k, const char *name,
			uint64_t *addr, char *type)
{
	size_t lo = 0, hi = k->n;

	/* The first index whose name is >= name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(k->pool + k->syms[k->by_name[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == k->n || strcmp(k->pool + k->syms[k->by_name[lo]].name, name))
		return -ENOENT;
	if (addr)
		*addr = k->syms[k->by_name[lo]].addr;
	if (type)
		*type = k->syms[k->by_name[lo]].type;
	return 0;
}

/* The first position in by_addr whose address is > addr (upper) or
 * >= addr (!upper). */
static size_t addr_bound(const struct vmi_kallsyms *k, uint64_t addr,
			 bool upper)
{
	size_t lo = 0, hi = k->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t a = k->syms[k->by_addr[mid]].addr;

		if (a < addr || (upper && a == addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const char *vmi_kallsyms_symbolize(const struct vmi_kallsyms *k,
				   uint64_t addr, uint64_t *off)
{
	size_t p = addr_bound(k, addr, true);
	const struct ks_sym *s;

	if (p == 0)
		return NULL;
	/* The first of the symbols at that address, in table order. */
	s = &k->syms[k->by_addr[addr_bound(k, k->syms[k->by_addr[p - 1]].addr,
					   false)]];
	if (off)
		*off = addr - s->addr;
	return k->pool + s->name;
}
