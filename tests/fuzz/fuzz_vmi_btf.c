/* libFuzzer target: raw BTF blobs as a guest's __start_BTF.. would hold
 * them (vmi/linux_btf.c over libbpf's btf__new). The input is the blob.
 * Checked: opening never crashes or leaks; a refusal is a negative errno
 * with a message and no handle; on success the layout lookup ends in 0 or
 * a negative errno, and every offset it gives lies within its struct.
 * libbpf itself is the system's shared library, not instrumented: its
 * crashes are found, its branches do not guide the fuzzer. */
#include <bpf/libbpf.h>
#include <stdint.h>
#include <string.h>

#include "vmi/linux_btf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void within(uint32_t off, uint32_t len, uint32_t limit)
{
	if ((uint64_t)off + len > limit)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_linux_layout l;
	struct vmi_btf *b = (struct vmi_btf *)1;
	char err[160] = "";
	uint32_t off, msize, mod;
	int r;

	libbpf_set_print(NULL);
	r = vmi_btf_open_buffer(data, size, &b, err, sizeof(err));
	if (r) {
		if (r > 0 || b || !err[0])
			__builtin_trap();
		return 0;
	}
	err[0] = 0;
	r = vmi_linux_layout_get(b, &l, err, sizeof(err));
	if (r > 0 || (r < 0 && !err[0]))
		__builtin_trap();
	if (r == 0) {
		within(l.task.comm, l.task.comm_size, l.task.size);
		within(l.task.state, l.task.state_size, l.task.size);
		if (l.module.kind != VMI_MODULE_MEM_NONE) {
			if (vmi_btf_struct_size(b, "module", &mod, NULL, 0))
				__builtin_trap();
			within(l.module.name, l.module.name_size, mod);
			within(l.module.base, l.module.base_size, mod);
			within(l.module.mem_size, l.module.mem_size_size, mod);
		}
	}
	r = vmi_btf_member_offset(b, "task_struct", "tasks.next", &off,
				  &msize, err, sizeof(err));
	if (r > 0)
		__builtin_trap();
	vmi_btf_close(b);
	return 0;
}
