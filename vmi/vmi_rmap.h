/* A guest-physical map shared by the file and core backends: sorted,
 * non-overlapping segments, each a run of guest addresses stored at an
 * offset of some source (a file, a buffer), possibly followed by zeros. */
#ifndef VSB_VMI_RMAP_H
#define VSB_VMI_RMAP_H

#include <stddef.h>
#include <stdint.h>

#include "vmi_mem.h"

struct vmi_seg {
	uint64_t pa;   /* first guest-physical address */
	uint64_t len;  /* bytes of guest memory, > 0 */
	uint64_t off;  /* offset in the source of the first byte */
	uint64_t flen; /* bytes stored in the source (<= len); zeros after */
};

struct vmi_rmap {
	struct vmi_seg *seg;
	unsigned n;
};

/* Copies, sorts and checks the segments: non-empty, no address wrapping,
 * no overlap, flen <= len, off + flen not wrapping. 0 or -EINVAL/-ENOMEM
 * with a message naming the segment (by its index in the input). */
int vmi_rmap_init(struct vmi_rmap *map, const struct vmi_seg *seg,
		  unsigned n, char *err, size_t errlen);
/* The segment holding pa, or NULL. */
const struct vmi_seg *vmi_rmap_find(const struct vmi_rmap *map, uint64_t pa);
/* The first segment ending above pa, as a range: 0 or -ENOENT. */
int vmi_rmap_next(const struct vmi_rmap *map, uint64_t pa,
		  struct vmi_range *r);
void vmi_rmap_free(struct vmi_rmap *map);

#endif
