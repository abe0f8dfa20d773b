/* The notes of a QEMU core: per-vCPU registers and VMCOREINFO. Layouts
 * (QEMU 7.2 target/i386/arch_dump.c, x86-64 guest in long mode):
 * - "CORE" NT_PRSTATUS: x86_64_elf_prstatus, 336 bytes: pr_pid (the vCPU
 *   index + 1) at 32, user_regs_struct at 112: r15 r14 r13 r12 rbp rbx r11
 *   r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base
 *   gs_base ds es fs gs, 8 bytes each.
 * - "QEMU" type 0: QEMUCPUState, version 1, size 432: u32 version, u32
 *   size, rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags (u64), then
 *   segments cs ds es fs gs ss ldt tr gdt idt of 24 bytes each (u32
 *   selector, limit, flags, pad; u64 base), then cr[5] (cr0..cr4). It has
 *   no EFER, kernel_gs_base or cr8.
 * - "VMCOREINFO": the guest kernel's text, KEY=VALUE lines. */
#include "elfcore.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmi_err.h"

#define PRSTATUS_PID   32
#define PRSTATUS_REGS  112
#define PRSTATUS_MIN   (PRSTATUS_REGS + 27 * 8)
#define QEMU_CPU_VERSION 1
#define QEMU_CPU_SIZE  432
#define QEMU_SEGS      152
#define QEMU_CR        392

static uint64_t get64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* A note name matches with or without its terminating NUL. */
static int name_is(const uint8_t *name, uint32_t namesz, const char *want)
{
	size_t l = strlen(want);

	if (namesz == l + 1 && name[l] != '\0')
		return 0;
	return (namesz == l || namesz == l + 1) && !memcmp(name, want, l);
}

/* Appends one zeroed entry; doubling keeps thousands of vCPUs linear. */
static int push(struct vmi_regs **arr, unsigned *n, unsigned *cap,
		char *err, size_t errlen, struct vmi_regs **slot)
{
	if (*n >= ELFCORE_MAX_CPUS)
		return vmi_err(err, errlen, -EINVAL, "more than %u vCPU "
			       "notes", ELFCORE_MAX_CPUS);
	if (*n == *cap) {
		unsigned c = *cap ? 2 * *cap : 4;
		struct vmi_regs *a = realloc(*arr, c * sizeof(**arr));

		if (!a)
			return vmi_err(err, errlen, -ENOMEM, "out of memory");
		*arr = a;
		*cap = c;
	}
	*slot = &(*arr)[(*n)++];
	memset(*slot, 0, sizeof(**slot));
	return 0;
}

static void prstatus_regs(struct vmi_regs *r, const uint8_t *d)
{
	const uint8_t *g = d + PRSTATUS_REGS;

	r->cpu_id = get32(d, PRSTATUS_PID);
	r->r15 = get64(g, 0 * 8);
	r->r14 = get64(g, 1 * 8);
	r->r13 = get64(g, 2 * 8);
	r->r12 = get64(g, 3 * 8);
	r->rbp = get64(g, 4 * 8);
	r->rbx = get64(g, 5 * 8);
	r->r11 = get64(g, 6 * 8);
	r->r10 = get64(g, 7 * 8);
	r->r9 = get64(g, 8 * 8);
	r->r8 = get64(g, 9 * 8);
	r->rax = get64(g, 10 * 8);
	r->rcx = get64(g, 11 * 8);
	r->rdx = get64(g, 12 * 8);
	r->rsi = get64(g, 13 * 8);
	r->rdi = get64(g, 14 * 8);
	/* 15: orig_rax, always 0 from QEMU */
	r->rip = get64(g, 16 * 8);
	r->cs = get64(g, 17 * 8);
	r->rflags = get64(g, 18 * 8);
	r->rsp = get64(g, 19 * 8);
	r->ss = get64(g, 20 * 8);
	r->fs_base = get64(g, 21 * 8);
	r->gs_base = get64(g, 22 * 8);
	r->ds = get64(g, 23 * 8);
	r->es = get64(g, 24 * 8);
	r->fs = get64(g, 25 * 8);
	r->gs = get64(g, 26 * 8);
	r->valid = VMI_REGS_GPR | VMI_REGS_SEG;
}

static void qemu_regs(struct vmi_regs *r, const uint8_t *d)
{
	const uint8_t *s = d + QEMU_SEGS;
	uint64_t *gpr[] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi,
			    &r->rdi, &r->rsp, &r->rbp, &r->r8, &r->r9,
			    &r->r10, &r->r11, &r->r12, &r->r13, &r->r14,
			    &r->r15, &r->rip, &r->rflags };
	uint16_t *sel[] = { &r->cs, &r->ds, &r->es, &r->fs, &r->gs, &r->ss };

	for (size_t i = 0; i < sizeof(gpr) / sizeof(gpr[0]); i++)
		*gpr[i] = get64(d, 8 + 8 * i);
	for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++)
		*sel[i] = get32(s, 24 * i);
	r->fs_base = get64(s, 24 * 3 + 16);
	r->gs_base = get64(s, 24 * 4 + 16);
	r->gdt_limit = get32(s, 24 * 8 + 4);
	r->gdt_base = get64(s, 24 * 8 + 16);
	r->idt_limit = get32(s, 24 * 9 + 4);
	r->idt_base = get64(s, 24 * 9 + 16);
	r->cr0 = get64(d, QEMU_CR + 0 * 8);
	r->cr2 = get64(d, QEMU_CR + 2 * 8);
	r->cr3 = get64(d, QEMU_CR + 3 * 8);
	r->cr4 = get64(d, QEMU_CR + 4 * 8);
	r->valid = VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR | VMI_REGS_DT;
}

static int one_note(struct elfcore_notes *n, const uint8_t *name,
		    uint32_t namesz, uint32_t type, const uint8_t *desc,
		    uint32_t descsz, unsigned idx, unsigned seg, char *err,
		    size_t errlen)
{
	struct vmi_regs *r;
	int ret;

	if (name_is(name, namesz, "CORE") && type == NT_PRSTATUS) {
		if (descsz < PRSTATUS_MIN)
			return vmi_err(err, errlen, -EINVAL, "PT_NOTE %u, "
				       "note %u: NT_PRSTATUS of %u bytes, "
				       "need %u", seg, idx, descsz,
				       PRSTATUS_MIN);
		ret = push(&n->prs, &n->nprs, &n->prs_cap, err, errlen, &r);
		if (ret < 0)
			return ret;
		prstatus_regs(r, desc);
	} else if (name_is(name, namesz, "QEMU") && type == 0) {
		uint32_t ver, size;

		if (descsz < 8)
			return vmi_err(err, errlen, -EINVAL, "PT_NOTE %u, "
				       "note %u: QEMU CPU state of %u bytes",
				       seg, idx, descsz);
		ver = get32(desc, 0);
		size = get32(desc, 4);
		/* Another version has another layout: skip it rather
		 * than misread it (registers then come from NT_PRSTATUS
		 * only). */
		if (ver != QEMU_CPU_VERSION)
			return 0;
		if (size < QEMU_CPU_SIZE || size > descsz)
			return vmi_err(err, errlen, -EINVAL, "PT_NOTE %u, "
				       "note %u: QEMU CPU state says %u bytes "
				       "in a note of %u (version 1 has %u)",
				       seg, idx, size, descsz,
				       QEMU_CPU_SIZE);
		ret = push(&n->qemu, &n->nqemu, &n->qemu_cap, err, errlen,
			   &r);
		if (ret < 0)
			return ret;
		qemu_regs(r, desc);
	} else if (name_is(name, namesz, "VMCOREINFO")) {
		if (n->vmcoreinfo)
			return 0; /* the first one counts */
		if (descsz > ELFCORE_MAX_VMCOREINFO)
			return vmi_err(err, errlen, -EINVAL, "VMCOREINFO of "
				       "%u bytes", descsz);
		n->vmcoreinfo = malloc(descsz + 1);
		if (!n->vmcoreinfo)
			return vmi_err(err, errlen, -ENOMEM, "out of memory");
		memcpy(n->vmcoreinfo, desc, descsz);
		n->vmcoreinfo[descsz] = '\0';
		n->vmcoreinfo_len = descsz;
	}
	return 0;
}

int elfcore_parse_notes(struct elfcore_notes *n, const uint8_t *p,
			size_t len, unsigned seg, char *err, size_t errlen)
{
	size_t off = 0;

	for (unsigned idx = 0; len - off >= sizeof(Elf64_Nhdr); idx++) {
		Elf64_Nhdr h;
		uint64_t name_pad, desc_pad;
		int ret;

		memcpy(&h, p + off, sizeof(h));
		/* 64-bit sums: a 4 GiB name cannot wrap them. */
		name_pad = ((uint64_t)h.n_namesz + 3) & ~3ull;
		desc_pad = ((uint64_t)h.n_descsz + 3) & ~3ull;
		if (name_pad > len - off - sizeof(h) ||
		    desc_pad > len - off - sizeof(h) - name_pad)
			return vmi_err(err, errlen, -EINVAL, "PT_NOTE %u, "
				       "note %u at +0x%zx: name %u and data "
				       "%u bytes run past the segment's %zu",
				       seg, idx, off, h.n_namesz, h.n_descsz,
				       len);
		ret = one_note(n, p + off + sizeof(h), h.n_namesz, h.n_type,
			       p + off + sizeof(h) + name_pad, h.n_descsz,
			       idx, seg, err, errlen);
		if (ret < 0)
			return ret;
		off += sizeof(h) + name_pad + desc_pad;
	}
	/* Trailing bytes shorter than a header: padding, ignored. */
	return 0;
}

int elfcore_merge_cpus(struct elfcore *c, struct elfcore_notes *n, char *err,
		       size_t errlen)
{
	unsigned ncpu = n->nprs > n->nqemu ? n->nprs : n->nqemu;

	if (n->nprs && n->nqemu && n->nprs != n->nqemu)
		return vmi_err(err, errlen, -EINVAL, "%u NT_PRSTATUS notes "
			       "but %u QEMU CPU notes", n->nprs, n->nqemu);
	c->ncpu = ncpu;
	c->cpu = NULL;
	if (!ncpu)
		return 0;
	/* The QEMU note is the fuller one; keep NT_PRSTATUS's pid. */
	if (n->nqemu) {
		for (unsigned i = 0; i < n->nprs; i++)
			n->qemu[i].cpu_id = n->prs[i].cpu_id;
		for (unsigned i = n->nprs; i < ncpu; i++)
			n->qemu[i].cpu_id = i + 1;
		c->cpu = n->qemu;
		n->qemu = NULL;
	} else {
		c->cpu = n->prs;
		n->prs = NULL;
	}
	return 0;
}

void elfcore_notes_free(struct elfcore_notes *n)
{
	free(n->prs);
	free(n->qemu);
	free(n->vmcoreinfo);
	memset(n, 0, sizeof(*n));
}
