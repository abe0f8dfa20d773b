/* One side's view of one ring of the boundary protocol (ghv_proto.h). The
 * peer is untrusted: its index is read once per call and checked, and a
 * slot is copied out word by word before anything looks at it, so a peer
 * rewriting shared memory concurrently cannot make a check and a use see
 * different bytes. Not thread safe: one producer thread (or a lock) and one
 * consumer thread per ring. */
#ifndef VSB_GHV_RING_H
#define VSB_GHV_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "ghv_proto.h"

struct ghv_ring {
	struct ghv_ring_shm *shm;
	uint32_t pos;   /* our private index: head if producer, tail if consumer */
	bool producer;
};

void ghv_ring_init(struct ghv_ring *r, struct ghv_ring_shm *shm,
		   bool producer);

/* Producer: copies m into the next slot and publishes it. Returns 0,
 * -EAGAIN when the ring is full, -EPROTO when the consumer's tail is
 * impossible (ahead of our head, or more than GHV_SLOTS behind). */
int ghv_ring_push(struct ghv_ring *r, const struct ghv_msg *m);

/* Consumer: copies the next message into *out and consumes it. Returns 1,
 * 0 when the ring is empty, -EPROTO when the producer's head is impossible. */
int ghv_ring_pop(struct ghv_ring *r, struct ghv_msg *out);

/* Messages waiting (consumer) or free slots (producer), or -EPROTO. */
int ghv_ring_pending(const struct ghv_ring *r);

#endif
