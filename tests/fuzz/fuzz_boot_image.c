/* libFuzzer target: the boot loaders (boot/), which parse the kernel image
 * a tenant or operator hands to vsbd. The input is the kernel image itself,
 * so real kernels and the PVH test guests serve as seeds unchanged; its
 * last byte also picks the other loader inputs (command line, initrd, e820
 * map, RAM size), since mutating a trailing byte rarely changes what an
 * image is.
 *
 * Each input goes through image_probe, then linux_load and pvh_load (both,
 * whatever the probe said) into a guest of (mostly) 32 MiB, then
 * boot_cpu_state.
 * Checked: no crash or sanitizer report; failures return a documented errno
 * with a reason and leave the loader's fixed areas untouched; successes
 * agree with the probe, put the entry point, kernel and initrd in usable
 * RAM with their bytes intact, fill the zero page / start info as boot.h
 * and boot/README.md say, and give an entry state whose GDT descriptor
 * matches the mode. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "boot/boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIB (1024 * 1024ULL)
#define RAM_SIZE (32 * MIB)
#define LOW_AREA 0x30000ULL /* GDT .. end of the command line area */
#define INITRD_BIG (3 * MIB)

static struct guest_mem gm;
static uint8_t *initrd_buf; /* INITRD_BIG bytes of a known pattern */
static char long_cmdline[BOOT_PVH_CMDLINE_MAX + 2]; /* too long for PVH */
static const uint8_t zeros[LOW_AREA];

static void setup_once(void)
{
	void *p;

	if (gm.host)
		return;
	/* Anonymous memory so that MADV_DONTNEED zeroes what a load touched
	 * without rewriting all 32 MiB per input. */
	p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		__builtin_trap();
	gmem_wrap(&gm, p, RAM_SIZE);
	/* malloc, not mmap: ASan's redzones catch a read past its end. */
	initrd_buf = malloc(INITRD_BIG);
	if (!initrd_buf)
		__builtin_trap();
	for (size_t i = 0; i < INITRD_BIG; i++)
		initrd_buf[i] = (uint8_t)(i * 7 + (i >> 12));
	memset(long_cmdline, 'x', sizeof(long_cmdline) - 1);
}

static void reset_ram(void)
{
	if (madvise(gm.host, gm.size, MADV_DONTNEED))
		__builtin_trap();
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* True if [addr, addr + len) is inside one RAM entry of map and touches no
 * other entry: an independent restatement of what the loaders promise. */
static bool usable(const struct e820_map *map, uint64_t addr, uint64_t len)
{
	bool in_ram = false;

	if (!len || addr + len < addr || !gmem_ptr(&gm, addr, len))
		return false;
	for (unsigned i = 0; i < map->n; i++) {
		const struct e820_entry *e = &map->e[i];
		uint64_t end = e->addr + e->size;
		bool inside = addr >= e->addr && addr + len <= end;
		bool touch = addr < end && e->addr < addr + len;

		if (e->type == E820_RAM && inside)
			in_ram = true;
		else if (e->type != E820_RAM && touch)
			return false;
	}
	return in_ram;
}

/* The loader inputs other than the kernel, chosen by the last byte. */
struct options {
	struct boot_params_in in;
	struct e820_map map; /* what the loader uses (built if in.e820 NULL) */
	struct e820_map custom;
};

static void pick_options(const uint8_t *data, size_t size, struct options *o)
{
	uint8_t sel = size ? data[size - 1] : 0;
	static char short_cmdline[64];

	memset(o, 0, sizeof(*o));
	o->in.kernel = data;
	o->in.kernel_len = size;
	switch (sel & 3) {
	case 0:
		break; /* no command line */
	case 1:
		o->in.cmdline = "console=ttyS0 root=/dev/vda";
		break;
	case 2:
		o->in.cmdline = long_cmdline;
		break;
	default: /* the first bytes of the image, up to a NUL */
		if (size)
			memcpy(short_cmdline, data, size < 63 ? size : 63);
		short_cmdline[size < 63 ? size : 63] = 0;
		o->in.cmdline = short_cmdline;
		break;
	}
	switch ((sel >> 2) & 3) {
	case 0:
		break; /* no initrd */
	case 1:
		o->in.initrd = initrd_buf;
		o->in.initrd_len = 4097; /* not a page multiple */
		break;
	case 2:
		o->in.initrd = initrd_buf;
		o->in.initrd_len = INITRD_BIG;
		break;
	default:
		o->in.initrd_len = 4096; /* length without data: -EINVAL */
		break;
	}
	/* Guest RAM: 32 MiB; an odd size; one too small for the Linux
	 * loader's fixed areas (PVH's still fit, with room for segments in
	 * low memory); one too small for both. The rest of the buffer is
	 * made inaccessible, so a write past guest RAM faults. */
	static const uint64_t ram_sizes[4] = { RAM_SIZE, 16 * MIB + 0x1000,
					       0x2f000, 0x20000 };
	gmem_wrap(&gm, gm.host, ram_sizes[sel >> 6]);
	if (gm.size < RAM_SIZE &&
	    mprotect(gm.host + gm.size, RAM_SIZE - gm.size, PROT_NONE))
		__builtin_trap();
	e820_build(&gm, &o->map);
	switch ((sel >> 4) & 3) {
	case 0:
		break; /* the loader builds the same map itself */
	case 1: /* a framebuffer carved out of RAM in the middle */
		e820_add(&o->map, 16 * MIB, MIB, E820_RESERVED);
		o->in.e820 = &o->map;
		break;
	case 2: /* reserved at the top of RAM: initrds must step below */
		e820_add(&o->map, 30 * MIB, 2 * MIB, E820_RESERVED);
		o->in.e820 = &o->map;
		break;
	default: /* a full map of small holes, one per MiB from 2 MiB up */
		for (uint64_t a = 2 * MIB; o->map.n < E820_MAX; a += MIB)
			e820_add(&o->map, a + 0x3000, 0x1000, E820_RESERVED);
		o->in.e820 = &o->map;
		break;
	}
}

static bool error_ok(int rc, const char *err)
{
	return (rc == -ENOEXEC || rc == -EINVAL || rc == -E2BIG ||
		rc == -ENOMEM) && err[0];
}

/* Bytes of [addr, addr + len) in guest RAM equal src. */
static bool ram_equals(uint64_t addr, const void *src, uint64_t len)
{
	const void *p = gmem_ptr(&gm, addr, len);

	return p && memcmp(p, src, len) == 0;
}

/* The descriptor the entry CS selects, as written in guest memory. */
static uint64_t gdt_desc(const struct boot_entry *e, uint16_t sel)
{
	const uint8_t *d = gmem_ptr(&gm, e->gdt_base + (sel & ~7u), 8);

	if (!d || (sel | 7u) > e->gdt_limit)
		__builtin_trap();
	return rd64(d);
}

/* Entry state common to both modes, and the GDT agreeing with it. */
static void check_cpu(const struct boot_entry *e, const struct options *o)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool long64 = e->mode == BOOT_MODE_LONG64;
	uint64_t d;

	memset(&sregs, 0, sizeof(sregs));
	boot_cpu_state(e, &regs, &sregs);
	if (regs.rip != e->rip || !(regs.rflags & 2) || (regs.rflags & 0x200) ||
	    !(sregs.cr0 & 1) || !!(sregs.cr0 & 0x80000000u) != long64 ||
	    !!(sregs.efer & 0x400) != long64 || sregs.cs.l != long64 ||
	    sregs.cs.db == long64 || sregs.gdt.base != e->gdt_base ||
	    sregs.gdt.limit != e->gdt_limit)
		__builtin_trap();
	/* The entry point is in usable RAM (not a hole, not past the end). */
	if (!usable(&o->map, e->rip, 1))
		__builtin_trap();
	/* A guest reloading CS from the GDT gets the same kind of segment:
	 * present code, L and D as in the hidden state. */
	d = gdt_desc(e, sregs.cs.selector);
	if (!(d >> 47 & 1) || !(d >> 43 & 1) ||
	    (d >> 53 & 1) != sregs.cs.l || (d >> 54 & 1) != sregs.cs.db)
		__builtin_trap();
	d = gdt_desc(e, sregs.ds.selector);
	if (!(d >> 47 & 1) || (d >> 43 & 1)) /* present data */
		__builtin_trap();
}

static void check_initrd(const struct options *o, uint64_t addr,
			 uint64_t len)
{
	if (len != o->in.initrd_len || (addr & 0xfff) ||
	    !usable(&o->map, addr, len) ||
	    !ram_equals(addr, o->in.initrd, len))
		__builtin_trap();
}

static void check_cmdline(const struct options *o, uint64_t paddr)
{
	const char *c = o->in.cmdline ? o->in.cmdline : "";

	if (paddr != BOOT_CMDLINE_ADDR ||
	    !ram_equals(BOOT_CMDLINE_ADDR, c, strlen(c) + 1))
		__builtin_trap();
}

static void check_linux(const uint8_t *img, size_t size,
			const struct boot_entry *e, const struct options *o)
{
	const uint8_t *zp = gmem_ptr(&gm, BOOT_ZERO_PAGE_ADDR, 4096);
	uint64_t setup = ((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512ULL;
	uint64_t load = e->rip - 0x200;
	uint64_t rd = rd32(zp + 0x218) | (uint64_t)rd32(zp + 0xc0) << 32;
	uint64_t rdlen = rd32(zp + 0x21c) | (uint64_t)rd32(zp + 0xc4) << 32;

	if (e->mode != BOOT_MODE_LONG64 || e->rsi != BOOT_ZERO_PAGE_ADDR ||
	    e->cr3 != BOOT_PML4_ADDR || e->rbx || e->rip < 0x200 ||
	    load < BOOT_KERNEL_MIN)
		__builtin_trap();
	/* The protected-mode kernel sits intact at the load address, in
	 * usable RAM: nothing written after it (initrd, zero page, tables)
	 * overlapped it. */
	if (setup >= size || !usable(&o->map, load, size - setup) ||
	    !ram_equals(load, img + setup, size - setup))
		__builtin_trap();
	/* Zero page: boot flag and HdrS copied, loader fields set, e820. */
	if (rd32(zp + 0x1fc) >> 16 != 0xAA55 || memcmp(zp + 0x202, "HdrS", 4) ||
	    zp[0x210] != 0xff || zp[0x1e8] != o->map.n ||
	    rd32(zp + 0x228) != BOOT_CMDLINE_ADDR || rd32(zp + 0xc8))
		__builtin_trap();
	check_cmdline(o, rd32(zp + 0x228));
	if (o->in.initrd_len) {
		/* Highest initrd byte within initrd_addr_max, above the
		 * kernel's copy. */
		if (rd + rdlen - 1 > rd32(zp + 0x22c) ||
		    rd < load + size - setup)
			__builtin_trap();
		check_initrd(o, rd, rdlen);
	} else if (rd || rdlen) {
		__builtin_trap();
	}
	/* The identity map's first entries. */
	if (rd64(gmem_ptr(&gm, BOOT_PML4_ADDR, 8)) !=
	    (BOOT_PDPT_ADDR | 3) ||
	    rd64(gmem_ptr(&gm, BOOT_PD_ADDR, 8)) != 0x83)
		__builtin_trap();
}

static void check_pvh(const struct boot_entry *e, const struct options *o)
{
	const uint8_t *si = gmem_ptr(&gm, BOOT_START_INFO_ADDR, 56);
	const uint8_t *mod = gmem_ptr(&gm, BOOT_START_INFO_ADDR + 0x40, 32);
	uint64_t memmap = rd64(si + 40);

	if (e->mode != BOOT_MODE_PROT32 || e->rbx != BOOT_START_INFO_ADDR ||
	    e->rsi || e->cr3 || e->rip > UINT32_MAX)
		__builtin_trap();
	if (rd32(si) != 0x336ec578 || rd32(si + 4) != 1 ||
	    rd32(si + 48) != o->map.n || !gmem_ptr(&gm, memmap, 24 * o->map.n))
		__builtin_trap();
	/* The memory map handed over is the map the loader used. */
	for (unsigned i = 0; i < o->map.n; i++) {
		const uint8_t *me = gmem_ptr(&gm, memmap + 24 * i, 24);

		if (rd64(me) != o->map.e[i].addr ||
		    rd64(me + 8) != o->map.e[i].size ||
		    rd32(me + 16) != o->map.e[i].type)
			__builtin_trap();
	}
	/* hvm_start_info: nr_modules at 12, modlist_paddr at 16,
	 * cmdline_paddr at 24. */
	if (o->in.cmdline)
		check_cmdline(o, rd64(si + 24));
	else if (rd64(si + 24))
		__builtin_trap();
	if (rd32(si + 12) != (o->in.initrd_len ? 1 : 0))
		__builtin_trap();
	if (o->in.initrd_len) {
		if (rd64(si + 16) != BOOT_START_INFO_ADDR + 0x40)
			__builtin_trap();
		check_initrd(o, rd64(mod), rd64(mod + 8));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct options o;
	struct boot_entry e;
	char err[256];
	enum image_kind kind;
	int rc;

	setup_once();
	pick_options(data, size, &o);
	kind = image_probe(data, size);
	if (kind != IMAGE_UNKNOWN && kind != IMAGE_BZIMAGE &&
	    kind != IMAGE_PVH_ELF)
		__builtin_trap();

	/* Both loaders on every image: the probe only picks one in vsbd,
	 * but each must reject what is not its format on its own. */
	for (int pvh = 0; pvh < 2; pvh++) {
		err[0] = 0;
		memset(&e, 0xa5, sizeof(e));
		rc = pvh ? pvh_load(&gm, &o.in, &e, err, sizeof(err))
			 : linux_load(&gm, &o.in, &e, err, sizeof(err));
		if (rc) {
			/* A rejected image writes nothing (boot/README.md);
			 * the fixed areas are where a slip would show. */
			if (!error_ok(rc, err) ||
			    memcmp(gm.host, zeros,
				   gm.size < LOW_AREA ? gm.size : LOW_AREA))
				__builtin_trap();
			reset_ram(); /* each run starts from zeroed RAM */
			continue;
		}
		/* Success means the probe would have chosen this loader (a
		 * bzImage that is also a PVH ELF probes as bzImage). */
		if (pvh ? kind == IMAGE_UNKNOWN : kind != IMAGE_BZIMAGE)
			__builtin_trap();
		if (pvh)
			check_pvh(&e, &o);
		else
			check_linux(data, size, &e, &o);
		check_cpu(&e, &o);
		reset_ram();
	}
	if (gm.size < RAM_SIZE &&
	    mprotect(gm.host, RAM_SIZE, PROT_READ | PROT_WRITE))
		__builtin_trap();
	return 0;
}
