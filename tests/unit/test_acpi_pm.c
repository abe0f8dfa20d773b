/* Unit tests of the ACPI PM1a registers: the poweroff callback on SLP_EN,
 * the control register's read-back, and the event block reading 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "acpi_pm.h"

struct harness {
	struct acpi_pm *p;
	int poweroffs;
};

static void h_poweroff(void *ctx)
{
	struct harness *h = ctx;
	h->poweroffs++;
}

static const struct acpi_pm_ops ops = { .poweroff = h_poweroff };

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->p = acpi_pm_new(&ops, h);
	assert_non_null(h->p);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	acpi_pm_free(h->p);
	free(h);
	return 0;
}

static uint32_t in(struct harness *h, unsigned port, unsigned len)
{
	uint32_t v = 0xffffffff;
	acpi_pm_io(h->p, port - ACPI_PM_BASE, &v, len, false);
	return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static void out(struct harness *h, unsigned port, unsigned len, uint32_t v)
{
	acpi_pm_io(h->p, port - ACPI_PM_BASE, &v, len, true);
}

static void test_initial_state(void **state)
{
	struct harness *h = *state;

	assert_int_equal(in(h, 0x600, 4), 0); /* PM1 status + enable */
	assert_int_equal(in(h, 0x600, 2), 0);
	assert_int_equal(in(h, 0x602, 1), 0);
	assert_int_equal(in(h, 0x604, 2), 0x0001); /* SCI_EN: ACPI mode */
	assert_int_equal(in(h, 0x606, 2), 0);
	assert_int_equal(in(h, 0x604, 4), 0x00000001);
	assert_int_equal(h->poweroffs, 0);
}

static void test_poweroff(void **state)
{
	struct harness *h = *state;

	/* Linux's acpi_hw_legacy_sleep: SLP_TYP first, then SLP_EN. */
	out(h, 0x604, 2, 0x0001 | 5 << 10);
	assert_int_equal(h->poweroffs, 0);
	assert_int_equal(in(h, 0x604, 2), 0x1401);
	out(h, 0x604, 2, 0x2001 | 5 << 10);
	assert_int_equal(h->poweroffs, 1);
	/* SLP_EN is write-only. */
	assert_int_equal(in(h, 0x604, 2), 0x1401);

	/* Any SLP_TYP, any access size covering bit 13. */
	out(h, 0x604, 2, 0x2000);
	assert_int_equal(h->poweroffs, 2);
	assert_int_equal(in(h, 0x604, 2), 0x0000);
	out(h, 0x605, 1, 0x20);
	assert_int_equal(h->poweroffs, 3);
	out(h, 0x604, 4, 0x00002000);
	assert_int_equal(h->poweroffs, 4);
	/* A byte write to the low half cannot set bit 13. */
	out(h, 0x604, 1, 0xff);
	assert_int_equal(h->poweroffs, 4);
	assert_int_equal(in(h, 0x604, 2), 0x00ff);
}

static void test_event_block_status_and_enable(void **state)
{
	struct harness *h = *state;

	/* Status never latches an event; enable keeps the bits that exist
	 * (TMR, GBL, PWRBTN, SLPBTN, RTC) so ACPICA's read-back succeeds. */
	out(h, 0x600, 4, 0xffffffff);
	out(h, 0x606, 2, 0xffff);
	assert_int_equal(in(h, 0x600, 2), 0);
	assert_int_equal(in(h, 0x602, 2), 0x0721);
	assert_int_equal(in(h, 0x603, 1), 0x07);
	out(h, 0x602, 1, 0x20); /* byte write: GBL_EN only in the low half */
	assert_int_equal(in(h, 0x602, 2), 0x0720);
	out(h, 0x602, 2, 0);
	assert_int_equal(in(h, 0x600, 4), 0);
	assert_int_equal(in(h, 0x606, 2), 0);
	assert_int_equal(h->poweroffs, 0);
}

/* The callback runs unlocked, so it may touch the device (e.g. a VMM
 * that resets its devices on poweroff). */
static struct acpi_pm *reenter_dev;
static uint32_t reenter_val;

static void reenter_poweroff(void *ctx)
{
	(void)ctx;
	reenter_val = 0xffffffff;
	acpi_pm_io(reenter_dev, 4, &reenter_val, 2, false);
}

static void test_callback_unlocked(void **state)
{
	(void)state;
	static const struct acpi_pm_ops rops = { .poweroff = reenter_poweroff };
	uint16_t v = 0x3401;

	reenter_dev = acpi_pm_new(&rops, NULL);
	assert_non_null(reenter_dev);
	acpi_pm_io(reenter_dev, 4, &v, 2, true);
	assert_int_equal(reenter_val, 0xffff1401);
	acpi_pm_free(reenter_dev);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_initial_state),
		T(test_poweroff),
		T(test_event_block_status_and_enable),
		cmocka_unit_test(test_callback_unlocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
