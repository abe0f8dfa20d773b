/* The backend-independent half of guest-physical access: loops over the
 * backend's regions and checks what backends return, so a buggy or hostile
 * backend answer cannot make a caller overrun its buffer. */
#include "vmi_mem.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* The shared loop of reads (rbuf) and writes (wbuf). */
static ssize_t xfer(struct vmi_mem *m, uint64_t pa, void *rbuf,
		    const void *wbuf, size_t len)
{
	size_t done = 0;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t at = pa + done;
		ssize_t n;

		if (at < pa) /* wrapped past 2^64 */
			break;
		if (rbuf)
			n = m->ops->read(m, at, (uint8_t *)rbuf + done,
					 len - done);
		else
			n = m->ops->write(m, at, (const uint8_t *)wbuf + done,
					  len - done);
		if (n < 0) {
			if (done)
				break;
			return n;
		}
		if (n == 0 || (size_t)n > len - done)
			return -EIO; /* backend broke its contract */
		done += n;
	}
	if (done == 0 && len)
		return -EFAULT;
	return done;
}

ssize_t vmi_read_pa(struct vmi_mem *m, uint64_t pa, void *buf, size_t len)
{
	return xfer(m, pa, buf, NULL, len);
}

int vmi_read_pa_full(struct vmi_mem *m, uint64_t pa, void *buf, size_t len)
{
	ssize_t n = vmi_read_pa(m, pa, buf, len);

	if (n < 0)
		return n;
	return (size_t)n == len ? 0 : -EFAULT;
}

int vmi_read_u8_pa(struct vmi_mem *m, uint64_t pa, uint8_t *v)
{
	return vmi_read_pa_full(m, pa, v, sizeof(*v));
}

/* Guests here are x86: little-endian, like the host. */
int vmi_read_u16_pa(struct vmi_mem *m, uint64_t pa, uint16_t *v)
{
	return vmi_read_pa_full(m, pa, v, sizeof(*v));
}

int vmi_read_u32_pa(struct vmi_mem *m, uint64_t pa, uint32_t *v)
{
	return vmi_read_pa_full(m, pa, v, sizeof(*v));
}

int vmi_read_u64_pa(struct vmi_mem *m, uint64_t pa, uint64_t *v)
{
	return vmi_read_pa_full(m, pa, v, sizeof(*v));
}

ssize_t vmi_write_pa(struct vmi_mem *m, uint64_t pa, const void *buf,
		     size_t len)
{
	if (!m->ops->write)
		return -EROFS;
	return xfer(m, pa, NULL, buf, len);
}

int vmi_mem_next_range(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	return m->ops->next_range(m, pa, r);
}

uint64_t vmi_mem_max_pa(struct vmi_mem *m)
{
	struct vmi_range r, last = { 0, 0 };
	uint64_t pa = 0;

	/* Backends keep few regions (2 for RAM files, a core's PT_LOADs). */
	while (m->ops->next_range(m, pa, &r) == 0) {
		if (r.pa + r.len <= pa)
			break; /* wrapped, or a backend not moving on */
		last = r;
		pa = r.pa + r.len;
	}
	return last.pa + last.len;
}

unsigned vmi_mem_nr_vcpus(struct vmi_mem *m)
{
	return m->ops->nr_vcpus ? m->ops->nr_vcpus(m) : 0;
}

int vmi_mem_get_regs(struct vmi_mem *m, unsigned vcpu, struct vmi_regs *r)
{
	if (!m->ops->get_regs)
		return -ENOSYS;
	if (vcpu >= vmi_mem_nr_vcpus(m))
		return -EINVAL;
	return m->ops->get_regs(m, vcpu, r);
}

int vmi_mem_pause(struct vmi_mem *m)
{
	return m->ops->pause ? m->ops->pause(m) : -ENOSYS;
}

int vmi_mem_resume(struct vmi_mem *m)
{
	return m->ops->resume ? m->ops->resume(m) : -ENOSYS;
}

int vmi_mem_is_live(const struct vmi_mem *m)
{
	return m->ops->pause != NULL;
}

const char *vmi_mem_name(const struct vmi_mem *m)
{
	return m->ops->name;
}

void vmi_mem_close(struct vmi_mem *m)
{
	if (m)
		m->ops->close(m);
}
