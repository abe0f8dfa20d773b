/* The shadow framebuffer: a memfd in its own KVM slot whose changes come
 * from the dirty log, or from comparing with a shadow copy while the guest
 * redraws heavily; or a wrapped frame, always compared. See framebuffer.h. */
#include "framebuffer.h"
#include "log.h"
#include "mono_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FB_PAGE 4096u
#define LONG_BITS (sizeof(unsigned long) * CHAR_BIT)
/* Longs in the largest frame's bitmap (a whole number of 64-bit words). */
#define FB_MAX_LONGS (FB_MAX_SIZE / FB_PAGE / LONG_BITS)

/* Digits only: no sign, no blanks, no leading '+', nothing strtoul would
 * quietly accept. Stops at the first non-digit. */
static const char *parse_dim(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v > FB_MAX_DIM)
			return NULL;
		p++;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

static bool geometry_ok(uint32_t w, uint32_t h)
{
	return w >= FB_MIN_DIM && w <= FB_MAX_DIM && h >= FB_MIN_DIM &&
	       h <= FB_MAX_DIM && (uint64_t)w * 4 * h <= FB_MAX_SIZE;
}

bool fb_parse_geometry(const char *spec, uint32_t *w, uint32_t *h)
{
	uint32_t pw, ph;
	const char *p;

	if (!spec)
		return false;
	p = parse_dim(spec, &pw);
	if (!p || (*p != 'x' && *p != 'X'))
		return false;
	p = parse_dim(p + 1, &ph);
	if (!p || *p || !geometry_ok(pw, ph))
		return false;
	*w = pw;
	*h = ph;
	return true;
}

static int set_slot(int vm_fd, uint64_t gpa, void *host, uint64_t size,
		    uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = FB_SLOT,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int fb_init(struct framebuffer *fb, int vm_fd, uint32_t width,
	    uint32_t height)
{
	int ret;

	memset(fb, 0, sizeof(*fb));
	fb->memfd = fb->vm_fd = -1;
	if (!geometry_ok(width, height))
		return log_errno(-EINVAL, "framebuffer %ux%u out of range",
				 width, height);
	fb->width = width;
	fb->height = height;
	fb->stride = width * 4;
	fb->gpa = FB_GPA;
	fb->size = ((size_t)fb->stride * height + FB_PAGE - 1) &
		   ~(size_t)(FB_PAGE - 1);
	fb->npages = fb->size / FB_PAGE;

	/* KVM_GET_DIRTY_LOG writes whole 64-bit words. */
	size_t nlongs = (fb->npages + 63) / 64 * (64 / LONG_BITS);
	fb->bitmap = calloc(nlongs, sizeof(unsigned long));
	if (!fb->bitmap)
		return log_errno(-ENOMEM, "framebuffer dirty bitmap");

	fb->memfd = memfd_create("vsbd-framebuffer",
				 MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fb->memfd < 0) {
		ret = log_errno(-errno, "memfd_create framebuffer");
		goto fail;
	}
	if (ftruncate(fb->memfd, (off_t)fb->size) < 0) {
		ret = log_errno(-errno, "cannot size the framebuffer to %zu bytes",
				fb->size);
		goto fail;
	}
	/* In traditional routing the operator gets this memfd: sealed, it
	 * cannot shrink the frame under vsbd's mapping and KVM's slot. */
	if (fcntl(fb->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_SEAL)) {
		ret = log_errno(-errno, "cannot seal the framebuffer");
		goto fail;
	}
	void *p = mmap(NULL, fb->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fb->memfd, 0);
	if (p == MAP_FAILED) {
		ret = log_errno(-errno, "cannot map the framebuffer");
		goto fail;
	}
	fb->pixels = p;

	ret = set_slot(vm_fd, fb->gpa, fb->pixels, fb->size,
		       KVM_MEM_LOG_DIRTY_PAGES);
	if (ret) {
		log_errno(ret, "KVM_SET_USER_MEMORY_REGION framebuffer slot %d",
			  FB_SLOT);
		goto fail;
	}
	fb->vm_fd = vm_fd;
	fb->calm_ms = FB_CALM_MS;
	return 0;

fail:
	fb_destroy(fb);
	return ret;
}

int fb_wrap(struct framebuffer *fb, uint8_t *pixels, uint32_t width,
	    uint32_t height, uint32_t stride)
{
	memset(fb, 0, sizeof(*fb));
	fb->memfd = fb->vm_fd = -1;
	if (!pixels || !geometry_ok(width, height) || stride / 4 < width ||
	    stride % 4 || (uint64_t)stride * height > FB_MAX_SIZE)
		return log_errno(-EINVAL, "framebuffer %ux%u, stride %u: out "
				 "of range", width, height, stride);
	fb->width = width;
	fb->height = height;
	fb->stride = stride;
	fb->size = (size_t)stride * height;
	fb->npages = (fb->size + FB_PAGE - 1) / FB_PAGE;
	fb->bitmap = calloc((fb->npages + LONG_BITS - 1) / LONG_BITS,
			    sizeof(unsigned long));
	fb->shadow = malloc(fb->size);
	if (!fb->bitmap || !fb->shadow) {
		fb_destroy(fb);
		return log_errno(-ENOMEM, "framebuffer shadow copy");
	}
	/* The first compare reports only what changes from now on: viewers
	 * ask for the whole frame when they connect anyway. */
	memcpy(fb->shadow, pixels, fb->size);
	fb->pixels = pixels;
	fb->mode = FB_WRAPPED;
	return 0;
}

uint8_t *fb_served_pixels(const struct framebuffer *fb)
{
	return fb->mode == FB_WRAPPED ? fb->shadow : fb->pixels;
}

bool fb_comparing(const struct framebuffer *fb)
{
	return fb->mode != FB_LOG;
}

void fb_destroy(struct framebuffer *fb)
{
	/* Remove the slot first so KVM never maps pages we give back. The
	 * VM must still exist: call this before vm_destroy. A frame fb_init
	 * never set up (pixels NULL) has no slot, whatever vm_fd says. */
	if (fb->pixels && fb->vm_fd >= 0 &&
	    set_slot(fb->vm_fd, fb->gpa, NULL, 0, 0))
		log_debug("framebuffer: cannot delete slot %d", FB_SLOT);
	if (fb->pixels && fb->mode != FB_WRAPPED) /* else not ours */
		munmap(fb->pixels, fb->size);
	if (fb->memfd >= 0)
		close(fb->memfd);
	free(fb->bitmap);
	free(fb->shadow);
	memset(fb, 0, sizeof(*fb));
	fb->memfd = fb->vm_fd = -1;
}

static size_t bitmap_longs(const struct framebuffer *fb)
{
	return (fb->npages + LONG_BITS - 1) / LONG_BITS;
}

static size_t count_dirty(const struct framebuffer *fb)
{
	size_t n = 0;

	for (size_t i = 0; i < bitmap_longs(fb); i++)
		n += (size_t)__builtin_popcountl(fb->bitmap[i]);
	return n;
}

static bool is_burst(const struct framebuffer *fb, size_t pages)
{
	return pages >= FB_BURST_PAGES(fb->npages);
}

/* The compare path: the pages that differ from the shadow are dirty; the
 * shadow takes their new content, so each change is reported once.
 * Returns how many pages differed. */
static size_t compare_pages(struct framebuffer *fb)
{
	size_t dirty = 0;

	memset(fb->bitmap, 0, bitmap_longs(fb) * sizeof(unsigned long));
	for (size_t i = 0; i < fb->npages; i++) {
		size_t off = i * FB_PAGE;
		size_t n = fb->size - off < FB_PAGE ? fb->size - off : FB_PAGE;
		if (!memcmp(fb->shadow + off, fb->pixels + off, n))
			continue;
		memcpy(fb->shadow + off, fb->pixels + off, n);
		fb->bitmap[i / LONG_BITS] |= 1UL << (i % LONG_BITS);
		dirty++;
	}
	return dirty;
}

/* Without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (never enabled here) this also
 * clears the log and write-protects the pages again. */
static int read_log(const struct framebuffer *fb, unsigned long *bitmap)
{
	struct kvm_dirty_log log = {
		.slot = FB_SLOT,
		.dirty_bitmap = bitmap,
	};

	return ioctl(fb->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

static int set_logging(const struct framebuffer *fb, bool on)
{
	return set_slot(fb->vm_fd, fb->gpa, fb->pixels, fb->size,
			on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}

static void drop_shadow(struct framebuffer *fb)
{
	free(fb->shadow);
	fb->shadow = NULL;
}

/* FB_LOG to FB_COMPARE, fb->bitmap holding a burst just read from the log:
 * copy the frame, read the log again, turn it off, and report both logs.
 * A page written after the first read but before the copy is in the second
 * log; one written after the copy differs from the shadow, and the next
 * compare finds it. So nothing is lost, however late logging stops. */
static void enter_compare(struct framebuffer *fb)
{
	unsigned long more[FB_MAX_LONGS];
	int ret;

	fb->shadow = malloc(fb->size);
	if (!fb->shadow) {
		log_warn_once("framebuffer: no memory for a shadow copy; "
			      "keeping the dirty log");
		return;
	}
	memcpy(fb->shadow, fb->pixels, fb->size);
	ret = read_log(fb, more);
	if (ret) {
		/* The copy hides what came since the first read: resend all. */
		log_warn_once("framebuffer: dirty log read failed (%s); "
			      "frame resent", strerror(-ret));
		memset(fb->bitmap, 0xff,
		       bitmap_longs(fb) * sizeof(unsigned long));
		drop_shadow(fb);
		return;
	}
	for (size_t i = 0; i < bitmap_longs(fb); i++)
		fb->bitmap[i] |= more[i];
	ret = set_logging(fb, false);
	if (ret) {
		log_warn_once("framebuffer: cannot turn dirty logging off "
			      "(%s); keeping it", strerror(-ret));
		drop_shadow(fb);
		return;
	}
	fb->mode = FB_COMPARE;
	fb->burst_ms = mono_ms();
	fb->switches_to_compare++;
}

/* FB_COMPARE to FB_LOG: logging goes on first (KVM starts a clean log and
 * write-protects every page), then one last compare. A page written before
 * logging resumed differs from the shadow; one written after is logged. */
static void leave_compare(struct framebuffer *fb, uint64_t now)
{
	int ret = set_logging(fb, true);

	compare_pages(fb);
	if (ret) {
		log_warn_once("framebuffer: cannot turn dirty logging back on "
			      "(%s); comparing on", strerror(-ret));
		fb->burst_ms = now; /* try again after another calm spell */
		return;
	}
	drop_shadow(fb);
	fb->mode = FB_LOG;
	fb->switches_to_log++;
}

static int collect_log(struct framebuffer *fb)
{
	int ret = read_log(fb, fb->bitmap);

	if (!ret && is_burst(fb, count_dirty(fb)))
		enter_compare(fb);
	return ret;
}

/* Back to the log once calm_ms passed without a burst; else a compare,
 * which restarts that period if it finds one. */
static void collect_compare(struct framebuffer *fb)
{
	uint64_t now = mono_ms();

	if (now - fb->burst_ms >= fb->calm_ms)
		leave_compare(fb, now);
	else if (is_burst(fb, compare_pages(fb)))
		fb->burst_ms = now;
}

int fb_collect_dirty(struct framebuffer *fb, fb_rect_fn cb, void *ctx)
{
	int ret;

	if (!fb->bitmap)
		return -EBADF;
	switch (fb->mode) {
	case FB_LOG:
		if (fb->vm_fd < 0)
			return -EBADF;
		ret = collect_log(fb);
		if (ret)
			return ret;
		break;
	case FB_COMPARE:
		collect_compare(fb);
		break;
	case FB_WRAPPED:
		compare_pages(fb);
		break;
	}
	return (int)fb_bitmap_to_rects(fb->bitmap, fb->npages, fb->stride,
				       fb->width, fb->height, cb, ctx);
}

static bool test_bit(const unsigned long *map, size_t i)
{
	return map[i / LONG_BITS] >> (i % LONG_BITS) & 1;
}

/* Reports the bytes [a, b) of the frame (a < b, b within the frame). */
static bool emit_run(uint64_t a, uint64_t b, uint32_t stride, uint32_t width,
		     fb_rect_fn cb, void *ctx)
{
	uint32_t y0 = (uint32_t)(a / stride), y1 = (uint32_t)((b - 1) / stride);

	if (y0 == y1) {
		/* Within one line: only the pixels touched; bytes past
		 * width * 4 are padding nobody sees. */
		uint32_t x0 = (uint32_t)(a % stride) / 4;
		uint32_t x1 = (uint32_t)((b - 1) % stride) / 4 + 1;
		if (x0 >= width)
			return false;
		if (x1 > width)
			x1 = width;
		cb(ctx, x0, y0, x1 - x0, 1);
	} else {
		cb(ctx, 0, y0, width, y1 - y0 + 1);
	}
	return true;
}

size_t fb_bitmap_to_rects(const unsigned long *bitmap, size_t npages,
			  uint32_t stride, uint32_t width, uint32_t height,
			  fb_rect_fn cb, void *ctx)
{
	uint64_t frame = (uint64_t)stride * height;
	size_t n = 0, i = 0;

	if (!stride || !width || !height || width > stride / 4)
		return 0;
	while (i < npages) {
		unsigned long word = bitmap[i / LONG_BITS] >> (i % LONG_BITS);
		if (!word) { /* skip a clean word (or its rest) at once */
			i = (i / LONG_BITS + 1) * LONG_BITS;
			continue;
		}
		i += (size_t)__builtin_ctzl(word);
		if (i >= npages)
			break;
		size_t start = i;
		while (i < npages && test_bit(bitmap, i))
			i++;
		uint64_t a = (uint64_t)start * FB_PAGE;
		uint64_t b = (uint64_t)i * FB_PAGE;
		if (a >= frame) /* pages past the frame: nothing to show */
			break;
		if (b > frame)
			b = frame;
		if (emit_run(a, b, stride, width, cb, ctx))
			n++;
	}
	return n;
}
