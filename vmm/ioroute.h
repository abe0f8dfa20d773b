/* The I/O routing table: every port-I/O and MMIO exit of a VM is looked up
 * here. Each range has an owner: ranges owned by vsbd are served by a shadow
 * device inside the TCB; ranges owned by the operator are forwarded to the
 * untrusted guest hypervisor (a later issue). Lookups are a binary search in
 * a sorted array; overlapping registrations are refused. */
#ifndef VSB_IOROUTE_H
#define VSB_IOROUTE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum io_space { IO_SPACE_PIO, IO_SPACE_MMIO, IO_SPACE_COUNT };

enum io_owner {
	IO_OWNER_VSBD,     /* shadow device inside the TCB */
	IO_OWNER_OPERATOR, /* forwarded to the operator's guest hypervisor */
};

/* offset is relative to the start of the range. On a read the handler fills
 * data[0..len); on a write it consumes it. len is 1, 2, 4 or 8. */
typedef void (*io_handler_fn)(void *opaque, uint64_t offset, void *data,
			      uint32_t len, bool is_write);

struct io_range {
	uint64_t base;
	uint64_t len;
	enum io_owner owner;
	io_handler_fn handler;
	void *opaque;
	const char *name;
};

struct io_table {
	struct io_range *ranges; /* sorted by base, never overlapping */
	size_t count, cap;
};

struct io_router {
	pthread_rwlock_t lock;
	struct io_table space[IO_SPACE_COUNT];
};

void io_router_init(struct io_router *r);
void io_router_destroy(struct io_router *r);

/* Returns 0, -EINVAL (empty or wrapping range, no handler), -EEXIST (overlaps
 * an existing range) or -ENOMEM. The name is not copied. */
int io_router_add(struct io_router *r, enum io_space sp, uint64_t base,
		  uint64_t len, enum io_owner owner, io_handler_fn handler,
		  void *opaque, const char *name);

/* Removes the range that starts exactly at base; -ENOENT if none. */
int io_router_remove(struct io_router *r, enum io_space sp, uint64_t base);

/* Copies the range containing [addr, addr+len) into *out. Returns false if
 * no single range contains the whole access. */
bool io_router_lookup(struct io_router *r, enum io_space sp, uint64_t addr,
		      uint32_t len, struct io_range *out);

/* Looks up and calls the handler. Unrouted reads return all-ones and
 * unrouted writes are dropped; returns false in that case. */
bool io_router_dispatch(struct io_router *r, enum io_space sp, uint64_t addr,
			void *data, uint32_t len, bool is_write);

#endif
