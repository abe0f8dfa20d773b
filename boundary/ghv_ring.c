/* Ring operations of the boundary protocol; see ghv_ring.h. */
#include "ghv_ring.h"

#include <errno.h>
#include <string.h>

void ghv_ring_init(struct ghv_ring *r, struct ghv_ring_shm *shm,
		   bool producer)
{
	r->shm = shm;
	r->producer = producer;
	/* Both sides start at 0; vsbd zeroes the region before handing it
	 * over, so there is nothing to read back from the peer. */
	r->pos = 0;
}

/* The peer's index, read once. */
static uint32_t peer_index(const struct ghv_ring *r)
{
	const uint32_t *p = r->producer ? &r->shm->idx.tail : &r->shm->idx.head;
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void publish(struct ghv_ring *r)
{
	uint32_t *p = r->producer ? &r->shm->idx.head : &r->shm->idx.tail;
	__atomic_store_n(p, r->pos, __ATOMIC_RELEASE);
}

/* Used slots as the producer sees them: head (ours) - tail (peer's). */
static int used_slots(const struct ghv_ring *r)
{
	uint32_t peer = peer_index(r);
	uint32_t used = r->producer ? r->pos - peer : peer - r->pos;

	return used > GHV_SLOTS ? -EPROTO : (int)used;
}

int ghv_ring_pending(const struct ghv_ring *r)
{
	int used = used_slots(r);

	if (used < 0)
		return used;
	return r->producer ? GHV_SLOTS - used : used;
}

int ghv_ring_push(struct ghv_ring *r, const struct ghv_msg *m)
{
	int used = used_slots(r);

	if (used < 0)
		return used;
	if (used == GHV_SLOTS)
		return -EAGAIN;
	uint64_t words[GHV_SLOT_SIZE / 8];
	memcpy(words, m, sizeof(words));
	uint64_t *slot = (uint64_t *)r->shm->slot[r->pos % GHV_SLOTS];
	for (unsigned i = 0; i < GHV_SLOT_SIZE / 8; i++)
		__atomic_store_n(&slot[i], words[i], __ATOMIC_RELAXED);
	r->pos++;
	publish(r);
	return 0;
}

int ghv_ring_pop(struct ghv_ring *r, struct ghv_msg *out)
{
	int used = used_slots(r);

	if (used <= 0)
		return used;
	/* Atomic word loads: the compiler may not re-read the slot later in
	 * place of this copy, whatever the peer writes meanwhile. */
	uint64_t words[GHV_SLOT_SIZE / 8];
	const uint64_t *slot = (const uint64_t *)r->shm->slot[r->pos % GHV_SLOTS];
	for (unsigned i = 0; i < GHV_SLOT_SIZE / 8; i++)
		words[i] = __atomic_load_n(&slot[i], __ATOMIC_RELAXED);
	memcpy(out, words, sizeof(words));
	r->pos++;
	publish(r);
	return 1;
}
