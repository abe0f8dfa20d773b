/* libFuzzer target: VMCOREINFO text (vmi/vmcoreinfo.c) as a guest writes
 * it. The input is the text. Checked: a refusal is -EINVAL with a message
 * and no handle; on success OSRELEASE is there, values have no newline or
 * control byte and at most 255 bytes, and number conversion ends in 0,
 * -ENOENT or -EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "vmi/vmcoreinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
	"OSRELEASE", "PAGESIZE", "KERNELOFFSET", "SYMBOL(_stext)",
	"NUMBER(phys_base)", "NUMBER(pgtable_l5_enabled)", "SIZE(page)",
	"OFFSET(list_head.next)", "A", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_vmcoreinfo *v = (struct vmi_vmcoreinfo *)1;
	char err[160] = "";
	uint64_t x;
	int r;

	r = vmi_vmcoreinfo_parse((const char *)data, size, &v, err,
				 sizeof(err));
	if (r) {
		if (r != -EINVAL || v || !err[0])
			__builtin_trap();
		return 0;
	}
	if (!vmi_vmcoreinfo_get(v, "OSRELEASE"))
		__builtin_trap();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *val = vmi_vmcoreinfo_get(v, keys[i]);

		if (val) {
			size_t l = strlen(val);

			if (l > 255)
				__builtin_trap();
			for (size_t j = 0; j < l; j++)
				if ((unsigned char)val[j] < 0x20)
					__builtin_trap();
		}
		r = vmi_vmcoreinfo_u64(v, keys[i], &x);
		if (r && r != -ENOENT && r != -EINVAL)
			__builtin_trap();
		if ((r == -ENOENT) != !val)
			__builtin_trap();
	}
	vmi_vmcoreinfo_free(v);
	return 0;
}
