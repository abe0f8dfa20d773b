/* Split virtqueue, legacy layout; see virtqueue.h. x86 only: the legacy
 * interface uses the guest's byte order, little-endian like the host. */
#include "virtqueue.h"

#include <errno.h>
#include <string.h>

#include "../vmm/guest_mem.h"

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

void vq_init(struct virtqueue *vq, const struct guest_mem *mem)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

void vq_reset(struct virtqueue *vq)
{
	vq_init(vq, vq->mem);
}

void vq_set_pfn(struct virtqueue *vq, uint32_t pfn)
{
	vq->pfn = pfn;
	vq->ring = NULL;
	if (pfn)
		vq->ring = gmem_ptr(vq->mem, (uint64_t)pfn << VQ_PAGE_SHIFT,
				    VQ_RING_BYTES);
	vq->last_avail = 0;
	vq->used_idx = 0;
}

/* Guest ring fields: PFN * 4096 aligns the ring, so every field is
 * naturally aligned in host memory too (the RAM mapping is page aligned). */
static uint16_t *avail_field(const struct virtqueue *vq, unsigned i)
{
	return (uint16_t *)(vq->ring + VQ_AVAIL_OFF + 2 * i);
}

static uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

int vq_pending(struct virtqueue *vq)
{
	if (!vq->ring || vq->broken)
		return 0;
	/* Acquire: the entries and descriptors it covers are read after. */
	uint16_t idx = __atomic_load_n(avail_field(vq, 1), __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - vq->last_avail);

	if (n > VQ_NUM) {
		vq->broken = true;
		return -EPROTO;
	}
	return n;
}

static void load_desc(const struct virtqueue *vq, unsigned i, struct desc *d)
{
	const uint8_t *p = vq->ring + 16 * i;

	d->addr = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	d->len = __atomic_load_n((const uint32_t *)(p + 8), __ATOMIC_RELAXED);
	d->flags = load16((const uint16_t *)(p + 12));
	d->next = load16((const uint16_t *)(p + 14));
}

/* Follows the chain from c->head. VQ_NUM descriptors at most: a chain
 * that still says NEXT after that must revisit one (a loop). */
static void walk(const struct virtqueue *vq, struct vq_chain *c)
{
	unsigned i = c->head;

	c->n = 0;
	c->complete = false;
	c->faulty = false;
	while (c->n < VQ_NUM) {
		struct desc d;
		struct vq_seg *s = &c->seg[c->n++];

		load_desc(vq, i, &d);
		s->len = d.len;
		s->writable = d.flags & VQ_DESC_F_WRITE;
		s->host = NULL;
		/* INDIRECT is never offered: such a descriptor is an error,
		 * not a buffer to read or write. */
		if (d.len && !(d.flags & VQ_DESC_F_INDIRECT))
			s->host = gmem_ptr(vq->mem, d.addr, d.len);
		if ((d.len && !s->host) || (d.flags & VQ_DESC_F_INDIRECT))
			c->faulty = true;
		if (!(d.flags & VQ_DESC_F_NEXT)) {
			c->complete = true;
			return;
		}
		if (d.next >= VQ_NUM)
			return;
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t head = load16(avail_field(vq, 2 + vq->last_avail % VQ_NUM));

	if (head >= VQ_NUM) {
		vq->broken = true;
		return -EPROTO;
	}
	vq->last_avail++;
	c->head = head;
	walk(vq, c);
	return 0;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	uint8_t *used = vq->ring + VQ_USED_OFF;
	uint32_t *elem = (uint32_t *)(used + 4 + 8 * (vq->used_idx % VQ_NUM));

	__atomic_store_n(&elem[0], (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem[1], len, __ATOMIC_RELAXED);
	vq->used_idx++;
	__atomic_store_n((uint16_t *)(used + 2), vq->used_idx,
			 __ATOMIC_RELEASE);
}

bool vq_wants_interrupt(const struct virtqueue *vq)
{
	/* Full barrier: the used->idx store above must be visible before we
	 * read the flag, or a driver re-enabling interrupts meanwhile could
	 * miss both the interrupt and the new entry (virtio 1.0, 2.4.7). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(load16(avail_field(vq, 0)) & VQ_AVAIL_F_NO_INTERRUPT);
}
