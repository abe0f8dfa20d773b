/* Unit tests of the shadow framebuffer: dirty bitmap to rectangles, the
 * geometry option, (where /dev/kvm opens) the memfd slot with dirty
 * logging on a bare VM and, with a tiny guest writing the frame, the
 * switches between the dirty log and comparing, and the compare path of a
 * wrapped frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../boot/boot.h"
#include "framebuffer.h"

#define PAGE 4096u
#define MAXR 64
#define LBITS (sizeof(unsigned long) * 8)

struct rect {
	uint32_t x, y, w, h;
};

struct rects {
	struct rect r[MAXR];
	size_t n;
};

static void collect(void *ctx, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct rects *rs = ctx;

	assert_true(rs->n < MAXR);
	rs->r[rs->n++] = (struct rect){ x, y, w, h };
}

static void set_bit(unsigned long *map, size_t i)
{
	map[i / LBITS] |= 1UL << (i % LBITS);
}

#define ASSERT_RECT(rs, i, X, Y, W, H)                  \
	do {                                            \
		assert_int_equal((rs)->r[i].x, X);      \
		assert_int_equal((rs)->r[i].y, Y);      \
		assert_int_equal((rs)->r[i].w, W);      \
		assert_int_equal((rs)->r[i].h, H);      \
	} while (0)

/* 1024x768: stride 4096, so page p is exactly line p. */
static void test_single_page(void **state)
{
	unsigned long map[12] = { 0 };
	struct rects rs = { .n = 0 };

	(void)state;
	set_bit(map, 5);
	assert_int_equal(fb_bitmap_to_rects(map, 768, 4096, 1024, 768,
					    collect, &rs), 1);
	assert_int_equal(rs.n, 1);
	ASSERT_RECT(&rs, 0, 0, 5, 1024, 1);
}

static void test_empty(void **state)
{
	unsigned long map[12] = { 0 };
	struct rects rs = { .n = 0 };

	(void)state;
	assert_int_equal(fb_bitmap_to_rects(map, 768, 4096, 1024, 768,
					    collect, &rs), 0);
	assert_int_equal(rs.n, 0);
}

/* Consecutive pages merge into one run of lines; gaps split runs; runs
 * cross word boundaries. */
static void test_runs(void **state)
{
	unsigned long map[12] = { 0 };
	struct rects rs = { .n = 0 };

	(void)state;
	for (size_t i = 10; i < 20; i++)
		set_bit(map, i);
	for (size_t i = 60; i < 70; i++) /* spans words 0 and 1 */
		set_bit(map, i);
	set_bit(map, 127);
	set_bit(map, 128);
	assert_int_equal(fb_bitmap_to_rects(map, 768, 4096, 1024, 768,
					    collect, &rs), 3);
	ASSERT_RECT(&rs, 0, 0, 10, 1024, 10);
	ASSERT_RECT(&rs, 1, 0, 60, 1024, 10);
	ASSERT_RECT(&rs, 2, 0, 127, 1024, 2);
}

/* 800x600: stride 3200, so pages straddle lines. */
static void test_page_spans_two_rows(void **state)
{
	unsigned long map[10] = { 0 };
	struct rects rs = { .n = 0 };
	size_t npages = (800 * 4 * 600 + PAGE - 1) / PAGE; /* 469 */

	(void)state;
	set_bit(map, 1); /* bytes 4096..8191: lines 1 (from x 224) and 2 */
	assert_int_equal(fb_bitmap_to_rects(map, npages, 3200, 800, 600,
					    collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 1, 800, 2);
}

/* 1920x1080: stride 7680, so a line spans about two pages; a page inside
 * one line gives a span of that line, a page across two lines both lines. */
static void test_wide_stride(void **state)
{
	unsigned long map[(2025 + 63) / 64 * (64 / LBITS)];
	struct rects rs = { .n = 0 };
	size_t npages = (1920 * 4 * 1080 + PAGE - 1) / PAGE;

	(void)state;
	assert_int_equal(npages, 2025);
	memset(map, 0, sizeof(map));
	set_bit(map, 0); /* bytes 0..4095: line 0, x 0..1023 */
	set_bit(map, 2); /* bytes 8192..12287: line 1, x 128..1151 */
	set_bit(map, 5); /* bytes 20480..24575: lines 2 and 3 */
	assert_int_equal(fb_bitmap_to_rects(map, npages, 7680, 1920, 1080,
					    collect, &rs), 3);
	ASSERT_RECT(&rs, 0, 0, 0, 1024, 1);
	ASSERT_RECT(&rs, 1, 128, 1, 1024, 1);
	ASSERT_RECT(&rs, 2, 0, 2, 1920, 2);

	memset(map, 0, sizeof(map));
	rs.n = 0;
	set_bit(map, 4); /* bytes 16384..20479: line 2, x 256..1279 */
	assert_int_equal(fb_bitmap_to_rects(map, npages, 7680, 1920, 1080,
					    collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 256, 2, 1024, 1);

	memset(map, 0, sizeof(map));
	rs.n = 0;
	set_bit(map, 2024); /* the last page: line 1079 from x 896 */
	assert_int_equal(fb_bitmap_to_rects(map, npages, 7680, 1920, 1080,
					    collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 896, 1079, 1024, 1);
}

/* A stride wider than the visible line: padding bytes show nothing. */
static void test_padded_stride(void **state)
{
	unsigned long map[4] = { 0 };
	struct rects rs = { .n = 0 };

	(void)state;
	/* width 100 (400 bytes), stride 8192: page 1 is padding of line 0. */
	set_bit(map, 1);
	assert_int_equal(fb_bitmap_to_rects(map, 100, 8192, 100, 50, collect,
					    &rs), 0);
	set_bit(map, 2); /* pages 1-2: end of line 0 and start of line 1 */
	assert_int_equal(fb_bitmap_to_rects(map, 100, 8192, 100, 50, collect,
					    &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 0, 100, 2);
	/* page 2 alone: line 1, x 0..99 (bytes 0..4095 of it) */
	rs.n = 0;
	memset(map, 0, sizeof(map));
	set_bit(map, 2);
	assert_int_equal(fb_bitmap_to_rects(map, 100, 8192, 100, 50, collect,
					    &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 1, 100, 1);
}

/* The last page reaches past the frame: clipped to the last line; pages
 * wholly past the frame give nothing. */
static void test_last_page_clipped(void **state)
{
	unsigned long map[2] = { 0 };
	struct rects rs = { .n = 0 };

	(void)state;
	/* 100x100: 40000 bytes, 10 pages; page 9 = bytes 36864..39999 */
	set_bit(map, 9);
	set_bit(map, 10); /* beyond npages: ignored */
	assert_int_equal(fb_bitmap_to_rects(map, 10, 400, 100, 100, collect,
					    &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 92, 100, 8);

	/* The same with a bitmap covering more pages than the frame. */
	rs.n = 0;
	assert_int_equal(fb_bitmap_to_rects(map, 12, 400, 100, 100, collect,
					    &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 92, 100, 8);
	rs.n = 0;
	memset(map, 0, sizeof(map));
	set_bit(map, 11);
	assert_int_equal(fb_bitmap_to_rects(map, 12, 400, 100, 100, collect,
					    &rs), 0);
}

static void test_all_dirty(void **state)
{
	unsigned long map[12];
	struct rects rs = { .n = 0 };

	(void)state;
	memset(map, 0xff, sizeof(map));
	assert_int_equal(fb_bitmap_to_rects(map, 768, 4096, 1024, 768,
					    collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 0, 1024, 768);

	/* 800x600: 469 pages, the last one partly beyond the frame. */
	rs.n = 0;
	assert_int_equal(fb_bitmap_to_rects(map, 469, 3200, 800, 600, collect,
					    &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 0, 800, 600);
}

static void test_bad_args(void **state)
{
	unsigned long map[1] = { ~0UL };
	struct rects rs = { .n = 0 };

	(void)state;
	assert_int_equal(fb_bitmap_to_rects(map, 1, 0, 64, 64, collect, &rs),
			 0);
	assert_int_equal(fb_bitmap_to_rects(map, 1, 200, 64, 64, collect, &rs),
			 0); /* stride shorter than a line */
	assert_int_equal(fb_bitmap_to_rects(map, 0, 256, 64, 64, collect, &rs),
			 0);
	assert_int_equal(rs.n, 0);
}

static void test_parse_geometry(void **state)
{
	uint32_t w = 1, h = 1;

	(void)state;
	assert_true(fb_parse_geometry("1024x768", &w, &h));
	assert_int_equal(w, 1024);
	assert_int_equal(h, 768);
	assert_true(fb_parse_geometry("1920X1080", &w, &h));
	assert_int_equal(w, 1920);
	assert_int_equal(h, 1080);
	assert_true(fb_parse_geometry("64x64", &w, &h));
	assert_true(fb_parse_geometry("4096x4096", &w, &h)); /* 64 MiB */
	assert_int_equal(w, 4096);
	assert_true(fb_parse_geometry("0640x480", &w, &h));
	assert_int_equal(w, 640);

	static const char *const bad[] = {
		"", "x", "1024", "1024x", "x768", "1024x768x", "1024 x768",
		" 1024x768", "1024x768 ", "+1024x768", "-1024x768",
		"1024x-768", "63x768", "1024x63", "4097x64", "64x4097",
		"0x0", "99999999999999999999x768", "1024*768", "1024x768\n",
		"0x1p10x768",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = h = 7;
		if (fb_parse_geometry(bad[i], &w, &h))
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(w, 7); /* untouched on error */
		assert_int_equal(h, 7);
	}
	assert_false(fb_parse_geometry(NULL, &w, &h));
}

/* fb_init and fb_collect_dirty on a VM with nothing but this slot. */
static void test_kvm_slot(void **state)
{
	struct framebuffer fb;
	struct rects rs = { .n = 0 };
	int kvm, vm;

	(void)state;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		skip();
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		close(kvm);
		skip();
	}
	assert_int_equal(fb_init(&fb, vm, 1024, 768), 0);
	assert_int_equal(fb.stride, 4096);
	assert_int_equal(fb.size, 3u << 20);
	assert_int_equal(fb.npages, 768);
	assert_int_equal(fb.gpa, FB_GPA);
	assert_int_equal(fb.vm_fd, vm);
	assert_non_null(fb.pixels);
	for (size_t i = 0; i < fb.size; i += PAGE) /* zero-filled memfd */
		assert_int_equal(fb.pixels[i], 0);

	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);
	assert_int_equal(rs.n, 0);
	assert_false(fb_comparing(&fb));
	/* vsbd's own writes are not the guest's: KVM does not log them. */
	memset(fb.pixels, 0x5a, fb.size);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);
	assert_int_equal(rs.n, 0);
	fb_destroy(&fb);
	assert_null(fb.pixels);
	assert_int_equal(fb.memfd, -1);
	/* No slot left to log. */
	assert_true(fb_collect_dirty(&fb, collect, &rs) < 0);

	/* An odd size: the mapping is rounded up to whole pages. */
	assert_int_equal(fb_init(&fb, vm, 100, 100), 0);
	assert_int_equal(fb.size, 40960);
	assert_int_equal(fb.npages, 10);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);
	fb_destroy(&fb);

	/* Bad geometry or a bad VM fd: an error, nothing left behind. */
	assert_int_equal(fb_init(&fb, vm, 10, 10), -EINVAL);
	assert_null(fb.bitmap);
	assert_true(fb_init(&fb, kvm, 1024, 768) < 0); /* not a VM fd */
	assert_null(fb.pixels);
	assert_int_equal(fb.memfd, -1);
	close(vm);
	close(kvm);
}

/* ---- fb_init frames: the dirty log and bursts compared ---- */

static void put_px(uint8_t *px, uint32_t stride, uint32_t x, uint32_t y,
		   uint32_t v)
{
	memcpy(px + (size_t)y * stride + x * 4, &v, 4);
}

#define RAM_SIZE 0x10000
#define CODE_GPA 0x1000
#define BURST FB_BURST_PAGES(768)

/* Flat 32-bit code: stores eax at the start of ecx pages from edi. */
static const uint8_t writer_code[] = {
	0x89, 0x07,                         /* 1: mov [edi], eax */
	0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /*    add edi, 4096 */
	0x49,                               /*    dec ecx */
	0x75, 0xf5,                         /*    jnz 1b */
	0xf4,                               /*    hlt */
};

/* A VM with RAM for writer_code, one vCPU running it, and a 1024x768
 * frame (stride 4096: page p is line p). */
struct guest {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	struct framebuffer fb;
};

static int guest_vcpu(struct guest *g)
{
	struct boot_entry e = { .mode = BOOT_MODE_PROT32 };
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int n = ioctl(g->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);

	g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0UL);
	if (n <= 0 || g->vcpu < 0)
		return -1;
	g->run_size = (size_t)n;
	g->run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->vcpu, 0);
	if (g->run == MAP_FAILED || ioctl(g->vcpu, KVM_GET_SREGS, &sregs))
		return -1;
	/* The code never loads a selector: no GDT needed. */
	boot_cpu_state(&e, &regs, &sregs);
	return ioctl(g->vcpu, KVM_SET_SREGS, &sregs);
}

static int guest_setup(void **state)
{
	struct guest *g = calloc(1, sizeof(*g));
	struct kvm_userspace_memory_region ram = {
		.slot = 0,
		.memory_size = RAM_SIZE,
	};

	assert_non_null(g);
	*state = g;
	g->vm = g->vcpu = -1;
	g->run = MAP_FAILED;
	g->fb.memfd = g->fb.vm_fd = -1; /* as fb_destroy leaves it */
	g->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (g->kvm < 0)
		return 0; /* the test skips */
	g->vm = ioctl(g->kvm, KVM_CREATE_VM, 0);
	if (g->vm < 0)
		return 0;
	g->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->ram != MAP_FAILED);
	memcpy(g->ram + CODE_GPA, writer_code, sizeof(writer_code));
	ram.userspace_addr = (uintptr_t)g->ram;
	assert_int_equal(ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, &ram), 0);
	assert_int_equal(guest_vcpu(g), 0);
	assert_int_equal(fb_init(&g->fb, g->vm, 1024, 768), 0);
	return 0;
}

static int guest_teardown(void **state)
{
	struct guest *g = *state;

	if (g->vm >= 0)
		fb_destroy(&g->fb);
	if (g->run != MAP_FAILED)
		munmap(g->run, g->run_size);
	if (g->ram)
		munmap(g->ram, RAM_SIZE);
	if (g->vcpu >= 0)
		close(g->vcpu);
	if (g->vm >= 0)
		close(g->vm);
	if (g->kvm >= 0)
		close(g->kvm);
	free(g);
	return 0;
}

static struct guest *guest_or_skip(void **state)
{
	struct guest *g = *state;

	if (g->vm < 0)
		skip();
	return g;
}

/* The guest stores v at the start of pages first .. first + n - 1. */
static void guest_write(struct guest *g, uint32_t first, uint32_t n,
			uint32_t v)
{
	struct kvm_regs regs = {
		.rip = CODE_GPA,
		.rflags = 0x2,
		.rdi = FB_GPA + (uint64_t)first * PAGE,
		.rcx = n,
		.rax = v,
	};

	assert_int_equal(ioctl(g->vcpu, KVM_SET_REGS, &regs), 0);
	do {
		if (ioctl(g->vcpu, KVM_RUN, 0) < 0)
			assert_int_equal(errno, EINTR);
	} while (g->run->exit_reason == KVM_EXIT_INTR);
	if (g->run->exit_reason != KVM_EXIT_HLT)
		fail_msg("guest exit %u", g->run->exit_reason);
	for (uint32_t i = first; i < first + n; i++)
		assert_memory_equal(g->fb.pixels + (size_t)i * PAGE, &v, 4);
}

/* Whether the slot logs: KVM_GET_DIRTY_LOG is -ENOENT on one that does
 * not. Clears the log: call it only with nothing logged. */
static bool slot_logs(const struct guest *g)
{
	unsigned long map[768 / LBITS];
	struct kvm_dirty_log log = { .slot = FB_SLOT, .dirty_bitmap = map };

	if (!ioctl(g->vm, KVM_GET_DIRTY_LOG, &log))
		return true;
	assert_int_equal(errno, ENOENT);
	return false;
}

static void assert_log_mode(const struct guest *g)
{
	assert_false(fb_comparing(&g->fb));
	assert_int_equal(g->fb.mode, FB_LOG);
	assert_null(g->fb.shadow);
	assert_ptr_equal(fb_served_pixels(&g->fb), g->fb.pixels);
}

static void assert_compare_mode(const struct guest *g)
{
	assert_true(fb_comparing(&g->fb));
	assert_int_equal(g->fb.mode, FB_COMPARE);
	assert_non_null(g->fb.shadow);
	/* Served pixels stay the live frame, at the same address. */
	assert_ptr_equal(fb_served_pixels(&g->fb), g->fb.pixels);
}

/* Expects exactly one rectangle from a collect: whole lines y .. y+h-1. */
static void expect_lines(struct guest *g, uint32_t y, uint32_t h)
{
	struct rects rs = { .n = 0 };

	assert_int_equal(fb_collect_dirty(&g->fb, collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 0, y, 1024, h);
}

static void expect_nothing(struct guest *g)
{
	struct rects rs = { .n = 0 };

	assert_int_equal(fb_collect_dirty(&g->fb, collect, &rs), 0);
}

/* Enters COMPARE with a burst of the guest's writes from line 100. */
static void burst_to_compare(struct guest *g, uint32_t v)
{
	unsigned long before = g->fb.switches_to_compare;

	guest_write(g, 100, BURST, v);
	expect_lines(g, 100, BURST);
	assert_compare_mode(g);
	assert_int_equal(g->fb.switches_to_compare, before + 1);
	assert_false(slot_logs(g));
	assert_memory_equal(g->fb.shadow, g->fb.pixels, g->fb.size);
}

/* Fewer than FB_BURST_PAGES pages: reported from the log, which stays. */
static void test_log_small_writes(void **state)
{
	struct guest *g = guest_or_skip(state);

	assert_int_equal(BURST, 48);
	assert_int_equal(g->fb.calm_ms, FB_CALM_MS);
	assert_log_mode(g);
	expect_nothing(g);
	guest_write(g, 5, 5, 0x11);
	expect_lines(g, 5, 5);
	expect_nothing(g);
	guest_write(g, 200, BURST - 1, 0x22); /* one short of a burst */
	expect_lines(g, 200, BURST - 1);
	assert_log_mode(g);
	assert_int_equal(g->fb.switches_to_compare, 0);
	assert_true(slot_logs(g));
	/* vsbd's own writes are still not seen. */
	memset(g->fb.pixels, 0x5a, PAGE);
	expect_nothing(g);
}

/* A burst switches to comparing; then every change is found, the guest's
 * (with the log off) and the host's, and nothing twice. */
static void test_burst_compares(void **state)
{
	struct guest *g = guest_or_skip(state);

	g->fb.calm_ms = 3600 * 1000; /* no way back in this test */
	burst_to_compare(g, 0x33);
	expect_nothing(g);
	guest_write(g, 300, 1, 0x44);
	expect_lines(g, 300, 1);
	guest_write(g, 300, 1, 0x44); /* the same value: no change */
	expect_nothing(g);
	put_px(g->fb.pixels, 4096, 7, 400, 0x55);
	expect_lines(g, 400, 1);
	assert_compare_mode(g);
	assert_int_equal(g->fb.switches_to_log, 0);
}

/* In COMPARE, only a compare finding a burst restarts the calm period. */
static void test_burst_restarts_calm(void **state)
{
	struct guest *g = guest_or_skip(state);
	const struct timespec ms5 = { .tv_nsec = 5 * 1000 * 1000 };
	uint64_t entered;

	g->fb.calm_ms = 3600 * 1000;
	burst_to_compare(g, 0x33);
	entered = g->fb.burst_ms;
	assert_int_equal(nanosleep(&ms5, NULL), 0);
	guest_write(g, 300, BURST - 1, 0x66);
	expect_lines(g, 300, BURST - 1);
	assert_int_equal(g->fb.burst_ms, entered);
	guest_write(g, 300, BURST, 0x77);
	expect_lines(g, 300, BURST);
	assert_true(g->fb.burst_ms >= entered + 5);
	assert_compare_mode(g);
}

/* After the calm period, logging resumes: what changed just before is
 * reported by the last compare, what the guest writes after by the log. */
static void test_calm_back_to_log(void **state)
{
	struct guest *g = guest_or_skip(state);
	struct rects rs = { .n = 0 };

	burst_to_compare(g, 0x33);
	put_px(g->fb.pixels, 4096, 9, 500, 0x88);
	guest_write(g, 20, 2, 0x99);
	g->fb.calm_ms = 0;
	assert_int_equal(fb_collect_dirty(&g->fb, collect, &rs), 2);
	ASSERT_RECT(&rs, 0, 0, 20, 1024, 2);
	ASSERT_RECT(&rs, 1, 0, 500, 1024, 1);
	assert_log_mode(g);
	assert_int_equal(g->fb.switches_to_log, 1);
	assert_true(slot_logs(g));

	guest_write(g, 600, 3, 0xaa);
	expect_lines(g, 600, 3);
	put_px(g->fb.pixels, 4096, 9, 501, 0xbb); /* the log again: unseen */
	expect_nothing(g);
	/* And a burst compares again. */
	burst_to_compare(g, 0xcc);
	assert_int_equal(g->fb.switches_to_compare, 2);
}

/* fb_destroy while comparing frees the shadow (ASan's leak check) and
 * deletes the slot. */
static void test_destroy_comparing(void **state)
{
	struct guest *g = guest_or_skip(state);

	burst_to_compare(g, 0x33);
	fb_destroy(&g->fb);
	assert_null(g->fb.shadow);
	assert_null(g->fb.pixels);
	assert_int_equal(g->fb.memfd, -1);
	assert_false(slot_logs(g)); /* no slot 2 at all now */
	/* teardown's fb_destroy of a destroyed frame is harmless. */
}

/* ---- wrapped frames: the compare path ---- */

/* Changes are found by comparing with the shadow, reported once, and
 * the shadow (what is served) follows the frame. */
static void test_wrap_compare(void **state)
{
	struct framebuffer fb;
	struct rects rs = { .n = 0 };
	uint8_t *px = calloc(1024 * 768, 4);

	(void)state;
	assert_non_null(px);
	px[0] = 0x11; /* the shadow starts as a copy */
	assert_int_equal(fb_wrap(&fb, px, 1024, 768, 4096), 0);
	assert_ptr_equal(fb.pixels, px);
	assert_non_null(fb.shadow);
	assert_int_equal(fb.mode, FB_WRAPPED);
	assert_true(fb_comparing(&fb));
	assert_ptr_equal(fb_served_pixels(&fb), fb.shadow);
	assert_int_equal(fb.vm_fd, -1);
	assert_int_equal(fb.memfd, -1);
	assert_int_equal(fb.npages, 768);
	assert_memory_equal(fb.shadow, px, 1024 * 768 * 4);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);

	put_px(px, 4096, 10, 5, 0xff0000);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 5, 1024, 1);
	assert_memory_equal(fb.shadow, px, 1024 * 768 * 4);
	rs.n = 0;
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);

	/* Two runs, one of them across a bitmap word; a write of the same
	 * value is no change. */
	put_px(px, 4096, 0, 63, 1);
	put_px(px, 4096, 1023, 64, 1);
	put_px(px, 4096, 500, 700, 2);
	put_px(px, 4096, 10, 5, 0xff0000);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 2);
	ASSERT_RECT(&rs, 0, 0, 63, 1024, 2);
	ASSERT_RECT(&rs, 1, 0, 700, 1024, 1);

	/* Everything changed: one rectangle. */
	rs.n = 0;
	memset(px, 0x42, 1024 * 768 * 4);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 0, 1024, 768);

	fb_destroy(&fb); /* frees the shadow, not the caller's frame */
	assert_null(fb.pixels);
	assert_null(fb.shadow);
	assert_true(fb_collect_dirty(&fb, collect, &rs) < 0);
	px[0] = 1; /* still ours (ASan would object otherwise) */
	free(px);
}

/* 800x600: the last page is partly beyond the frame and only the frame's
 * bytes are read (the buffer is exactly the frame: ASan checks). */
static void test_wrap_partial_last_page(void **state)
{
	struct framebuffer fb;
	struct rects rs = { .n = 0 };
	uint8_t *px = calloc(800 * 600, 4);

	(void)state;
	assert_non_null(px);
	assert_int_equal(fb_wrap(&fb, px, 800, 600, 3200), 0);
	assert_int_equal(fb.size, 800 * 600 * 4);
	assert_int_equal(fb.npages, 469);
	put_px(px, 3200, 799, 599, 7); /* the frame's last pixel */
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 1);
	/* page 468 = bytes 1916928..1919999 = line 599 from x 32 */
	ASSERT_RECT(&rs, 0, 32, 599, 768, 1);
	fb_destroy(&fb);
	free(px);
}

/* Writes into the padding beyond the visible line are no rectangle, and
 * the shadow takes them so they are not found again. */
static void test_wrap_padding(void **state)
{
	struct framebuffer fb;
	struct rects rs = { .n = 0 };
	uint8_t *px = calloc(8192, 64);

	(void)state;
	assert_non_null(px);
	assert_int_equal(fb_wrap(&fb, px, 100, 64, 8192), 0);
	px[8192 + 6000] = 1; /* line 1, padding (page 3) */
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);
	assert_int_equal(fb.shadow[8192 + 6000], 1);
	put_px(px, 8192, 99, 2, 3); /* line 2, x 99 (page 4) */
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 1);
	ASSERT_RECT(&rs, 0, 0, 2, 100, 1);
	fb_destroy(&fb);
	free(px);
}

/* vsb-ghv's case: the frame is a memfd it maps; the guest (here another
 * mapping of the same memfd) writes to it. */
static void test_wrap_memfd(void **state)
{
	struct framebuffer fb;
	struct rects rs = { .n = 0 };
	size_t size = 640 * 480 * 4;
	int fd = memfd_create("test-fb", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	uint8_t *ours = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	uint8_t *guest = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      fd, 0);
	assert_true(ours != MAP_FAILED && guest != MAP_FAILED);
	assert_int_equal(fb_wrap(&fb, ours, 640, 480, 2560), 0);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 0);
	put_px(guest, 2560, 320, 240, 0x00ff00);
	assert_int_equal(fb_collect_dirty(&fb, collect, &rs), 1);
	/* page 150 = bytes 614400..618495: lines 240 and 241 */
	ASSERT_RECT(&rs, 0, 0, 240, 640, 2);
	fb_destroy(&fb);
	munmap(ours, size);
	munmap(guest, size);
	close(fd);
}

static void test_wrap_bad(void **state)
{
	struct framebuffer fb;
	uint8_t px[16];

	(void)state;
	assert_int_equal(fb_wrap(&fb, NULL, 64, 64, 256), -EINVAL);
	assert_int_equal(fb_wrap(&fb, px, 63, 64, 256), -EINVAL);
	assert_int_equal(fb_wrap(&fb, px, 64, 4097, 256), -EINVAL);
	assert_int_equal(fb_wrap(&fb, px, 64, 64, 252), -EINVAL); /* short */
	assert_int_equal(fb_wrap(&fb, px, 64, 64, 258), -EINVAL); /* odd */
	assert_int_equal(fb_wrap(&fb, px, 4096, 4096, 16384 + 4), -EINVAL);
	assert_null(fb.pixels);
	assert_null(fb.shadow);
	assert_null(fb.bitmap);
	assert_int_equal(fb.memfd, -1);
	fb_destroy(&fb); /* fine on a failed wrap */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_page),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_page_spans_two_rows),
		cmocka_unit_test(test_wide_stride),
		cmocka_unit_test(test_padded_stride),
		cmocka_unit_test(test_last_page_clipped),
		cmocka_unit_test(test_all_dirty),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_parse_geometry),
		cmocka_unit_test(test_kvm_slot),
		cmocka_unit_test_setup_teardown(test_log_small_writes,
						guest_setup, guest_teardown),
		cmocka_unit_test_setup_teardown(test_burst_compares,
						guest_setup, guest_teardown),
		cmocka_unit_test_setup_teardown(test_burst_restarts_calm,
						guest_setup, guest_teardown),
		cmocka_unit_test_setup_teardown(test_calm_back_to_log,
						guest_setup, guest_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_comparing,
						guest_setup, guest_teardown),
		cmocka_unit_test(test_wrap_compare),
		cmocka_unit_test(test_wrap_partial_last_page),
		cmocka_unit_test(test_wrap_padding),
		cmocka_unit_test(test_wrap_memfd),
		cmocka_unit_test(test_wrap_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
