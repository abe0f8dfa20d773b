/* Recognises the two kernel formats we boot. */
#include <string.h>

#include "boot_priv.h"

#define BZ_BOOT_FLAG_OFF 0x1FE /* 0xAA55, the old boot sector signature */
#define BZ_HEADER_OFF    0x202 /* "HdrS": a setup header follows */

enum image_kind image_probe(const uint8_t *img, size_t len)
{
	uint32_t entry;

	if (!img)
		return IMAGE_UNKNOWN;
	if (len >= BZ_HEADER_OFF + 4 && rd16(img + BZ_BOOT_FLAG_OFF) == 0xAA55 &&
	    memcmp(img + BZ_HEADER_OFF, "HdrS", 4) == 0)
		return IMAGE_BZIMAGE;
	/* An ELF counts as PVH only with a well-formed entry note: an ELF
	 * without one would be loaded and then not be bootable. */
	if (pvh_find_entry(img, len, &entry, NULL, 0) == 0)
		return IMAGE_PVH_ELF;
	return IMAGE_UNKNOWN;
}
