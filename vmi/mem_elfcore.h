/* Backend: an x86-64 ELF core as QEMU's dump-guest-memory writes it (QMP
 * or HMP, without paging, format elf): PT_LOAD segments are guest-physical
 * ranges (p_paddr), PT_NOTE holds per-vCPU registers ("CORE" NT_PRSTATUS
 * and "QEMU" CPU state) and the guest kernel's VMCOREINFO when present.
 * Every header, segment and note is checked against the file's size when
 * opened; a corrupted or truncated core is refused with a message. */
#ifndef VSB_VMI_MEM_ELFCORE_H
#define VSB_VMI_MEM_ELFCORE_H

#include <stddef.h>

#include "vmi_mem.h"

/* 0 with *out set, or -errno (-EINVAL: malformed core) with a message in
 * err. The file is read with pread (never mapped), so a core truncated
 * while open gives -EIO on reads, not a crash. */
int vmi_mem_elfcore_open(const char *path, struct vmi_mem **out, char *err,
			 size_t errlen);
/* The same on a core already in memory; buf must outlive *out. */
int vmi_mem_elfcore_from_buffer(const void *buf, size_t len,
				struct vmi_mem **out, char *err,
				size_t errlen);

/* The value of KEY in the core's VMCOREINFO ("KEY=VALUE" lines) copied
 * NUL-terminated into val. Returns its length, -ENODATA without
 * VMCOREINFO (or m is not a core), -ENOENT without KEY, -ENOSPC when val
 * is too small. */
int vmi_elfcore_vmcoreinfo(struct vmi_mem *m, const char *key, char *val,
			   size_t vlen);
/* The whole VMCOREINFO text (not NUL-terminated) or NULL. */
const char *vmi_elfcore_vmcoreinfo_raw(struct vmi_mem *m, size_t *len);

#endif
