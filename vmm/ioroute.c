/* Sorted-array routing table. Registration is rare (device set-up, operator
 * attach) and lookups happen on every exit, so adds pay for a memmove and
 * lookups are a binary search under a read lock. */
#include "ioroute.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void io_router_init(struct io_router *r)
{
	memset(r, 0, sizeof(*r));
	pthread_rwlock_init(&r->lock, NULL);
}

void io_router_destroy(struct io_router *r)
{
	for (int i = 0; i < IO_SPACE_COUNT; i++)
		free(r->space[i].ranges);
	pthread_rwlock_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

/* Index of the first range whose base is > addr. */
static size_t upper_bound(const struct io_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool valid_space(enum io_space sp)
{
	return (unsigned)sp < IO_SPACE_COUNT;
}

int io_router_add(struct io_router *r, enum io_space sp, uint64_t base,
		  uint64_t len, enum io_owner owner, io_handler_fn handler,
		  void *opaque, const char *name)
{
	if (!valid_space(sp) || len == 0 || !handler || base + len - 1 < base)
		return -EINVAL;
	/* The last port must fit in 16 bits; base + len itself would wrap to
	 * 0 for a range ending at 2^64 - 1 and let it through. */
	if (sp == IO_SPACE_PIO && base + (len - 1) > 0xFFFF)
		return -EINVAL;

	int ret = 0;
	pthread_rwlock_wrlock(&r->lock);
	struct io_table *t = &r->space[sp];
	size_t i = upper_bound(t, base);
	/* The predecessor must end before base; the successor must start
	 * after our last byte. */
	if (i > 0) {
		const struct io_range *p = &t->ranges[i - 1];
		if (p->base + (p->len - 1) >= base) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (i < t->count && t->ranges[i].base <= base + (len - 1)) {
		ret = -EEXIST;
		goto out;
	}
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct io_range *n = realloc(t->ranges, cap * sizeof(*n));
		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		t->ranges = n;
		t->cap = cap;
	}
	memmove(&t->ranges[i + 1], &t->ranges[i],
		(t->count - i) * sizeof(*t->ranges));
	t->ranges[i] = (struct io_range){
		.base = base, .len = len, .owner = owner,
		.handler = handler, .opaque = opaque, .name = name,
	};
	t->count++;
out:
	pthread_rwlock_unlock(&r->lock);
	return ret;
}

int io_router_remove(struct io_router *r, enum io_space sp, uint64_t base)
{
	if (!valid_space(sp))
		return -EINVAL;

	int ret = -ENOENT;
	pthread_rwlock_wrlock(&r->lock);
	struct io_table *t = &r->space[sp];
	size_t i = upper_bound(t, base);
	if (i > 0 && t->ranges[i - 1].base == base) {
		memmove(&t->ranges[i - 1], &t->ranges[i],
			(t->count - i) * sizeof(*t->ranges));
		t->count--;
		ret = 0;
	}
	pthread_rwlock_unlock(&r->lock);
	return ret;
}

/* Caller holds the lock. */
static const struct io_range *find(const struct io_table *t, uint64_t addr,
				   uint32_t len)
{
	size_t i = upper_bound(t, addr);
	if (i == 0 || len == 0)
		return NULL;
	const struct io_range *p = &t->ranges[i - 1];
	uint64_t off = addr - p->base;
	if (off >= p->len || len > p->len - off)
		return NULL;
	return p;
}

bool io_router_lookup(struct io_router *r, enum io_space sp, uint64_t addr,
		      uint32_t len, struct io_range *out)
{
	if (!valid_space(sp))
		return false;
	pthread_rwlock_rdlock(&r->lock);
	const struct io_range *p = find(&r->space[sp], addr, len);
	if (p)
		*out = *p;
	pthread_rwlock_unlock(&r->lock);
	return p != NULL;
}

bool io_router_dispatch(struct io_router *r, enum io_space sp, uint64_t addr,
			void *data, uint32_t len, bool is_write)
{
	struct io_range hit;

	if (!io_router_lookup(r, sp, addr, len, &hit)) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	/* Called without the lock so handlers may block (an operator-owned
	 * range waits for the operator's answer). */
	hit.handler(hit.opaque, addr - hit.base, data, len, is_write);
	return true;
}
