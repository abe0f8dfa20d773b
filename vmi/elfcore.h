/* Internal to the ELF core backend: its state and the note parser. */
#ifndef VSB_VMI_ELFCORE_H
#define VSB_VMI_ELFCORE_H

#include <stddef.h>
#include <stdint.h>

#include "vmi_mem.h"
#include "vmi_regs.h"
#include "vmi_rmap.h"

/* Bounds on what a sane core holds, so a hostile one cannot make us
 * allocate or loop without end. */
#define ELFCORE_MAX_PHNUM     (1u << 20)
#define ELFCORE_MAX_NOTES_LEN (64u << 20) /* all PT_NOTE bytes */
#define ELFCORE_MAX_CPUS      8192u
#define ELFCORE_MAX_VMCOREINFO (1u << 20)

/* Registers gathered from the notes, before pairing. */
struct elfcore_notes {
	struct vmi_regs *prs;  /* from NT_PRSTATUS, in order */
	unsigned nprs, prs_cap;
	struct vmi_regs *qemu; /* from "QEMU" notes, in order */
	unsigned nqemu, qemu_cap;
	char *vmcoreinfo;
	size_t vmcoreinfo_len;
};

struct elfcore {
	struct vmi_mem mem;
	struct vmi_rmap map;
	const uint8_t *buf; /* the core in memory, or NULL: read fd */
	uint64_t size;
	int fd;
	struct vmi_regs *cpu;
	unsigned ncpu;
	char *vmcoreinfo;
	size_t vmcoreinfo_len;
};

/* Parses one PT_NOTE segment's bytes (index seg, for messages) into n.
 * 0 or -EINVAL/-ENOMEM with a message. */
int elfcore_parse_notes(struct elfcore_notes *n, const uint8_t *p,
			size_t len, unsigned seg, char *err, size_t errlen);
/* Pairs the i-th NT_PRSTATUS with the i-th QEMU note (QEMU writes all of
 * one kind, then all of the other) into c->cpu; frees n's arrays. */
int elfcore_merge_cpus(struct elfcore *c, struct elfcore_notes *n, char *err,
		       size_t errlen);
void elfcore_notes_free(struct elfcore_notes *n);

#endif
