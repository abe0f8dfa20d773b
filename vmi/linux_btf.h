/* Linux struct layouts from the kernel's own type information (BTF, kernel
 * built with CONFIG_DEBUG_INFO_BTF), read with libbpf: the offsets the
 * process and module walkers need, so none is hard-coded. The BTF comes
 * from a file (raw BTF such as /sys/kernel/btf/vmlinux, or a vmlinux ELF
 * with a .BTF section) or from a buffer (the bytes between __start_BTF and
 * __stop_BTF read out of guest memory). See README.md. */
#ifndef VSB_VMI_LINUX_BTF_H
#define VSB_VMI_LINUX_BTF_H

#include <stddef.h>
#include <stdint.h>

struct vmi_btf;

/* The BTF header's magic, native (little-endian) byte order. */
#define VMI_BTF_MAGIC 0xeB9F

/* Where a module's memory is described. */
enum vmi_module_mem_kind {
	VMI_MODULE_MEM_NONE,	    /* no struct module (CONFIG_MODULES=n) */
	VMI_MODULE_CORE_LAYOUT,	    /* up to 6.3: module.core_layout.{base,size} */
	VMI_MODULE_MEM_TEXT,	    /* 6.4+: module.mem[MOD_TEXT].{base,size} */
};

/* Byte offsets from the start of the named struct; *_size are the members'
 * sizes in bytes. */
struct vmi_linux_layout {
	struct {
		uint32_t size;		/* sizeof(struct task_struct) */
		uint32_t tasks;		/* struct list_head */
		uint32_t pid, tgid;	/* pid_t */
		uint32_t comm, comm_size;	/* char[TASK_COMM_LEN] */
		uint32_t mm, active_mm;	/* struct mm_struct * */
		uint32_t real_parent;	/* struct task_struct * */
		uint32_t cred;		/* const struct cred * */
		uint32_t state, state_size;	/* __state (5.14+) or state */
		const char *state_name;	/* "__state" or "state" */
		uint32_t flags;		/* PF_* */
	} task;
	struct {
		uint32_t uid;		/* cred.uid.val (kuid_t) */
	} cred;
	struct {
		uint32_t pgd;		/* pgd_t * */
		uint32_t pgd_size;
	} mm;
	struct {
		uint32_t next, prev;
	} list_head;
	struct {
		enum vmi_module_mem_kind kind;	/* NONE: the rest is 0 */
		uint32_t list;		/* struct list_head */
		uint32_t name, name_size;	/* char[MODULE_NAME_LEN] */
		uint32_t state, state_size;	/* enum module_state */
		uint32_t base, base_size;	/* void * */
		uint32_t mem_size, mem_size_size;	/* unsigned int */
	} module;
};

/* Raw BTF or an ELF file with a .BTF section (btf__parse). 0 or -errno
 * with one line in err. */
int vmi_btf_open_file(const char *path, struct vmi_btf **out, char *err,
		      size_t errlen);

/* Raw BTF in memory (copied: buf may be freed afterwards). The header is
 * checked first: magic, version, header and section lengths within len. */
int vmi_btf_open_buffer(const void *buf, size_t len, struct vmi_btf **out,
			char *err, size_t errlen);

void vmi_btf_close(struct vmi_btf *b);

/* sizeof(struct type) (or union): 0 or -ENOENT. */
int vmi_btf_struct_size(const struct vmi_btf *b, const char *type,
			uint32_t *size, char *err, size_t errlen);

/* Offset and size of member in struct (or union) type. Members inside
 * anonymous structs and unions are found, their offsets added; a path
 * such as "uid.val" or "core_layout.base" descends into named struct
 * members. -ENOENT: no such type or member; -EINVAL: a bitfield, or a
 * member not within its struct. size may be NULL. */
int vmi_btf_member_offset(const struct vmi_btf *b, const char *type,
			  const char *member, uint32_t *off, uint32_t *size,
			  char *err, size_t errlen);

/* Everything in struct vmi_linux_layout; 0 or -errno with one line in err
 * naming the first thing missing. */
int vmi_linux_layout_get(const struct vmi_btf *b,
			 struct vmi_linux_layout *layout, char *err,
			 size_t errlen);

#endif
