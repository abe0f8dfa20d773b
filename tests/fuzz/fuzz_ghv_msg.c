/* libFuzzer target: the boundary protocol as vsbd reads it from a hostile
 * operator (boundary/ghv_ring.c, boundary/ghv_check.c). The input is a
 * control byte, a producer head index and up to 256 64-byte slots: they
 * become the up ring of a shared region, which is popped message by
 * message into one session. Checked: never a crash; the ring refuses
 * impossible heads; only the documented errors; the sequence advances by
 * one for exactly the in-order messages; whatever is accepted obeys
 * PROTOCOL.md (re-checked here independently); a destroyed session stays
 * destroyed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boundary/ghv_check.h"
#include "boundary/ghv_ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct ghv_session *s,
			   const struct ghv_msg *m)
{
	const struct ghv_map_io *mp = &m->u.map;

	if (m->hdr.flags)
		abort();
	switch (m->hdr.type) {
	case GHV_IRQ_LINE:
		if (m->u.irq.gsi >= GHV_NR_GSI || m->u.irq.level > 1 ||
		    !ghv_gsi_allowed(s->routing, m->u.irq.gsi))
			abort();
		break;
	case GHV_MAP_IO:
		if (mp->len == 0 || mp->base + mp->len < mp->base)
			abort();
		if (mp->space == GHV_SPACE_PIO &&
		    mp->base + mp->len > GHV_PIO_LIMIT)
			abort();
		if (mp->space == GHV_SPACE_MMIO &&
		    (mp->base < GHV_MMIO_BASE ||
		     mp->base + mp->len > GHV_MMIO_END))
			abort();
		if (mp->space > GHV_SPACE_MMIO)
			abort();
		break;
	case GHV_PCI_ATTACH:
		if (m->u.pci.slot < 1 || m->u.pci.slot > 31)
			abort();
		break;
	case GHV_CREATE:
		if (strncmp(m->u.create.name, s->vm_name, GHV_NAME_MAX))
			abort();
		break;
	case GHV_IO_DONE: case GHV_START: case GHV_STOP: case GHV_DESTROY:
	case GHV_UNMAP_IO:
		break;
	default:
		abort(); /* vsbd-to-operator types are never accepted */
	}
	if (!s->created)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ghv_shm shm;
	struct ghv_session s;
	struct ghv_ring r;
	uint32_t head;

	if (size < 5)
		return 0;
	uint8_t ctl = data[0];
	memcpy(&head, data + 1, 4);
	data += 5;
	size -= 5;
	size_t n = size / GHV_SLOT_SIZE;
	if (n > GHV_SLOTS)
		n = GHV_SLOTS;

	memset(&shm, 0, sizeof(shm));
	memcpy(shm.up.slot, data, n * GHV_SLOT_SIZE);
	/* Bit 0: a plausible head (the slots given), else the fuzzed one. */
	shm.up.idx.head = (ctl & 1) ? (uint32_t)n : head;
	ghv_ring_init(&r, &shm.up, false);
	ghv_session_init(&s, "vm", (ctl & 2) ? GHV_ROUTING_TRADITIONAL
					      : GHV_ROUTING_BYPASS);

	for (unsigned i = 0; i <= GHV_SLOTS; i++) {
		struct ghv_msg m;
		int got = ghv_ring_pop(&r, &m);
		if (got < 0) {
			if (got != -EPROTO || shm.up.idx.head <= GHV_SLOTS)
				abort();
			break;
		}
		if (got == 0)
			break;
		/* Bit 2: let the fuzzer's sequence numbers through as they
		 * are; else put most messages in order so the checks after
		 * the sequence are reached. */
		if (!(ctl & 4) && (m.hdr.seq & 0xff) != 0x5a)
			m.hdr.seq = s.up_seq + 1;
		uint32_t before = s.up_seq;
		bool was_destroyed = s.destroyed;
		const char *why = NULL;
		int ret = ghv_check_up(&s, &m, &why);
		if (!why || !why[0])
			abort();
		if (m.hdr.seq == before + 1 ? s.up_seq != before + 1
					    : s.up_seq != before)
			abort();
		if (was_destroyed && (!s.destroyed || !ret))
			abort();
		switch (ret) {
		case 0:
			check_accepted(&s, &m);
			break;
		case -EPROTO: case -EINVAL: case -EPERM: case -ENOENT:
			break;
		default:
			abort();
		}
	}
	return 0;
}
