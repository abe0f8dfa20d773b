/* vmi_bench: the introspection library's figures on a running QEMU guest
 * whose RAM is a shared file, each beside a direct memcpy of the same
 * bytes from the same file mapped by this program, in the same run:
 *
 *   ps    time of one process-list walk (vmi_linux_tasks), against
 *         memcpy of every task_struct span it read;
 *   read  MB/s of kernel-virtual reads through the direct map (a page
 *         walk per 4 KiB page), against memcpy of the same RAM.
 *
 *   vmi_bench MEMFILE QMPSOCKET [READ_MB] [REPS]
 *
 * Prints "key value" lines (bench/vmi.py formats them). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../vmi/linux.h"
#include "../vmi/mem_file.h"
#include "../vmi/mem_qemu.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Where guest-physical pa lies in our own mapping (QEMU pc layout). */
static const uint8_t *host_ptr(const uint8_t *base, uint64_t size,
			       uint64_t lowmem, uint64_t pa, uint64_t len)
{
	uint64_t off;

	if (pa + len <= lowmem)
		off = pa;
	else if (pa >= 1ull << 32)
		off = pa - (1ull << 32) + lowmem;
	else
		return NULL;
	return off + len <= size ? base + off : NULL;
}

int main(int argc, char **argv)
{
	struct vmi_mem *m;
	struct vmi_linux *l;
	char err[512];
	uint64_t read_mb = argc > 3 ? strtoull(argv[3], NULL, 0) : 64;
	int reps = argc > 4 ? atoi(argv[4]) : 15;

	if (argc < 3 || read_mb == 0 || reps < 1 || reps > 1000) {
		fprintf(stderr, "usage: vmi_bench MEMFILE QMPSOCKET [READ_MB] "
			"[REPS]\n");
		return 2;
	}
	double t0 = now();
	if (vmi_mem_qemu_open(argv[1], argv[2], false, &m, err,
			      sizeof(err)) < 0 ||
	    vmi_linux_open(m, NULL, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmi_bench: %s\n", err);
		return 1;
	}
	printf("open_ms %.1f\n", (now() - t0) * 1e3);

	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	const uint8_t *base = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED,
				   fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	uint64_t lowmem = vmi_pc_lowmem(VMI_PC_I440FX, st.st_size);

	/* ps: the guest paused so every walk sees the same list. */
	vmi_mem_pause(m);
	double *t = calloc(reps, sizeof(*t)), *c = calloc(reps, sizeof(*c));
	struct vmi_linux_task *tasks = NULL;
	size_t n = 0;
	for (int i = 0; i < reps; i++) {
		free(tasks);
		double s = now();
		if (vmi_linux_tasks(l, &tasks, &n, err, sizeof(err)) < 0) {
			fprintf(stderr, "vmi_bench: ps: %s\n", err);
			return 1;
		}
		t[i] = now() - s;
	}
	/* The bytes the walk read: each task_struct up to comm's end. */
	const struct vmi_linux_layout *ly = vmi_linux_layout(l);
	size_t span = ly->task.comm + ly->task.comm_size;
	const uint8_t **src = calloc(n, sizeof(*src));
	uint8_t *dst = malloc(span);
	for (size_t i = 0; i < n; i++) {
		uint64_t pa;
		if (vmi_linux_kva_to_pa(l, tasks[i].addr, &pa, err,
					sizeof(err)) < 0 ||
		    !(src[i] = host_ptr(base, st.st_size, lowmem, pa, span))) {
			fprintf(stderr, "vmi_bench: task at 0x%" PRIx64
				" is not in RAM\n", tasks[i].addr);
			return 1;
		}
	}
	volatile uint8_t sink = 0;
	for (int i = 0; i < reps; i++) {
		double s = now();
		for (size_t j = 0; j < n; j++) {
			memcpy(dst, src[j], span);
			sink ^= dst[j % span];
		}
		c[i] = now() - s;
	}
	vmi_mem_resume(m);
	printf("ps_tasks %zu\n", n);
	printf("ps_ms %.3f\n", median(t, reps) * 1e3);
	printf("ps_memcpy_ms %.4f\n", median(c, reps) * 1e3);
	printf("ps_bytes %zu\n", n * span);

	/* read: kernel-virtual through the direct map, page walk included. */
	uint64_t pob_va, pob;
	size_t len = read_mb << 20;
	if (len > (uint64_t)st.st_size / 2)
		len = st.st_size / 2;
	if (vmi_linux_symbol(l, "page_offset_base", &pob_va) < 0 ||
	    vmi_linux_read_va(l, -1, pob_va, &pob, 8, err, sizeof(err)) != 8) {
		fprintf(stderr, "vmi_bench: page_offset_base: %s\n", err);
		return 1;
	}
	uint8_t *buf = malloc(len);
	uint64_t start_pa = 1 << 20; /* above the BIOS area */
	const uint8_t *direct = host_ptr(base, st.st_size, lowmem, start_pa,
					 len);
	if (!buf || !direct) {
		fprintf(stderr, "vmi_bench: %zu bytes\n", len);
		return 1;
	}
	vmi_mem_pause(m);
	for (int i = 0; i < reps; i++) {
		vmi_linux_invalidate(l); /* every page walked, every time */
		double s = now();
		ssize_t r = vmi_linux_read_va(l, -1, pob + start_pa, buf, len,
					      err, sizeof(err));
		t[i] = now() - s;
		if (r != (ssize_t)len) {
			fprintf(stderr, "vmi_bench: read: %s\n", err);
			return 1;
		}
		s = now();
		memcpy(buf, direct, len);
		c[i] = now() - s;
		sink ^= buf[i];
	}
	vmi_mem_resume(m);
	printf("read_bytes %zu\n", len);
	printf("read_mbps %.0f\n", len / median(t, reps) / 1e6);
	printf("read_memcpy_mbps %.0f\n", len / median(c, reps) / 1e6);
	(void)sink;
	free(buf);
	free(t);
	free(c);
	free(src);
	free(dst);
	free(tasks);
	vmi_linux_close(l);
	vmi_mem_close(m);
	return 0;
}
