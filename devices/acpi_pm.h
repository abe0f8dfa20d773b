/* The ACPI fixed power-management registers a guest needs to power off: the
 * PM1a event block (0x600: status reads 0, enable at 0x602 keeps the bits
 * that exist, as ACPICA checks they stick) and the PM1a control register
 * (0x604, 2 bytes) at the addresses QEMU's i440fx machine uses after SeaBIOS.
 * Writing SLP_EN (bit 13) of PM1a_CNT calls ops->poweroff, whatever SLP_TYP.
 *
 * Thread safety: every entry point takes the device mutex; ops->poweroff is
 * called after it is released. */
#ifndef VSB_ACPI_PM_H
#define VSB_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_BASE 0x600
#define ACPI_PM_LEN 8
#define ACPI_PM1A_EVT_BLK ACPI_PM_BASE
#define ACPI_PM1A_CNT_BLK (ACPI_PM_BASE + 4)

struct acpi_pm_ops {
	void (*poweroff)(void *ctx);
};

struct acpi_pm;

/* Returns NULL on allocation failure. ops must outlive the device. */
struct acpi_pm *acpi_pm_new(const struct acpi_pm_ops *ops, void *ctx);
void acpi_pm_free(struct acpi_pm *p);

/* io_handler_fn for the range ACPI_PM_BASE, length ACPI_PM_LEN. */
void acpi_pm_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		bool is_write);

#endif
