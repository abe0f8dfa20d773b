/* Small helpers shared by the parsers of text from outside our trust
 * (System.map files, vsbd and QEMU replies). */
#ifndef VSB_VMI_TEXT_H
#define VSB_VMI_TEXT_H

/* The value of one hexadecimal digit, or -1. */
static inline int vmi_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
