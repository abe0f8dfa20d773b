/* The shadow framebuffer: a linear 32-bpp frame (XRGB8888, little endian:
 * byte 0 blue, 1 green, 2 red) at a fixed guest-physical address, in its own
 * memfd and KVM memory slot that only vsbd maps. KVM's dirty log says which
 * pages the guest wrote; they become changed rectangles for the VNC server,
 * so nothing is copied or compared while the screen does not change.
 *
 * A frame with no VM (fb_wrap: vsb-ghv's view of the frame memfd in
 * traditional routing) has no dirty log; there fb_collect_dirty compares
 * the frame page by page with a private shadow copy, as QEMU's VNC server
 * does, and the VNC server serves that copy (fb_served_pixels).
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
	/* Wrapped frames only (else NULL): the frame as last compared and
	 * served; pixels then belong to the caller. */
	uint8_t *shadow;
};

/* Parses "WxH" (FB_MIN_DIM..FB_MAX_DIM each, at most FB_MAX_SIZE bytes).
 * Returns false on a bad spec. */
bool fb_parse_geometry(const char *spec, uint32_t *w, uint32_t *h);

/* Creates the frame and registers it as slot FB_SLOT of vm_fd with dirty
 * logging. Returns 0 or a negative errno (message logged). */
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

/* The bytes a VNC server should encode: the shadow of a wrapped frame
 * (exactly what the next compare checks against, so a change is never
 * missed between a compare and an encode), else the frame itself. */
uint8_t *fb_served_pixels(const struct framebuffer *fb);

typedef void (*fb_rect_fn)(void *ctx, uint32_t x, uint32_t y, uint32_t w,
			   uint32_t h);

/* Fetches and clears KVM's dirty bitmap (KVM_GET_DIRTY_LOG) and reports
 * the changed rectangles. Returns how many, or a negative errno (-EBADF for
 * a frame with neither a VM nor a shadow). Only the guest's writes are
 * logged, not vsbd's own through pixels. On a wrapped frame: compares
 * every page with the shadow, copies the pages that differ into it and
 * reports them (anyone's writes count). Not thread safe: one caller (the
 * VNC server thread, which also reads the shadow). */
int fb_collect_dirty(struct framebuffer *fb, fb_rect_fn cb, void *ctx);

/* The pure part of fb_collect_dirty: turns runs of dirty pages of a frame
 * into rectangles (a run within one line gives that span of the line,
 * otherwise whole lines), clipped to the frame. Returns how many. */
size_t fb_bitmap_to_rects(const unsigned long *bitmap, size_t npages,
			  uint32_t stride, uint32_t width, uint32_t height,
			  fb_rect_fn cb, void *ctx);

#endif
