/* ACPI PM1a event and control registers. See acpi_pm.h. */
#include "acpi_pm.h"

#include <pthread.h>
#include <stdlib.h>

#define EN_OFF 2  /* PM1a_EN within the range */
#define CNT_OFF 4 /* PM1a_CNT within the range */
/* Enable bits that exist (timer, global lock, buttons, RTC). No event ever
 * fires, but ACPICA reads an enable bit back after setting it and logs an
 * error if it did not stick. */
#define EN_BITS 0x0721
#define CNT_SCI_EN 0x0001
#define CNT_SLP_EN 0x2000 /* write-only: reads 0 */

struct acpi_pm {
	pthread_mutex_t lock;
	const struct acpi_pm_ops *ops;
	void *ctx;
	uint16_t cnt; /* PM1a_CNT as last written, without SLP_EN */
	uint16_t en;  /* PM1a_EN as last written, EN_BITS only */
};

struct acpi_pm *acpi_pm_new(const struct acpi_pm_ops *ops, void *ctx)
{
	struct acpi_pm *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL)) {
		free(p);
		return NULL;
	}
	p->ops = ops;
	p->ctx = ctx;
	/* No firmware runs the SMI_CMD handshake that would switch to ACPI
	 * mode, so start there: SCI_EN set. */
	p->cnt = CNT_SCI_EN;
	return p;
}

void acpi_pm_free(struct acpi_pm *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Handled byte by byte so that byte, word and dword accesses at any offset
 * all behave; bytes 2-3 (PM1a_EN) and 4-5 (PM1a_CNT) hold state. */
void acpi_pm_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		bool is_write)
{
	struct acpi_pm *p = opaque;
	uint8_t *bytes = data;
	bool off = false;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = offset + i;
		unsigned shift;

		if (o == EN_OFF || o == EN_OFF + 1) {
			shift = 8 * (unsigned)(o - EN_OFF);
			if (is_write)
				p->en = (uint16_t)(((p->en & ~(0xff << shift)) |
						    (bytes[i] << shift)) & EN_BITS);
			else
				bytes[i] = (uint8_t)(p->en >> shift);
			continue;
		}
		if (o != CNT_OFF && o != CNT_OFF + 1) {
			/* Status (no event ever happens) and the rest read 0. */
			if (!is_write)
				bytes[i] = 0;
			continue;
		}
		shift = 8 * (unsigned)(o - CNT_OFF);
		if (is_write) {
			uint16_t v = (uint16_t)(bytes[i] << shift);
			if (v & CNT_SLP_EN)
				off = true;
			p->cnt = (uint16_t)((p->cnt & ~(0xff << shift)) |
					    (v & ~CNT_SLP_EN));
		} else {
			bytes[i] = (uint8_t)(p->cnt >> shift);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (off)
		p->ops->poweroff(p->ctx);
}
