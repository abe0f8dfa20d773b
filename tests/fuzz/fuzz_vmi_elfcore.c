/* libFuzzer target: ELF core files (vmi/mem_elfcore.c, elfcore_notes.c),
 * then address translation (vmi/x86_walk.c) over the core's memory. The
 * input is the core image. Checked: opening never crashes or leaks;
 * failures are -EINVAL/-ENOMEM with a message and no backend; on success
 * reads never return more than asked, errors are negative errnos, RAM
 * ranges are sorted and non-overlapping, every vCPU's registers can be
 * read, VMCOREINFO lookups return what fits, and page walks from each
 * vCPU's CR3 end in a documented error or an address. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/mem_elfcore.h"
#include "vmi/vmi_mem.h"
#include "vmi/x86_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_read(struct vmi_mem *m, uint64_t pa, size_t len)
{
	uint8_t buf[64 + 1];
	ssize_t n;

	buf[len] = 0xa5;
	n = vmi_read_pa(m, pa, buf, len);
	if (n > (ssize_t)len || (n < 0 && n != -EFAULT && n != -EIO))
		__builtin_trap();
	if (len && n == 0)
		__builtin_trap();
	if (buf[len] != 0xa5)
		__builtin_trap();
}

static void check_walks(struct vmi_mem *m, uint64_t cr3, uint64_t cr4)
{
	static const uint64_t vas[] = {
		0xffffffff81000000ull, 0xffff888000000000ull, 0x400000,
		0xff11000000000000ull, 0x00007ffffffff000ull,
	};
	struct vmi_x86_pt pt;
	uint8_t buf[16];

	if (vmi_x86_pt_init(&pt, m, vmi_x86_levels(cr4)) < 0)
		__builtin_trap();
	for (size_t i = 0; i < sizeof(vas) / sizeof(vas[0]); i++) {
		struct vmi_x86_fault f;
		uint64_t pa;
		int ret = vmi_x86_translate(&pt, cr3, vas[i], &pa, &f);
		ssize_t n;

		if (ret != 0 && ret != -EINVAL && ret != -ENOENT &&
		    ret != -EIO && ret != -EFAULT)
			__builtin_trap();
		if ((ret == 0) != (f.kind == VMI_XF_NONE))
			__builtin_trap();
		n = vmi_read_va(&pt, cr3, vas[i] + 0xffc, buf, sizeof(buf));
		if (n > (ssize_t)sizeof(buf) || n == 0)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_mem *m = (struct vmi_mem *)1;
	struct vmi_range r;
	char err[160] = "", val[32];
	uint64_t pa = 0, prev_end = 0;
	unsigned nranges = 0;
	int ret = vmi_mem_elfcore_from_buffer(data, size, &m, err,
					      sizeof(err));

	if (ret < 0) {
		if ((ret != -EINVAL && ret != -ENOMEM) || m || !err[0])
			__builtin_trap();
		return 0;
	}
	/* Ranges: sorted, disjoint, non-empty; probe each one's edges. */
	while (vmi_mem_next_range(m, pa, &r) == 0 && nranges++ < 64) {
		if (r.len == 0 || r.pa + r.len <= pa ||
		    (nranges > 1 && r.pa < prev_end))
			__builtin_trap();
		check_read(m, r.pa, 8);
		check_read(m, r.pa + r.len - 4, 8);
		if (r.pa)
			check_read(m, r.pa - 1, 2);
		prev_end = pa = r.pa + r.len;
	}
	check_read(m, 0, 64);
	check_read(m, 0x1000, 0);
	check_read(m, UINT64_MAX - 3, 8);

	for (unsigned i = 0; i < vmi_mem_nr_vcpus(m) && i < 4; i++) {
		struct vmi_regs regs;

		if (vmi_mem_get_regs(m, i, &regs) != 0)
			__builtin_trap();
		check_walks(m, regs.cr3, regs.cr4);
	}
	ret = vmi_elfcore_vmcoreinfo(m, "OSRELEASE", val, sizeof(val));
	if (ret >= 0 && ((size_t)ret >= sizeof(val) || strlen(val) > (size_t)ret))
		__builtin_trap();
	if (ret < 0 && ret != -ENODATA && ret != -ENOENT && ret != -ENOSPC)
		__builtin_trap();
	vmi_mem_close(m);
	return 0;
}
