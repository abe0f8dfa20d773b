/* Unit tests for the Linux boot protocol loader (boot/linux.c) and the
 * LONG64 entry state (boot/cpu_state.c).
 *
 * The main test boots the real Debian bzImage named by $VSB_KERNEL (default
 * .cache/vmlinuz in the repository) into a 512 MiB buffer and checks the
 * zero page, the copied kernel, the page tables and the GDT against the
 * boot protocol. Error cases use small synthetic bzImages built here. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../boot/boot.h"
#include "guest_buf.h"

#define MiB (1ULL << 20)

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) | (uint32_t)g16(p + 2) << 16;
}

static uint64_t g64(const uint8_t *p)
{
	return (uint64_t)g32(p) | (uint64_t)g32(p + 4) << 32;
}

static void p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void p32(uint8_t *p, uint32_t v)
{
	p16(p, (uint16_t)v);
	p16(p + 2, (uint16_t)(v >> 16));
}

static void p64(uint8_t *p, uint64_t v)
{
	p32(p, (uint32_t)v);
	p32(p + 4, (uint32_t)(v >> 32));
}

/* ---- the real kernel ---- */

static uint8_t *kernel_img;
static size_t kernel_len;

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int load_kernel(void **state)
{
	const char *path = getenv("VSB_KERNEL");

	(void)state;
	if (path) {
		kernel_img = read_file(path, &kernel_len);
	} else {
		/* From the repository root, or from the source's directory
		 * when run from elsewhere. */
		kernel_img = read_file(".cache/vmlinuz", &kernel_len);
		if (!kernel_img) {
			char alt[4096];
			const char *slash = strrchr(__FILE__, '/');

			snprintf(alt, sizeof(alt), "%.*s/../../.cache/vmlinuz",
				 slash ? (int)(slash - __FILE__) : 1,
				 slash ? __FILE__ : ".");
			kernel_img = read_file(alt, &kernel_len);
		}
	}
	return 0;
}

static int free_kernel(void **state)
{
	(void)state;
	free(kernel_img);
	return 0;
}

#define NEED_KERNEL()                                                      \
	do {                                                               \
		if (!kernel_img) {                                         \
			print_message("no kernel ($VSB_KERNEL or "         \
				      ".cache/vmlinuz): skipped\n");       \
			skip();                                            \
		}                                                          \
	} while (0)

/* Follows the identity page tables like the MMU does (4-level, with 2 MiB
 * and 1 GiB leaves); returns the physical address or ~0 if unmapped. */
static uint64_t walk(const struct guest_mem *m, uint64_t cr3, uint64_t va)
{
	uint64_t table = cr3 & ~0xFFFULL;

	for (int level = 3; level >= 0; level--) {
		unsigned idx = (va >> (12 + 9 * level)) & 511;
		const uint8_t *p = gmem_ptr(m, table + idx * 8, 8);
		uint64_t e;

		if (!p)
			return ~0ULL;
		e = g64(p);
		if (!(e & 1))
			return ~0ULL;
		if ((level == 1 || level == 2) && (e & 0x80)) {
			uint64_t span = 1ULL << (12 + 9 * level);

			return (e & 0x000FFFFFFFFFF000ULL & ~(span - 1)) |
			       (va & (span - 1));
		}
		table = e & 0x000FFFFFFFFFF000ULL;
		if (level == 0)
			return table | (va & 0xFFF);
	}
	return ~0ULL;
}

static uint64_t gdt_entry(const struct guest_mem *m, uint64_t base,
			  unsigned sel)
{
	const uint8_t *p = gmem_ptr(m, base + sel, 8);

	assert_non_null(p);
	return g64(p);
}

/* Header bytes the loader owns (boot.rst: fields of type write/modify). */
static bool loader_field(unsigned off)
{
	return (off >= 0x1FA && off < 0x1FC) || /* vid_mode */
	       off == 0x210 || off == 0x211 ||    /* type_of_loader, flags */
	       (off >= 0x218 && off < 0x220) ||   /* ramdisk image/size */
	       (off >= 0x224 && off < 0x226) ||   /* heap_end_ptr */
	       (off >= 0x228 && off < 0x22C) ||   /* cmd_line_ptr */
	       (off >= 0x23C && off < 0x248) ||   /* hardware_subarch(_data) */
	       (off >= 0x250 && off < 0x258);     /* setup_data */
}

static void test_real_kernel(void **state)
{
	static const char cmdline[] = "console=ttyS0 earlyprintk=serial quiet";
	size_t initrd_len = 3 * MiB + 123;
	uint8_t *initrd = malloc(initrd_len);
	struct guest g;
	struct e820_map map;
	struct boot_entry e;
	char err[256] = "";
	const uint8_t *zp;
	unsigned setup_sects, hdr_end;
	uint64_t load, payload_off, rd_addr, rd_size, init_size, top;

	(void)state;
	NEED_KERNEL();
	assert_int_equal(image_probe(kernel_img, kernel_len), IMAGE_BZIMAGE);
	assert_non_null(initrd);
	for (size_t i = 0; i < initrd_len; i++)
		initrd[i] = (uint8_t)(i * 7 + 3);
	guest_new(&g, 512 * MiB);
	e820_build(&g.m, &map);
	struct boot_params_in in = {
		.kernel = kernel_img, .kernel_len = kernel_len,
		.initrd = initrd, .initrd_len = initrd_len,
		.cmdline = cmdline, .e820 = &map,
	};
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);

	zp = gmem_ptr(&g.m, BOOT_ZERO_PAGE_ADDR, 4096);
	assert_non_null(zp);
	/* The setup header came from the image, byte for byte, except for
	 * the fields a loader writes. */
	assert_int_equal(g16(zp + 0x1FE), 0xAA55);
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_true(g16(zp + 0x206) >= 0x20C);
	hdr_end = 0x202 + kernel_img[0x201];
	for (unsigned off = 0x1F1; off < hdr_end; off++)
		if (!loader_field(off))
			assert_int_equal(zp[off], kernel_img[off]);
	assert_true(all_zero(zp + hdr_end, 0x290 - hdr_end));
	assert_int_equal(zp[0x210], 0xFF);         /* type_of_loader */
	assert_true(zp[0x211] & 0x80);             /* CAN_USE_HEAP */
	assert_true(zp[0x211] & 0x01);             /* LOADED_HIGH kept */
	assert_int_equal(g16(zp + 0x224), 0xFE00); /* heap_end_ptr */
	assert_int_equal(g16(zp + 0x1FA), 0xFFFF); /* vid_mode */
	assert_int_equal(zp[0x1EF], 0);            /* sentinel */
	assert_int_equal(g64(zp + 0x250), 0);      /* no setup_data */
	assert_int_equal(g32(zp + 0x23C), 0);      /* hardware_subarch PC */

	/* Command line. */
	assert_int_equal(g32(zp + 0x228), BOOT_CMDLINE_ADDR);
	assert_int_equal(g32(zp + 0x0C8), 0);
	assert_string_equal((const char *)gmem_ptr(&g.m, g32(zp + 0x228),
						   sizeof(cmdline)),
			    cmdline);

	/* Kernel: the protected-mode part, at pref_address (relocatable). */
	setup_sects = kernel_img[0x1F1] ? kernel_img[0x1F1] : 4;
	payload_off = (setup_sects + 1) * 512ULL;
	load = g64(kernel_img + 0x258);
	assert_true(kernel_img[0x234]); /* Debian kernels are relocatable */
	assert_memory_equal(gmem_ptr(&g.m, load, kernel_len - payload_off),
			    kernel_img + payload_off, kernel_len - payload_off);
	assert_true(all_zero(g.buf + 0x100000, load - 0x100000));
	assert_int_equal(e.mode, BOOT_MODE_LONG64);
	assert_int_equal(e.rip, load + 0x200);
	assert_int_equal(e.rsi, BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(e.cr3, BOOT_PML4_ADDR);
	assert_int_equal(e.gdt_base, BOOT_GDT_ADDR);
	assert_int_equal(e.gdt_limit, BOOT_GDT_LIMIT);

	/* Initrd: page aligned, above the kernel's init_size, below
	 * initrd_addr_max and the end of RAM, contents intact. */
	rd_addr = g32(zp + 0x218) | (uint64_t)g32(zp + 0x0C0) << 32;
	rd_size = g32(zp + 0x21C) | (uint64_t)g32(zp + 0x0C4) << 32;
	init_size = g32(zp + 0x260);
	top = (uint64_t)g32(zp + 0x22C) + 1;
	if (top > 512 * MiB)
		top = 512 * MiB;
	assert_int_equal(rd_size, initrd_len);
	assert_int_equal(rd_addr & 0xFFF, 0);
	assert_true(rd_addr >= load + init_size);
	assert_true(rd_addr + rd_size <= top);
	assert_true(rd_addr + rd_size + 4096 > top); /* placed high */
	assert_memory_equal(gmem_ptr(&g.m, rd_addr, rd_size), initrd,
			    initrd_len);

	/* e820 table in the zero page: 20-byte packed entries at 0x2D0. */
	assert_int_equal(zp[0x1E8], map.n);
	for (unsigned i = 0; i < map.n; i++) {
		const uint8_t *t = zp + 0x2D0 + 20 * i;

		assert_int_equal(g64(t), map.e[i].addr);
		assert_int_equal(g64(t + 8), map.e[i].size);
		assert_int_equal(g32(t + 16), map.e[i].type);
	}

	/* Identity paging of the low 4 GiB. */
	assert_int_equal(walk(&g.m, e.cr3, 0x12345678), 0x12345678);
	assert_int_equal(walk(&g.m, e.cr3, 0), 0);
	assert_int_equal(walk(&g.m, e.cr3, e.rip), e.rip);
	assert_int_equal(walk(&g.m, e.cr3, BOOT_ZERO_PAGE_ADDR + 0x123),
			 BOOT_ZERO_PAGE_ADDR + 0x123);
	assert_int_equal(walk(&g.m, e.cr3, 0xFFFFFFFFULL), 0xFFFFFFFFULL);
	assert_int_equal(walk(&g.m, e.cr3, 0x100000000ULL), ~0ULL);

	/* GDT: __BOOT_CS (0x10) is present 64-bit code (L=1, D=0),
	 * __BOOT_DS (0x18) is present writable data. */
	uint64_t cs = gdt_entry(&g.m, e.gdt_base, 0x10);
	uint64_t ds = gdt_entry(&g.m, e.gdt_base, 0x18);

	assert_true(cs >> 47 & 1);  /* P */
	assert_true(cs >> 44 & 1);  /* S: code/data */
	assert_true(cs >> 43 & 1);  /* executable */
	assert_true(cs >> 53 & 1);  /* L */
	assert_false(cs >> 54 & 1); /* D must be 0 with L */
	assert_true(ds >> 47 & 1);
	assert_false(ds >> 43 & 1); /* data */
	assert_true(ds >> 41 & 1);  /* writable */
	assert_int_equal(gdt_entry(&g.m, e.gdt_base, 0), 0);

	free(initrd);
	free(g.buf);
}

static void test_cpu_state_long64(void **state)
{
	struct boot_entry e = {
		.mode = BOOT_MODE_LONG64, .rip = 0x1000200,
		.rsi = BOOT_ZERO_PAGE_ADDR, .cr3 = BOOT_PML4_ADDR,
		.gdt_base = BOOT_GDT_ADDR, .gdt_limit = BOOT_GDT_LIMIT,
	};
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	(void)state;
	memset(&regs, 0xAA, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	sregs.apic_base = 0xFEE00900; /* must survive */
	boot_cpu_state(&e, &regs, &sregs);
	assert_int_equal(regs.rip, 0x1000200);
	assert_int_equal(regs.rsi, BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(regs.rflags, 0x2);
	assert_int_equal(regs.rax, 0);
	assert_int_equal(sregs.apic_base, 0xFEE00900);
	assert_int_equal(sregs.cs.selector, 0x10);
	assert_int_equal(sregs.cs.l, 1);
	assert_int_equal(sregs.cs.db, 0);
	assert_int_equal(sregs.cs.type, 0xB);
	assert_int_equal(sregs.cs.present, 1);
	assert_int_equal(sregs.ds.selector, 0x18);
	assert_int_equal(sregs.ss.selector, 0x18);
	assert_int_equal(sregs.ds.type, 0x3);
	assert_int_equal(sregs.ds.limit, 0xFFFFFFFF);
	assert_int_equal(sregs.tr.type, 0xB);
	assert_int_equal(sregs.tr.present, 1);
	assert_int_equal(sregs.tr.s, 0);
	assert_int_equal(sregs.ldt.type, 0x2);
	assert_int_equal(sregs.cr0 & 0x80000011, 0x80000011);
	assert_int_equal(sregs.cr3, BOOT_PML4_ADDR);
	assert_int_equal(sregs.cr4, 0x20);
	assert_int_equal(sregs.efer, 0x500);
	assert_int_equal(sregs.gdt.base, BOOT_GDT_ADDR);
	assert_int_equal(sregs.gdt.limit, BOOT_GDT_LIMIT);
}

static void test_no_initrd_no_cmdline(void **state)
{
	struct guest g;
	struct boot_entry e;
	char err[256] = "";
	const uint8_t *zp;

	(void)state;
	NEED_KERNEL();
	guest_new(&g, 512 * MiB);
	struct boot_params_in in = { .kernel = kernel_img,
				     .kernel_len = kernel_len };
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	zp = gmem_ptr(&g.m, BOOT_ZERO_PAGE_ADDR, 4096);
	assert_int_equal(g32(zp + 0x218), 0);
	assert_int_equal(g32(zp + 0x21C), 0);
	assert_int_equal(zp[0x1E8], 4); /* e820_build's map by default */
	assert_int_equal(g.buf[BOOT_CMDLINE_ADDR], 0);
	free(g.buf);
}

/* A framebuffer is described as a VESA linear framebuffer (screen_info,
 * the first 0x40 bytes of the zero page) that sysfb matches as x8r8g8b8;
 * one that screen_info cannot describe is refused. */
static void test_framebuffer_screen_info(void **state)
{
	struct guest g;
	struct boot_entry e;
	char err[256] = "";
	const uint8_t *zp;
	struct boot_fb fb = { .base = 0xD0000000, .width = 1024,
			      .height = 768, .stride = 4096 };

	(void)state;
	NEED_KERNEL();
	guest_new(&g, 512 * MiB);
	struct boot_params_in in = { .kernel = kernel_img,
				     .kernel_len = kernel_len, .fb = &fb };
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	zp = gmem_ptr(&g.m, BOOT_ZERO_PAGE_ADDR, 4096);
	assert_int_equal(zp[0x0F], 0x23);            /* VIDEO_TYPE_VLFB */
	assert_int_equal(g16(zp + 0x12), 1024);      /* lfb_width */
	assert_int_equal(g16(zp + 0x14), 768);       /* lfb_height */
	assert_int_equal(g16(zp + 0x16), 32);        /* lfb_depth */
	assert_int_equal(g32(zp + 0x18), 0xD0000000); /* lfb_base */
	assert_int_equal(g32(zp + 0x1C), 48);        /* 3 MiB in 64 KiB */
	assert_int_equal(g16(zp + 0x24), 4096);      /* lfb_linelength */
	static const uint8_t masks[8] = { 8, 16, 8, 8, 8, 0, 0, 0 };
	assert_memory_equal(zp + 0x26, masks, 8);    /* r, g, b, rsvd */
	assert_int_equal(g32(zp + 0x3A), 0);         /* ext_lfb_base */
	free(g.buf);

	guest_new(&g, 512 * MiB);
	fb.base = 0xFFF00000; /* the frame would cross 4 GiB */
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "framebuffer"));
	free(g.buf);
}

/* Error checks share this: the error, a message, and no guest writes. */
static void expect_fail(struct guest *g, const struct boot_params_in *in,
			int want)
{
	struct boot_entry e;
	char err[256] = "";

	assert_int_equal(linux_load(&g->m, in, &e, err, sizeof(err)), want);
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	assert_true(all_zero(g->buf, g->m.size));
}

static void test_real_kernel_errors(void **state)
{
	struct guest g;
	char cmd[2100];
	size_t cmdline_size;

	(void)state;
	NEED_KERNEL();
	cmdline_size = g32(kernel_img + 0x238);
	assert_true(cmdline_size < sizeof(cmd));

	/* Kernel larger than RAM. */
	guest_new(&g, 4 * MiB);
	struct boot_params_in in = { .kernel = kernel_img,
				     .kernel_len = kernel_len };
	expect_fail(&g, &in, -ENOMEM);
	free(g.buf);

	guest_new(&g, 512 * MiB);
	/* Command line: cmdline_size bytes fit, one more does not. */
	memset(cmd, 'x', cmdline_size + 1);
	cmd[cmdline_size + 1] = '\0';
	in.cmdline = cmd;
	expect_fail(&g, &in, -E2BIG);
	cmd[cmdline_size] = '\0';
	struct boot_entry e;
	char err[256];

	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(strlen((char *)g.buf + BOOT_CMDLINE_ADDR),
			 cmdline_size);
	memset(g.buf, 0, g.m.size);
	in.cmdline = NULL;

	/* Truncated: inside the setup sectors, and after them (syssize). */
	in.kernel_len = 0x1000;
	expect_fail(&g, &in, -EINVAL);
	in.kernel_len = (kernel_img[0x1F1] + 1) * 512 + 1000;
	expect_fail(&g, &in, -EINVAL);
	in.kernel_len = kernel_len - 4096;
	expect_fail(&g, &in, -EINVAL);
	in.kernel_len = kernel_len;

	/* An initrd larger than RAM below initrd_addr_max. The loader fails
	 * before reading it, so a small buffer stands in. */
	static const uint8_t dummy[16];
	in.initrd = dummy;
	in.initrd_len = 500 * MiB;
	expect_fail(&g, &in, -ENOMEM);
	free(g.buf);
}

/* ---- synthetic images ---- */

#define SYN_SETUP_SECTS 1
#define SYN_PAYLOAD     4096
#define SYN_LEN         ((SYN_SETUP_SECTS + 1) * 512 + SYN_PAYLOAD)

/* A minimal well-formed bzImage: header only, payload of a known pattern. */
static void make_bz(uint8_t *img)
{
	memset(img, 0, SYN_LEN);
	img[0x1F1] = SYN_SETUP_SECTS;
	p32(img + 0x1F4, SYN_PAYLOAD / 16);    /* syssize */
	p16(img + 0x1FE, 0xAA55);
	img[0x200] = 0xEB;                     /* jmp short */
	img[0x201] = 0x6A;                     /* header ends at 0x26C */
	memcpy(img + 0x202, "HdrS", 4);
	p16(img + 0x206, 0x020F);              /* protocol 2.15 */
	img[0x211] = 0x01;                     /* LOADED_HIGH */
	p32(img + 0x22C, 0x7FFFFFFF);          /* initrd_addr_max */
	p32(img + 0x230, 0x200000);            /* kernel_alignment */
	img[0x234] = 1;                        /* relocatable */
	p16(img + 0x236, 0x1);                 /* XLF_KERNEL_64 */
	p32(img + 0x238, 255);                 /* cmdline_size */
	p64(img + 0x258, 0x1000000);           /* pref_address */
	p32(img + 0x260, 0x100000);            /* init_size */
	for (unsigned i = 0; i < SYN_PAYLOAD; i++)
		img[(SYN_SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i ^ 0x5A);
}

static void test_synthetic_ok(void **state)
{
	uint8_t img[SYN_LEN];
	struct guest g;
	struct boot_entry e;
	char err[256] = "";

	(void)state;
	make_bz(img);
	assert_int_equal(image_probe(img, sizeof(img)), IMAGE_BZIMAGE);
	guest_new(&g, 64 * MiB);
	struct boot_params_in in = { .kernel = img, .kernel_len = SYN_LEN,
				     .cmdline = "hello" };
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(e.rip, 0x1000200);
	assert_memory_equal(g.buf + 0x1000000, img + 1024, SYN_PAYLOAD);

	/* A preset setup_data pointer from the image is not passed on. */
	memset(g.buf, 0, g.m.size);
	p64(img + 0x250, 0xDEADBEEF);
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(g64(g.buf + BOOT_ZERO_PAGE_ADDR + 0x250), 0);

	/* Not relocatable, no pref_address: loaded at 1 MiB. */
	memset(g.buf, 0, g.m.size);
	img[0x234] = 0;
	p64(img + 0x258, 0);
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(e.rip, 0x100200);
	assert_memory_equal(g.buf + 0x100000, img + 1024, SYN_PAYLOAD);

	/* setup_sects 0 means 4. */
	uint8_t big[5 * 512 + SYN_PAYLOAD];

	memset(big, 0, sizeof(big));
	memcpy(big, img, 1024);
	big[0x1F1] = 0;
	memcpy(big + 5 * 512, img + 1024, SYN_PAYLOAD);
	in.kernel = big;
	in.kernel_len = sizeof(big);
	memset(g.buf, 0, g.m.size);
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_memory_equal(g.buf + 0x100000, img + 1024, SYN_PAYLOAD);
	free(g.buf);
}

static void test_synthetic_errors(void **state)
{
	uint8_t img[SYN_LEN];
	struct guest g;
	char cmd[300];

	(void)state;
	guest_new(&g, 64 * MiB);
	struct boot_params_in in = { .kernel = img, .kernel_len = SYN_LEN };

	make_bz(img);
	img[0x205] = 'X'; /* HdrX */
	expect_fail(&g, &in, -ENOEXEC);
	make_bz(img);
	p16(img + 0x1FE, 0x55AA);
	expect_fail(&g, &in, -ENOEXEC);
	make_bz(img);
	p16(img + 0x206, 0x0205); /* too old */
	expect_fail(&g, &in, -ENOEXEC);
	make_bz(img);
	p16(img + 0x206, 0x020B); /* 2.11: no xloadflags */
	expect_fail(&g, &in, -ENOEXEC);
	make_bz(img);
	p16(img + 0x236, 0x2); /* no XLF_KERNEL_64 */
	expect_fail(&g, &in, -ENOEXEC);

	make_bz(img);
	p32(img + 0x1F4, 0); /* syssize 0 */
	expect_fail(&g, &in, -EINVAL);
	make_bz(img);
	p32(img + 0x1F4, SYN_PAYLOAD / 16 + 1); /* more than the file */
	expect_fail(&g, &in, -EINVAL);
	make_bz(img);
	img[0x1F1] = 200; /* setup beyond the file */
	expect_fail(&g, &in, -EINVAL);
	make_bz(img);
	img[0x201] = 0x10; /* header too short for its version */
	expect_fail(&g, &in, -EINVAL);
	make_bz(img);
	p64(img + 0x258, 0x7000); /* pref_address on the zero page */
	expect_fail(&g, &in, -EINVAL);
	make_bz(img);
	p32(img + 0x230, 0x300000); /* alignment not a power of two */
	expect_fail(&g, &in, -EINVAL);

	make_bz(img);
	p32(img + 0x260, 0xFFFFFFF0); /* init_size beyond RAM */
	expect_fail(&g, &in, -ENOMEM);
	make_bz(img);
	p64(img + 0x258, 0x3F80000); /* runs at 63.5 MiB: init_size won't fit */
	expect_fail(&g, &in, -ENOMEM);
	make_bz(img);
	p32(img + 0x22C, 0x1000FFF); /* initrd must end below 16 MiB + 4K */
	static const uint8_t rd[8192];
	in.initrd = rd;
	in.initrd_len = sizeof(rd);
	expect_fail(&g, &in, -ENOMEM);
	in.initrd = NULL;
	expect_fail(&g, &in, -EINVAL); /* length without data */
	in.initrd_len = 0;

	make_bz(img);
	memset(cmd, 'y', 256);
	cmd[256] = '\0';
	in.cmdline = cmd;
	expect_fail(&g, &in, -E2BIG);
	in.cmdline = NULL;
	free(g.buf);

	/* RAM too small even for the fixed areas. */
	guest_new(&g, 64 * 1024);
	expect_fail(&g, &in, -ENOMEM);
	free(g.buf);
}

/* Every length from 0 to 600 bytes, of junk, of a valid header and of the
 * real kernel: must fail cleanly, never crash or write. */
static void test_tiny_images(void **state)
{
	uint8_t junk[600], syn[SYN_LEN];
	struct guest g;
	struct boot_entry e;
	char err[64];
	uint32_t x = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (uint8_t)(x >> 16);
	}
	make_bz(syn);
	guest_new(&g, 16 * MiB);
	for (size_t len = 0; len <= 600; len++) {
		const uint8_t *srcs[] = { junk, syn, kernel_img };

		for (size_t s = 0; s < 3; s++) {
			if (!srcs[s])
				continue;
			struct boot_params_in in = { .kernel = srcs[s],
						     .kernel_len = len };
			int rc = linux_load(&g.m, &in, &e, err, sizeof(err));

			assert_true(rc == -EINVAL || rc == -ENOEXEC);
			(void)image_probe(srcs[s], len);
		}
	}
	struct boot_params_in in0 = { .kernel = NULL, .kernel_len = 0 };
	assert_int_equal(linux_load(&g.m, &in0, &e, NULL, 0), -EINVAL);
	assert_int_equal(image_probe(NULL, 100), IMAGE_UNKNOWN);
	assert_true(all_zero(g.buf, g.m.size));
	free(g.buf);
}

/* Random corruption of the setup header of a valid synthetic image: the
 * loader may accept or reject, but must stay in bounds (run under ASan). */
static void test_header_mutations(void **state)
{
	uint8_t img[SYN_LEN];
	struct guest g;
	struct boot_entry e;
	char err[128];
	uint64_t x = 0x9E3779B97F4A7C15ULL;

	(void)state;
	guest_new(&g, 32 * MiB);
	for (int iter = 0; iter < 5000; iter++) {
		make_bz(img);
		int n = 1 + (int)(x % 6);

		for (int k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			unsigned off = 0x1F1 + (unsigned)(x % (0x270 - 0x1F1));
			uint8_t vals[] = { 0x00, 0xFF, 0x80, 0x7F, 0x01,
					   (uint8_t)(x >> 32) };

			img[off] = vals[(x >> 40) % sizeof(vals)];
		}
		static const uint8_t rd[4096];
		struct boot_params_in in = { .kernel = img,
					     .kernel_len = SYN_LEN,
					     .initrd = rd,
					     .initrd_len = (x & 1) ? sizeof(rd)
								   : 0,
					     .cmdline = "a b c" };
		int rc = linux_load(&g.m, &in, &e, err, sizeof(err));

		assert_true(rc == 0 || rc == -EINVAL || rc == -ENOEXEC ||
			    rc == -ENOMEM || rc == -E2BIG);
		if (rc == 0)
			assert_true(e.rip >= BOOT_KERNEL_MIN + 0x200 &&
				    e.rip < g.m.size);
	}
	free(g.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_kernel),
		cmocka_unit_test(test_no_initrd_no_cmdline),
		cmocka_unit_test(test_framebuffer_screen_info),
		cmocka_unit_test(test_real_kernel_errors),
		cmocka_unit_test(test_cpu_state_long64),
		cmocka_unit_test(test_synthetic_ok),
		cmocka_unit_test(test_synthetic_errors),
		cmocka_unit_test(test_tiny_images),
		cmocka_unit_test(test_header_mutations),
	};

	return cmocka_run_group_tests(tests, load_kernel, free_kernel);
}
