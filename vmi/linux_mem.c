/* The Linux layer's memory access: kernel virtual addresses through the
 * kernel's own tables, a process's addresses through its mm's, and the
 * checked list walk every guest list goes through. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "linux_priv.h"
#include "vmi_err.h"

int linux_kread(struct vmi_linux *l, uint64_t va, void *buf, size_t len,
		const char *what, char *err, size_t errlen)
{
	ssize_t n = vmi_read_va(&l->pt, l->info.kernel_root, va, buf, len);

	if (n == (ssize_t)len)
		return 0;
	return vmi_err(err, errlen, -EFAULT, "%s: kernel address 0x%" PRIx64
		       " is not in guest RAM or not mapped", what,
		       n > 0 ? va + (uint64_t)n : va);
}

int linux_kread_u64(struct vmi_linux *l, uint64_t va, uint64_t *v,
		    const char *what, char *err, size_t errlen)
{
	uint8_t b[8];
	int r = linux_kread(l, va, b, sizeof(b), what, err, errlen);

	if (r == 0)
		*v = linux_field(b, 0, 8);
	return r;
}

uint64_t linux_field(const uint8_t *buf, uint32_t off, uint32_t size)
{
	uint64_t v = 0;

	for (uint32_t i = size; i-- > 0;)
		v = v << 8 | buf[off + i];
	return v;
}

static uint64_t mix(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return a;
}

int linux_addrset_add(struct linux_addrset *s, uint64_t a)
{
	if (a == 0)
		return 0; /* never a list node: the walk checks it anyway */
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slot[i])
				continue;
			size_t j = mix(s->slot[i]) & (cap - 1);
			while (slot[j])
				j = (j + 1) & (cap - 1);
			slot[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = slot;
		s->cap = cap;
	}
	size_t j = mix(a) & (s->cap - 1);
	while (s->slot[j]) {
		if (s->slot[j] == a)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slot[j] = a;
	s->n++;
	return 1;
}

void linux_addrset_free(struct linux_addrset *s)
{
	free(s->slot);
	s->slot = NULL;
	s->cap = s->n = 0;
}

int linux_list_walk(struct vmi_linux *l, uint64_t head, size_t max,
		    const char *what,
		    int (*fn)(struct vmi_linux *l, uint64_t node, void *arg),
		    void *arg, char *err, size_t errlen)
{
	const struct vmi_linux_layout *ly = &l->layout;
	struct linux_addrset seen = { 0 };
	uint64_t prev = head, node, back;
	size_t count = 0;
	int r;

	r = linux_kread_u64(l, head + ly->list_head.next, &node, what, err,
			    errlen);
	while (r == 0 && node != head) {
		if (++count > max) {
			r = vmi_err(err, errlen, -ELOOP, "%s: more than %zu "
				    "entries: the list is corrupt", what,
				    max);
			break;
		}
		r = linux_addrset_add(&seen, node);
		if (r == 0) {
			r = vmi_err(err, errlen, -ELOOP, "%s: entry 0x%" PRIx64
				    " comes twice: the list loops without "
				    "returning to its head", what, node);
			break;
		}
		if (r < 0) {
			vmi_err(err, errlen, r, "out of memory");
			break;
		}
		r = linux_kread_u64(l, node + ly->list_head.prev, &back, what,
				    err, errlen);
		if (r < 0)
			break;
		if (back != prev) {
			r = vmi_err(err, errlen, -EUCLEAN, "%s: entry 0x%"
				    PRIx64 " says its previous entry is 0x%"
				    PRIx64 ", not 0x%" PRIx64 ": the list "
				    "is corrupt or changing", what, node,
				    back, prev);
			break;
		}
		r = fn(l, node, arg);
		if (r != 0)
			break;
		prev = node;
		r = linux_kread_u64(l, node + ly->list_head.next, &node, what,
				    err, errlen);
	}
	linux_addrset_free(&seen);
	return r;
}

int vmi_linux_kva_to_pa(struct vmi_linux *l, uint64_t va, uint64_t *pa,
			char *err, size_t errlen)
{
	struct vmi_x86_fault f;
	char why[96];
	int r = vmi_x86_translate(&l->pt, l->info.kernel_root, va, pa, &f);

	if (r < 0)
		return vmi_err(err, errlen, r, "kernel address 0x%" PRIx64
			       ": %s", va,
			       vmi_x86_fault_str(&f, why, sizeof(why)));
	return 0;
}

/* The page-table root of pid (< 0: the kernel's), for a walk of a live
 * guest's current page tables, not ones cached earlier. */
static int fresh_root(struct vmi_linux *l, int32_t pid, uint64_t *root,
		      char *err, size_t errlen)
{
	if (vmi_mem_is_live(l->mem))
		vmi_x86_invalidate(&l->pt);
	if (pid < 0) {
		*root = l->info.kernel_root;
		return 0;
	}
	return vmi_linux_pid_root(l, pid, root, err, errlen);
}

ssize_t vmi_linux_read_va(struct vmi_linux *l, int32_t pid, uint64_t va,
			  void *buf, size_t len, char *err, size_t errlen)
{
	uint64_t root;
	int r = fresh_root(l, pid, &root, err, errlen);

	if (r < 0)
		return r;
	ssize_t n = vmi_read_va(&l->pt, root, va, buf, len);
	if (n < 0)
		return vmi_err(err, errlen, (int)n, "address 0x%" PRIx64
			       " is not mapped%s", va,
			       pid < 0 ? " in the kernel" : " in that process");
	return n;
}

ssize_t vmi_linux_write_va(struct vmi_linux *l, int32_t pid, uint64_t va,
			   const void *buf, size_t len, char *err,
			   size_t errlen)
{
	const uint8_t *p = buf;
	uint64_t root, pa;
	size_t done = 0;
	int r = fresh_root(l, pid, &root, err, errlen);

	if (r < 0)
		return r;
	while (done < len) {
		size_t chunk = 4096 - ((va + done) & 4095);
		if (chunk > len - done)
			chunk = len - done;
		r = vmi_x86_translate(&l->pt, root, va + done, &pa, NULL);
		if (r < 0)
			break;
		ssize_t n = vmi_write_pa(l->mem, pa, p + done, chunk);
		if (n < 0) {
			r = (int)n;
			break;
		}
		done += (size_t)n;
		if ((size_t)n < chunk)
			break;
	}
	/* Our own write may have changed page tables we cached. */
	vmi_x86_invalidate(&l->pt);
	if (done == 0 && r < 0)
		return vmi_err(err, errlen, r, r == -EROFS ? "guest memory "
			       "was opened read-only" : "address 0x%" PRIx64
			       " is not mapped", va);
	return (ssize_t)done;
}
