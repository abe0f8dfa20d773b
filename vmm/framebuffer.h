/* The shadow framebuffer: a linear 32-bpp frame (XRGB8888, little endian:
 * byte 0 blue, 1 green, 2 red) at a fixed guest-physical address, in its own
 * memfd and KVM memory slot that only vsbd maps. Changed pages become
 * changed rectangles for the VNC server; two ways find them:
 *
 * - the dirty log (FB_LOG): KVM_GET_DIRTY_LOG says which pages the guest
 *   wrote, so an idle screen costs nothing (the paper's design). But each
 *   read write-protects the frame again, and on this machine's PVM (shadow
 *   paging) the guest's first write to each page then costs a fault of
 *   ~20 us: a full 1024x768 redraw (768 pages) ran ~15 ms slower, 21 ms
 *   per VNC full-screen update against 5-7 ms when compared instead
 *   (~1-2 us per fault on EPT without PML: less at stake there);
 * - comparing (FB_COMPARE): as QEMU's VNC server does, each page is
 *   compared with a shadow copy (0.23 ms per pass at 1024x768), which
 *   costs CPU on every poll and 3 MiB per frame of that size.
 *
 * So an fb_init frame logs while the guest draws little, and compares while
 * it redraws heavily: a log read with at least FB_BURST_PAGES dirty pages
 * turns logging off and takes a shadow copy; FB_CALM_MS after the last
 * compare that found as many, logging goes back on and the copy is freed.
 * The VNC server always serves the live frame of an fb_init frame.
 *
 * A frame with no VM (fb_wrap: vsb-ghv's view of the frame memfd in
 * traditional routing) has no dirty log; it is always compared
 * (FB_WRAPPED), and the VNC server serves its shadow copy
 * (fb_served_pixels).
 *
 * Guest view (documented in boot/README.md): Linux finds it in
 * boot_params.screen_info (VIDEO_TYPE_VLFB); PVH guests get
 * " vsb.fb=0xADDR,WxH,STRIDE" appended to their command line. */
#ifndef VSB_FRAMEBUFFER_H
#define VSB_FRAMEBUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_GPA 0xD0000000ULL       /* in the PCI hole, below the MMIO window */
#define FB_MAX_SIZE (64ULL << 20)  /* FB_GPA .. 0xD4000000 is reserved */
#define FB_SLOT 2                  /* slots 0, 1 are guest RAM (vm.c) */
#define FB_DEFAULT_WIDTH 1024
#define FB_DEFAULT_HEIGHT 768
#define FB_MIN_DIM 64
#define FB_MAX_DIM 4096
/* A log read or compare with this many dirty pages is a burst: 1/16 of
 * the frame (48 pages, 48 lines, at 1024x768), at least 16. */
#define FB_BURST_PAGES(npages) ((npages) / 16 > 16 ? (npages) / 16 : 16)
#define FB_CALM_MS 1000 /* no burst for this long: back to the log */

enum fb_dirty_mode {
	FB_LOG,     /* fb_init frame, KVM dirty log (also a zeroed frame) */
	FB_COMPARE, /* fb_init frame during a burst: log off, compare */
	FB_WRAPPED, /* fb_wrap frame: always compare */
};

struct framebuffer {
	uint32_t width, height; /* pixels */
	uint32_t stride;        /* bytes per line: width * 4 */
	uint64_t gpa;
	size_t size;            /* mapped bytes, page aligned; wrapped:
				   stride * height */
	uint8_t *pixels;        /* vsbd's mapping of the frame */
	int memfd;
	int vm_fd;
	unsigned long *bitmap;  /* dirty bitmap, one bit per page */
	size_t npages;
	enum fb_dirty_mode mode;
	/* The frame as last compared (FB_LOG: NULL). FB_WRAPPED: also what
	 * is served, and pixels belong to the caller. */
	uint8_t *shadow;
	unsigned calm_ms;       /* FB_CALM_MS; tests may shorten it */
	uint64_t burst_ms;      /* FB_COMPARE: when the last burst was seen
				   (CLOCK_MONOTONIC, ms) */
	/* fb_init frames' mode changes so far (tests, status) */
	unsigned long switches_to_compare, switches_to_log;
};

/* Parses "WxH" (FB_MIN_DIM..FB_MAX_DIM each, at most FB_MAX_SIZE bytes).
 * Returns false on a bad spec. */
bool fb_parse_geometry(const char *spec, uint32_t *w, uint32_t *h);

/* Creates the frame and registers it as slot FB_SLOT of vm_fd with dirty
 * logging (FB_LOG). Returns 0 or a negative errno (message logged). */
int fb_init(struct framebuffer *fb, int vm_fd, uint32_t width,
	    uint32_t height);
/* Deletes the slot (call it before the VM is destroyed), unmaps, frees.
 * Also fine on a frame fb_init failed on, or never saw if it was
 * zero-filled with memfd = -1. */
void fb_destroy(struct framebuffer *fb);

/* Describes a frame someone else owns and no VM logs (e.g. a mapped
 * memfd), with a shadow copy of it taken now for the compare path. pixels
 * must stay mapped until fb_destroy, which frees only what fb_wrap
 * allocated. Geometry as fb_init's, stride >= width * 4 and a multiple of
 * 4, stride * height <= FB_MAX_SIZE. Returns 0 or a negative errno
 * (logged); on error fb is left as fb_destroy leaves it. */
int fb_wrap(struct framebuffer *fb, uint8_t *pixels, uint32_t width,
	    uint32_t height, uint32_t stride);

/* The bytes a VNC server should encode, at one address for the frame's
 * life: the shadow of a wrapped frame (exactly what the next compare checks
 * against, so a change is never missed between a compare and an encode),
 * else the frame itself (in FB_COMPARE too: a page that changes after its
 * compare differs from the shadow and is reported again). */
uint8_t *fb_served_pixels(const struct framebuffer *fb);

/* Whether fb_collect_dirty compares (FB_COMPARE or FB_WRAPPED). */
bool fb_comparing(const struct framebuffer *fb);

typedef void (*fb_rect_fn)(void *ctx, uint32_t x, uint32_t y, uint32_t w,
			   uint32_t h);

/* Reports the rectangles changed since the last call. Returns how many,
 * or a negative errno (-EBADF for a frame with neither a VM nor a shadow).
 * FB_LOG: fetches and clears KVM's dirty bitmap (KVM_GET_DIRTY_LOG); only
 * the guest's writes are logged, not vsbd's own through pixels. Compare
 * modes: compares every page with the shadow, copies the pages that
 * differ into it and reports them (anyone's writes count). Switches an
 * fb_init frame between FB_LOG and FB_COMPARE (see the top); if KVM
 * refuses a switch, warns once and stays in the mode that works. Not
 * thread safe: one caller (the VNC server thread, which also reads the
 * shadow). */
int fb_collect_dirty(struct framebuffer *fb, fb_rect_fn cb, void *ctx);

/* The pure part of fb_collect_dirty: turns runs of dirty pages of a frame
 * into rectangles (a run within one line gives that span of the line,
 * otherwise whole lines), clipped to the frame. Returns how many. */
size_t fb_bitmap_to_rects(const unsigned long *bitmap, size_t npages,
			  uint32_t stride, uint32_t width, uint32_t height,
			  fb_rect_fn cb, void *ctx);

#endif
