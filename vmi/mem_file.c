/* Backend: guest RAM in a file or memfd, mapped shared (read-only unless
 * the caller asks to write), so
 * reads see the running guest's current memory without copying it. The
 * map is checked against the file's size when opened; if someone shrinks
 * the file later, reads past its new end fault (SIGBUS) as with any
 * mapping: QEMU and vsbd never shrink guest RAM. */
#include "mem_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmi_err.h"
#include "vmi_rmap.h"

struct mem_file {
	struct vmi_mem mem;
	struct vmi_rmap map;
	uint8_t *base;     /* mapping of file offsets [map_off, map_off+map_len) */
	uint64_t map_off;
	size_t map_len;
	bool writable;     /* mapped PROT_WRITE: writes allowed */
};

static struct mem_file *to_mf(struct vmi_mem *m)
{
	return (struct mem_file *)m;
}

/* Where pa lies in our mapping and how many bytes of its region follow:
 * NULL when no region holds pa. */
static uint8_t *locate(struct mem_file *mf, uint64_t pa, size_t len,
		       size_t *n)
{
	const struct vmi_seg *s = vmi_rmap_find(&mf->map, pa);
	uint64_t in;

	if (!s)
		return NULL;
	in = pa - s->pa;
	*n = s->len - in < len ? (size_t)(s->len - in) : len;
	return mf->base + (s->off - mf->map_off) + in;
}

static ssize_t mf_read(struct vmi_mem *m, uint64_t pa, void *buf, size_t len)
{
	size_t n;
	uint8_t *p = locate(to_mf(m), pa, len, &n);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, n);
	return (ssize_t)n;
}

static ssize_t mf_write(struct vmi_mem *m, uint64_t pa, const void *buf,
			size_t len)
{
	size_t n;
	uint8_t *p;

	if (!to_mf(m)->writable)
		return -EROFS;
	p = locate(to_mf(m), pa, len, &n);
	if (!p)
		return -EFAULT;
	memcpy(p, buf, n);
	return (ssize_t)n;
}

static int mf_next(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	return vmi_rmap_next(&to_mf(m)->map, pa, r);
}

static void mf_close(struct vmi_mem *m)
{
	struct mem_file *mf = to_mf(m);

	munmap(mf->base, mf->map_len);
	vmi_rmap_free(&mf->map);
	free(mf);
}

static const struct vmi_mem_ops mem_file_ops = {
	.name = "file",
	.read = mf_read,
	.write = mf_write,
	.next_range = mf_next,
	.close = mf_close,
};

int vmi_mem_file_open_fd(int fd, const struct vmi_region *r, unsigned n,
			 struct vmi_mem **out, char *err, size_t errlen)
{
	return vmi_mem_file_open_fd_rw(fd, r, n, false, out, err, errlen);
}

int vmi_mem_file_open_fd_rw(int fd, const struct vmi_region *r, unsigned n,
			    bool writable, struct vmi_mem **out, char *err,
			    size_t errlen)
{
	struct mem_file *mf;
	struct vmi_seg *segs;
	struct stat st;
	uint64_t lo = UINT64_MAX, hi = 0;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	*out = NULL;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		return vmi_err(err, errlen, ret, "cannot stat guest RAM "
			       "file: %s", strerror(-ret));
	}
	if (n == 0 || n > 4096)
		return vmi_err(err, errlen, -EINVAL, "%u RAM regions", n);
	segs = calloc(n, sizeof(*segs));
	if (!segs)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		if (r[i].len > (uint64_t)st.st_size ||
		    r[i].off > (uint64_t)st.st_size - r[i].len) {
			ret = vmi_err(err, errlen, -EINVAL,
				      "region %u: file bytes 0x%" PRIx64
				      "+0x%" PRIx64 " beyond the file's end "
				      "(0x%" PRIx64 ")", i, r[i].off,
				      r[i].len, (uint64_t)st.st_size);
			free(segs);
			return ret;
		}
		segs[i] = (struct vmi_seg){ .pa = r[i].gpa, .len = r[i].len,
					    .off = r[i].off,
					    .flen = r[i].len };
		if (r[i].off < lo)
			lo = r[i].off;
		if (r[i].off + r[i].len > hi)
			hi = r[i].off + r[i].len;
	}
	mf = calloc(1, sizeof(*mf));
	if (!mf) {
		free(segs);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	mf->mem.ops = &mem_file_ops;
	mf->writable = writable;
	ret = vmi_rmap_init(&mf->map, segs, n, err, errlen);
	free(segs);
	if (ret < 0) {
		free(mf);
		return ret;
	}
	/* One mapping over every region: guest RAM is one block anyway. */
	mf->map_off = lo & ~((uint64_t)page - 1);
	if (hi - mf->map_off > SIZE_MAX) {
		ret = vmi_err(err, errlen, -EFBIG, "guest RAM too large "
			      "to map");
		goto fail;
	}
	mf->map_len = hi - mf->map_off;
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	mf->base = mmap(NULL, mf->map_len, prot, MAP_SHARED, fd, mf->map_off);
	if (mf->base == MAP_FAILED) {
		ret = -errno;
		vmi_err(err, errlen, ret, "cannot map guest RAM: %s",
			strerror(-ret));
		goto fail;
	}
	*out = &mf->mem;
	return 0;
fail:
	vmi_rmap_free(&mf->map);
	free(mf);
	return ret;
}

int vmi_mem_file_open(const char *path, const struct vmi_region *r,
		      unsigned n, struct vmi_mem **out, char *err,
		      size_t errlen)
{
	return vmi_mem_file_open_rw(path, r, n, false, out, err, errlen);
}

int vmi_mem_file_open_rw(const char *path, const struct vmi_region *r,
			 unsigned n, bool writable, struct vmi_mem **out,
			 char *err, size_t errlen)
{
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	int ret;

	*out = NULL;
	if (fd < 0) {
		ret = -errno;
		return vmi_err(err, errlen, ret, "%s: %s", path,
			       strerror(-ret));
	}
	ret = vmi_mem_file_open_fd_rw(fd, r, n, writable, out, err, errlen);
	close(fd);
	return ret;
}

int vmi_ram_layout_parse(const char *name, enum vmi_ram_layout *out)
{
	static const char *const names[] = { "pc", "q35", "vsbd" };

	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(name, names[i])) {
			*out = (enum vmi_ram_layout)i;
			return 0;
		}
	return -EINVAL;
}

int vmi_mem_ram_open(const char *path, enum vmi_ram_layout layout,
		     bool writable, struct vmi_mem **out, char *err,
		     size_t errlen)
{
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	struct vmi_region reg[2];
	struct stat st;
	int n, ret;

	*out = NULL;
	if (fd < 0) {
		ret = -errno;
		return vmi_err(err, errlen, ret, "%s: %s", path,
			       strerror(-ret));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return vmi_err(err, errlen, -EINVAL, "%s: not a RAM file",
			       path);
	}
	if (layout == VMI_RAM_VSBD)
		n = vmi_layout_vsbd((uint64_t)st.st_size, reg);
	else
		n = vmi_layout_pc(layout == VMI_RAM_PC ? VMI_PC_I440FX :
				  VMI_PC_Q35, (uint64_t)st.st_size, reg);
	ret = n < 0 ? vmi_err(err, errlen, n, "%s: no layout", path) :
		      vmi_mem_file_open_fd_rw(fd, reg, (unsigned)n, writable,
					      out, err, errlen);
	close(fd);
	return ret;
}
