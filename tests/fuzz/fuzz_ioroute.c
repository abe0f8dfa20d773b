/* libFuzzer target: the I/O routing table (vmm/ioroute.c) against a
 * reference model, a plain array of ranges scanned linearly. The input is a
 * sequence of operations (add, remove, lookup, dispatch) on either address
 * space; every result must agree with the model. Every exit of a VM goes
 * through this table, and the operator (untrusted) will register ranges. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vmm/ioroute.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_MAX 512 /* more than enough: an add costs at least 3 bytes */
#define PIO_END 0x10000ULL /* the port space is 16 bits */

struct model_range {
	uint64_t base, len;
	uintptr_t tag; /* the opaque we registered, to identify it again */
};

struct model {
	struct model_range r[IO_SPACE_COUNT][MODEL_MAX];
	size_t n[IO_SPACE_COUNT];
};

/* The input, consumed front to back; reads past the end return zeros so
 * every prefix of an input is itself a valid program. */
static uint64_t bytes_le(struct in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

/* A base or length: mostly small numbers so ranges collide often, but also
 * the edges where overflow bugs live (the 16-bit port limit, 2^64). */
static uint64_t number(struct in *in)
{
	uint8_t sel = u8(in);

	switch (sel & 7) {
	case 0: case 1: case 2:
		return sel >> 3;                     /* 0..31 */
	case 3:
		return bytes_le(in, 1);              /* 0..255 */
	case 4:
		return bytes_le(in, 2);              /* ports */
	case 5:
		return PIO_END - (sel >> 3);         /* just below 64 Ki */
	case 6:
		return UINT64_MAX - (sel >> 3);      /* just below 2^64 */
	default:
		return bytes_le(in, 8);
	}
}

/* Handler calls are recorded and compared with what dispatch promised. */
static struct {
	int calls;
	void *opaque;
	uint64_t offset;
	uint32_t len;
	bool is_write;
} last;

static void handler(void *opaque, uint64_t offset, void *data, uint32_t len,
		    bool is_write)
{
	last.calls++;
	last.opaque = opaque;
	last.offset = offset;
	last.len = len;
	last.is_write = is_write;
	if (!is_write)
		memset(data, 0xA5, len);
}

/* Model: the range wholly containing [addr, addr + len), or NULL. */
static const struct model_range *model_find(const struct model *m, int sp,
					    uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < m->n[sp]; i++) {
		const struct model_range *r = &m->r[sp][i];
		uint64_t off = addr - r->base;

		if (len && addr >= r->base && off < r->len &&
		    len <= r->len - off)
			return r;
	}
	return NULL;
}

/* Model of io_router_add's result (as ioroute.h documents it, plus the
 * 16-bit limit of the port space). */
static int model_add_result(const struct model *m, int sp, uint64_t base,
			    uint64_t len, bool have_handler)
{
	if (!len || !have_handler || base + (len - 1) < base)
		return -EINVAL;
	/* Last port must be <= 0xFFFF; written so it cannot overflow. */
	if (sp == IO_SPACE_PIO && (base >= PIO_END || len > PIO_END - base))
		return -EINVAL;
	for (size_t i = 0; i < m->n[sp]; i++) {
		const struct model_range *r = &m->r[sp][i];
		/* Inclusive ends: neither range wraps, so no overflow. */
		if (base <= r->base + (r->len - 1) &&
		    r->base <= base + (len - 1))
			return -EEXIST;
	}
	return 0;
}

/* The real table must hold exactly the model's ranges, sorted. */
static void check_table(struct io_router *rt, const struct model *m, int sp)
{
	const struct io_table *t = &rt->space[sp];

	if (t->count != m->n[sp] || t->count > t->cap)
		__builtin_trap();
	for (size_t i = 0; i < t->count; i++) {
		if (i && t->ranges[i - 1].base + (t->ranges[i - 1].len - 1) >=
				 t->ranges[i].base)
			__builtin_trap(); /* unsorted or overlapping */
		const struct model_range *r =
			model_find(m, sp, t->ranges[i].base, t->ranges[i].len);
		if (!r || r->base != t->ranges[i].base ||
		    r->len != t->ranges[i].len)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m; /* static: too big for the stack */
	struct io_router rt;
	struct in in = { data, size };
	uintptr_t next_tag = 0x1000; /* distinct opaque per added range */

	memset(&m, 0, sizeof(m));
	io_router_init(&rt);
	while (in.left) {
		uint8_t op = u8(&in);
		int sp = op >> 7; /* IO_SPACE_PIO or IO_SPACE_MMIO */

		switch (op & 3) {
		case 0: { /* add */
			uint64_t base = number(&in), len = number(&in);
			bool have_handler = (op & 0x7c) != 0x7c; /* 1 in 32 */
			uintptr_t tag = next_tag++;
			int want = model_add_result(&m, sp, base, len,
						    have_handler);
			int rc = io_router_add(&rt, sp, base, len,
					       (op & 4) ? IO_OWNER_OPERATOR
							: IO_OWNER_VSBD,
					       have_handler ? handler : NULL,
					       (void *)tag, "fuzz");
			if (rc != want)
				__builtin_trap();
			if (rc == 0) {
				if (m.n[sp] == MODEL_MAX)
					__builtin_trap(); /* see MODEL_MAX */
				m.r[sp][m.n[sp]++] = (struct model_range){
					base, len, tag };
			}
			break;
		}
		case 1: { /* remove the range starting at base */
			uint64_t base = number(&in);
			size_t i = 0;
			int rc = io_router_remove(&rt, sp, base);

			while (i < m.n[sp] && m.r[sp][i].base != base)
				i++;
			if (rc != (i < m.n[sp] ? 0 : -ENOENT))
				__builtin_trap();
			if (i < m.n[sp])
				m.r[sp][i] = m.r[sp][--m.n[sp]];
			break;
		}
		case 2: { /* lookup */
			uint64_t addr = number(&in);
			uint32_t len = (uint32_t)number(&in);
			const struct model_range *want =
				model_find(&m, sp, addr, len);
			struct io_range got;

			memset(&got, 0, sizeof(got));
			if (io_router_lookup(&rt, sp, addr, len, &got) !=
			    (want != NULL))
				__builtin_trap();
			if (want && (got.base != want->base ||
				     got.len != want->len ||
				     got.opaque != (void *)want->tag ||
				     got.handler != handler))
				__builtin_trap();
			break;
		}
		default: { /* dispatch an access of 1, 2, 4 or 8 bytes */
			uint64_t addr = number(&in);
			uint32_t len = 1u << ((op >> 2) & 3);
			bool is_write = op & 0x10;
			const struct model_range *want =
				model_find(&m, sp, addr, len);
			uint8_t buf[8] = { 0 };

			last.calls = 0;
			if (io_router_dispatch(&rt, sp, addr, buf, len,
					       is_write) != (want != NULL))
				__builtin_trap();
			if (want) {
				if (last.calls != 1 ||
				    last.opaque != (void *)want->tag ||
				    last.offset != addr - want->base ||
				    last.len != len ||
				    last.is_write != is_write)
					__builtin_trap();
			} else {
				/* Unrouted reads float high; nothing called. */
				if (last.calls)
					__builtin_trap();
				for (uint32_t i = 0; !is_write && i < len; i++)
					if (buf[i] != 0xff)
						__builtin_trap();
			}
			break;
		}
		}
		check_table(&rt, &m, sp);
	}
	io_router_destroy(&rt);
	return 0;
}
