/* QEMU's pvpanic device (ISA flavour): one I/O port through which a guest
 * kernel reports a panic. Linux's pvpanic driver (pvpanic-mmio.ko, bound to
 * the ACPI _HID "QEMU0001") reads the port once to learn which events the
 * host supports, then from its panic notifier writes PVPANIC_PANICKED, or
 * PVPANIC_CRASH_LOADED when a kdump kernel is loaded and will take over.
 *
 * Reads return PVPANIC_EVENTS. A write calls ops->panicked if bit 0 is set,
 * else ops->crash_loaded if bit 1 is set (QEMU's precedence: one write is one
 * event); other bits are ignored. Only offset 0 of the range is the register.
 *
 * Thread safety: the device holds no state that changes after pvpanic_new,
 * so entry points need no lock and callbacks run with none held (they may
 * end the machine or call back into the device). */
#ifndef VSB_PVPANIC_H
#define VSB_PVPANIC_H

#include <stdbool.h>
#include <stdint.h>

#define PVPANIC_PORT 0x505 /* QEMU's default iobase for -device pvpanic */
#define PVPANIC_LEN 1

#define PVPANIC_PANICKED 0x01     /* the guest kernel panicked */
#define PVPANIC_CRASH_LOADED 0x02 /* it panicked; a crash kernel runs next */
#define PVPANIC_EVENTS (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic_ops {
	void (*panicked)(void *ctx);     /* required */
	void (*crash_loaded)(void *ctx); /* may be NULL: event ignored */
};

struct pvpanic;

/* Returns NULL on allocation failure. ops must outlive the device. */
struct pvpanic *pvpanic_new(const struct pvpanic_ops *ops, void *ctx);
void pvpanic_free(struct pvpanic *p);

/* io_handler_fn for the range PVPANIC_PORT, length PVPANIC_LEN. */
void pvpanic_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		bool is_write);

#endif
