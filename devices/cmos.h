/* The MC146818-style CMOS RTC at ports 0x70 (index, bit 7 = NMI disable) and
 * 0x71 (data): 128 bytes of CMOS, a clock that follows the host's UTC clock,
 * and the memory-size bytes firmware and some guests read.
 *
 * Thread safety: every entry point takes the device mutex. No callbacks. */
#ifndef VSB_CMOS_H
#define VSB_CMOS_H

#include <stdbool.h>
#include <stdint.h>

struct cmos;

/* low_ram: bytes of RAM from address 0 up to the low memory end (below
 * 4 GiB); high_ram: bytes of RAM above 4 GiB. Returns NULL on failure. */
struct cmos *cmos_new(uint64_t low_ram, uint64_t high_ram);
void cmos_free(struct cmos *c);

/* io_handler_fn for ports 0x70-0x71 (offset 0 or 1). A wider access is split
 * into byte accesses at consecutive ports, as the chipset does. */
void cmos_io(void *opaque, uint64_t offset, void *data, uint32_t len,
	     bool is_write);

#endif
