/* pvpanic: guest panic notification port. See pvpanic.h. */
#include "pvpanic.h"

#include <stdlib.h>
#include <string.h>

struct pvpanic {
	const struct pvpanic_ops *ops; /* set once by pvpanic_new */
	void *ctx;
};

struct pvpanic *pvpanic_new(const struct pvpanic_ops *ops, void *ctx)
{
	struct pvpanic *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->ops = ops;
	p->ctx = ctx;
	return p;
}

void pvpanic_free(struct pvpanic *p)
{
	free(p);
}

void pvpanic_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		bool is_write)
{
	struct pvpanic *p = opaque;
	uint8_t *bytes = data;

	/* The router only passes accesses inside the 1-byte range; should a
	 * caller map it wider, bytes past the register are empty bus. */
	if (!is_write) {
		memset(bytes, 0xff, len);
		if (offset == 0 && len > 0)
			bytes[0] = PVPANIC_EVENTS;
		return;
	}
	if (offset != 0 || len == 0)
		return;
	/* Linux writes exactly one event; should both bits arrive, the panic
	 * is the one that matters to the host (QEMU decides the same way). */
	if (bytes[0] & PVPANIC_PANICKED)
		p->ops->panicked(p->ctx);
	else if ((bytes[0] & PVPANIC_CRASH_LOADED) && p->ops->crash_loaded)
		p->ops->crash_loaded(p->ctx);
}
