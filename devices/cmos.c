/* CMOS RTC model. See cmos.h for the interface and README.md for what is
 * simplified. */
#include "cmos.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	REG_SEC = 0x00,
	REG_SEC_ALARM = 0x01,
	REG_MIN = 0x02,
	REG_MIN_ALARM = 0x03,
	REG_HOUR = 0x04,
	REG_HOUR_ALARM = 0x05,
	REG_WDAY = 0x06,
	REG_MDAY = 0x07,
	REG_MON = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0a,
	REG_B = 0x0b,
	REG_C = 0x0c,
	REG_D = 0x0d,
	REG_BASE_KB = 0x15,   /* and 0x16 */
	REG_EXT_KB = 0x17,    /* and 0x18 */
	REG_EXT_KB2 = 0x30,   /* and 0x31 */
	REG_CENTURY = 0x32,
	REG_BLOCKS_16M = 0x34, /* and 0x35 */
	REG_BLOCKS_4G = 0x5b,  /* 0x5b-0x5d */
};

#define A_UIP 0x80
#define A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define B_SET 0x80     /* updates frozen while the guest sets the clock */
#define B_BINARY 0x04  /* DM: binary instead of BCD */
#define B_24H 0x02
#define B_DEFAULT B_24H
#define D_VRT 0x80 /* valid RAM and time: the battery is fine */

#define KIB 1024ull
#define MIB (1024 * KIB)

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	bool nmi_disabled; /* stored only: the VMM does not gate NMIs */
	uint8_t ram[128];
	/* Guest time = host UTC + offset; the guest moves its clock by
	 * writing time registers. While B.SET is set the clock is frozen in
	 * set_tm, whose fields the guest edits one by one; they are only
	 * normalized (Feb 31 -> Mar 3) when SET is cleared. */
	time_t offset;
	struct tm set_tm;
};

static bool is_time_reg(unsigned reg)
{
	return reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR ||
	       (reg >= REG_WDAY && reg <= REG_YEAR) || reg == REG_CENTURY;
}

static void current_tm(const struct cmos *c, struct tm *tm)
{
	if (c->ram[REG_B] & B_SET) {
		*tm = c->set_tm;
	} else {
		time_t t = time(NULL) + c->offset;
		gmtime_r(&t, tm);
	}
}

static uint8_t encode(const struct cmos *c, int v)
{
	if (c->ram[REG_B] & B_BINARY)
		return (uint8_t)v;
	return (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

static int decode(const struct cmos *c, uint8_t v)
{
	if (c->ram[REG_B] & B_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t time_read(const struct cmos *c, unsigned reg)
{
	struct tm tm;
	int year, h;

	current_tm(c, &tm);
	year = tm.tm_year + 1900;
	switch (reg) {
	case REG_SEC:
		return encode(c, tm.tm_sec);
	case REG_MIN:
		return encode(c, tm.tm_min);
	case REG_HOUR:
		if (c->ram[REG_B] & B_24H)
			return encode(c, tm.tm_hour);
		/* 12-hour mode: 12, 1..11, with bit 7 for PM */
		h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
		return encode(c, h) | (tm.tm_hour >= 12 ? 0x80 : 0);
	case REG_WDAY:
		return encode(c, tm.tm_wday + 1); /* Sunday = 1 */
	case REG_MDAY:
		return encode(c, tm.tm_mday);
	case REG_MON:
		return encode(c, tm.tm_mon + 1);
	case REG_YEAR:
		return encode(c, year % 100);
	default: /* REG_CENTURY */
		return encode(c, year / 100);
	}
}

static void time_write(struct cmos *c, unsigned reg, uint8_t v)
{
	struct tm tm;
	int year;

	current_tm(c, &tm);
	year = tm.tm_year + 1900;
	switch (reg) {
	case REG_SEC:
		tm.tm_sec = decode(c, v);
		break;
	case REG_MIN:
		tm.tm_min = decode(c, v);
		break;
	case REG_HOUR:
		if (c->ram[REG_B] & B_24H)
			tm.tm_hour = decode(c, v);
		else
			tm.tm_hour = decode(c, v & 0x7f) % 12 +
				     (v & 0x80 ? 12 : 0);
		break;
	case REG_WDAY: /* kept while setting; otherwise follows the date */
		tm.tm_wday = decode(c, v) - 1;
		break;
	case REG_MDAY:
		tm.tm_mday = decode(c, v);
		break;
	case REG_MON:
		tm.tm_mon = decode(c, v) - 1;
		break;
	case REG_YEAR:
		tm.tm_year = year / 100 * 100 + decode(c, v) - 1900;
		break;
	default: /* REG_CENTURY */
		tm.tm_year = decode(c, v) * 100 + year % 100 - 1900;
		break;
	}
	if (c->ram[REG_B] & B_SET) {
		c->set_tm = tm;
	} else {
		time_t t = timegm(&tm);
		/* timegm normalized tm; refuse a time before year 0 (e.g.
		 * month 0 in January of year 0): the year registers cannot
		 * encode it and encode() would shift a negative value. */
		if (t != (time_t)-1 && tm.tm_year >= -1900)
			c->offset = t - time(NULL);
	}
}

static void write_b(struct cmos *c, uint8_t v)
{
	uint8_t old = c->ram[REG_B];

	if (!(old & B_SET) && (v & B_SET)) {
		current_tm(c, &c->set_tm); /* freeze */
	} else if ((old & B_SET) && !(v & B_SET)) {
		time_t t = timegm(&c->set_tm); /* run from the set time */
		/* Not before year 0, as in time_write. */
		if (t != (time_t)-1 && c->set_tm.tm_year >= -1900)
			c->offset = t - time(NULL);
	}
	c->ram[REG_B] = v;
}

static uint8_t data_read(struct cmos *c)
{
	unsigned reg = c->index;
	uint8_t v;

	if (is_time_reg(reg))
		return time_read(c, reg);
	switch (reg) {
	case REG_A: /* no update is ever in progress */
		return c->ram[REG_A] & (uint8_t)~A_UIP;
	case REG_C: /* interrupt flags, cleared by reading */
		v = c->ram[REG_C];
		c->ram[REG_C] = 0;
		return v;
	case REG_D:
		return D_VRT;
	default:
		return c->ram[reg];
	}
}

static void data_write(struct cmos *c, uint8_t v)
{
	unsigned reg = c->index;

	if (is_time_reg(reg)) {
		time_write(c, reg, v);
		return;
	}
	switch (reg) {
	case REG_A:
		c->ram[REG_A] = v & (uint8_t)~A_UIP;
		break;
	case REG_B:
		write_b(c, v);
		break;
	case REG_C: /* read-only */
	case REG_D:
		break;
	default: /* alarms and plain CMOS RAM, memory sizes included */
		c->ram[reg] = v;
		break;
	}
}

static uint64_t cap(uint64_t v, uint64_t max)
{
	return v > max ? max : v;
}

static void set_word(struct cmos *c, unsigned reg, uint64_t v)
{
	c->ram[reg] = (uint8_t)v;
	c->ram[reg + 1] = (uint8_t)(v >> 8);
}

struct cmos *cmos_new(uint64_t low_ram, uint64_t high_ram)
{
	struct cmos *c = calloc(1, sizeof(*c));
	uint64_t v;

	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL)) {
		free(c);
		return NULL;
	}
	c->ram[REG_A] = A_DEFAULT;
	c->ram[REG_B] = B_DEFAULT;
	c->ram[REG_D] = D_VRT;

	set_word(c, REG_BASE_KB, 640);
	/* KiB above 1 MiB; 16 bits cannot count past 64 MiB. */
	v = low_ram > MIB ? cap((low_ram - MIB) / KIB, 0xffff) : 0;
	set_word(c, REG_EXT_KB, v);
	set_word(c, REG_EXT_KB2, v);
	/* 64 KiB blocks from 16 MiB to the low memory end. */
	v = low_ram > 16 * MIB ? cap((low_ram - 16 * MIB) / (64 * KIB), 0xffff)
			       : 0;
	set_word(c, REG_BLOCKS_16M, v);
	/* 64 KiB blocks above 4 GiB, 24 bits. */
	v = cap(high_ram / (64 * KIB), 0xffffff);
	c->ram[REG_BLOCKS_4G] = (uint8_t)v;
	c->ram[REG_BLOCKS_4G + 1] = (uint8_t)(v >> 8);
	c->ram[REG_BLOCKS_4G + 2] = (uint8_t)(v >> 16);
	return c;
}

void cmos_free(struct cmos *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void cmos_io(void *opaque, uint64_t offset, void *data, uint32_t len,
	     bool is_write)
{
	struct cmos *c = opaque;
	uint8_t *bytes = data;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t port = offset + i;

		if (port == 0) {
			/* The index port is write-only. */
			if (is_write) {
				c->index = bytes[i] & 0x7f;
				c->nmi_disabled = bytes[i] & 0x80;
			} else {
				bytes[i] = 0xff;
			}
		} else if (port == 1) {
			if (is_write)
				data_write(c, bytes[i]);
			else
				bytes[i] = data_read(c);
		} else if (!is_write) {
			bytes[i] = 0xff;
		}
	}
	pthread_mutex_unlock(&c->lock);
}
