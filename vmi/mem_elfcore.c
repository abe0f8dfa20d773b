/* Backend: QEMU's ELF core dumps (see mem_elfcore.h). Opening parses and
 * checks the ELF header, program headers and notes; reads then go to the
 * PT_LOAD holding the address, zeros past its p_filesz. */
#include "mem_elfcore.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfcore.h"
#include "vmi_err.h"

static const struct vmi_mem_ops elfcore_ops;

static struct elfcore *to_core(struct vmi_mem *m)
{
	return m && m->ops == &elfcore_ops ? (struct elfcore *)m : NULL;
}

/* Exactly len bytes at off of the core: 0 or -EIO. */
static int src_read(struct elfcore *c, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;

	if (off > c->size || len > c->size - off)
		return -EIO;
	if (c->buf) {
		memcpy(dst, c->buf + off, len);
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(c->fd, (uint8_t *)dst + done, len - done,
				  off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO; /* error, or the file shrank */
		done += n;
	}
	return 0;
}

static ssize_t core_read(struct vmi_mem *m, uint64_t pa, void *buf,
			 size_t len)
{
	struct elfcore *c = (struct elfcore *)m;
	const struct vmi_seg *s = vmi_rmap_find(&c->map, pa);
	uint64_t in, n, from_file = 0;

	if (!s)
		return -EFAULT;
	in = pa - s->pa;
	n = s->len - in;
	if (n > len)
		n = len;
	if (in < s->flen) {
		from_file = s->flen - in;
		if (from_file > n)
			from_file = n;
		if (src_read(c, s->off + in, buf, from_file) < 0)
			return -EIO;
	}
	memset((uint8_t *)buf + from_file, 0, n - from_file);
	return n;
}

static int core_next(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	return vmi_rmap_next(&((struct elfcore *)m)->map, pa, r);
}

static unsigned core_nr_vcpus(struct vmi_mem *m)
{
	return ((struct elfcore *)m)->ncpu;
}

static int core_get_regs(struct vmi_mem *m, unsigned vcpu, struct vmi_regs *r)
{
	struct elfcore *c = (struct elfcore *)m;

	if (vcpu >= c->ncpu)
		return -EINVAL;
	*r = c->cpu[vcpu];
	return 0;
}

static void core_free(struct elfcore *c)
{
	vmi_rmap_free(&c->map);
	free(c->cpu);
	free(c->vmcoreinfo);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void core_close(struct vmi_mem *m)
{
	core_free((struct elfcore *)m);
}

static const struct vmi_mem_ops elfcore_ops = {
	.name = "elfcore",
	.read = core_read,
	.next_range = core_next,
	.nr_vcpus = core_nr_vcpus,
	.get_regs = core_get_regs,
	.close = core_close,
};

static int check_ehdr(struct elfcore *c, const Elf64_Ehdr *e,
		      uint64_t *phnum, char *err, size_t errlen)
{
	if (memcmp(e->e_ident, ELFMAG, SELFMAG))
		return vmi_err(err, errlen, -EINVAL, "not an ELF file");
	if (e->e_ident[EI_CLASS] != ELFCLASS64)
		return vmi_err(err, errlen, -EINVAL, "ELF class %u: only "
			       "64-bit cores (x86-64 guests in long mode) "
			       "are read", e->e_ident[EI_CLASS]);
	if (e->e_ident[EI_DATA] != ELFDATA2LSB)
		return vmi_err(err, errlen, -EINVAL, "not a little-endian "
			       "ELF file");
	if (e->e_type != ET_CORE)
		return vmi_err(err, errlen, -EINVAL, "ELF type %u is not a "
			       "core dump", e->e_type);
	if (e->e_machine != EM_X86_64)
		return vmi_err(err, errlen, -EINVAL, "ELF machine %u is not "
			       "x86-64 (a guest not in long mode?)",
			       e->e_machine);
	if (e->e_phentsize != sizeof(Elf64_Phdr))
		return vmi_err(err, errlen, -EINVAL, "program header size %u, "
			       "expected %zu", e->e_phentsize,
			       sizeof(Elf64_Phdr));
	*phnum = e->e_phnum;
	if (*phnum == PN_XNUM) {
		/* More than 65534 headers: the count is in section 0. */
		Elf64_Shdr sh;

		if (e->e_shoff == 0 || e->e_shentsize != sizeof(sh) ||
		    src_read(c, e->e_shoff, &sh, sizeof(sh)) < 0)
			return vmi_err(err, errlen, -EINVAL, "e_phnum is "
				       "PN_XNUM but section header 0 is "
				       "missing or beyond the end of the file");
		*phnum = sh.sh_info;
	}
	if (*phnum == 0)
		return vmi_err(err, errlen, -EINVAL, "no program headers");
	if (*phnum > ELFCORE_MAX_PHNUM)
		return vmi_err(err, errlen, -EINVAL, "%" PRIu64 " program "
			       "headers (at most %u)", *phnum,
			       ELFCORE_MAX_PHNUM);
	if (e->e_phoff > c->size ||
	    *phnum * sizeof(Elf64_Phdr) > c->size - e->e_phoff)
		return vmi_err(err, errlen, -EINVAL, "%" PRIu64 " program "
			       "headers at offset 0x%" PRIx64 " run past the "
			       "end of the file (0x%" PRIx64 " bytes: "
			       "truncated?)", *phnum, (uint64_t)e->e_phoff,
			       c->size);
	return 0;
}

static int read_notes(struct elfcore *c, const Elf64_Phdr *p, unsigned idx,
		      struct elfcore_notes *n, uint64_t *total, char *err,
		      size_t errlen)
{
	uint8_t *buf;
	int ret;

	if (p->p_filesz > ELFCORE_MAX_NOTES_LEN - *total)
		return vmi_err(err, errlen, -EINVAL, "PT_NOTE %u: notes larger "
			       "than %u bytes", idx, ELFCORE_MAX_NOTES_LEN);
	*total += p->p_filesz;
	if (p->p_filesz == 0)
		return 0;
	buf = malloc(p->p_filesz);
	if (!buf)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	ret = src_read(c, p->p_offset, buf, p->p_filesz);
	if (ret == 0)
		ret = elfcore_parse_notes(n, buf, p->p_filesz, idx, err,
					  errlen);
	else
		vmi_err(err, errlen, ret, "PT_NOTE %u: cannot read it", idx);
	free(buf);
	return ret;
}

static int parse(struct elfcore *c, char *err, size_t errlen)
{
	struct elfcore_notes notes = { 0 };
	struct vmi_seg *segs = NULL;
	Elf64_Phdr *ph = NULL;
	Elf64_Ehdr e;
	uint64_t phnum = 0, note_bytes = 0;
	unsigned nseg = 0;
	int ret;

	if (c->size < sizeof(e) || src_read(c, 0, &e, sizeof(e)) < 0)
		return vmi_err(err, errlen, -EINVAL, "file of %" PRIu64
			       " bytes is too short for an ELF header",
			       c->size);
	ret = check_ehdr(c, &e, &phnum, err, errlen);
	if (ret < 0)
		return ret;
	ph = malloc(phnum * sizeof(*ph));
	segs = malloc(phnum * sizeof(*segs));
	if (!ph || !segs) {
		ret = vmi_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	ret = src_read(c, e.e_phoff, ph, phnum * sizeof(*ph));
	if (ret < 0) {
		vmi_err(err, errlen, ret, "cannot read program headers");
		goto out;
	}
	for (unsigned i = 0; i < phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD && p->p_type != PT_NOTE)
			continue;
		if (p->p_offset > c->size || p->p_filesz > c->size - p->p_offset) {
			ret = vmi_err(err, errlen, -EINVAL, "program header "
				      "%u: file bytes 0x%" PRIx64 "+0x%" PRIx64
				      " past the end of the file (0x%" PRIx64
				      " bytes: truncated?)", i,
				      (uint64_t)p->p_offset,
				      (uint64_t)p->p_filesz, c->size);
			goto out;
		}
		if (p->p_type == PT_NOTE) {
			ret = read_notes(c, p, i, &notes, &note_bytes, err,
					 errlen);
			if (ret < 0)
				goto out;
			continue;
		}
		if (p->p_filesz > p->p_memsz) {
			ret = vmi_err(err, errlen, -EINVAL, "PT_LOAD %u: "
				      "p_filesz 0x%" PRIx64 " > p_memsz 0x%"
				      PRIx64, i, (uint64_t)p->p_filesz,
				      (uint64_t)p->p_memsz);
			goto out;
		}
		if (p->p_memsz == 0)
			continue;
		segs[nseg++] = (struct vmi_seg){
			.pa = p->p_paddr, .len = p->p_memsz,
			.off = p->p_offset, .flen = p->p_filesz,
		};
	}
	if (nseg == 0) {
		ret = vmi_err(err, errlen, -EINVAL, "no PT_LOAD segments: "
			      "no guest memory in this core");
		goto out;
	}
	ret = vmi_rmap_init(&c->map, segs, nseg, err, errlen);
	if (ret < 0)
		goto out;
	ret = elfcore_merge_cpus(c, &notes, err, errlen);
	if (ret < 0)
		goto out;
	c->vmcoreinfo = notes.vmcoreinfo;
	c->vmcoreinfo_len = notes.vmcoreinfo_len;
	notes.vmcoreinfo = NULL;
out:
	elfcore_notes_free(&notes);
	free(ph);
	free(segs);
	return ret;
}

/* Takes fd (closed on failure). */
static int open_core(const void *buf, uint64_t size, int fd,
		     struct vmi_mem **out, char *err, size_t errlen)
{
	struct elfcore *c = calloc(1, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c) {
		if (fd >= 0)
			close(fd);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	c->mem.ops = &elfcore_ops;
	c->buf = buf;
	c->size = size;
	c->fd = fd;
	ret = parse(c, err, errlen);
	if (ret < 0) {
		core_free(c);
		return ret;
	}
	*out = &c->mem;
	return 0;
}

int vmi_mem_elfcore_from_buffer(const void *buf, size_t len,
				struct vmi_mem **out, char *err,
				size_t errlen)
{
	return open_core(buf, len, -1, out, err, errlen);
}

int vmi_mem_elfcore_open(const char *path, struct vmi_mem **out, char *err,
			 size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return vmi_err(err, errlen, ret, "%s: %s", path,
			       strerror(-ret));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vmi_err(err, errlen, -EINVAL, "%s: not a regular file",
			       path);
	}
	return open_core(NULL, st.st_size, fd, out, err, errlen);
}

const char *vmi_elfcore_vmcoreinfo_raw(struct vmi_mem *m, size_t *len)
{
	struct elfcore *c = to_core(m);

	if (!c || !c->vmcoreinfo)
		return NULL;
	*len = c->vmcoreinfo_len;
	return c->vmcoreinfo;
}

int vmi_elfcore_vmcoreinfo(struct vmi_mem *m, const char *key, char *val,
			   size_t vlen)
{
	size_t len, klen = strlen(key);
	const char *t = vmi_elfcore_vmcoreinfo_raw(m, &len), *end, *line;

	if (!t)
		return -ENODATA;
	/* The text ends at its first NUL, if any. */
	end = memchr(t, '\0', len);
	if (!end)
		end = t + len;
	for (line = t; line < end;) {
		const char *nl = memchr(line, '\n', end - line);
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - line) > klen && line[klen] == '=' &&
		    !memcmp(line, key, klen)) {
			const char *v = line + klen + 1;
			size_t n = eol - v;

			if (n && v[n - 1] == '\r')
				n--;
			if (n >= vlen || n > INT32_MAX)
				return -ENOSPC;
			memcpy(val, v, n);
			val[n] = '\0';
			return n;
		}
		line = eol + 1;
	}
	return -ENOENT;
}
