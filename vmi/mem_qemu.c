/* Backend: a running QEMU guest (see mem_qemu.h). Opening asks QEMU over
 * QMP which backend is the machine's RAM, checks that the caller's file is
 * that backend's file and that it is shared, computes the layout from the
 * machine type, RAM size and max-ram-below-4g, confirms it against `info
 * mtree` when that shows the ram-below-4g/ram-above-4g aliases, and maps
 * the file through mem_file.c. Reads and writes go to the mapping; QMP is
 * only used for registers, pause and resume. */
#include "mem_qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmp_regs.h"
#include "qmp.h"
#include "vmi_err.h"

#define GIB (1ull << 30)
#define FOUR_GIB (4 * GIB)
/* QEMU >= 7.1 moves RAM above 4 GiB past 1 TiB on AMD CPUs when it would
 * reach the HyperTransport hole (hw/i386/pc.c, AMD_HT_START). */
#define AMD_HT_START 0xfd00000000ull
#define MAX_VCPUS 8192

struct mem_qemu {
	struct vmi_mem mem;
	struct vmi_mem *file;
	struct qmp *qmp;
	int *cpus;      /* QEMU's cpu-index of each vCPU (query-cpus-fast) */
	unsigned ncpus;
	char err[256];  /* why the last get_regs/pause/resume failed */
};

static const struct vmi_mem_ops mem_qemu_ops;

static struct mem_qemu *to_mq(struct vmi_mem *m)
{
	return m && m->ops == &mem_qemu_ops
		? (struct mem_qemu *)m : NULL;
}

static ssize_t mq_read(struct vmi_mem *m, uint64_t pa, void *buf, size_t len)
{
	struct vmi_mem *f = to_mq(m)->file;

	return f->ops->read(f, pa, buf, len);
}

static ssize_t mq_write(struct vmi_mem *m, uint64_t pa, const void *buf,
			size_t len)
{
	struct vmi_mem *f = to_mq(m)->file;

	return f->ops->write(f, pa, buf, len);
}

static int mq_next(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	struct vmi_mem *f = to_mq(m)->file;

	return f->ops->next_range(f, pa, r);
}

static unsigned mq_nr_vcpus(struct vmi_mem *m)
{
	return to_mq(m)->ncpus;
}

/* QEMU reads the vCPU's state at the moment of the command: exact while
 * paused, a snapshot (already stale) while the guest runs. */
static int mq_get_regs(struct vmi_mem *m, unsigned vcpu, struct vmi_regs *r)
{
	struct mem_qemu *mq = to_mq(m);
	char *text;
	int cpu, ret;

	mq->err[0] = 0;
	if (vcpu >= mq->ncpus)
		return -EINVAL;
	ret = qmp_hmp(mq->qmp, "info registers", mq->cpus[vcpu], &text,
		      mq->err, sizeof(mq->err));
	if (ret < 0)
		return ret;
	ret = vmi_hmp_parse_regs(text, strlen(text), r, &cpu, mq->err,
				 sizeof(mq->err));
	free(text);
	if (ret == 0 && cpu >= 0 && cpu != mq->cpus[vcpu])
		ret = vmi_err(mq->err, sizeof(mq->err), -EPROTO, "asked for "
			      "CPU %d's registers, QEMU gave CPU#%d's",
			      mq->cpus[vcpu], cpu);
	if (ret < 0)
		return ret;
	r->cpu_id = (uint32_t)mq->cpus[vcpu];
	return 0;
}

static int mq_pause(struct vmi_mem *m)
{
	struct mem_qemu *mq = to_mq(m);

	mq->err[0] = 0;
	return qmp_stop(mq->qmp, mq->err, sizeof(mq->err));
}

static int mq_resume(struct vmi_mem *m)
{
	struct mem_qemu *mq = to_mq(m);

	mq->err[0] = 0;
	return qmp_cont(mq->qmp, mq->err, sizeof(mq->err));
}

static void mq_free(struct mem_qemu *mq)
{
	vmi_mem_close(mq->file);
	qmp_close(mq->qmp);
	free(mq->cpus);
	free(mq);
}

static void mq_close(struct vmi_mem *m)
{
	mq_free(to_mq(m));
}

/* Writes reach the file backend, which refuses them (-EROFS) unless it
 * was opened writable. */
static const struct vmi_mem_ops mem_qemu_ops = {
	.name = "qemu",
	.read = mq_read,
	.write = mq_write,
	.next_range = mq_next,
	.nr_vcpus = mq_nr_vcpus,
	.get_regs = mq_get_regs,
	.pause = mq_pause,
	.resume = mq_resume,
	.close = mq_close,
};

struct qmp *vmi_mem_qemu_qmp(struct vmi_mem *m)
{
	struct mem_qemu *mq = to_mq(m);

	return mq ? mq->qmp : NULL;
}

const char *vmi_mem_qemu_error(struct vmi_mem *m)
{
	struct mem_qemu *mq = to_mq(m);

	return mq ? mq->err : "";
}

int vmi_qemu_layout(enum vmi_pc_machine machine, bool gigabyte_align,
		    uint64_t ram_size, uint64_t max_ram_below_4g,
		    struct vmi_region r[2])
{
	uint64_t lowmem, below;

	if (ram_size == 0 || ram_size > UINT64_MAX - FOUR_GIB ||
	    max_ram_below_4g > FOUR_GIB)
		return -EINVAL;
	if (machine == VMI_PC_Q35) {
		/* min(QEMU's limit, the user's); unset means 4 GiB. */
		lowmem = ram_size >= 0xb0000000ull ? 0x80000000ull
						   : 0xb0000000ull;
		if (max_ram_below_4g && lowmem > max_ram_below_4g)
			lowmem = max_ram_below_4g;
	} else {
		/* The user's limit (unset: 3.5 GiB), at most 3 GiB once
		 * RAM reaches it, except on the 1.x machine types. */
		lowmem = max_ram_below_4g ? max_ram_below_4g : 0xe0000000ull;
		if (ram_size >= lowmem && gigabyte_align &&
		    lowmem > 0xc0000000ull)
			lowmem = 0xc0000000ull;
	}
	below = ram_size < lowmem ? ram_size : lowmem;
	r[0] = (struct vmi_region){ .gpa = 0, .off = 0, .len = below };
	if (below == ram_size)
		return 1;
	r[1] = (struct vmi_region){
		.gpa = FOUR_GIB, .off = below, .len = ram_size - below,
	};
	return 2;
}

static int qom_get(struct qmp *q, const char *path, const char *prop,
		   json_t **ret, char *err, size_t errlen)
{
	json_t *args = json_pack("{s:s, s:s}", "path", path, "property", prop);
	int r;

	if (!args)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	r = qmp_execute(q, "qom-get", args, ret, err, errlen);
	json_decref(args);
	return r;
}

/* For what an older or different QEMU may lack: a QMP error reply means
 * "not there" (0), a broken connection is still an error. */
static int absent(int r)
{
	return r == -EREMOTEIO || r == -ENOSYS ? 0 : r;
}

static bool digits(const char **p, unsigned *v)
{
	const char *s = *p;

	*v = 0;
	while (**p >= '0' && **p <= '9' && *p - s < 4)
		*v = *v * 10 + (unsigned)(*(*p)++ - '0');
	return *p > s;
}

/* "pc-i440fx-7.2-machine", "pc-q35-4.0.1-machine": 0, or -1. */
static int parse_machine(const char *type, enum vmi_pc_machine *m, bool *gig)
{
	const char *p;
	unsigned major, minor, micro;

	if (!strncmp(type, "pc-i440fx-", 10)) {
		*m = VMI_PC_I440FX;
		p = type + 10;
	} else if (!strncmp(type, "pc-q35-", 7)) {
		*m = VMI_PC_Q35;
		p = type + 7;
	} else {
		return -1;
	}
	if (!digits(&p, &major) || *p++ != '.' || !digits(&p, &minor))
		return -1;
	if (*p == '.' && (p++, !digits(&p, &micro)))
		return -1;
	if (strcmp(p, "-machine"))
		return -1;
	*gig = *m == VMI_PC_Q35 || major >= 2;
	return 0;
}

static int machine_type(struct qmp *q, enum vmi_pc_machine *m, bool *gig,
			char *err, size_t errlen)
{
	char t[96];
	json_t *v;
	int r = qom_get(q, "/machine", "type", &v, err, errlen);

	if (r < 0)
		return r;
	qmp_printable(json_string_value(v), t, sizeof(t));
	if (!json_is_string(v) || parse_machine(json_string_value(v), m, gig))
		r = vmi_err(err, errlen, -EOPNOTSUPP, "QEMU machine type '%s': "
			    "only the RAM layouts of pc (pc-i440fx-*) and q35 "
			    "(pc-q35-*) are known", t);
	json_decref(v);
	return r;
}

struct backend {
	char id[128];      /* the memdev's id */
	char path[160];    /* its QOM path */
	uint64_t size;
	bool share;
};

/* Which memdev is the machine's RAM: -machine memory-backend=ID (7.2
 * reports "/objects/ID"; legacy -m/-mem-path makes "pc.ram"), else the
 * only one there is. Its size and share from query-memdev. */
static int ram_backend(struct qmp *q, struct backend *b, char *err,
		       size_t errlen)
{
	json_t *list, *mb = NULL, *e = NULL, *v;
	const char *s = NULL, *id;
	size_t i;
	int r = qmp_execute(q, "query-memdev", NULL, &list, err, errlen);

	if (r < 0)
		return r;
	if (!json_is_array(list)) {
		r = vmi_err(err, errlen, -EPROTO, "QMP query-memdev: not a "
			    "list");
		goto out;
	}
	r = qom_get(q, "/machine", "memory-backend", &mb, err, errlen);
	if (r < 0 && (r = absent(r)) < 0)
		goto out;
	s = json_string_value(mb);
	if (s && *s) {
		id = strncmp(s, "/objects/", 9) ? s : s + 9;
		if (strlen(id) >= sizeof(b->id) || !*id || strchr(id, '/')) {
			r = vmi_err(err, errlen, -EOPNOTSUPP, "the machine's "
				    "memory-backend is not an object under "
				    "/objects");
			goto out;
		}
	} else if (json_array_size(list) == 1) {
		id = json_string_value(json_object_get(
			json_array_get(list, 0), "id"));
		if (!id || strlen(id) >= sizeof(b->id) || strchr(id, '/')) {
			r = vmi_err(err, errlen, -EPROTO, "QMP query-memdev: "
				    "a backend without a usable id");
			goto out;
		}
	} else {
		r = vmi_err(err, errlen, -EOPNOTSUPP, "cannot tell which of %zu"
			    " memory backends is the guest's RAM: start QEMU "
			    "with -machine memory-backend=ID",
			    json_array_size(list));
		goto out;
	}
	snprintf(b->id, sizeof(b->id), "%s", id);
	snprintf(b->path, sizeof(b->path), "/objects/%s", id);
	json_array_foreach(list, i, v) {
		const char *vid = json_string_value(json_object_get(v, "id"));

		if (vid && !strcmp(vid, b->id))
			e = v;
	}
	v = json_object_get(e, "size");
	if (!e || !json_is_integer(v) || json_integer_value(v) <= 0) {
		char pid[128];

		qmp_printable(b->id, pid, sizeof(pid));
		r = vmi_err(err, errlen, -EPROTO, "QMP query-memdev: no "
			    "backend '%s' with a size", pid);
		goto out;
	}
	b->size = (uint64_t)json_integer_value(v);
	v = json_object_get(e, "share");
	if (json_is_boolean(v)) {
		b->share = json_is_true(v);
	} else {
		/* query-memdev has said it only since QEMU 6.1. */
		json_t *sh;

		r = qom_get(q, b->path, "share", &sh, err, errlen);
		if (r < 0)
			goto out;
		b->share = json_is_true(sh);
		json_decref(sh);
	}
out:
	json_decref(mb);
	json_decref(list);
	return r;
}

/* Opens mem_path and checks it is the very file QEMU's backend uses. */
static int open_ram_file(struct qmp *q, const struct backend *b,
			 const char *mem_path, bool writable, int *fdp,
			 char *err, size_t errlen)
{
	char id[128], qp[256], rp[PATH_MAX];
	struct stat st, qs;
	json_t *v = NULL, *t = NULL;
	int fd, r;

	qmp_printable(b->id, id, sizeof(id));
	*fdp = -1;
	r = qom_get(q, b->path, "mem-path", &v, err, errlen);
	if (r < 0 && (r = absent(r)) < 0)
		return r;
	if (!json_is_string(v)) {
		char type[64] = "?";

		r = qom_get(q, b->path, "type", &t, err, errlen);
		if (r < 0 && (r = absent(r)) < 0) {
			json_decref(v);
			return r;
		}
		if (t)
			qmp_printable(json_string_value(t), type,
				      sizeof(type));
		json_decref(t);
		json_decref(v);
		return vmi_err(err, errlen, -EOPNOTSUPP, "QEMU's RAM backend "
			       "'%s' is a %s, not a file: start QEMU with "
			       "-object memory-backend-file,id=%s,"
			       "mem-path=FILE,share=on", id, type, id);
	}
	qmp_printable(json_string_value(v), qp, sizeof(qp));
	fd = open(mem_path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		r = vmi_err(err, errlen, -errno, "%s: %s", mem_path,
			    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = vmi_err(err, errlen, -EINVAL, "%s is not a regular file",
			    mem_path);
		goto out;
	}
	/* Same file means same inode: symlinks, relative or bind-mounted
	 * paths all compare right, and a file replaced under the name is
	 * caught as long as the name is QEMU's. */
	if (stat(json_string_value(v), &qs) < 0) {
		r = vmi_err(err, errlen, -ENOENT, "QEMU's RAM file %s (backend "
			    "'%s'): %s (relative to QEMU's directory, another "
			    "mount namespace, or removed?)", qp, id,
			    strerror(errno));
		goto out;
	}
	if (S_ISDIR(qs.st_mode)) {
		r = vmi_err(err, errlen, -EOPNOTSUPP, "QEMU's mem-path %s is a "
			    "directory: QEMU keeps the RAM in an unlinked file "
			    "there; give memory-backend-file a file name", qp);
		goto out;
	}
	if (qs.st_dev != st.st_dev || qs.st_ino != st.st_ino) {
		if (!realpath(mem_path, rp))
			snprintf(rp, sizeof(rp), "%s", mem_path);
		r = vmi_err(err, errlen, -EINVAL, "%s is not the RAM of this "
			    "QEMU: its backend '%s' uses %s", rp, id, qp);
		goto out;
	}
	if ((uint64_t)st.st_size < b->size) {
		r = vmi_err(err, errlen, -EINVAL, "%s has %jd bytes, QEMU's "
			    "RAM %" PRIu64, mem_path, (intmax_t)st.st_size,
			    b->size);
		goto out;
	}
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	json_decref(v);
	return r;
}

static int ram_size_check(struct qmp *q, uint64_t size, char *err,
			  size_t errlen)
{
	json_t *v, *base;
	int r = qmp_execute(q, "query-memory-size-summary", NULL, &v, err,
			    errlen);

	if (r < 0)
		return absent(r); /* none: the memdev's size stands */
	base = json_object_get(v, "base-memory");
	if (json_is_integer(base) && (uint64_t)json_integer_value(base) != size)
		r = vmi_err(err, errlen, -EINVAL, "QEMU's RAM is %" PRIu64
			    " bytes but its backend holds %" PRIu64,
			    (uint64_t)json_integer_value(base), size);
	json_decref(v);
	return r;
}

static int max_ram_below_4g(struct qmp *q, uint64_t *v, char *err,
			    size_t errlen)
{
	json_t *j;
	int r;

	*v = 0;
	r = qom_get(q, "/machine", "max-ram-below-4g", &j, err, errlen);
	if (r < 0)
		return absent(r); /* no such option: the default */
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    (uint64_t)json_integer_value(j) > FOUR_GIB) {
		json_decref(j);
		return vmi_err(err, errlen, -EPROTO, "QEMU's max-ram-below-4g "
			       "is not a size up to 4 GiB");
	}
	*v = (uint64_t)json_integer_value(j);
	json_decref(j);
	return 0;
}

/* One "START-END (prio N, ram): alias NAME @TARGET OFF-OFFEND" line of
 * `info mtree`, if it is one. */
static bool mtree_alias(const char *s, size_t n, struct vmi_region *r,
			char *name, char *target)
{
	char l[512];
	uint64_t a, b, o, oe;

	if (n >= sizeof(l))
		return false;
	memcpy(l, s, n);
	l[n] = 0;
	if (sscanf(l, " %" SCNx64 "-%" SCNx64 " (prio %*d, ram): alias %63s "
		   "@%63s %" SCNx64 "-%" SCNx64, &a, &b, name, target, &o,
		   &oe) != 6 || b < a || oe - o != b - a)
		return false;
	*r = (struct vmi_region){ .gpa = a, .off = o, .len = b - a + 1 };
	return true;
}

/* Where QEMU says it maps the RAM: the ram-below-4g and ram-above-4g
 * aliases of `info mtree`, which must agree with the computed layout.
 * Without them (another QEMU's format) the computed layout stands. */
static int mtree_check(struct qmp *q, const struct backend *b,
		       const struct vmi_region *r, int n, char *err,
		       size_t errlen)
{
	struct vmi_region got[2], a;
	bool have[2] = { false, false }, same = true, ours = true;
	char *text, name[64], target[64], id[128];
	int ret = qmp_hmp(q, "info mtree", -1, &text, err, errlen);

	if (ret < 0)
		return absent(ret);
	for (const char *s = text, *nl; *s; s = nl ? nl + 1 : s + strlen(s)) {
		int i;

		nl = strchr(s, '\n');
		if (!mtree_alias(s, nl ? (size_t)(nl - s) : strlen(s), &a, name,
				 target))
			continue;
		i = !strcmp(name, "ram-below-4g") ? 0
		    : !strcmp(name, "ram-above-4g") ? 1 : -1;
		if (i < 0)
			continue;
		if (have[i] && memcmp(&got[i], &a, sizeof(a)))
			same = false;
		if (strcmp(target, b->id))
			ours = false;
		got[i] = a;
		have[i] = true;
	}
	free(text);
	qmp_printable(b->id, id, sizeof(id));
	if (!have[0] && !have[1])
		return 0;
	if (!ours)
		return vmi_err(err, errlen, -EOPNOTSUPP, "info mtree: the "
			       "guest's RAM is not backend '%s'", id);
	if (same && have[0] && !memcmp(&got[0], &r[0], sizeof(a)) &&
	    (n == 1 ? !have[1] : have[1] && !memcmp(&got[1], &r[1], sizeof(a))))
		return 0;
	return vmi_err(err, errlen, -EOPNOTSUPP, "QEMU maps the RAM otherwise "
		       "than its machine type and options say (info mtree: "
		       "0x%" PRIx64 " bytes below 4 GiB, the rest at 0x%" PRIx64
		       "; expected 0x%" PRIx64 ", 0x%" PRIx64 "): not "
		       "supported", have[0] ? got[0].len : 0,
		       have[1] ? got[1].gpa : 0, r[0].len,
		       n == 2 ? r[1].gpa : 0);
}

static int query_cpus(struct qmp *q, struct mem_qemu *mq, char *err,
		      size_t errlen)
{
	json_t *list, *v;
	size_t i;
	int r = qmp_execute(q, "query-cpus-fast", NULL, &list, err, errlen);

	if (r < 0)
		return r;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > MAX_VCPUS) {
		json_decref(list);
		return vmi_err(err, errlen, -EPROTO, "QMP query-cpus-fast: not "
			       "a list of 1..%d CPUs", MAX_VCPUS);
	}
	mq->cpus = calloc(json_array_size(list), sizeof(*mq->cpus));
	if (!mq->cpus) {
		json_decref(list);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	json_array_foreach(list, i, v) {
		json_t *c = json_object_get(v, "cpu-index");

		if (!json_is_integer(c) || json_integer_value(c) < 0 ||
		    json_integer_value(c) > INT32_MAX) {
			json_decref(list);
			return vmi_err(err, errlen, -EPROTO, "QMP "
				       "query-cpus-fast: CPU %zu without a "
				       "cpu-index", i);
		}
		mq->cpus[i] = (int)json_integer_value(c);
	}
	mq->ncpus = json_array_size(list);
	json_decref(list);
	return 0;
}

int vmi_mem_qemu_open_timeout(const char *mem_path, const char *qmp_path,
			      bool writable, int timeout_ms,
			      struct vmi_mem **out, char *err, size_t errlen)
{
	struct vmi_region r[2];
	struct backend b = { 0 };
	struct mem_qemu *mq;
	enum vmi_pc_machine machine = VMI_PC_I440FX;
	uint64_t mb4g = 0;
	bool gig = true;
	int fd = -1, n = 0, ret;

	*out = NULL;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	mq->mem.ops = &mem_qemu_ops;
	ret = qmp_open(qmp_path, timeout_ms, &mq->qmp, err, errlen);
	if (ret == 0)
		ret = machine_type(mq->qmp, &machine, &gig, err, errlen);
	if (ret == 0)
		ret = ram_backend(mq->qmp, &b, err, errlen);
	if (ret == 0 && !b.share) {
		char id[128];

		qmp_printable(b.id, id, sizeof(id));
		ret = vmi_err(err, errlen, -EOPNOTSUPP, "QEMU's RAM backend "
			      "'%s' has share=off: QEMU keeps the guest's RAM "
			      "in a private copy of the file that no one else "
			      "sees; start QEMU with memory-backend-file,...,"
			      "share=on", id);
	}
	if (ret == 0)
		ret = ram_size_check(mq->qmp, b.size, err, errlen);
	if (ret == 0)
		ret = open_ram_file(mq->qmp, &b, mem_path, writable, &fd, err,
				    errlen);
	if (ret == 0)
		ret = max_ram_below_4g(mq->qmp, &mb4g, err, errlen);
	if (ret == 0) {
		n = vmi_qemu_layout(machine, gig, b.size, mb4g, r);
		if (n < 0)
			ret = vmi_err(err, errlen, n, "no RAM layout for %"
				      PRIu64 " bytes with max-ram-below-4g %"
				      PRIu64, b.size, mb4g);
		else if (n == 2 && r[1].gpa + r[1].len > AMD_HT_START)
			ret = vmi_err(err, errlen, -EOPNOTSUPP, "RAM above "
				      "4 GiB reaches 1012 GiB, where QEMU may "
				      "move it past 1 TiB: not supported");
	}
	if (ret == 0)
		ret = mtree_check(mq->qmp, &b, r, n, err, errlen);
	if (ret == 0)
		ret = vmi_mem_file_open_fd_rw(fd, r, (unsigned)n, writable,
					      &mq->file, err, errlen);
	if (fd >= 0)
		close(fd);
	if (ret == 0)
		ret = query_cpus(mq->qmp, mq, err, errlen);
	if (ret < 0) {
		mq_free(mq);
		return ret;
	}
	*out = &mq->mem;
	return 0;
}

int vmi_mem_qemu_open(const char *mem_path, const char *qmp_path,
		      bool writable, struct vmi_mem **out, char *err,
		      size_t errlen)
{
	return vmi_mem_qemu_open_timeout(mem_path, qmp_path, writable, 0, out,
					 err, errlen);
}
