/* The text form of a memory read, shared by `vmi read` and the tenant
 * CLI's `cryptvmi read`, so both print the same. */
#ifndef VSB_VMI_HEXDUMP_H
#define VSB_VMI_HEXDUMP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* n bytes read at addr to f, 16 a line: the address, the bytes in hex,
 * then the printable ones ('.' for the rest, so nothing from the guest
 * reaches a terminal as a control character). */
void vmi_hexdump(FILE *f, uint64_t addr, const uint8_t *b, size_t n);

#endif
