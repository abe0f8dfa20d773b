/* See vmi_rmap.h. Lookups are binary searches: a core may hold many
 * PT_LOADs (one per RAM block and more with paging dumps). */
#include "vmi_rmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vmi_err.h"

struct tagged {
	struct vmi_seg s;
	unsigned idx;
};

static int by_pa(const void *a, const void *b)
{
	const struct tagged *x = a, *y = b;

	if (x->s.pa != y->s.pa)
		return x->s.pa < y->s.pa ? -1 : 1;
	return 0;
}

int vmi_rmap_init(struct vmi_rmap *map, const struct vmi_seg *seg,
		  unsigned n, char *err, size_t errlen)
{
	struct tagged *t;
	int ret = 0;

	map->seg = NULL;
	map->n = 0;
	if (n == 0)
		return vmi_err(err, errlen, -EINVAL, "no memory regions");
	t = calloc(n, sizeof(*t));
	if (!t)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		const struct vmi_seg *s = &seg[i];

		/* The end must be representable: pa + len <= 2^64 - 1. */
		if (s->len == 0 || s->len > UINT64_MAX - s->pa) {
			ret = vmi_err(err, errlen, -EINVAL,
				      "region %u: guest range 0x%" PRIx64
				      "+0x%" PRIx64 " is empty or wraps",
				      i, s->pa, s->len);
			goto out;
		}
		if (s->flen > s->len || s->flen > UINT64_MAX - s->off) {
			ret = vmi_err(err, errlen, -EINVAL,
				      "region %u: 0x%" PRIx64 " stored bytes "
				      "at offset 0x%" PRIx64 " for 0x%" PRIx64
				      " bytes of memory", i, s->flen, s->off,
				      s->len);
			goto out;
		}
		t[i].s = *s;
		t[i].idx = i;
	}
	qsort(t, n, sizeof(*t), by_pa);
	for (unsigned i = 1; i < n; i++) {
		const struct vmi_seg *a = &t[i - 1].s, *b = &t[i].s;

		if (b->pa < a->pa + a->len) {
			ret = vmi_err(err, errlen, -EINVAL,
				      "regions %u and %u overlap at guest "
				      "address 0x%" PRIx64, t[i - 1].idx,
				      t[i].idx, b->pa);
			goto out;
		}
	}
	map->seg = malloc(n * sizeof(*map->seg));
	if (!map->seg) {
		ret = vmi_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		map->seg[i] = t[i].s;
	map->n = n;
out:
	free(t);
	return ret;
}

/* Index of the first segment ending above pa (n if none). */
static unsigned first_above(const struct vmi_rmap *map, uint64_t pa)
{
	unsigned lo = 0, hi = map->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct vmi_seg *s = &map->seg[mid];

		if (s->pa + s->len - 1 < pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct vmi_seg *vmi_rmap_find(const struct vmi_rmap *map, uint64_t pa)
{
	unsigned i = first_above(map, pa);

	if (i < map->n && map->seg[i].pa <= pa)
		return &map->seg[i];
	return NULL;
}

int vmi_rmap_next(const struct vmi_rmap *map, uint64_t pa,
		  struct vmi_range *r)
{
	unsigned i = first_above(map, pa);

	if (i >= map->n)
		return -ENOENT;
	r->pa = map->seg[i].pa;
	r->len = map->seg[i].len;
	return 0;
}

void vmi_rmap_free(struct vmi_rmap *map)
{
	free(map->seg);
	map->seg = NULL;
	map->n = 0;
}
