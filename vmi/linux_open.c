/* Opening a Linux guest: where the kernel is (KASLR), its symbols, its
 * page tables and its struct layouts, each found in the guest itself and
 * checked against the others where two sources exist. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linux_priv.h"
#include "mem_elfcore.h"
#include "vmi_err.h"

/* The BTF of a distribution kernel is about 5 MiB. */
#define LINUX_BTF_MAX (64u << 20)

int vmi_linux_symbol(struct vmi_linux *l, const char *name, uint64_t *addr)
{
	if (l->sysmap) {
		int r = vmi_sysmap_lookup(l->sysmap, name, addr);
		if (r == 0)
			*addr += l->info.kaslr_offset;
		return r;
	}
	return vmi_kallsyms_lookup(l->ksyms, name, addr, NULL);
}

const char *vmi_linux_symbolize(struct vmi_linux *l, uint64_t addr,
				uint64_t *off)
{
	if (l->sysmap)
		return vmi_sysmap_symbolize(l->sysmap,
					    addr - l->info.kaslr_offset, off);
	return vmi_kallsyms_symbolize(l->ksyms, addr, off);
}

static int need_symbol(struct vmi_linux *l, const char *name, uint64_t *addr,
		       char *err, size_t errlen)
{
	if (vmi_linux_symbol(l, name, addr) < 0)
		return vmi_err(err, errlen, -ENOENT, "the guest kernel has no "
			       "symbol %s (%s)", name, l->info.symbol_source);
	return 0;
}

/* Physical address of a kernel-image virtual address (the image is one
 * physically contiguous block at phys_base). */
static uint64_t image_pa(const struct vmi_linux *l, uint64_t va)
{
	return va - LINUX_START_KERNEL_MAP + l->info.phys_base;
}

/* VMCOREINFO from a core's note, else from the kernel's page in RAM. */
static int find_vmcoreinfo(struct vmi_linux *l,
			   const struct vmi_linux_opts *o, char *err,
			   size_t errlen)
{
	size_t len;
	const char *raw = vmi_elfcore_vmcoreinfo_raw(l->mem, &len);
	uint64_t v;
	int r;

	if (o && o->no_vmcoreinfo)
		return 0;
	if (raw)
		r = vmi_vmcoreinfo_parse(raw, len, &l->vci, err, errlen);
	else
		r = vmi_vmcoreinfo_scan(l->mem, &l->vci,
					&l->info.vmcoreinfo_pa, err, errlen);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	const char *rel = vmi_vmcoreinfo_get(l->vci, "OSRELEASE");
	snprintf(l->info.release, sizeof(l->info.release), "%s", rel);
	if (vmi_vmcoreinfo_u64(l->vci, "KERNELOFFSET", &l->info.kaslr_offset)
	    < 0 ||
	    vmi_vmcoreinfo_u64(l->vci, "NUMBER(phys_base)",
			       &l->info.phys_base) < 0)
		return vmi_err(err, errlen, -EINVAL, "VMCOREINFO lacks "
			       "KERNELOFFSET or NUMBER(phys_base)");
	l->info.levels = 4;
	if (vmi_vmcoreinfo_u64(l->vci, "NUMBER(pgtable_l5_enabled)", &v) == 0
	    && v)
		l->info.levels = 5;
	l->info.kaslr_source = "vmcoreinfo";
	return 0;
}

static int load_symbols(struct vmi_linux *l, const struct vmi_linux_opts *o,
			char *err, size_t errlen)
{
	struct vmi_kallsyms_where where;
	int r;

	if (o && o->system_map) {
		r = vmi_sysmap_open(o->system_map, &l->sysmap, err, errlen);
		if (r < 0)
			return r;
		l->info.symbol_source = "System.map";
		l->info.nr_symbols = vmi_sysmap_count(l->sysmap);
		return 0;
	}
	r = vmi_kallsyms_scan(l->mem, &l->ksyms, &where, err, errlen);
	if (r == -ENOENT)
		return vmi_err(err, errlen, r, "no kallsyms tables in guest "
			       "memory (not a Linux guest, or a kernel "
			       "without CONFIG_KALLSYMS: give --system-map)");
	if (r < 0)
		return r;
	l->info.symbol_source = "kallsyms";
	l->info.nr_symbols = vmi_kallsyms_count(l->ksyms);
	return 0;
}

/* Whether the kernel's linux_banner reads "Linux version " through the
 * tables at root: the proof that symbols, offset and tables agree. */
static int banner_ok(struct vmi_linux *l, uint64_t root)
{
	uint64_t banner, pa;
	char buf[14];

	if (vmi_linux_symbol(l, "linux_banner", &banner) < 0 ||
	    vmi_x86_translate(&l->pt, root, banner, &pa, NULL) < 0 ||
	    vmi_read_pa_full(l->mem, pa, buf, sizeof(buf)) < 0)
		return 0;
	return memcmp(buf, "Linux version ", sizeof(buf)) == 0;
}

/* Without VMCOREINFO: a vCPU's CR3 maps the kernel (with page-table
 * isolation, a user CR3 is the odd page of an 8 KiB pair: the kernel's
 * is the even one). With kallsyms, _text's address is known and one
 * walk gives phys_base; with a System.map, each 2 MiB-aligned KASLR slot
 * is tried until linux_banner reads right. */
static int kaslr_from_tables(struct vmi_linux *l, const struct vmi_linux_opts *o,
			     char *err, size_t errlen)
{
	struct vmi_regs regs;
	unsigned vcpu = o ? o->vcpu : 0;
	uint64_t text, pa;
	int r = vmi_mem_get_regs(l->mem, vcpu, &regs);

	if (r < 0 || !(regs.valid & VMI_REGS_CR))
		return vmi_err(err, errlen, r < 0 ? r : -ENODATA, "no "
			       "VMCOREINFO in the guest and no control "
			       "registers of vCPU %u to find the kernel "
			       "through its page tables", vcpu);
	l->info.levels = vmi_x86_levels(regs.cr4);
	vmi_x86_set_levels(&l->pt, l->info.levels);
	uint64_t roots[2] = { regs.cr3, regs.cr3 & ~0x1000ull };
	for (unsigned i = 0; i < 2; i++) {
		if (l->ksyms) {
			if (vmi_kallsyms_lookup(l->ksyms, "_text", &text,
						NULL) < 0)
				break;
			l->info.kaslr_offset = text - LINUX_DEFAULT_TEXT;
			if (vmi_x86_translate(&l->pt, roots[i], text, &pa,
					      NULL) < 0)
				continue;
			l->info.phys_base = pa - (text - LINUX_START_KERNEL_MAP);
			if (banner_ok(l, roots[i]))
				goto found;
			continue;
		}
		if (vmi_sysmap_lookup(l->sysmap, "_text", &text) < 0)
			break;
		for (uint64_t off = 0; off < LINUX_KASLR_SPAN;
		     off += LINUX_KASLR_ALIGN) {
			l->info.kaslr_offset = off;
			if (vmi_x86_translate(&l->pt, roots[i], text + off,
					      &pa, NULL) < 0)
				continue;
			l->info.phys_base = pa - (text + off -
						  LINUX_START_KERNEL_MAP);
			if (banner_ok(l, roots[i]))
				goto found;
		}
	}
	return vmi_err(err, errlen, -ENOENT, "cannot find the kernel "
		       "through vCPU %u's page tables (cr3 0x%" PRIx64 "): "
		       "%s", vcpu, regs.cr3, l->sysmap ? "the System.map "
		       "does not match this guest's kernel" : "no mapping "
		       "of _text");
found:
	l->info.kaslr_source = "page tables";
	return 0;
}

/* The kernel's own top-level table, and proof that it maps the image. */
static int find_kernel_root(struct vmi_linux *l, char *err, size_t errlen)
{
	uint64_t pgt, banner;
	int r;

	vmi_x86_set_levels(&l->pt, l->info.levels);
	if ((r = need_symbol(l, "init_top_pgt", &pgt, err, errlen)) < 0 ||
	    (r = need_symbol(l, "linux_banner", &banner, err, errlen)) < 0)
		return r;
	l->info.kernel_root = image_pa(l, pgt);
	if (!banner_ok(l, l->info.kernel_root))
		return vmi_err(err, errlen, -EINVAL, "%s does not match the "
			       "guest's kernel: linux_banner (at 0x%" PRIx64
			       " with KASLR offset 0x%" PRIx64 ") does not "
			       "read \"Linux version\" through init_top_pgt",
			       l->info.symbol_source, banner,
			       l->info.kaslr_offset);
	return 0;
}

/* Two sources for the same fact must agree: a kernel other than the
 * one the symbols describe is refused, not half-read. */
static int cross_check(struct vmi_linux *l, char *err, size_t errlen)
{
	uint64_t a, b;

	if (!l->vci)
		return 0;
	if (vmi_vmcoreinfo_u64(l->vci, "SYMBOL(init_uts_ns)", &a) == 0 &&
	    vmi_linux_symbol(l, "init_uts_ns", &b) == 0 && a != b)
		return vmi_err(err, errlen, -EINVAL, "%s does not match the "
			       "guest's kernel: init_uts_ns is at 0x%" PRIx64
			       " there, at 0x%" PRIx64 " per VMCOREINFO",
			       l->info.symbol_source, b, a);
	return 0;
}

static int load_btf(struct vmi_linux *l, const struct vmi_linux_opts *o,
		    char *err, size_t errlen)
{
	uint64_t start, stop;
	uint8_t *buf;
	int r;

	if (o && o->btf_path) {
		l->info.btf_source = "file";
		return vmi_btf_open_file(o->btf_path, &l->btf, err, errlen);
	}
	if (vmi_linux_symbol(l, "__start_BTF", &start) < 0 ||
	    vmi_linux_symbol(l, "__stop_BTF", &stop) < 0)
		return vmi_err(err, errlen, -ENOENT, "the guest kernel has no "
			       "BTF (__start_BTF/__stop_BTF; "
			       "CONFIG_DEBUG_INFO_BTF): give --btf FILE");
	if (stop <= start || stop - start > LINUX_BTF_MAX)
		return vmi_err(err, errlen, -EINVAL, "guest BTF size %" PRIu64
			       " bytes is implausible", stop - start);
	l->info.btf_source = "guest memory";
	l->info.btf_size = stop - start;
	buf = malloc(stop - start);
	if (!buf)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	r = linux_kread(l, start, buf, stop - start, "the kernel's BTF", err,
			errlen);
	if (r == 0)
		r = vmi_btf_open_buffer(buf, stop - start, &l->btf, err,
					errlen);
	free(buf);
	return r;
}

/* The release from init_uts_ns when VMCOREINFO did not give it. */
static void read_release(struct vmi_linux *l)
{
	uint64_t uts;
	uint32_t off, size;

	if (l->info.release[0] ||
	    vmi_linux_symbol(l, "init_uts_ns", &uts) < 0 ||
	    vmi_btf_member_offset(l->btf, "uts_namespace", "name.release",
				  &off, &size, NULL, 0) < 0)
		return;
	if (size >= sizeof(l->info.release))
		size = sizeof(l->info.release) - 1;
	if (linux_kread(l, uts + off, l->info.release, size, "", NULL, 0) < 0)
		l->info.release[0] = '\0';
	l->info.release[size] = '\0';
}

int vmi_linux_open(struct vmi_mem *m, const struct vmi_linux_opts *o,
		   struct vmi_linux **out, char *err, size_t errlen)
{
	struct vmi_linux *l = calloc(1, sizeof(*l));
	int r;

	*out = NULL;
	if (!l)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	l->mem = m;
	vmi_x86_pt_init(&l->pt, m, 4);
	if ((r = find_vmcoreinfo(l, o, err, errlen)) < 0 ||
	    (r = load_symbols(l, o, err, errlen)) < 0)
		goto fail;
	if (!l->vci && (r = kaslr_from_tables(l, o, err, errlen)) < 0)
		goto fail;
	if ((r = cross_check(l, err, errlen)) < 0 ||
	    (r = find_kernel_root(l, err, errlen)) < 0 ||
	    (r = load_btf(l, o, err, errlen)) < 0 ||
	    (r = vmi_linux_layout_get(l->btf, &l->layout, err, errlen)) < 0 ||
	    (r = need_symbol(l, "init_task", &l->init_task, err, errlen)) < 0)
		goto fail;
	if (l->layout.module.kind != VMI_MODULE_MEM_NONE &&
	    (r = need_symbol(l, "modules", &l->modules, err, errlen)) < 0)
		goto fail;
	read_release(l);
	*out = l;
	return 0;
fail:
	vmi_linux_close(l);
	return r;
}

void vmi_linux_close(struct vmi_linux *l)
{
	if (!l)
		return;
	vmi_vmcoreinfo_free(l->vci);
	vmi_kallsyms_free(l->ksyms);
	vmi_sysmap_free(l->sysmap);
	vmi_btf_close(l->btf);
	free(l);
}

const struct vmi_linux_info *vmi_linux_info(const struct vmi_linux *l)
{
	return &l->info;
}

const struct vmi_linux_layout *vmi_linux_layout(const struct vmi_linux *l)
{
	return &l->layout;
}

struct vmi_mem *vmi_linux_mem(struct vmi_linux *l)
{
	return l->mem;
}

void vmi_linux_invalidate(struct vmi_linux *l)
{
	vmi_x86_invalidate(&l->pt);
}

int vmi_linux_banner(struct vmi_linux *l, char *buf, size_t len, char *err,
		     size_t errlen)
{
	uint64_t va;
	ssize_t n;
	int r = need_symbol(l, "linux_banner", &va, err, errlen);

	if (r < 0)
		return r;
	if (len == 0)
		return vmi_err(err, errlen, -EINVAL, "no room for the banner");
	n = vmi_read_va(&l->pt, l->info.kernel_root, va, buf, len - 1);
	if (n <= 0)
		return vmi_err(err, errlen, n < 0 ? (int)n : -EFAULT,
			       "cannot read linux_banner at 0x%" PRIx64, va);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
