/* JSON results of introspection (vmi_json.h): one definition of each
 * shape, for `vmi --json` and the CryptVMI agent. */
#include "vmi_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "linux_btf.h"

void vmi_sanitize(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in;
	     *p && o + 5 < outlen; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x",
					      *p);
	}
	out[o] = '\0';
}

json_t *vmi_json_hex(uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	return json_string(b);
}

const char *vmi_module_state_name(uint32_t state)
{
	static const char *const names[] = { "live", "coming", "going",
					     "unformed" };
	return state < 4 ? names[state] : "?";
}

size_t vmi_reg_fields(const struct vmi_regs *r,
		      struct vmi_reg_field f[VMI_REG_FIELDS])
{
	const struct { const char *n; uint64_t v; uint32_t g; } all[] = {
		{ "rax", r->rax, VMI_REGS_GPR }, { "rbx", r->rbx, VMI_REGS_GPR },
		{ "rcx", r->rcx, VMI_REGS_GPR }, { "rdx", r->rdx, VMI_REGS_GPR },
		{ "rsi", r->rsi, VMI_REGS_GPR }, { "rdi", r->rdi, VMI_REGS_GPR },
		{ "rsp", r->rsp, VMI_REGS_GPR }, { "rbp", r->rbp, VMI_REGS_GPR },
		{ "r8", r->r8, VMI_REGS_GPR }, { "r9", r->r9, VMI_REGS_GPR },
		{ "r10", r->r10, VMI_REGS_GPR }, { "r11", r->r11, VMI_REGS_GPR },
		{ "r12", r->r12, VMI_REGS_GPR }, { "r13", r->r13, VMI_REGS_GPR },
		{ "r14", r->r14, VMI_REGS_GPR }, { "r15", r->r15, VMI_REGS_GPR },
		{ "rip", r->rip, VMI_REGS_GPR },
		{ "rflags", r->rflags, VMI_REGS_GPR },
		{ "cr0", r->cr0, VMI_REGS_CR }, { "cr2", r->cr2, VMI_REGS_CR },
		{ "cr3", r->cr3, VMI_REGS_CR }, { "cr4", r->cr4, VMI_REGS_CR },
		{ "cs", r->cs, VMI_REGS_SEG }, { "ss", r->ss, VMI_REGS_SEG },
		{ "ds", r->ds, VMI_REGS_SEG }, { "es", r->es, VMI_REGS_SEG },
		{ "fs", r->fs, VMI_REGS_SEG }, { "gs", r->gs, VMI_REGS_SEG },
		{ "fs_base", r->fs_base, VMI_REGS_SEG },
		{ "gs_base", r->gs_base, VMI_REGS_SEG },
		{ "gdt_base", r->gdt_base, VMI_REGS_DT },
		{ "gdt_limit", r->gdt_limit, VMI_REGS_DT },
		{ "idt_base", r->idt_base, VMI_REGS_DT },
		{ "idt_limit", r->idt_limit, VMI_REGS_DT },
	};
	size_t n = 0;

	_Static_assert(sizeof(all) / sizeof(all[0]) == VMI_REG_FIELDS,
		       "VMI_REG_FIELDS");
	for (size_t i = 0; i < VMI_REG_FIELDS; i++) {
		if (r->valid & all[i].g)
			f[n++] = (struct vmi_reg_field){ all[i].n, all[i].v };
	}
	return n;
}

json_t *vmi_json_info(const struct vmi_linux_info *i,
		      const struct vmi_linux_layout *ly, const char *banner,
		      const char *memory)
{
	char safe[2048], rel[300];

	vmi_sanitize(banner, safe, sizeof(safe));
	vmi_sanitize(i->release, rel, sizeof(rel));
	return json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:i, s:s, s:s, s:I, s:s, "
		"s:I, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}}",
		"release", rel, "banner", safe,
		"kaslr_offset", vmi_json_hex(i->kaslr_offset),
		"phys_base", vmi_json_hex(i->phys_base),
		"kernel_root", vmi_json_hex(i->kernel_root),
		"paging_levels", (int)i->levels,
		"kaslr_source", i->kaslr_source,
		"symbol_source", i->symbol_source,
		"symbols", (json_int_t)i->nr_symbols,
		"btf_source", i->btf_source,
		"btf_bytes", (json_int_t)i->btf_size,
		"memory", memory,
		"layout",
		"task_struct.tasks", (int)ly->task.tasks,
		"task_struct.pid", (int)ly->task.pid,
		"task_struct.comm", (int)ly->task.comm,
		"task_struct.mm", (int)ly->task.mm,
		"task_struct.cred", (int)ly->task.cred,
		"module.list", (int)ly->module.list,
		"list_head.next", (int)ly->list_head.next,
		"list_head.prev", (int)ly->list_head.prev);
}

/* Appends item (stolen); false when out of memory. */
static bool append(json_t *arr, json_t *item)
{
	return item && json_array_append_new(arr, item) == 0;
}

json_t *vmi_json_tasks(const struct vmi_linux_task *t, size_t n)
{
	json_t *arr = json_array();
	char name[80];

	for (size_t i = 1; arr && i < n; i++) {
		vmi_sanitize(t[i].comm, name, sizeof(name));
		if (!append(arr, json_pack(
			"{s:i, s:i, s:I, s:s, s:b, s:o, s:o, s:s}",
			"pid", t[i].pid, "ppid", t[i].ppid,
			"uid", (json_int_t)t[i].uid,
			"state", vmi_linux_state_name(t[i].state),
			"kthread", t[i].kthread,
			"pgd", vmi_json_hex(t[i].pgd),
			"task", vmi_json_hex(t[i].addr),
			"comm", name))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *vmi_json_modules(const struct vmi_linux_module *m, size_t n)
{
	json_t *arr = json_array();
	char name[300];

	for (size_t i = 0; arr && i < n; i++) {
		vmi_sanitize(m[i].name, name, sizeof(name));
		if (!append(arr, json_pack(
			"{s:s, s:o, s:I, s:s, s:o}", "name", name,
			"base", vmi_json_hex(m[i].base),
			"size", (json_int_t)m[i].size,
			"state", vmi_module_state_name(m[i].state),
			"module", vmi_json_hex(m[i].addr)))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *vmi_json_read(uint64_t addr, const uint8_t *buf, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *hex = malloc(n * 2 + 1);
	json_t *j;

	if (!hex)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[buf[i] >> 4];
		hex[2 * i + 1] = digits[buf[i] & 15];
	}
	hex[2 * n] = '\0';
	j = json_pack("{s:o, s:I, s:s}", "addr", vmi_json_hex(addr), "len",
		      (json_int_t)n, "hex", hex);
	free(hex);
	return j;
}

json_t *vmi_json_regs(unsigned vcpu, const struct vmi_regs *r)
{
	struct vmi_reg_field f[VMI_REG_FIELDS];
	size_t n = vmi_reg_fields(r, f);
	json_t *o = json_object();

	if (!o || json_object_set_new(o, "vcpu", json_integer(vcpu)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (json_object_set_new(o, f[i].name,
					vmi_json_hex(f[i].value)) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *vmi_json_sym(const char *name, uint64_t addr)
{
	char safe[1100];

	vmi_sanitize(name, safe, sizeof(safe));
	return json_pack("{s:s, s:o}", "name", safe, "addr",
			 vmi_json_hex(addr));
}

json_t *vmi_json_sym_at(const char *name, uint64_t addr, uint64_t off)
{
	char safe[1100];

	vmi_sanitize(name, safe, sizeof(safe));
	return json_pack("{s:s, s:o, s:I}", "name", safe, "addr",
			 vmi_json_hex(addr), "offset", (json_int_t)off);
}

json_t *vmi_json_state(bool paused)
{
	return json_pack("{s:s}", "state", paused ? "paused" : "running");
}
