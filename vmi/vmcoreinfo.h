/* VMCOREINFO: the "KEY=VALUE" lines the Linux kernel writes at boot
 * (CONFIG_CRASH_CORE) for crash-dump tools: OSRELEASE, PAGESIZE,
 * SYMBOL(name)=hex address, OFFSET(struct.member)=decimal,
 * SIZE(type)=decimal, LENGTH(array)=decimal, NUMBER(name)=decimal (or
 * hex with 0x), KERNELOFFSET=hex (the KASLR offset). It comes in a QEMU
 * core's "VMCOREINFO" note, or straight out of a live guest's RAM: the
 * kernel keeps the text in a page of its own (vmcoreinfo_data). */
#ifndef VSB_VMI_VMCOREINFO_H
#define VSB_VMI_VMCOREINFO_H

#include <stddef.h>
#include <stdint.h>

#include "vmi_mem.h"

struct vmi_vmcoreinfo;

/* Parses text[0..len) (a NUL ends it early). Lines without '=' are
 * refused, as are keys or values over 255 bytes, more than 4096 lines,
 * and text without an OSRELEASE line. 0 or -EINVAL with one line in
 * err. */
int vmi_vmcoreinfo_parse(const char *text, size_t len,
			 struct vmi_vmcoreinfo **out, char *err,
			 size_t errlen);

/* Finds vmcoreinfo_data in guest-physical memory: a page-aligned page
 * starting "OSRELEASE=" that parses and has PAGESIZE and KERNELOFFSET
 * lines. *pa (may be NULL) gets its address. -ENOENT when none. */
int vmi_vmcoreinfo_scan(struct vmi_mem *m, struct vmi_vmcoreinfo **out,
			uint64_t *pa, char *err, size_t errlen);

void vmi_vmcoreinfo_free(struct vmi_vmcoreinfo *v);

/* The value of key (e.g. "OSRELEASE", "SYMBOL(init_top_pgt)") or NULL. */
const char *vmi_vmcoreinfo_get(const struct vmi_vmcoreinfo *v,
			       const char *key);
/* key's value as a number: SYMBOL(...), KERNELOFFSET and values starting
 * 0x are hexadecimal, the rest decimal (NUMBER(...) may be negative: it
 * is then returned two's-complement). 0, -ENOENT, or -EINVAL when the
 * value is not a whole number. */
int vmi_vmcoreinfo_u64(const struct vmi_vmcoreinfo *v, const char *key,
		       uint64_t *val);

#endif
