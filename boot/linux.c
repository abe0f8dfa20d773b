/* The Linux x86 boot protocol for a bzImage, entered at its 64-bit entry
 * point (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol").
 *
 * A bzImage is a real-mode setup part of (setup_sects + 1) * 512 bytes,
 * whose setup header (at 0x1F1) describes the kernel, followed by the
 * protected-mode kernel. We skip the real-mode part entirely: the loader
 * builds the zero page (struct boot_params) itself, copies the protected-
 * mode kernel to its load address, and starts the vCPU in long mode at
 * load address + 0x200 (startup_64) with identity paging, a GDT holding
 * __BOOT_CS = 0x10 and __BOOT_DS = 0x18, and RSI = the zero page.
 *
 * Guest-physical layout (see boot.h):
 *   0x00500  GDT (shared with PVH): 0x10 64-bit code, 0x18 data, 0x20 TSS
 *   0x07000  zero page (struct boot_params, 4 KiB)
 *   0x09000  PML4; 0x0A000 PDPT; 0x0B000-0x0EFFF four PDs of 2 MiB pages
 *            identity-mapping [0, 4 GiB)
 *   0x20000  command line (up to the kernel's cmdline_size, < 64 KiB)
 *   pref_address (or 1 MiB)  protected-mode kernel, then init_size bytes
 *   high     initrd, page aligned, as high as initrd_addr_max and RAM
 *            below 4 GiB allow, above the kernel's init_size
 *
 * The image is untrusted: every header field is range-checked before
 * anything is written, so a rejected image leaves guest memory untouched. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot_priv.h"

/* The setup header as it sits in the image at 0x1F1 and in boot_params. */
struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define ZP_E820_MAX 128

/* The zero page. Fields we never set are opaque byte arrays; the sizes are
 * those of the kernel's structs (screen_info, edid_info, ...). */
/* struct screen_info (include/uapi/linux/screen_info.h), the fields a
 * VESA linear framebuffer uses. */
struct screen_info {
	uint8_t _pad0[0x0f];
	uint8_t orig_video_isVGA;  /* 0x0f: VIDEO_TYPE_VLFB */
	uint16_t orig_video_points;
	uint16_t lfb_width;        /* 0x12 */
	uint16_t lfb_height;
	uint16_t lfb_depth;
	uint32_t lfb_base;         /* 0x18 */
	uint32_t lfb_size;         /* 0x1c: 64 KiB units for VLFB */
	uint16_t cl_magic, cl_offset;
	uint16_t lfb_linelength;   /* 0x24 */
	uint8_t red_size, red_pos, green_size, green_pos;
	uint8_t blue_size, blue_pos, rsvd_size, rsvd_pos;
	uint16_t vesapm_seg, vesapm_off, pages, vesa_attributes;
	uint32_t capabilities;     /* 0x36 */
	uint32_t ext_lfb_base;     /* 0x3a */
	uint8_t _reserved[2];
} __attribute__((packed));

_Static_assert(sizeof(struct screen_info) == 0x40, "screen_info layout");

#define VIDEO_TYPE_VLFB 0x23

struct boot_params {
	struct screen_info screen_info;
	uint8_t apm_bios_info[0x14];
	uint8_t _pad2[4];
	uint64_t tboot_addr;
	uint8_t ist_info[0x10];
	uint64_t acpi_rsdp_addr;
	uint8_t _pad3[8];
	uint8_t hd0_info[16];
	uint8_t hd1_info[16];
	uint8_t sys_desc_table[0x10];
	uint8_t olpc_ofw_header[0x10];
	uint32_t ext_ramdisk_image;
	uint32_t ext_ramdisk_size;
	uint32_t ext_cmd_line_ptr;
	uint8_t _pad4[112];
	uint32_t cc_blob_address;
	uint8_t edid_info[0x80];
	uint8_t efi_info[0x20];
	uint32_t alt_mem_k;
	uint32_t scratch;
	uint8_t e820_entries;
	uint8_t eddbuf_entries;
	uint8_t edd_mbr_sig_buf_entries;
	uint8_t kbd_status;
	uint8_t secure_boot;
	uint8_t _pad5[2];
	uint8_t sentinel;
	uint8_t _pad6[1];
	struct setup_header hdr;
	uint8_t _pad7[0x290 - 0x1F1 - sizeof(struct setup_header)];
	uint32_t edd_mbr_sig_buffer[16];
	struct boot_e820_entry e820_table[ZP_E820_MAX];
	uint8_t _pad8[48];
	uint8_t eddbuf[0x1EC];
	uint8_t _pad9[276];
} __attribute__((packed));

/* Offsets from boot.rst and zero-page.rst: the kernel reads these. */
#define ZP_AT(field, off)                                                   \
	_Static_assert(offsetof(struct boot_params, field) == (off),        \
		       #field " at " #off)
ZP_AT(acpi_rsdp_addr, 0x070);
ZP_AT(ext_ramdisk_image, 0x0C0);
ZP_AT(ext_ramdisk_size, 0x0C4);
ZP_AT(ext_cmd_line_ptr, 0x0C8);
ZP_AT(cc_blob_address, 0x13C);
ZP_AT(e820_entries, 0x1E8);
ZP_AT(sentinel, 0x1EF);
ZP_AT(hdr, 0x1F1);
ZP_AT(hdr.syssize, 0x1F4);
ZP_AT(hdr.vid_mode, 0x1FA);
ZP_AT(hdr.boot_flag, 0x1FE);
ZP_AT(hdr.jump, 0x200);
ZP_AT(hdr.header, 0x202);
ZP_AT(hdr.version, 0x206);
ZP_AT(hdr.type_of_loader, 0x210);
ZP_AT(hdr.loadflags, 0x211);
ZP_AT(hdr.ramdisk_image, 0x218);
ZP_AT(hdr.ramdisk_size, 0x21C);
ZP_AT(hdr.heap_end_ptr, 0x224);
ZP_AT(hdr.cmd_line_ptr, 0x228);
ZP_AT(hdr.initrd_addr_max, 0x22C);
ZP_AT(hdr.kernel_alignment, 0x230);
ZP_AT(hdr.relocatable_kernel, 0x234);
ZP_AT(hdr.xloadflags, 0x236);
ZP_AT(hdr.cmdline_size, 0x238);
ZP_AT(hdr.pref_address, 0x258);
ZP_AT(hdr.init_size, 0x260);
ZP_AT(hdr.kernel_info_offset, 0x268);
ZP_AT(edd_mbr_sig_buffer, 0x290);
ZP_AT(e820_table, 0x2D0);
ZP_AT(eddbuf, 0xD00);
_Static_assert(sizeof(struct boot_e820_entry) == 20, "packed e820 entry");
_Static_assert(sizeof(struct boot_params) == 4096, "zero page is 4 KiB");

#define HDR_OFF          0x1F1
#define HDR_MAX_END      0x290  /* where boot_params stops holding hdr */
#define HDR_211_END      0x268  /* end of handover_offset (2.11) */
#define PROTO_MIN        0x020C /* 2.12: xloadflags tells 64-bit entry */
#define XLF_KERNEL_64    0x1    /* has the 64-bit entry at +0x200 */
#define LOADFLAG_CAN_USE_HEAP 0x80
#define LOADER_UNDEFINED 0xFF   /* type_of_loader: not a registered ID */
#define HEAP_END         0xFE00 /* heap_end_ptr: the real-mode setup is not
				 * run; mark a full 64 KiB segment usable */
#define VID_MODE_NORMAL  0xFFFF
#define ENTRY64_OFFSET   0x200  /* startup_64 from the kernel start */
#define ZP_MAX_RUNTIME_ALIGN (1ULL << 30)

#define PTE_P  0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL /* 2 MiB page in a PD entry */

/* What pass 1 decides, for pass 2 to write. */
struct linux_plan {
	struct boot_params zp;
	uint64_t load;      /* where the protected-mode kernel goes */
	uint64_t payload_off, payload_len;
	uint64_t initrd_addr;
	size_t cmdline_len;
};

/* Setup header checks that need nothing but the image. */
static int check_header(const uint8_t *img, size_t len,
			struct linux_plan *p, char *err, size_t errlen)
{
	struct setup_header *h = &p->zp.hdr;
	uint64_t hdr_end, setup_sects, setup_size;

	/* Up to and including the version field at 0x206, read below. */
	if (!img || len < 0x206 + 2)
		return boot_fail(err, errlen, -EINVAL,
				 "image truncated (%zu bytes): no room for a "
				 "setup header", img ? len : 0);
	if (rd16(img + 0x1FE) != 0xAA55 || memcmp(img + 0x202, "HdrS", 4))
		return boot_fail(err, errlen, -ENOEXEC,
				 "not a bzImage: bad boot flag or no HdrS "
				 "magic");
	if (rd16(img + 0x206) < PROTO_MIN)
		return boot_fail(err, errlen, -ENOEXEC,
				 "boot protocol %u.%02u too old: 64-bit entry "
				 "needs 2.12",
				 img[0x207], img[0x206]);
	/* The header runs from 0x1F1 to 0x202 + the byte at 0x201 (the
	 * offset of the short jump over it); copy exactly that, so fields a
	 * newer kernel adds come along and fields past its end stay zero. */
	hdr_end = 0x202 + (uint64_t)img[0x201];
	if (hdr_end < HDR_211_END)
		return boot_fail(err, errlen, -EINVAL,
				 "setup header ends at 0x%llx, before the "
				 "fields protocol 2.12 defines",
				 (unsigned long long)hdr_end);
	if (hdr_end > HDR_MAX_END)
		hdr_end = HDR_MAX_END;
	if (hdr_end > len)
		return boot_fail(err, errlen, -EINVAL,
				 "image truncated inside the setup header");
	memcpy((uint8_t *)&p->zp + HDR_OFF, img + HDR_OFF, hdr_end - HDR_OFF);

	if (!(h->xloadflags & XLF_KERNEL_64))
		return boot_fail(err, errlen, -ENOEXEC,
				 "kernel has no 64-bit entry point "
				 "(XLF_KERNEL_64 clear)");
	/* setup_sects counts 512-byte sectors after the boot sector. */
	setup_sects = h->setup_sects ? h->setup_sects : 4;
	setup_size = (setup_sects + 1) * 512;
	if (setup_size < hdr_end || setup_size >= len)
		return boot_fail(err, errlen, -EINVAL,
				 "truncated: setup is %llu bytes, image %zu",
				 (unsigned long long)setup_size, len);
	p->payload_off = setup_size;
	p->payload_len = len - setup_size;
	/* syssize: the protected-mode part in 16-byte units. Signed images
	 * carry trailing data, so the file may be longer, never shorter. */
	if (h->syssize == 0 || (uint64_t)h->syssize * 16 > p->payload_len)
		return boot_fail(err, errlen, -EINVAL,
				 "truncated or inconsistent: syssize says "
				 "%llu bytes of kernel, image has %llu",
				 (unsigned long long)h->syssize * 16,
				 (unsigned long long)p->payload_len);
	/* The vCPU starts at +0x200 (startup_64), which must be kernel code:
	 * otherwise it could lie past the end of RAM. */
	if ((uint64_t)h->syssize * 16 <= ENTRY64_OFFSET)
		return boot_fail(err, errlen, -EINVAL,
				 "kernel of %llu bytes ends before its 64-bit "
				 "entry at +0x%x",
				 (unsigned long long)h->syssize * 16,
				 ENTRY64_OFFSET);
	return 0;
}

/* Chooses the load address and checks that the kernel's whole footprint,
 * up to init_size past where it will run, is RAM. */
static int place_kernel(const struct guest_mem *m, const struct e820_map *map,
			struct linux_plan *p, uint64_t *kernel_end, char *err,
			size_t errlen)
{
	const struct setup_header *h = &p->zp.hdr;
	uint64_t pref = h->pref_address ? h->pref_address : BOOT_KERNEL_MIN;
	uint64_t need = h->init_size > p->payload_len ? h->init_size
						      : p->payload_len;
	uint64_t align = h->kernel_alignment, run, end;

	/* Below 1 MiB are our fixed areas and the BIOS holes. */
	if (pref < BOOT_KERNEL_MIN || pref > UINT32_MAX)
		return boot_fail(err, errlen, -EINVAL,
				 "pref_address 0x%llx outside [1 MiB, 4 GiB)",
				 (unsigned long long)pref);
	if (h->relocatable_kernel &&
	    (align == 0 || (align & (align - 1)) || align > ZP_MAX_RUNTIME_ALIGN))
		return boot_fail(err, errlen, -EINVAL,
				 "kernel_alignment 0x%llx is not a power of "
				 "two up to 1 GiB",
				 (unsigned long long)align);

	p->load = h->relocatable_kernel && e820_usable(map, m, pref, need)
			  ? pref
			  : BOOT_KERNEL_MIN;
	/* Where the kernel will run: a relocatable one moves itself to its
	 * load address rounded up to kernel_alignment, but never below its
	 * link-time address (pref_address); a fixed one always runs there. */
	run = p->load;
	if (h->relocatable_kernel)
		run = (run + align - 1) & ~(align - 1);
	if (run < pref)
		run = pref;
	end = run + need; /* run < 2^33, need < a file size: no overflow */
	if (p->load + p->payload_len > end)
		end = p->load + p->payload_len;
	if (!e820_usable(map, m, p->load, end - p->load))
		return boot_fail(err, errlen, -ENOMEM,
				 "kernel needs [0x%llx, 0x%llx), not all RAM "
				 "(low RAM ends at 0x%llx)",
				 (unsigned long long)p->load,
				 (unsigned long long)end,
				 (unsigned long long)m->low_size);
	*kernel_end = end;
	return 0;
}

/* Fills the zero page fields a loader owns (boot.rst, "Details of header
 * fields": fields marked write or modify). */
static void fill_zero_page(struct linux_plan *p, const struct e820_map *map,
			   size_t initrd_len, uint64_t rsdp)
{
	struct boot_params *zp = &p->zp;
	unsigned n = 0;

	/* Loader-owned fields the image could have preset: no setup_data
	 * list, the default PC subarchitecture. */
	zp->hdr.setup_data = 0;
	zp->hdr.hardware_subarch = 0;
	zp->hdr.hardware_subarch_data = 0;
	zp->hdr.type_of_loader = LOADER_UNDEFINED;
	zp->hdr.loadflags |= LOADFLAG_CAN_USE_HEAP;
	zp->hdr.heap_end_ptr = HEAP_END;
	zp->hdr.vid_mode = VID_MODE_NORMAL;
	zp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	zp->ext_cmd_line_ptr = 0;
	zp->hdr.ramdisk_image = (uint32_t)p->initrd_addr;
	zp->ext_ramdisk_image = (uint32_t)(p->initrd_addr >> 32);
	zp->hdr.ramdisk_size = (uint32_t)initrd_len;
	zp->ext_ramdisk_size = (uint32_t)((uint64_t)initrd_len >> 32);
	/* Read by kernels of protocol 2.14+ (also by their decompressor);
	 * older ones ignore it and scan 0xE0000-0xFFFFF for the RSDP. */
	zp->acpi_rsdp_addr = rsdp;
	for (unsigned i = 0; i < map->n && i < E820_MAX && n < ZP_E820_MAX;
	     i++, n++) {
		zp->e820_table[n].addr = map->e[i].addr;
		zp->e820_table[n].size = map->e[i].size;
		zp->e820_table[n].type = map->e[i].type;
	}
	zp->e820_entries = (uint8_t)n;
}

/* A VESA linear framebuffer in XRGB8888: vesafb, or simplefb/simpledrm
 * through sysfb (it matches the "x8r8g8b8" format), draws fbcon on it. */
static void fill_screen_info(struct screen_info *si, const struct boot_fb *fb)
{
	uint64_t size = (uint64_t)fb->stride * fb->height;

	memset(si, 0, sizeof(*si));
	si->orig_video_isVGA = VIDEO_TYPE_VLFB;
	si->lfb_width = (uint16_t)fb->width;
	si->lfb_height = (uint16_t)fb->height;
	si->lfb_depth = 32;
	si->lfb_base = (uint32_t)fb->base;
	si->lfb_size = (uint32_t)((size + 0xffff) >> 16);
	si->lfb_linelength = (uint16_t)fb->stride;
	si->red_size = si->green_size = si->blue_size = 8;
	si->red_pos = 16;
	si->green_pos = 8;
	si->blue_pos = 0;
	si->pages = 1;
}

/* Identity map of [0, 4 GiB) with 2 MiB pages: covers everything the
 * protocol requires mapped (kernel, zero page, command line). */
static void write_page_tables(const struct guest_mem *m)
{
	uint8_t *pt = gmem_ptr(m, BOOT_PML4_ADDR, BOOT_PT_END - BOOT_PML4_ADDR);
	uint64_t *pml4 = (uint64_t *)pt;
	uint64_t *pdpt = (uint64_t *)(pt + (BOOT_PDPT_ADDR - BOOT_PML4_ADDR));
	uint64_t *pd = (uint64_t *)(pt + (BOOT_PD_ADDR - BOOT_PML4_ADDR));

	memset(pt, 0, BOOT_PT_END - BOOT_PML4_ADDR);
	pml4[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t g = 0; g < 4; g++)
		pdpt[g] = (BOOT_PD_ADDR + g * 0x1000) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
}

int linux_load(const struct guest_mem *m, const struct boot_params_in *in,
	       struct boot_entry *out, char *err, size_t errlen)
{
	const struct e820_map *map = in->e820;
	struct e820_map built;
	struct linux_plan p;
	uint64_t kernel_end = 0, top, cmdline_max;
	int rc;

	memset(&p, 0, sizeof(p));
	if (!map) {
		e820_build(m, &built);
		map = &built;
	}

	/* Pass 1: validate and plan; nothing is written to the guest. */
	rc = check_header(in->kernel, in->kernel_len, &p, err, errlen);
	if (rc)
		return rc;
	/* cmdline_size excludes the NUL; our area bounds a hostile value. */
	cmdline_max = p.zp.hdr.cmdline_size;
	if (cmdline_max > BOOT_CMDLINE_AREA - 1)
		cmdline_max = BOOT_CMDLINE_AREA - 1;
	p.cmdline_len = in->cmdline ? strlen(in->cmdline) : 0;
	if (p.cmdline_len > cmdline_max)
		return boot_fail(err, errlen, -E2BIG,
				 "command line is %zu bytes, limit is %llu",
				 p.cmdline_len, (unsigned long long)cmdline_max);
	if (!gmem_ptr(m, 0, BOOT_CMDLINE_ADDR + BOOT_CMDLINE_AREA))
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM too small for the boot structures "
				 "below 0x%llx",
				 BOOT_CMDLINE_ADDR + BOOT_CMDLINE_AREA);
	rc = place_kernel(m, map, &p, &kernel_end, err, errlen);
	if (rc)
		return rc;
	if (in->initrd_len && !in->initrd)
		return boot_fail(err, errlen, -EINVAL, "initrd length without "
				 "data");
	if (in->initrd_len) {
		/* initrd_addr_max is the highest byte the initrd may use. */
		top = (uint64_t)p.zp.hdr.initrd_addr_max + 1;
		if (top > m->low_size)
			top = m->low_size;
		p.initrd_addr = e820_place_high(map, m, kernel_end, top,
						in->initrd_len);
		if (!p.initrd_addr)
			return boot_fail(err, errlen, -ENOMEM,
					 "initrd of %zu bytes does not fit "
					 "between the kernel end 0x%llx and "
					 "0x%llx",
					 in->initrd_len,
					 (unsigned long long)kernel_end,
					 (unsigned long long)top);
	}
	fill_zero_page(&p, map, in->initrd_len, in->rsdp);
	if (in->fb) {
		const struct boot_fb *fb = in->fb;
		if (fb->width > 0xffff || fb->height > 0xffff ||
		    fb->stride > 0xffff || fb->stride < fb->width * 4ULL ||
		    fb->base + (uint64_t)fb->stride * fb->height > (1ULL << 32))
			return boot_fail(err, errlen, -EINVAL,
					 "framebuffer %ux%u at 0x%llx cannot "
					 "be described in screen_info",
					 fb->width, fb->height,
					 (unsigned long long)fb->base);
		fill_screen_info(&p.zp.screen_info, fb);
	}

	/* Pass 2: write. Every range was checked above. */
	memcpy(gmem_ptr(m, p.load, p.payload_len), in->kernel + p.payload_off,
	       p.payload_len);
	if (in->initrd_len)
		memcpy(gmem_ptr(m, p.initrd_addr, in->initrd_len), in->initrd,
		       in->initrd_len);
	memcpy(gmem_ptr(m, BOOT_CMDLINE_ADDR, p.cmdline_len + 1),
	       in->cmdline ? in->cmdline : "", p.cmdline_len + 1);
	memcpy(gmem_ptr(m, BOOT_ZERO_PAGE_ADDR, sizeof(p.zp)), &p.zp,
	       sizeof(p.zp));
	write_page_tables(m);
	boot_write_gdt(m);

	memset(out, 0, sizeof(*out));
	out->mode = BOOT_MODE_LONG64;
	out->rip = p.load + ENTRY64_OFFSET;
	out->rsi = BOOT_ZERO_PAGE_ADDR;
	out->cr3 = BOOT_PML4_ADDR;
	out->gdt_base = BOOT_GDT_ADDR;
	out->gdt_limit = BOOT_GDT_LIMIT;
	return 0;
}
