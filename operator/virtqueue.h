/* One split virtqueue in the legacy virtio-pci layout, seen from the device:
 * the ring lives in guest RAM at PFN * 4096 (descriptor table, avail ring
 * right after it, used ring at the next 4096-byte boundary).
 *
 * The guest is untrusted and may rewrite its rings while we read them:
 * every index and descriptor is loaded once, word by word with atomic loads
 * (so the compiler cannot re-read guest memory in place of our copy), and
 * checked before use; every guest address goes through gmem_ptr. Not thread
 * safe: the owner serializes calls. */
#ifndef VSB_VIRTQUEUE_H
#define VSB_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;

#define VQ_NUM 256          /* queue size: fixed, the legacy interface has no way to change it */
#define VQ_ALIGN 4096       /* legacy used ring alignment and PFN unit */
#define VQ_PAGE_SHIFT 12

#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1

/* Ring layout: desc[VQ_NUM] (16 bytes each); avail flags, idx, ring[VQ_NUM],
 * used_event; used flags, idx, ring[VQ_NUM] (8 bytes each), avail_event. */
#define VQ_AVAIL_OFF (16u * VQ_NUM)
#define VQ_USED_OFF ((VQ_AVAIL_OFF + 6u + 2u * VQ_NUM + VQ_ALIGN - 1) & ~(VQ_ALIGN - 1u))
#define VQ_RING_BYTES (VQ_USED_OFF + 6u + 8u * VQ_NUM)

/* One descriptor of a chain, resolved. host is NULL when the buffer is
 * empty, lies (partly) outside RAM, or is an INDIRECT table. */
struct vq_seg {
	uint8_t *host;
	uint32_t len;
	bool writable;
};

struct vq_chain {
	uint16_t head;
	unsigned n;    /* segments in seg[] */
	bool complete; /* ended with a descriptor without NEXT */
	bool faulty;   /* a non-empty segment outside RAM, or an INDIRECT one */
	struct vq_seg seg[VQ_NUM];
};

struct virtqueue {
	const struct guest_mem *mem;
	uint32_t pfn;        /* as the guest wrote it */
	uint8_t *ring;       /* host address of the whole ring; NULL: none or not in RAM */
	uint16_t last_avail; /* next avail ring entry we take */
	uint16_t used_idx;   /* our used->idx, never read back from the guest */
	bool broken;         /* the guest broke the ring; only a reset clears it */
};

void vq_init(struct virtqueue *vq, const struct guest_mem *mem);
/* Back to the state after a device reset: no ring, indices 0, not broken. */
void vq_reset(struct virtqueue *vq);
/* The guest wrote QUEUE_PFN: 0 removes the ring. A ring not wholly inside
 * one RAM region is refused (vq->ring stays NULL: nothing is processed).
 * Indices restart at 0: a new ring starts empty. */
void vq_set_pfn(struct virtqueue *vq, uint32_t pfn);

/* How many avail entries wait (avail->idx is read once, here). Returns 0
 * when there is no ring or it is broken; an idx more than VQ_NUM ahead of
 * ours is impossible for a working driver: the queue is marked broken and
 * -EPROTO returned. */
int vq_pending(struct virtqueue *vq);

/* Takes the next avail entry (call at most vq_pending() times) and
 * resolves its chain into *c: at most VQ_NUM descriptors, so a loop ends
 * with c->complete false. A head index out of range breaks the queue:
 * -EPROTO, nothing to complete. Returns 0 otherwise. */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);

/* Returns chain head to the guest with len bytes written, and publishes
 * used->idx (release: the guest sees the data before the index). */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* After vq_push: does the guest want an interrupt (no NO_INTERRUPT flag)? */
bool vq_wants_interrupt(const struct virtqueue *vq);

#endif
