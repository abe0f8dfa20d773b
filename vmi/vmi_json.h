/* The JSON shapes of introspection results (jansson), shared by the `vmi`
 * command (--json) and the CryptVMI agent, so both say exactly the same.
 * Addresses are "0x..." strings: JSON numbers are doubles to many
 * readers, and kernel addresses need all 64 bits. Strings from the guest
 * (banner, release, process and module names) are untrusted: bytes
 * outside printable ASCII become \xNN, so a guest can send neither escape
 * sequences to a terminal nor invalid UTF-8 into JSON. Every builder
 * returns a new reference, or NULL when out of memory. */
#ifndef VSB_VMI_JSON_H
#define VSB_VMI_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linux.h"
#include "vmi_regs.h"

/* Guest bytes made safe to print: printable ASCII kept (not '\\'), the
 * rest \xNN; cut at a whole character to fit outlen (> 0). */
void vmi_sanitize(const char *in, char *out, size_t outlen);
/* "0x" and lowercase hex digits. */
json_t *vmi_json_hex(uint64_t v);
/* MODULE_STATE_*: "live", "coming", "going", "unformed", else "?". */
const char *vmi_module_state_name(uint32_t state);

/* Registers as `vmi regs` shows them: the valid groups' fields in a fixed
 * order. */
struct vmi_reg_field {
	const char *name;
	uint64_t value;
};
#define VMI_REG_FIELDS 34
/* Writes the fields r->valid has into f; returns how many. */
size_t vmi_reg_fields(const struct vmi_regs *r,
		      struct vmi_reg_field f[VMI_REG_FIELDS]);

/* `info`: banner is linux_banner as vmi_linux_banner gives it, memory
 * the backend's name (vmi_mem_name). */
json_t *vmi_json_info(const struct vmi_linux_info *i,
		      const struct vmi_linux_layout *ly, const char *banner,
		      const char *memory);
/* `ps`: t and n as vmi_linux_tasks gives them; t[0], init_task (pid 0,
 * the idle task), is left out, as ps and /proc leave it out. */
json_t *vmi_json_tasks(const struct vmi_linux_task *t, size_t n);
/* `lsmod`. */
json_t *vmi_json_modules(const struct vmi_linux_module *m, size_t n);
/* `read`: {"addr", "len", "hex"} for the n bytes read at addr. */
json_t *vmi_json_read(uint64_t addr, const uint8_t *buf, size_t n);
/* `regs`: {"vcpu", then each valid register}. */
json_t *vmi_json_regs(unsigned vcpu, const struct vmi_regs *r);
/* `sym NAME`: {"name", "addr"}; `sym 0xADDR`: {"name", "addr",
 * "offset"} (name is the kernel's own symbol name). */
json_t *vmi_json_sym(const char *name, uint64_t addr);
json_t *vmi_json_sym_at(const char *name, uint64_t addr, uint64_t off);
/* `pause`, `resume`: {"state": "paused" or "running"}. */
json_t *vmi_json_state(bool paused);

#endif
