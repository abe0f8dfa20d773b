/* Unit tests of the CMOS RTC model: clock registers in BCD/binary and
 * 12/24-hour modes, setting the clock, status registers, memory sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "cmos.h"

#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)

static uint8_t rd(struct cmos *c, uint8_t reg)
{
	uint8_t v = reg;
	cmos_io(c, 0, &v, 1, true);
	cmos_io(c, 1, &v, 1, false);
	return v;
}

static void wr(struct cmos *c, uint8_t reg, uint8_t val)
{
	cmos_io(c, 0, &reg, 1, true);
	cmos_io(c, 1, &val, 1, true);
}

static unsigned bcd(int v)
{
	return (unsigned)(v / 10 << 4 | v % 10);
}

static unsigned word(struct cmos *c, uint8_t reg)
{
	return rd(c, reg) | rd(c, reg + 1) << 8;
}

static void test_memory_sizes(void **state)
{
	(void)state;
	struct cmos *c = cmos_new(512 * MiB, 0);

	assert_non_null(c);
	assert_int_equal(word(c, 0x15), 640);
	assert_int_equal(word(c, 0x17), 0xffff); /* 511 MiB: capped */
	assert_int_equal(word(c, 0x30), 0xffff);
	assert_int_equal(word(c, 0x34), (512 - 16) * 16);
	assert_int_equal(rd(c, 0x5b) | rd(c, 0x5c) << 8 | rd(c, 0x5d) << 16, 0);
	cmos_free(c);

	c = cmos_new(8 * MiB, 0);
	assert_int_equal(word(c, 0x17), 7 * 1024);
	assert_int_equal(word(c, 0x30), 7 * 1024);
	assert_int_equal(word(c, 0x34), 0);
	cmos_free(c);

	c = cmos_new(3 * GiB, 5 * GiB);
	assert_int_equal(word(c, 0x34), (3 * 1024 - 16) * 16);
	assert_int_equal(rd(c, 0x5b), 0x00);
	assert_int_equal(rd(c, 0x5c), 0x40);
	assert_int_equal(rd(c, 0x5d), 0x01); /* 5 GiB / 64 KiB = 0x14000 */
	cmos_free(c);

	c = cmos_new(0, 1ull << 42);
	assert_int_equal(word(c, 0x17), 0);
	assert_int_equal(rd(c, 0x5b) | rd(c, 0x5c) << 8 | rd(c, 0x5d) << 16,
			 0xffffff);
	cmos_free(c);
}

struct rtc_read {
	unsigned sec, min, hour, wday, mday, mon, year, century;
};

static void read_rtc(struct cmos *c, struct rtc_read *r)
{
	r->sec = rd(c, 0x00);
	r->min = rd(c, 0x02);
	r->hour = rd(c, 0x04);
	r->wday = rd(c, 0x06);
	r->mday = rd(c, 0x07);
	r->mon = rd(c, 0x08);
	r->year = rd(c, 0x09);
	r->century = rd(c, 0x32);
}

/* Reads the clock within one host second and returns that second. */
static time_t read_rtc_stable(struct cmos *c, struct rtc_read *r)
{
	for (;;) {
		time_t t0 = time(NULL);
		read_rtc(c, r);
		if (time(NULL) == t0)
			return t0;
	}
}

static void test_clock_follows_host_bcd(void **state)
{
	(void)state;
	struct cmos *c = cmos_new(64 * MiB, 0);
	struct rtc_read r;
	struct tm tm;
	time_t t;

	assert_int_equal(rd(c, 0x0b), 0x02); /* 24h, BCD */
	t = read_rtc_stable(c, &r);
	gmtime_r(&t, &tm);
	assert_int_equal(r.sec, bcd(tm.tm_sec));
	assert_int_equal(r.min, bcd(tm.tm_min));
	assert_int_equal(r.hour, bcd(tm.tm_hour));
	assert_int_equal(r.wday, bcd(tm.tm_wday + 1));
	assert_int_equal(r.mday, bcd(tm.tm_mday));
	assert_int_equal(r.mon, bcd(tm.tm_mon + 1));
	assert_int_equal(r.year, bcd((tm.tm_year + 1900) % 100));
	assert_int_equal(r.century, bcd((tm.tm_year + 1900) / 100));
	cmos_free(c);
}

static void test_clock_binary(void **state)
{
	(void)state;
	struct cmos *c = cmos_new(64 * MiB, 0);
	struct rtc_read r;
	struct tm tm;
	time_t t;

	wr(c, 0x0b, 0x06);
	assert_int_equal(rd(c, 0x0b), 0x06);
	t = read_rtc_stable(c, &r);
	gmtime_r(&t, &tm);
	assert_int_equal(r.sec, tm.tm_sec);
	assert_int_equal(r.min, tm.tm_min);
	assert_int_equal(r.hour, tm.tm_hour);
	assert_int_equal(r.mday, tm.tm_mday);
	assert_int_equal(r.mon, tm.tm_mon + 1);
	assert_int_equal(r.year, (tm.tm_year + 1900) % 100);
	assert_int_equal(r.century, (tm.tm_year + 1900) / 100);
	cmos_free(c);
}

/* Sets the clock the way Linux's mc146818_set_time does: SET, fields, then
 * clear SET. Values in BCD. */
static void set_clock(struct cmos *c, uint8_t cent, uint8_t year, uint8_t mon,
		      uint8_t mday, uint8_t hour, uint8_t min, uint8_t sec)
{
	uint8_t b = rd(c, 0x0b);

	wr(c, 0x0b, b | 0x80);
	wr(c, 0x00, sec);
	wr(c, 0x02, min);
	wr(c, 0x04, hour);
	wr(c, 0x07, mday);
	wr(c, 0x08, mon);
	wr(c, 0x09, year);
	wr(c, 0x32, cent);
	wr(c, 0x0b, b);
}

static void test_set_clock(void **state)
{
	(void)state;
	struct cmos *c = cmos_new(64 * MiB, 0);
	struct rtc_read r;

	/* Day 31 is written while the frozen month may have 30 days: the
	 * fields are only normalized when SET is cleared. */
	set_clock(c, 0x20, 0x31, 0x03, 0x31, 0x15, 0x30, 0x10);
	read_rtc(c, &r);
	assert_int_equal(r.century, 0x20);
	assert_int_equal(r.year, 0x31);
	assert_int_equal(r.mon, 0x03);
	assert_int_equal(r.mday, 0x31);
	assert_int_equal(r.wday, 0x02); /* 2031-03-31 is a Monday */
	assert_int_equal(r.hour, 0x15);
	assert_int_equal(r.min, 0x30);
	assert_true(r.sec >= 0x10 && r.sec <= 0x12);

	/* 12-hour mode: 15h is 3 PM. */
	wr(c, 0x0b, 0x00);
	assert_int_equal(rd(c, 0x04), 0x83);
	set_clock(c, 0x20, 0x31, 0x03, 0x31, 0x12, 0x00, 0x00); /* 12 AM */
	assert_int_equal(rd(c, 0x04), 0x12);
	wr(c, 0x0b, 0x02);
	assert_int_equal(rd(c, 0x04), 0x00);
	wr(c, 0x0b, 0x00);
	set_clock(c, 0x20, 0x31, 0x03, 0x31, 0x92, 0x00, 0x00); /* 12 PM */
	assert_int_equal(rd(c, 0x04), 0x92);
	wr(c, 0x0b, 0x02);
	assert_int_equal(rd(c, 0x04), 0x12);

	/* While SET is on the clock stands still and shows what was written. */
	wr(c, 0x0b, 0x82);
	wr(c, 0x09, 0x99);
	assert_int_equal(rd(c, 0x09), 0x99);
	assert_int_equal(rd(c, 0x07), 0x31);
	wr(c, 0x0b, 0x02);
	assert_int_equal(rd(c, 0x09), 0x99);

	/* Without SET, a single field write moves the clock at once. */
	wr(c, 0x09, 0x42);
	assert_int_equal(rd(c, 0x09), 0x42);
	assert_int_equal(rd(c, 0x32), 0x20);

	/* Binary mode writes. */
	wr(c, 0x0b, 0x06);
	wr(c, 0x08, 7);
	assert_int_equal(rd(c, 0x08), 7);
	wr(c, 0x0b, 0x02);
	assert_int_equal(rd(c, 0x08), 0x07);

	/* Another instance still follows the host clock. */
	struct cmos *c2 = cmos_new(64 * MiB, 0);
	struct tm tm;
	time_t t = read_rtc_stable(c2, &r);
	gmtime_r(&t, &tm);
	assert_int_equal(r.year, bcd((tm.tm_year + 1900) % 100));
	cmos_free(c2);
	cmos_free(c);
}

static void test_status_registers(void **state)
{
	(void)state;
	struct cmos *c = cmos_new(64 * MiB, 0);

	assert_int_equal(rd(c, 0x0a), 0x26); /* UIP clear */
	wr(c, 0x0a, 0xa6);
	assert_int_equal(rd(c, 0x0a), 0x26); /* UIP is read-only */
	wr(c, 0x0a, 0x2f);
	assert_int_equal(rd(c, 0x0a), 0x2f);
	assert_int_equal(rd(c, 0x0c), 0x00);
	wr(c, 0x0c, 0xff);
	assert_int_equal(rd(c, 0x0c), 0x00);
	assert_int_equal(rd(c, 0x0d), 0x80); /* valid RAM and time */
	wr(c, 0x0d, 0x00);
	assert_int_equal(rd(c, 0x0d), 0x80);

	/* Alarm registers are storage. */
	wr(c, 0x01, 0x45);
	assert_int_equal(rd(c, 0x01), 0x45);
	cmos_free(c);
}

static void test_index_and_ram(void **state)
{
	(void)state;
	struct cmos *c = cmos_new(64 * MiB, 0);
	uint8_t v;

	/* Bit 7 of the index is NMI disable, not part of the index. */
	v = 0x8d;
	cmos_io(c, 0, &v, 1, true);
	cmos_io(c, 1, &v, 1, false);
	assert_int_equal(v, 0x80);
	/* The index port is write-only. */
	cmos_io(c, 0, &v, 1, false);
	assert_int_equal(v, 0xff);

	wr(c, 0x40, 0x12);
	wr(c, 0x7f, 0x34);
	assert_int_equal(rd(c, 0x40), 0x12);
	assert_int_equal(rd(c, 0x7f), 0x34);
	assert_int_equal(rd(c, 0xc0), 0x12); /* 0xc0 & 0x7f */

	/* A word access hits both ports: index, then data. */
	uint16_t w = 0x5541;
	cmos_io(c, 0, &w, 2, true);
	assert_int_equal(rd(c, 0x41), 0x55);
	w = 0x0041;
	cmos_io(c, 0, &w, 1, true);
	w = 0;
	cmos_io(c, 0, &w, 2, false);
	assert_int_equal(w, 0x55ff);
	cmos_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_sizes),
		cmocka_unit_test(test_clock_follows_host_bcd),
		cmocka_unit_test(test_clock_binary),
		cmocka_unit_test(test_set_clock),
		cmocka_unit_test(test_status_registers),
		cmocka_unit_test(test_index_and_ram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
