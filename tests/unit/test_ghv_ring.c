/* The boundary protocol's rings (boundary/ghv_ring.c) and vsbd's checker
 * of the operator's messages (boundary/ghv_check.c): push/pop, full and
 * empty, the 2^32 wraparound, impossible peer indices, a producer and a
 * consumer thread moving a million messages, and every rule of
 * PROTOCOL.md's up-ring table, replays and padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <cmocka.h>

#include "ghv_check.h"
#include "ghv_ring.h"

/* ---- rings ---- */

struct pair {
	struct ghv_ring_shm *shm;
	struct ghv_ring prod, cons;
};

static int ring_setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	p->shm = aligned_alloc(64, sizeof(*p->shm));
	memset(p->shm, 0, sizeof(*p->shm));
	ghv_ring_init(&p->prod, p->shm, true);
	ghv_ring_init(&p->cons, p->shm, false);
	*state = p;
	return 0;
}

static int ring_teardown(void **state)
{
	struct pair *p = *state;
	free(p->shm);
	free(p);
	return 0;
}

static void fill(struct ghv_msg *m, uint32_t i)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = GHV_IO_DONE;
	m->hdr.seq = i;
	m->hdr.id = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
	for (unsigned k = 0; k < sizeof(m->u.raw); k++)
		m->u.raw[k] = (uint8_t)(i + k);
}

static void test_push_pop(void **state)
{
	struct pair *p = *state;
	struct ghv_msg in, out;

	assert_int_equal(ghv_ring_pop(&p->cons, &out), 0);
	assert_int_equal(ghv_ring_pending(&p->cons), 0);
	assert_int_equal(ghv_ring_pending(&p->prod), GHV_SLOTS);
	fill(&in, 7);
	assert_int_equal(ghv_ring_push(&p->prod, &in), 0);
	assert_int_equal(p->shm->idx.head, 1);
	assert_int_equal(ghv_ring_pending(&p->cons), 1);
	assert_int_equal(ghv_ring_pending(&p->prod), GHV_SLOTS - 1);
	assert_int_equal(ghv_ring_pop(&p->cons, &out), 1);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(p->shm->idx.tail, 1);
	assert_int_equal(ghv_ring_pop(&p->cons, &out), 0);
	/* The copy is ours: the slot changing afterwards does not reach it. */
	memset(p->shm->slot[0], 0xee, GHV_SLOT_SIZE);
	assert_memory_equal(&in, &out, sizeof(in));
}

static void test_full_and_empty(void **state)
{
	struct pair *p = *state;
	struct ghv_msg m, out;

	for (uint32_t i = 0; i < GHV_SLOTS; i++) {
		fill(&m, i);
		assert_int_equal(ghv_ring_push(&p->prod, &m), 0);
	}
	assert_int_equal(ghv_ring_pending(&p->prod), 0);
	fill(&m, 999);
	assert_int_equal(ghv_ring_push(&p->prod, &m), -EAGAIN);
	assert_int_equal(p->shm->idx.head, GHV_SLOTS); /* nothing published */
	assert_int_equal(ghv_ring_pending(&p->cons), GHV_SLOTS);
	assert_int_equal(ghv_ring_pop(&p->cons, &out), 1);
	assert_int_equal(out.hdr.seq, 0);
	assert_int_equal(ghv_ring_push(&p->prod, &m), 0); /* room again */
	for (uint32_t i = 1; i < GHV_SLOTS; i++) {
		assert_int_equal(ghv_ring_pop(&p->cons, &out), 1);
		fill(&m, i);
		assert_memory_equal(&m, &out, sizeof(m));
	}
	assert_int_equal(ghv_ring_pop(&p->cons, &out), 1);
	assert_int_equal(out.hdr.seq, 999);
	assert_int_equal(ghv_ring_pop(&p->cons, &out), 0);
}

/* Free-running indices crossing 2^32: slot (i % 256) and the arithmetic
 * head - tail keep working. */
static void test_wraparound(void **state)
{
	struct pair *p = *state;
	struct ghv_msg m, out;
	const uint32_t start = UINT32_MAX - 100;

	p->shm->idx.head = p->shm->idx.tail = start;
	p->prod.pos = p->cons.pos = start;
	for (uint32_t round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < GHV_SLOTS; i++) {
			fill(&m, round * 1000 + i);
			assert_int_equal(ghv_ring_push(&p->prod, &m), 0);
		}
		fill(&m, 0);
		assert_int_equal(ghv_ring_push(&p->prod, &m), -EAGAIN);
		for (uint32_t i = 0; i < GHV_SLOTS; i++) {
			assert_int_equal(ghv_ring_pop(&p->cons, &out), 1);
			fill(&m, round * 1000 + i);
			assert_memory_equal(&m, &out, sizeof(m));
		}
		assert_int_equal(ghv_ring_pop(&p->cons, &out), 0);
	}
	assert_int_equal(p->shm->idx.head, start + 3 * GHV_SLOTS);
	assert_true(p->shm->idx.head < start); /* it did wrap */
}

static void test_impossible_indices(void **state)
{
	struct pair *p = *state;
	struct ghv_msg m, out;

	fill(&m, 1);
	/* The producer's head more than a ring ahead of our tail. */
	p->shm->idx.head = GHV_SLOTS + 1;
	assert_int_equal(ghv_ring_pop(&p->cons, &out), -EPROTO);
	assert_int_equal(ghv_ring_pending(&p->cons), -EPROTO);
	assert_int_equal(p->cons.pos, 0); /* nothing consumed */
	/* Exactly a full ring is possible. */
	p->shm->idx.head = GHV_SLOTS;
	assert_int_equal(ghv_ring_pending(&p->cons), GHV_SLOTS);
	/* Behind our tail (head - tail negative). */
	p->cons.pos = 10;
	p->shm->idx.head = 9;
	assert_int_equal(ghv_ring_pop(&p->cons, &out), -EPROTO);
	p->shm->idx.head = UINT32_MAX;
	p->cons.pos = 0;
	assert_int_equal(ghv_ring_pop(&p->cons, &out), -EPROTO);

	/* The consumer's tail ahead of our head. */
	p->shm->idx.tail = 1;
	assert_int_equal(ghv_ring_push(&p->prod, &m), -EPROTO);
	assert_int_equal(ghv_ring_pending(&p->prod), -EPROTO);
	assert_int_equal(p->prod.pos, 0);
	/* ... or more than a ring behind it. */
	p->prod.pos = 1000;
	p->shm->idx.tail = 1000 - GHV_SLOTS - 1;
	assert_int_equal(ghv_ring_push(&p->prod, &m), -EPROTO);
	p->shm->idx.tail = 1000 - GHV_SLOTS;
	assert_int_equal(ghv_ring_push(&p->prod, &m), -EAGAIN);
	p->shm->idx.tail = 1000;
	assert_int_equal(ghv_ring_push(&p->prod, &m), 0);
}

#define MOVE_COUNT 1000000u

static void *producer_main(void *arg)
{
	struct pair *p = arg;
	struct ghv_msg m;

	for (uint32_t i = 0; i < MOVE_COUNT; i++) {
		fill(&m, i);
		int ret;
		while ((ret = ghv_ring_push(&p->prod, &m)) == -EAGAIN)
			sched_yield();
		if (ret)
			return (void *)1;
	}
	return NULL;
}

/* Two threads, as vsbd and vsb-ghv: every message arrives once, in order,
 * byte for byte. */
static void test_threads(void **state)
{
	struct pair *p = *state;
	pthread_t th;
	struct ghv_msg m, out;
	uint32_t got = 0, bad = 0;

	assert_int_equal(pthread_create(&th, NULL, producer_main, p), 0);
	while (got < MOVE_COUNT) {
		int ret = ghv_ring_pop(&p->cons, &out);
		if (ret < 0) {
			bad++;
			break;
		}
		if (ret == 0) {
			sched_yield();
			continue;
		}
		fill(&m, got);
		if (memcmp(&m, &out, sizeof(m)))
			bad++;
		got++;
	}
	void *res;
	pthread_join(th, &res);
	assert_null(res);
	assert_int_equal(bad, 0);
	assert_int_equal(got, MOVE_COUNT);
	assert_int_equal(ghv_ring_pop(&p->cons, &out), 0);
}

/* ---- the checker ---- */

struct chk {
	struct ghv_session s;
	uint32_t seq;
	const char *why;
};

static int chk_setup(void **state)
{
	struct chk *c = calloc(1, sizeof(*c));
	ghv_session_init(&c->s, "vm1", GHV_ROUTING_BYPASS);
	*state = c;
	return 0;
}

static int chk_setup_trad(void **state)
{
	chk_setup(state);
	struct chk *c = *state;
	c->s.routing = GHV_ROUTING_TRADITIONAL;
	return 0;
}

static int chk_teardown(void **state)
{
	free(*state);
	return 0;
}

static struct ghv_msg msg(uint16_t type)
{
	struct ghv_msg m;
	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.hdr.id = 42;
	return m;
}

/* Sends m with the next sequence number. */
static int send_msg(struct chk *c, struct ghv_msg m)
{
	m.hdr.seq = ++c->seq;
	int ret = ghv_check_up(&c->s, &m, &c->why);
	assert_non_null(c->why);
	return ret;
}

static int send_create(struct chk *c, const char *name)
{
	struct ghv_msg m = msg(GHV_CREATE);
	size_t n = strlen(name);
	memcpy(m.u.create.name, name,
	       n < sizeof(m.u.create.name) ? n : sizeof(m.u.create.name));
	return send_msg(c, m);
}

static int send_map(struct chk *c, uint16_t type, uint8_t space,
		    uint64_t base, uint64_t len)
{
	struct ghv_msg m = msg(type);
	m.u.map.space = space;
	m.u.map.base = base;
	m.u.map.len = len;
	return send_msg(c, m);
}

static int send_irq(struct chk *c, uint32_t gsi, uint32_t level)
{
	struct ghv_msg m = msg(GHV_IRQ_LINE);
	m.u.irq.gsi = gsi;
	m.u.irq.level = level;
	return send_msg(c, m);
}

static void test_seq(void **state)
{
	struct chk *c = *state;
	struct ghv_msg m = msg(GHV_CREATE);
	strcpy(m.u.create.name, "vm1");

	m.hdr.seq = 0; /* the first is 1 */
	assert_int_equal(ghv_check_up(&c->s, &m, &c->why), -EPROTO);
	m.hdr.seq = 2; /* a loss */
	assert_int_equal(ghv_check_up(&c->s, &m, &c->why), -EPROTO);
	assert_int_equal(c->s.up_seq, 0);
	assert_false(c->s.created); /* refused messages change nothing */
	m.hdr.seq = 1;
	assert_int_equal(ghv_check_up(&c->s, &m, &c->why), 0);
	assert_string_equal(c->why, "ok");
	assert_int_equal(c->s.up_seq, 1);
	/* A replay of an accepted message. */
	assert_int_equal(ghv_check_up(&c->s, &m, &c->why), -EPROTO);
	assert_int_equal(c->s.up_seq, 1);
	/* A malformed message with the right number still consumes it. */
	struct ghv_msg bad = msg(GHV_START);
	bad.hdr.seq = 2;
	bad.hdr.flags = 1;
	assert_int_equal(ghv_check_up(&c->s, &bad, &c->why), -EINVAL);
	assert_int_equal(c->s.up_seq, 2);
	bad.hdr.flags = 0; /* the same number again: a replay now */
	assert_int_equal(ghv_check_up(&c->s, &bad, &c->why), -EPROTO);
	bad.hdr.seq = 3;
	assert_int_equal(ghv_check_up(&c->s, &bad, &c->why), 0);
	/* The counter's wraparound: after 2^32 - 1 comes 0. */
	c->s.up_seq = UINT32_MAX;
	bad = msg(GHV_STOP);
	bad.hdr.seq = 0;
	assert_int_equal(ghv_check_up(&c->s, &bad, &c->why), 0);
	assert_int_equal(c->s.up_seq, 0);
}

static void test_nothing_before_create(void **state)
{
	struct chk *c = *state;
	const uint16_t types[] = { GHV_START, GHV_STOP, GHV_DESTROY,
				   GHV_PCI_ATTACH, GHV_IO_DONE };

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct ghv_msg m = msg(types[i]);
		if (types[i] == GHV_PCI_ATTACH)
			m.u.pci.slot = 3;
		assert_int_equal(send_msg(c, m), -EPERM);
	}
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, 0xc000, 64),
			 -EPERM);
	assert_int_equal(send_map(c, GHV_UNMAP_IO, GHV_SPACE_PIO, 0xc000, 0),
			 -EPERM);
	assert_int_equal(send_irq(c, 16, 1), -EPERM);
	assert_false(c->s.created);
}

static void test_create(void **state)
{
	struct chk *c = *state;
	struct ghv_msg m;

	assert_int_equal(send_create(c, ""), -EINVAL);
	assert_int_equal(send_create(c, "vm 1"), -EINVAL);
	assert_int_equal(send_create(c, "vm/1"), -EINVAL);
	assert_int_equal(send_create(c, "vm2"), -ENOENT);
	/* Not NUL padded: a byte after the terminating NUL. */
	m = msg(GHV_CREATE);
	strcpy(m.u.create.name, "vm1");
	m.u.create.name[10] = 'x';
	assert_int_equal(send_msg(c, m), -EINVAL);
	/* No NUL at all. */
	m = msg(GHV_CREATE);
	memset(m.u.create.name, 'a', sizeof(m.u.create.name));
	assert_int_equal(send_msg(c, m), -EINVAL);
	/* Payload beyond the name. */
	m = msg(GHV_CREATE);
	strcpy(m.u.create.name, "vm1");
	m.u.raw[sizeof(m.u.create)] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	m.u.raw[sizeof(m.u.raw) - 1] = 1;
	m.u.raw[sizeof(m.u.create)] = 0;
	assert_int_equal(send_msg(c, m), -EINVAL);
	assert_false(c->s.created);
	assert_int_equal(send_create(c, "vm1"), 0);
	assert_true(c->s.created);
	assert_int_equal(send_create(c, "vm1"), -EPERM); /* once */
}

static void test_lifecycle(void **state)
{
	struct chk *c = *state;
	struct ghv_msg m;

	assert_int_equal(send_create(c, "vm1"), 0);
	assert_int_equal(send_msg(c, msg(GHV_STOP)), -EPERM); /* not running */
	assert_int_equal(send_msg(c, msg(GHV_IO_DONE)), -EPERM); /* no START */
	m = msg(GHV_START);
	m.u.raw[0] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL); /* START has no payload */
	m.u.raw[0] = 0;
	m.u.raw[47] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	assert_int_equal(send_msg(c, msg(GHV_START)), 0);
	assert_true(c->s.started);
	assert_int_equal(send_msg(c, msg(GHV_START)), -EPERM); /* running */
	assert_int_equal(send_msg(c, msg(GHV_IO_DONE)), 0);
	m = msg(GHV_IO_DONE);
	m.u.io_done.data = ~0ULL;
	assert_int_equal(send_msg(c, m), 0);
	m.u.raw[sizeof(m.u.io_done)] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	m = msg(GHV_STOP);
	m.u.raw[3] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	assert_int_equal(send_msg(c, msg(GHV_STOP)), 0);
	assert_true(c->s.paused);
	assert_int_equal(send_msg(c, msg(GHV_STOP)), -EPERM);
	assert_int_equal(send_msg(c, msg(GHV_START)), 0); /* resume */
	assert_false(c->s.paused);
	m = msg(GHV_DESTROY);
	m.u.destroy.how = 2;
	assert_int_equal(send_msg(c, m), -EINVAL);
	m.u.destroy.how = GHV_DESTROY_RESET;
	m.u.raw[sizeof(m.u.destroy)] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	m.u.raw[sizeof(m.u.destroy)] = 0;
	assert_int_equal(send_msg(c, m), 0);
	assert_true(c->s.destroyed);
	/* After DESTROY nothing is allowed. */
	assert_int_equal(send_msg(c, msg(GHV_START)), -EPERM);
	assert_int_equal(send_msg(c, msg(GHV_IO_DONE)), -EPERM);
	assert_int_equal(send_msg(c, m), -EPERM);
	assert_int_equal(send_irq(c, 16, 0), -EPERM);
}

static void test_map_io(void **state)
{
	struct chk *c = *state;
	struct ghv_msg m;

	assert_int_equal(send_create(c, "vm1"), 0);
	/* ports */
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, 0xc000, 64), 0);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, 0xffc0, 64), 0);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, 0xffc0, 65),
			 -EINVAL);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, 0x10000, 1),
			 -EINVAL);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, 0xc000, 0),
			 -EINVAL);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PIO, UINT64_MAX, 2),
			 -EINVAL); /* wraps */
	/* MMIO: only the PCI window */
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO, GHV_MMIO_BASE,
				  0x1000), 0);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO,
				  GHV_MMIO_END - 0x1000, 0x1000), 0);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO,
				  GHV_MMIO_END - 0x1000, 0x1001), -EPERM);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO,
				  GHV_MMIO_BASE - 1, 2), -EPERM);
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO, 0x1000, 0x1000),
			 -EPERM); /* guest RAM */
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO, 0xFEE00000,
				  0x1000), -EPERM); /* the local APIC */
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_MMIO,
				  UINT64_MAX - 10, 100), -EINVAL);
	/* other spaces */
	assert_int_equal(send_map(c, GHV_MAP_IO, GHV_SPACE_PCI_CFG, 0, 4),
			 -EINVAL);
	assert_int_equal(send_map(c, GHV_MAP_IO, 9, 0xc000, 4), -EINVAL);
	/* padding */
	m = msg(GHV_MAP_IO);
	m.u.map.space = GHV_SPACE_PIO;
	m.u.map.base = 0xc000;
	m.u.map.len = 4;
	m.u.map.pad[6] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	m.u.map.pad[6] = 0;
	m.u.raw[sizeof(m.u.map)] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
	/* unmap: a base, no length */
	assert_int_equal(send_map(c, GHV_UNMAP_IO, GHV_SPACE_PIO, 0xc000, 0), 0);
	assert_int_equal(send_map(c, GHV_UNMAP_IO, GHV_SPACE_PIO, 0xc000, 64),
			 -EINVAL);
	assert_int_equal(send_map(c, GHV_UNMAP_IO, GHV_SPACE_PIO, 0x10000, 0),
			 -EINVAL);
	assert_int_equal(send_map(c, GHV_UNMAP_IO, GHV_SPACE_MMIO, 0x1000, 0),
			 -EPERM);
}

static void test_pci_attach(void **state)
{
	struct chk *c = *state;
	struct ghv_msg m = msg(GHV_PCI_ATTACH);

	assert_int_equal(send_create(c, "vm1"), 0);
	for (unsigned slot = 0; slot < 256; slot++) {
		m.u.pci.slot = (uint8_t)slot;
		assert_int_equal(send_msg(c, m),
				 slot >= 1 && slot <= 31 ? 0 : -EINVAL);
	}
	m.u.pci.slot = 3;
	m.u.raw[1] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
}

static void test_irq_bypass(void **state)
{
	struct chk *c = *state;
	struct ghv_msg m;

	assert_int_equal(send_create(c, "vm1"), 0);
	for (uint32_t gsi = 0; gsi < GHV_NR_GSI; gsi++) {
		bool vsbds = gsi == 0 || gsi == 2 || gsi == 8 || gsi == 9 ||
			     gsi == 1 || gsi == 4 || gsi == 12;
		assert_int_equal(send_irq(c, gsi, 1), vsbds ? -EPERM : 0);
		assert_int_equal(ghv_gsi_allowed(GHV_ROUTING_BYPASS, gsi),
				 !vsbds);
	}
	assert_int_equal(send_irq(c, GHV_NR_GSI, 1), -EINVAL);
	assert_int_equal(send_irq(c, UINT32_MAX, 0), -EINVAL);
	assert_int_equal(send_irq(c, 16, 2), -EINVAL);
	assert_int_equal(send_irq(c, 16, 0), 0);
	m = msg(GHV_IRQ_LINE);
	m.u.irq.gsi = 16;
	m.u.raw[sizeof(m.u.irq)] = 1;
	assert_int_equal(send_msg(c, m), -EINVAL);
}

static void test_irq_traditional(void **state)
{
	struct chk *c = *state;

	assert_int_equal(send_create(c, "vm1"), 0);
	for (uint32_t gsi = 0; gsi < GHV_NR_GSI; gsi++) {
		bool vsbds = gsi == 0 || gsi == 2 || gsi == 8 || gsi == 9;
		assert_int_equal(send_irq(c, gsi, 0), vsbds ? -EPERM : 0);
		assert_int_equal(ghv_gsi_allowed(GHV_ROUTING_TRADITIONAL, gsi),
				 !vsbds);
	}
	assert_false(ghv_gsi_allowed(GHV_ROUTING_TRADITIONAL, GHV_NR_GSI));
}

static void test_unknown_types(void **state)
{
	struct chk *c = *state;
	const uint16_t types[] = { 0, GHV_IO_REQ, GHV_REPLY, GHV_EVENT, 4, 15,
				   25, 0xffff };

	assert_int_equal(send_create(c, "vm1"), 0);
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		assert_int_equal(send_msg(c, msg(types[i])), -EINVAL);
	assert_string_equal(ghv_msg_name(GHV_IO_DONE), "io-done");
	assert_string_equal(ghv_msg_name(GHV_IRQ_LINE), "irq-line");
	assert_string_equal(ghv_msg_name(0xffff), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define RT(f) cmocka_unit_test_setup_teardown(f, ring_setup, ring_teardown)
#define CT(f) cmocka_unit_test_setup_teardown(f, chk_setup, chk_teardown)
		RT(test_push_pop),
		RT(test_full_and_empty),
		RT(test_wraparound),
		RT(test_impossible_indices),
		RT(test_threads),
		CT(test_seq),
		CT(test_nothing_before_create),
		CT(test_create),
		CT(test_lifecycle),
		CT(test_map_io),
		CT(test_pci_attach),
		CT(test_irq_bypass),
		cmocka_unit_test_setup_teardown(test_irq_traditional,
						chk_setup_trad, chk_teardown),
		CT(test_unknown_types),
	};
	return cmocka_run_group_tests_name("ghv_ring", tests, NULL, NULL);
}
