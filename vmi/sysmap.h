/* A System.map ("ADDRESS TYPE NAME" per line, as nm prints it): the
 * kernel's link-time symbol addresses, before KASLR. Debian ships a
 * one-line placeholder instead (the real one is in the -dbg package):
 * that is recognised and refused with a message saying so. */
#ifndef VSB_VMI_SYSMAP_H
#define VSB_VMI_SYSMAP_H

#include <stddef.h>
#include <stdint.h>

struct vmi_sysmap;

/* 0, or -errno with one line in err: unreadable file, a malformed line
 * (its number), the Debian placeholder, no symbols. */
int vmi_sysmap_open(const char *path, struct vmi_sysmap **out, char *err,
		    size_t errlen);
int vmi_sysmap_parse(const char *text, size_t len, struct vmi_sysmap **out,
		     char *err, size_t errlen);
void vmi_sysmap_free(struct vmi_sysmap *s);

size_t vmi_sysmap_count(const struct vmi_sysmap *s);
/* By exact name (the first in file order): 0 or -ENOENT. */
int vmi_sysmap_lookup(const struct vmi_sysmap *s, const char *name,
		      uint64_t *addr);
/* The symbol at or below addr (link-time addresses); NULL if none. */
const char *vmi_sysmap_symbolize(const struct vmi_sysmap *s, uint64_t addr,
				 uint64_t *off);

#endif
