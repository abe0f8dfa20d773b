/* See linux_btf.h. libbpf parses and checks the BTF; this file finds
 * members by name, through anonymous structs and unions. */
#include "linux_btf.h"

#include <bpf/btf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmi_err.h"

struct vmi_btf {
	struct btf *btf;
};

/* Deeper nesting than any kernel struct has; bounds the recursion on
 * crafted BTF. */
#define MAX_DEPTH 32

/* The fixed part of the header (struct btf_header in linux/btf.h). */
#define BTF_HDR_MIN 24

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Takes ownership of a parsed BTF. */
static int wrap(struct btf *btf, struct vmi_btf **out, char *err,
		size_t errlen)
{
	struct vmi_btf *b = calloc(1, sizeof(*b));

	if (!b) {
		btf__free(btf);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	b->btf = btf;
	*out = b;
	return 0;
}

int vmi_btf_open_file(const char *path, struct vmi_btf **out, char *err,
		      size_t errlen)
{
	struct btf *btf;

	*out = NULL;
	errno = 0;
	btf = btf__parse(path, NULL);
	if (!btf) {
		int e = errno ? errno : EINVAL;

		return vmi_err(err, errlen, -e,
			       "%s: no BTF (raw BTF or ELF with .BTF): %s",
			       path, strerror(e));
	}
	return wrap(btf, out, err, errlen);
}

int vmi_btf_open_buffer(const void *buf, size_t len, struct vmi_btf **out,
			char *err, size_t errlen)
{
	const unsigned char *p = buf;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
	struct btf *btf;

	*out = NULL;
	if (!buf || len < BTF_HDR_MIN)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: %zu bytes, shorter than its %d-byte header",
			       buf ? len : 0, BTF_HDR_MIN);
	if (len > UINT32_MAX)
		return vmi_err(err, errlen, -EFBIG, "BTF: %zu bytes, too big",
			       len);
	if ((p[0] | p[1] << 8) != VMI_BTF_MAGIC)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: bad magic 0x%02x%02x (want 0xeb9f, "
			       "little-endian)", p[1], p[0]);
	if (p[2] != 1)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: version %u, not 1", p[2]);
	hdr_len = get32(p + 4);
	type_off = get32(p + 8);
	type_len = get32(p + 12);
	str_off = get32(p + 16);
	str_len = get32(p + 20);
	if (hdr_len < BTF_HDR_MIN || hdr_len > len)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: header length %u not within [%d, %zu]",
			       hdr_len, BTF_HDR_MIN, len);
	/* libbpf reads the types as 4-byte structs where they lie: an
	 * unaligned section would be misaligned access (found by
	 * fuzz_vmi_btf under UBSan). Real BTF is aligned. */
	if ((hdr_len + (uint64_t)type_off) % 4)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: types at %u + %u not 4-byte aligned",
			       hdr_len, type_off);
	if ((uint64_t)hdr_len + type_off + type_len > len)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: types [%u, +%u) past the end (%zu bytes)",
			       type_off, type_len, len - hdr_len);
	if ((uint64_t)hdr_len + str_off + str_len > len)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: strings [%u, +%u) past the end (%zu bytes)",
			       str_off, str_len, len - hdr_len);
	errno = 0;
	btf = btf__new(buf, (uint32_t)len);
	if (!btf) {
		int e = errno ? errno : EINVAL;

		return vmi_err(err, errlen, -e, "BTF: refused by libbpf: %s",
			       strerror(e));
	}
	return wrap(btf, out, err, errlen);
}

void vmi_btf_close(struct vmi_btf *b)
{
	if (!b)
		return;
	btf__free(b->btf);
	free(b);
}

/* The struct, or failing that the union, called name. */
static const struct btf_type *find_composite(const struct btf *btf,
					     const char *name)
{
	__s32 id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);

	if (id <= 0)
		id = btf__find_by_name_kind(btf, name, BTF_KIND_UNION);
	if (id <= 0)
		return NULL;
	return btf__type_by_id(btf, (__u32)id);
}

/* The composite type behind id after typedefs and qualifiers, or NULL. */
static const struct btf_type *resolve_composite(const struct btf *btf,
						__u32 id)
{
	int r = btf__resolve_type(btf, id);
	const struct btf_type *t;

	if (r < 0)
		return NULL;
	t = btf__type_by_id(btf, (__u32)r);
	return t && btf_is_composite(t) ? t : NULL;
}

/* Looks for the member called name[0..nlen) in t and, recursively, in its
 * anonymous struct and union members. 1 and *bitoff, *type_id, *bitfield
 * when found, 0 when not, -ELOOP when nested too deep. */
static int find_member(const struct btf *btf, const struct btf_type *t,
		       const char *name, size_t nlen, int depth,
		       uint64_t *bitoff, __u32 *type_id, bool *bitfield)
{
	const struct btf_member *m = btf_members(t);
	__u16 n = btf_vlen(t);

	if (depth > MAX_DEPTH)
		return -ELOOP;
	for (__u16 i = 0; i < n; i++, m++) {
		const char *mname = btf__name_by_offset(btf, m->name_off);

		if (mname && mname[0]) {
			if (strlen(mname) != nlen || memcmp(mname, name, nlen))
				continue;
			*bitoff = btf_member_bit_offset(t, i);
			*type_id = m->type;
			*bitfield = btf_member_bitfield_size(t, i) != 0;
			return 1;
		}
		/* Anonymous: a struct or union to look inside. */
		const struct btf_type *sub = resolve_composite(btf, m->type);
		uint64_t inner;
		int r;

		if (!sub)
			continue;
		r = find_member(btf, sub, name, nlen, depth + 1, &inner,
				type_id, bitfield);
		if (r) {
			*bitoff = inner + btf_member_bit_offset(t, i);
			return r;
		}
	}
	return 0;
}

int vmi_btf_struct_size(const struct vmi_btf *b, const char *type,
			uint32_t *size, char *err, size_t errlen)
{
	const struct btf_type *t = find_composite(b->btf, type);

	if (!t)
		return vmi_err(err, errlen, -ENOENT,
			       "BTF: no struct or union %s", type);
	*size = t->size;
	return 0;
}

int vmi_btf_member_offset(const struct vmi_btf *b, const char *type,
			  const char *member, uint32_t *off, uint32_t *size,
			  char *err, size_t errlen)
{
	const struct btf_type *t = find_composite(b->btf, type);
	const char *p = member;
	uint64_t total = 0;
	uint32_t top_size;
	__u32 id = 0;
	__s64 msize;

	if (!t)
		return vmi_err(err, errlen, -ENOENT,
			       "BTF: no struct or union %s", type);
	top_size = t->size;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t nlen = dot ? (size_t)(dot - p) : strlen(p);
		uint64_t bitoff;
		bool bitfield;
		int r;

		r = find_member(b->btf, t, p, nlen, 0, &bitoff, &id,
				&bitfield);
		if (r < 0)
			return vmi_err(err, errlen, r,
				       "BTF: struct %s nested too deep", type);
		if (r == 0)
			return vmi_err(err, errlen, -ENOENT,
				       "BTF: struct %s has no member %.*s",
				       type, (int)(p + nlen - member), member);
		if (bitfield || bitoff % 8)
			return vmi_err(err, errlen, -EINVAL,
				       "BTF: %s.%.*s is a bitfield", type,
				       (int)(p + nlen - member), member);
		total += bitoff / 8;
		if (!dot)
			break;
		p = dot + 1;
		t = resolve_composite(b->btf, id);
		if (!t)
			return vmi_err(err, errlen, -EINVAL,
				       "BTF: %s.%.*s is not a struct or union",
				       type, (int)(dot - member), member);
	}
	msize = btf__resolve_size(b->btf, id);
	if (msize < 0)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: %s.%s has no size", type, member);
	if (total + (uint64_t)msize > top_size)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: %s.%s (%llu, %lld bytes) not within its "
			       "%u bytes", type, member,
			       (unsigned long long)total, (long long)msize,
			       top_size);
	*off = (uint32_t)total;
	if (size)
		*size = (uint32_t)msize;
	return 0;
}

/* The value of enumerator name in enum type, or -ENOENT. */
static int enum_value(const struct btf *btf, const char *type,
		      const char *name, int64_t *val)
{
	__s32 id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM);
	const struct btf_type *t;
	const struct btf_enum *e;

	if (id <= 0 || !(t = btf__type_by_id(btf, (__u32)id)))
		return -ENOENT;
	e = btf_enum(t);
	for (__u16 i = 0; i < btf_vlen(t); i++, e++) {
		const char *n = btf__name_by_offset(btf, e->name_off);

		if (n && !strcmp(n, name)) {
			*val = e->val;
			return 0;
		}
	}
	return -ENOENT;
}

/* 6.4+: module.mem[MOD_TEXT], an array of struct module_memory. */
static int module_mem_text(const struct vmi_btf *b,
			   struct vmi_linux_layout *l, char *err,
			   size_t errlen)
{
	const struct btf *btf = b->btf;
	const struct btf_type *t, *mod = find_composite(btf, "module");
	const struct btf_array *a;
	uint32_t mem_off, mem_size, base, size;
	uint64_t idx_off;
	int64_t text;
	__s64 elem;
	int r;

	r = vmi_btf_member_offset(b, "module", "mem", &mem_off, &mem_size,
				  err, errlen);
	if (r)
		return r;
	/* Find the member's type again to see the array. */
	t = NULL;
	for (__u16 i = 0; mod && i < btf_vlen(mod); i++) {
		const struct btf_member *m = btf_members(mod) + i;
		const char *n = btf__name_by_offset(btf, m->name_off);

		if (n && !strcmp(n, "mem")) {
			int id = btf__resolve_type(btf, m->type);

			t = id < 0 ? NULL : btf__type_by_id(btf, (__u32)id);
			break;
		}
	}
	if (!t || !btf_is_array(t))
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: module.mem is not a top-level array");
	a = btf_array(t);
	if (enum_value(btf, "mod_mem_type", "MOD_TEXT", &text))
		return vmi_err(err, errlen, -ENOENT,
			       "BTF: no MOD_TEXT in enum mod_mem_type");
	elem = btf__resolve_size(btf, a->type);
	if (elem <= 0 || text < 0 || (uint64_t)text >= a->nelems)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: module.mem[MOD_TEXT=%lld] out of its %u "
			       "elements", (long long)text, a->nelems);
	r = vmi_btf_member_offset(b, "module_memory", "base", &base,
				  &l->module.base_size, err, errlen);
	if (!r)
		r = vmi_btf_member_offset(b, "module_memory", "size", &size,
					  &l->module.mem_size_size, err,
					  errlen);
	if (r)
		return r;
	idx_off = (uint64_t)mem_off + (uint64_t)text * (uint64_t)elem;
	if (idx_off + base + l->module.base_size > (uint64_t)mem_off + mem_size ||
	    idx_off + size + l->module.mem_size_size >
		    (uint64_t)mem_off + mem_size)
		return vmi_err(err, errlen, -EINVAL,
			       "BTF: module_memory larger than module.mem's "
			       "elements");
	l->module.base = (uint32_t)(idx_off + base);
	l->module.mem_size = (uint32_t)(idx_off + size);
	l->module.kind = VMI_MODULE_MEM_TEXT;
	return 0;
}

/* One member into *dst (and its size into *dsize if non-NULL). */
#define MEMBER(type, name, dst, dsize)                                       \
	do {                                                                 \
		r = vmi_btf_member_offset(b, type, name, dst, dsize, err,    \
					  errlen);                           \
		if (r)                                                       \
			return r;                                            \
	} while (0)

static int module_layout(const struct vmi_btf *b, struct vmi_linux_layout *l,
			 char *err, size_t errlen)
{
	uint32_t dummy;
	int r;

	if (!find_composite(b->btf, "module"))
		return 0; /* CONFIG_MODULES=n: kind stays NONE */
	MEMBER("module", "list", &l->module.list, NULL);
	MEMBER("module", "name", &l->module.name, &l->module.name_size);
	MEMBER("module", "state", &l->module.state, &l->module.state_size);
	if (!vmi_btf_member_offset(b, "module", "core_layout", &dummy, NULL,
				   NULL, 0)) {
		MEMBER("module", "core_layout.base", &l->module.base,
		       &l->module.base_size);
		MEMBER("module", "core_layout.size", &l->module.mem_size,
		       &l->module.mem_size_size);
		l->module.kind = VMI_MODULE_CORE_LAYOUT;
		return 0;
	}
	if (!vmi_btf_member_offset(b, "module", "mem", &dummy, NULL, NULL, 0))
		return module_mem_text(b, l, err, errlen);
	return vmi_err(err, errlen, -ENOENT,
		       "BTF: struct module has neither core_layout nor mem");
}

int vmi_linux_layout_get(const struct vmi_btf *b,
			 struct vmi_linux_layout *l, char *err, size_t errlen)
{
	uint32_t dummy;
	int r;

	memset(l, 0, sizeof(*l));
	r = vmi_btf_struct_size(b, "task_struct", &l->task.size, err, errlen);
	if (r)
		return r;
	MEMBER("task_struct", "tasks", &l->task.tasks, NULL);
	MEMBER("task_struct", "pid", &l->task.pid, NULL);
	MEMBER("task_struct", "tgid", &l->task.tgid, NULL);
	MEMBER("task_struct", "comm", &l->task.comm, &l->task.comm_size);
	MEMBER("task_struct", "mm", &l->task.mm, NULL);
	MEMBER("task_struct", "active_mm", &l->task.active_mm, NULL);
	MEMBER("task_struct", "real_parent", &l->task.real_parent, NULL);
	MEMBER("task_struct", "cred", &l->task.cred, NULL);
	MEMBER("task_struct", "flags", &l->task.flags, NULL);
	/* 5.14 renamed state to __state (and made it unsigned int). */
	l->task.state_name = "__state";
	if (vmi_btf_member_offset(b, "task_struct", "__state", &dummy, NULL,
				  NULL, 0))
		l->task.state_name = "state";
	MEMBER("task_struct", l->task.state_name, &l->task.state,
	       &l->task.state_size);
	MEMBER("cred", "uid.val", &l->cred.uid, NULL);
	MEMBER("mm_struct", "pgd", &l->mm.pgd, &l->mm.pgd_size);
	MEMBER("list_head", "next", &l->list_head.next, NULL);
	MEMBER("list_head", "prev", &l->list_head.prev, NULL);
	return module_layout(b, l, err, errlen);
}
