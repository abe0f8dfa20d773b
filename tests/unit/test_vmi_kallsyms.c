/* Unit tests of kernel symbols from kallsyms tables (vmi/kallsyms.c):
 * small tables built here in both layouts (with and without
 * kallsyms_seqs_of_names, one- and two-byte name lengths), and the real
 * Debian kernel (vmlinux extracted from .cache/vmlinuz at setup with xz)
 * checked against what its ELF headers say independently of kallsyms; the
 * same found by scanning guest-physical memory in a memfd; random,
 * corrupted and truncated tables refused without a crash. The kernel
 * tests skip when the kernel or xz is missing. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kallsyms.h"
#include "mem_file.h"
#include "kernel_file.h"

static char tmpdir[] = "/tmp/vsb-ksyms.XXXXXX";
static int have_tmp;
static char elf_path[64];
static unsigned char *vmlinux;	/* the kernel ELF, or NULL: kernel tests skip */
static size_t vmlinux_len;

static int extract_vmlinux(void **state)
{
	char kernel[4096], cmd[8192];

	(void)state;
	if (find_kernel(kernel, sizeof(kernel))) {
		print_message("no kernel ($VSB_KERNEL, $VSB_CACHE or "
			      ".cache/vmlinuz): kernel tests skipped\n");
		return 0;
	}
	if (system("command -v xz >/dev/null") != 0) {
		print_message("no xz: kernel tests skipped\n");
		return 0;
	}
	if (!mkdtemp(tmpdir))
		return 0;
	have_tmp = 1;
	snprintf(elf_path, sizeof(elf_path), "%s/vmlinux", tmpdir);
	/* The xz stream's offset in the bzImage; xz complains about the
	 * bytes after the stream, which is expected. */
	snprintf(cmd, sizeof(cmd),
		 "k='%s'; off=$(grep -abo \"$(printf '\\375')7zXZ\" \"$k\" | "
		 "head -1 | cut -d: -f1) && [ -n \"$off\" ] && "
		 "{ tail -c +$((off + 1)) \"$k\" | xz -dc >'%s' 2>/dev/null; "
		 "[ -s '%s' ]; }", kernel, elf_path, elf_path);
	if (system(cmd) != 0 || !(vmlinux = read_all(elf_path, &vmlinux_len))) {
		print_message("could not extract vmlinux from %s: kernel "
			      "tests skipped\n", kernel);
		free(vmlinux);
		vmlinux = NULL;
	}
	return 0;
}

static int cleanup(void **state)
{
	(void)state;
	free(vmlinux);
	if (have_tmp) {
		unlink(elf_path);
		rmdir(tmpdir);
	}
	return 0;
}

#define NEED_KERNEL()                                                      \
	do {                                                               \
		if (!vmlinux)                                              \
			skip();                                            \
	} while (0)

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i) & 0xff;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i) & 0xff;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- Tables built here, as scripts/kallsyms.c writes them. ---- */

#define HB_SEQS   1 /* kallsyms_seqs_of_names before the token table */
#define HB_OLDLEN 2 /* one length byte (before 6.1) */
#define HB_EMPTY0 4 /* token 0 empty (small tables have empty tokens) */

#define HB_BASE 0xffffffff81000000ull

struct hsym {
	const char *name;
	char type;
	uint64_t addr;
	int percpu; /* absolute: addr is the offset itself */
};

/* Multi-character tokens, in the slots no printable character takes;
 * the remaining slots are empty. */
static const char *const multi[] = {
	"sym_", "__", "init", "ta", "sk", "_t", "xt", "per_cpu", "dup",
};

static void hb_tokens(const char *tok[256], unsigned flags)
{
	static char single[256][2];
	unsigned m = 0;

	for (int t = 0; t < 256; t++) {
		if (t > 0x20 && t < 0x7f) {
			single[t][0] = (char)t;
			tok[t] = single[t];
		} else if (t == 0 && (flags & HB_EMPTY0)) {
			tok[t] = "";
		} else {
			tok[t] = m < sizeof(multi) / sizeof(multi[0])
					 ? multi[m++] : "";
		}
	}
}

/* Token codes of s, greedily with the longest token. */
static size_t hb_encode(const char *tok[256], const char *s, uint8_t *codes)
{
	size_t n = 0;

	while (*s) {
		size_t best = 0;
		int bt = -1;

		for (int t = 0; t < 256; t++) {
			size_t l = strlen(tok[t]);

			if (l > best && !strncmp(s, tok[t], l)) {
				best = l;
				bt = t;
			}
		}
		assert_true(bt >= 0);
		codes[n++] = (uint8_t)bt;
		s += best;
	}
	return n;
}

static const struct hsym *sort_syms;

static int cmp_hsym(const void *a, const void *b)
{
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int r = strcmp(sort_syms[i].name, sort_syms[j].name);

	return r ? r : (i > j) - (i < j);
}

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

/* Writes the tables for s[0..n) into b (zeroed first; junk before and
 * after) and where they are into w. Returns the bytes used. */
static size_t hb_build(uint8_t *b, size_t cap, const struct hsym *s,
		       uint32_t n, unsigned flags, struct vmi_kallsyms_where *w)
{
	const char *tok[256];
	uint32_t m = (n + 255) / 256, *mk = calloc(m, sizeof(*mk));
	uint8_t codes[1024];
	size_t at;

	assert_non_null(mk);
	hb_tokens(tok, flags);
	memset(b, 0, cap);
	for (at = 0; at < 40; at++)
		b[at] = 0xa5;
	w->offsets = at;
	for (uint32_t i = 0; i < n; i++, at += 4)
		put32(b + at, s[i].percpu ? (uint32_t)s[i].addr
					  : (uint32_t)(HB_BASE - 1 - s[i].addr));
	at = ALIGN8(at);
	w->relative_base = at;
	put64(b + at, HB_BASE);
	at += 8;
	w->num_syms = at;
	put32(b + at, n);
	at += 8;
	w->names = at;
	for (uint32_t i = 0; i < n; i++) {
		char full[1024];
		size_t l;

		if (!(i & 0xff))
			mk[i >> 8] = (uint32_t)(at - w->names);
		snprintf(full, sizeof(full), "%c%s", s[i].type, s[i].name);
		l = hb_encode(tok, full, codes);
		if (l >= 0x80 && !(flags & HB_OLDLEN)) {
			b[at++] = (uint8_t)(0x80 | (l & 0x7f));
			b[at++] = (uint8_t)(l >> 7);
		} else {
			assert_true(l < 256);
			b[at++] = (uint8_t)l;
		}
		memcpy(b + at, codes, l);
		at += l;
	}
	at = ALIGN8(at);
	w->markers = at;
	for (uint32_t k = 0; k < m; k++, at += 4)
		put32(b + at, mk[k]);
	at = ALIGN8(at);
	if (flags & HB_SEQS) {
		uint32_t *idx = calloc(n, sizeof(*idx));

		assert_non_null(idx);
		for (uint32_t i = 0; i < n; i++)
			idx[i] = i;
		sort_syms = s;
		qsort(idx, n, sizeof(*idx), cmp_hsym);
		for (uint32_t i = 0; i < n; i++) {
			b[at++] = (uint8_t)(idx[i] >> 16);
			b[at++] = (uint8_t)(idx[i] >> 8);
			b[at++] = (uint8_t)idx[i];
		}
		free(idx);
		at = ALIGN8(at);
	}
	w->token_table = at;
	{
		uint16_t off[256];

		for (int t = 0; t < 256; t++) {
			size_t l = strlen(tok[t]);

			off[t] = (uint16_t)(at - w->token_table);
			memcpy(b + at, tok[t], l + 1);
			at += l + 1;
		}
		at = ALIGN8(at);
		w->token_index = at;
		for (int t = 0; t < 256; t++, at += 2)
			put16(b + at, off[t]);
	}
	for (int i = 0; i < 40; i++)
		b[at++] = 0x5a;
	assert_true(at <= cap);
	free(mk);
	return at;
}

static const struct hsym small[] = {
	{ "fixed_percpu_data", 'A', 0, 1 },
	{ "_text", 'T', HB_BASE, 0 },
	{ "startup_64", 'T', HB_BASE, 0 },
	{ "init_task", 'D', HB_BASE + 0x1a1aa40, 0 },
	{ "sym_9", 't', HB_BASE + 0x123450, 0 },
};

static void check_syms(const struct vmi_kallsyms *k, const struct hsym *s,
		       uint32_t n)
{
	assert_int_equal(vmi_kallsyms_count(k), n);
	assert_true(vmi_kallsyms_relative_base(k) == HB_BASE);
	for (uint32_t i = 0; i < n; i++) {
		const char *name;
		uint64_t addr;
		char type;

		assert_int_equal(vmi_kallsyms_get(k, i, &name, &addr, &type),
				 0);
		assert_string_equal(name, s[i].name);
		assert_true(addr == s[i].addr);
		assert_int_equal(type, s[i].type);
	}
	assert_int_equal(vmi_kallsyms_get(k, n, NULL, NULL, NULL), -ENOENT);
}

static void expect_where(const struct vmi_kallsyms_where *a,
			 const struct vmi_kallsyms_where *b, uint64_t shift)
{
	assert_true(a->offsets == b->offsets + shift);
	assert_true(a->relative_base == b->relative_base + shift);
	assert_true(a->num_syms == b->num_syms + shift);
	assert_true(a->names == b->names + shift);
	assert_true(a->markers == b->markers + shift);
	assert_true(a->token_table == b->token_table + shift);
	assert_true(a->token_index == b->token_index + shift);
}

static void test_small_tables(void **state)
{
	static const unsigned variants[] = {
		0, HB_SEQS, HB_EMPTY0, HB_SEQS | HB_EMPTY0, HB_OLDLEN,
	};
	static uint8_t b[65536];
	struct vmi_kallsyms_where w, got;
	struct vmi_kallsyms *k;
	char err[160];
	uint64_t addr, off;
	char type;

	(void)state;
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		size_t len = hb_build(b, sizeof(b), small, 5, variants[v], &w);

		err[0] = 0;
		assert_int_equal(vmi_kallsyms_parse(b, len, &k, &got, err,
						    sizeof(err)), 0);
		expect_where(&got, &w, 0);
		check_syms(k, small, 5);
		assert_int_equal(vmi_kallsyms_lookup(k, "init_task", &addr,
						     &type), 0);
		assert_true(addr == HB_BASE + 0x1a1aa40);
		assert_int_equal(type, 'D');
		assert_int_equal(vmi_kallsyms_lookup(k, "nope", &addr, NULL),
				 -ENOENT);
		assert_int_equal(vmi_kallsyms_lookup(k, "init_tas", NULL,
						     NULL), -ENOENT);
		assert_int_equal(vmi_kallsyms_lookup(k, "init_task_", NULL,
						     NULL), -ENOENT);
		/* _text and startup_64 share an address: the first wins. */
		assert_string_equal(vmi_kallsyms_symbolize(k, HB_BASE + 5,
							   &off), "_text");
		assert_true(off == 5);
		assert_string_equal(vmi_kallsyms_symbolize(k, HB_BASE + 0x1a1aa48,
							   &off), "init_task");
		assert_true(off == 8);
		assert_string_equal(vmi_kallsyms_symbolize(k, 0x10, &off),
				    "fixed_percpu_data");
		assert_true(off == 0x10);
		assert_string_equal(vmi_kallsyms_symbolize(k, UINT64_MAX,
							   NULL), "init_task");
		vmi_kallsyms_free(k);
		/* Not 8-aligned in the buffer: alignment is the tables'
		 * own, relative to each other. */
		assert_int_equal(vmi_kallsyms_parse(b + 3, len - 3, &k, &got,
						    err, sizeof(err)), 0);
		expect_where(&got, &w, (uint64_t)-3);
		vmi_kallsyms_free(k);
	}
	vmi_kallsyms_free(NULL);
}

/* 700 symbols: three markers; names of 200 tokens take two length bytes
 * in 6.1 and one before; duplicates and ties. */
static void test_larger_tables(void **state)
{
	static const unsigned variants[] = { 0, HB_SEQS, HB_OLDLEN,
					     HB_OLDLEN | HB_SEQS };
	enum { N = 700 };
	struct hsym *s = calloc(N, sizeof(*s));
	char (*names)[256] = calloc(N, sizeof(*names));
	size_t cap = 1 << 20;
	uint8_t *b = malloc(cap);
	struct vmi_kallsyms_where w, got;
	struct vmi_kallsyms *k;
	char err[160];
	uint64_t addr, off;

	(void)state;
	assert_non_null(s);
	assert_non_null(names);
	assert_non_null(b);
	for (int i = 0; i < N; i++) {
		if (i % 97 == 5) {
			/* 200 characters no multi-character token covers */
			memset(names[i], 'Q', 200);
			snprintf(names[i] + 200, 56, "%d", i);
		} else {
			snprintf(names[i], sizeof(names[i]), "sym_%d", i);
		}
		s[i].name = names[i];
		s[i].type = i & 1 ? 't' : 'T';
		s[i].addr = HB_BASE + 0x10 * (uint64_t)i;
	}
	s[600].name = "dup";
	s[600].addr = HB_BASE + 0x100000;
	s[650].name = "dup";
	s[650].addr = HB_BASE + 0x200000;
	s[651].addr = s[650].addr; /* a tie: dup (650) first */
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		size_t len = hb_build(b, cap, s, N, variants[v], &w);

		err[0] = 0;
		assert_int_equal(vmi_kallsyms_parse(b, len, &k, &got, err,
						    sizeof(err)), 0);
		expect_where(&got, &w, 0);
		check_syms(k, s, N);
		assert_int_equal(vmi_kallsyms_lookup(k, "dup", &addr, NULL),
				 0);
		assert_true(addr == HB_BASE + 0x100000);
		assert_string_equal(vmi_kallsyms_symbolize(k, HB_BASE + 0x200001,
							   &off), "dup");
		assert_true(off == 1);
		assert_int_equal(vmi_kallsyms_lookup(k, names[5], &addr, NULL),
				 0);
		assert_true(addr == HB_BASE + 0x50);
		assert_null(vmi_kallsyms_symbolize(k, HB_BASE - 1, &off));
		vmi_kallsyms_free(k);
	}
	free(b);
	free(names);
	free(s);
}

/* Small tables damaged: each refused with its message. */
static void expect_refused(const uint8_t *b, size_t len, int want,
			   const char *msg)
{
	struct vmi_kallsyms *k = (struct vmi_kallsyms *)1;
	char err[160] = "";
	int r = vmi_kallsyms_parse(b, len, &k, NULL, err, sizeof(err));

	if (r != want)
		fail_msg("got %d (%s), want %d", r, err, want);
	assert_null(k);
	if (msg && !strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
}

static void test_small_damaged(void **state)
{
	static uint8_t b[65536], c[65536];
	struct vmi_kallsyms_where w;
	size_t len;

	(void)state;
	for (unsigned v = 0; v < 2; v++) {
		len = hb_build(b, sizeof(b), small, 5, v ? HB_SEQS : 0, &w);
		/* A token index entry off by one: no token table. */
		memcpy(c, b, len);
		c[w.token_index + 2 * 0x41]++;
		expect_refused(c, len, -ENOENT, "no token table");
		/* num_syms, a name's length, the marker: tables refused. */
		memcpy(c, b, len);
		put32(c + w.num_syms, 6);
		expect_refused(c, len, -EINVAL, "no markers, names and "
			       "num_syms");
		memcpy(c, b, len);
		c[w.names]++;
		expect_refused(c, len, -EINVAL, "no markers");
		memcpy(c, b, len);
		put32(c + w.markers, 8);
		expect_refused(c, len, -EINVAL, "no markers");
		/* Cut through the offsets, the names, the index. */
		expect_refused(b + w.offsets + 4, len - w.offsets - 4,
			       -EINVAL, "offsets would start");
		expect_refused(b + w.names + 1, len - w.names - 1, -EINVAL,
			       NULL);
		expect_refused(b, w.token_index + 100, -ENOENT, NULL);
		/* A name of only empty tokens: no type letter. */
		if (!v) {
			memcpy(c, b, len);
			memset(c + w.names + 1, 0x7f, c[w.names]); /* empty */
			expect_refused(c, len, -EINVAL, "decodes to 0 bytes");
		}
	}
	len = hb_build(b, sizeof(b), small, 5, HB_SEQS, &w);
	memcpy(c, b, len);
	c[w.markers + 8 + 3 * 4 + 2] = 5; /* seqs[4] = 5, of 5 symbols */
	expect_refused(c, len, -EINVAL, "seqs_of_names[4] = 5");
	expect_refused(NULL, 100, -ENOENT, "no token table in 0 bytes");
	expect_refused(b, 0, -ENOENT, NULL);
}

/* Random bytes, and random bytes around a planted "0".."9" or a whole
 * token table: -ENOENT or -EINVAL, never a crash (the asan build checks
 * the "never"). */
static void test_random_buffers(void **state)
{
	static uint8_t buf[65536], tables[65536];
	struct vmi_kallsyms_where w;
	struct vmi_kallsyms *k;
	unsigned seed = 1;
	size_t tsize;
	char err[160];

	(void)state;
	hb_build(tables, sizeof(tables), small, 5, 0, &w);
	tsize = w.token_index + 512 - w.token_table;
	for (int i = 0; i < 1000; i++) {
		size_t len = (size_t)rand_r(&seed) % sizeof(buf);
		int r;

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (i % 3 == 1 && len > 64) {
			size_t at = (size_t)rand_r(&seed) % (len - 20);

			memcpy(buf + at, "0\0" "1\0" "2\0" "3\0" "4\0" "5\0"
			       "6\0" "7\0" "8\0" "9", 20);
		}
		if (i % 3 == 2 && len > tsize + 8) {
			size_t at = (size_t)rand_r(&seed) % (len - tsize);

			at &= ~(size_t)7;
			memcpy(buf + at, tables + w.token_table, tsize);
		}
		r = vmi_kallsyms_parse(buf, len, &k, NULL, err, sizeof(err));
		if (i % 3 == 2 && len > tsize + 8)
			assert_int_equal(r, -EINVAL);
		else
			assert_int_equal(r, -ENOENT);
	}
}

/* A memfd as guest RAM, the small tables planted across two adjacent
 * regions, behind a decoy "0".."9"; a RAM without tables. */
static void test_scan_small(void **state)
{
	static uint8_t b[65536];
	struct vmi_kallsyms_where w, got;
	struct vmi_region reg[3] = {
		{ 0x100000, 0, 0x3000 },
		{ 0x103000, 0x3000, 0x5000 },
		{ 0x100000000ull, 0x8000, 0x2000 },
	};
	struct vmi_kallsyms *k;
	struct vmi_mem *m;
	char err[160] = "";
	size_t len = hb_build(b, sizeof(b), small, 5, HB_SEQS, &w);
	/* The token table straddles the regions' boundary at 0x3000. */
	size_t at = 0x3000 - (w.token_table + w.token_index) / 2;
	int fd = memfd_create("vsb-ksyms", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_true(at > 0x200 && at + len < 0x8000);
	assert_int_equal(ftruncate(fd, 0xa000), 0);
	assert_int_equal(pwrite(fd, "0\0" "1\0" "2\0" "3\0" "4\0" "5\0" "6\0"
				"7\0" "8\0" "9", 20, 0x100), 20);
	assert_int_equal(pwrite(fd, b, len, (off_t)at), (ssize_t)len);
	assert_int_equal(vmi_mem_file_open_fd(fd, reg, 3, &m, err,
					      sizeof(err)), 0);
	assert_int_equal(vmi_kallsyms_scan(m, &k, &got, err, sizeof(err)), 0);
	expect_where(&got, &w, 0x100000 + at);
	check_syms(k, small, 5);
	vmi_kallsyms_free(k);
	vmi_mem_close(m);
	/* The same RAM without the tables. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(ftruncate(fd, 0xa000), 0);
	assert_int_equal(vmi_mem_file_open_fd(fd, reg, 3, &m, err,
					      sizeof(err)), 0);
	k = (struct vmi_kallsyms *)1;
	assert_int_equal(vmi_kallsyms_scan(m, &k, &got, err, sizeof(err)),
			 -ENOENT);
	assert_null(k);
	assert_non_null(strstr(err, "no token table"));
	vmi_mem_close(m);
	close(fd);
}

/* ---- The real kernel. ---- */

struct elf_facts {
	uint64_t text, btf, btf_size;
	uint64_t rodata_off, rodata_size;
	uint64_t banner_off; /* file offset of linux_banner, set later */
};

static void elf_facts(struct elf_facts *f)
{
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	memset(f, 0, sizeof(*f));
	assert_true(elf_version(EV_CURRENT) != EV_NONE);
	e = elf_memory((char *)vmlinux, vmlinux_len);
	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *name;

		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (!strcmp(name, ".text"))
			f->text = sh.sh_addr;
		if (!strcmp(name, ".BTF")) {
			f->btf = sh.sh_addr;
			f->btf_size = sh.sh_size;
		}
		if (!strcmp(name, ".rodata")) {
			f->rodata_off = sh.sh_offset;
			f->rodata_size = sh.sh_size;
		}
	}
	elf_end(e);
	assert_true(f->text && f->btf && f->rodata_size);
}

/* The file offset of va through the program headers, or 0. */
static uint64_t va_to_off(uint64_t va)
{
	Elf *e = elf_memory((char *)vmlinux, vmlinux_len);
	size_t n;
	uint64_t off = 0;

	assert_non_null(e);
	assert_int_equal(elf_getphdrnum(e, &n), 0);
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type == PT_LOAD && va >= ph.p_vaddr &&
		    va - ph.p_vaddr < ph.p_filesz)
			off = ph.p_offset + (va - ph.p_vaddr);
	}
	elf_end(e);
	return off;
}

static void check_kernel(const struct vmi_kallsyms *k,
			 const struct elf_facts *f)
{
	uint64_t addr, addr2, off, boff;
	const char *name;
	char type;
	size_t n = vmi_kallsyms_count(k);

	assert_true(n > 90000);
	assert_true(f->text == 0xffffffff81000000ull);
	assert_true(vmi_kallsyms_relative_base(k) == f->text);
	assert_int_equal(vmi_kallsyms_lookup(k, "_text", &addr, &type), 0);
	assert_true(addr == f->text);
	assert_int_equal(type, 'T');
	assert_int_equal(vmi_kallsyms_lookup(k, "startup_64", &addr, NULL), 0);
	assert_true(addr == f->text);
	assert_int_equal(vmi_kallsyms_lookup(k, "__start_BTF", &addr, NULL),
			 0);
	assert_true(addr == f->btf);
	assert_int_equal(vmi_kallsyms_lookup(k, "__stop_BTF", &addr, NULL), 0);
	assert_true(addr == f->btf + f->btf_size);
	assert_int_equal(vmi_kallsyms_lookup(k, "linux_banner", &addr, NULL),
			 0);
	boff = va_to_off(addr);
	assert_true(boff > 0 && boff + 18 < vmlinux_len);
	assert_memory_equal(vmlinux + boff, "Linux version 6.1.", 18);
	assert_int_equal(vmi_kallsyms_lookup(k, "init_task", &addr, &type), 0);
	assert_true(type == 'D' || type == 'd');
	assert_string_equal(vmi_kallsyms_symbolize(k, addr + 8, &off),
			    "init_task");
	assert_true(off == 8);
	assert_int_equal(vmi_kallsyms_lookup(k, "no_such_symbol_here", &addr,
					     NULL), -ENOENT);
	/* Per-CPU symbols are absolute, small. */
	assert_int_equal(vmi_kallsyms_lookup(k, "fixed_percpu_data", &addr,
					     &type), 0);
	assert_true(addr == 0);
	/* Every symbol: found by name (the first of its name), and by its
	 * address at offset 0 (a symbol at that address). */
	for (size_t i = 0; i < n; i++) {
		const char *s;

		assert_int_equal(vmi_kallsyms_get(k, i, &name, &addr, &type),
				 0);
		assert_true(type != 0);
		assert_int_equal(vmi_kallsyms_lookup(k, name, &addr2, NULL), 0);
		s = vmi_kallsyms_symbolize(k, addr, &off);
		assert_non_null(s);
		assert_true(off == 0);
		assert_int_equal(vmi_kallsyms_lookup(k, s, &addr2, NULL), 0);
	}
}

static void test_kernel_parse(void **state)
{
	struct vmi_kallsyms_where w;
	struct vmi_kallsyms *k;
	struct elf_facts f;
	char err[160] = "";
	double t0, t1, t2;
	uint64_t addr;
	int r;

	(void)state;
	NEED_KERNEL();
	elf_facts(&f);
	t0 = now_ms();
	r = vmi_kallsyms_parse(vmlinux, vmlinux_len, &k, &w, err, sizeof(err));
	t1 = now_ms();
	if (r)
		fail_msg("parse: %d %s", r, err);
	check_kernel(k, &f);
	/* The tables are in .rodata, in their order. */
	assert_true(w.offsets >= f.rodata_off &&
		    w.token_index + 512 <= f.rodata_off + f.rodata_size);
	assert_true(w.offsets < w.relative_base &&
		    w.relative_base + 8 == w.num_syms &&
		    w.num_syms + 8 == w.names && w.names < w.markers &&
		    w.markers < w.token_table && w.token_table < w.token_index);
	assert_int_equal(w.token_table % 8, 0);
	t2 = now_ms();
	for (int i = 0; i < 100000; i++)
		assert_int_equal(vmi_kallsyms_lookup(k, i & 1 ? "init_task"
							     : "_text",
						     &addr, NULL), 0);
	print_message("%zu symbols, parsed in %.1f ms (%zu MiB vmlinux); "
		      "100000 lookups in %.1f ms; tables at file offsets "
		      "0x%llx..0x%llx, names 0x%llx, token table 0x%llx\n",
		      vmi_kallsyms_count(k), t1 - t0, vmlinux_len >> 20,
		      now_ms() - t2, (unsigned long long)w.offsets,
		      (unsigned long long)w.token_index + 512,
		      (unsigned long long)w.names,
		      (unsigned long long)w.token_table);
	vmi_kallsyms_free(k);
}

/* The first 40 MiB of vmlinux in guest RAM at 0x1100000 (file offset
 * 1 MiB), split into two adjacent regions through the names. */
static void test_kernel_scan(void **state)
{
	struct vmi_kallsyms_where w, got;
	struct vmi_kallsyms *k, *ks;
	struct vmi_region reg[2];
	struct vmi_mem *m;
	char err[160] = "";
	size_t len = vmlinux_len < (40u << 20) ? vmlinux_len : 40u << 20;
	uint64_t split;
	struct elf_facts f;
	int fd;

	(void)state;
	NEED_KERNEL();
	elf_facts(&f);
	assert_int_equal(vmi_kallsyms_parse(vmlinux, vmlinux_len, &k, &w, err,
					    sizeof(err)), 0);
	assert_true(w.token_index + 4096 < len);
	fd = memfd_create("vsb-ksyms", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len + (2u << 20)), 0);
	assert_int_equal(pwrite(fd, vmlinux, len, 1u << 20), (ssize_t)len);
	split = ((1u << 20) + w.names + 0x10000) & ~0xfffull;
	reg[0] = (struct vmi_region){ 0x1000000, 0, split };
	reg[1] = (struct vmi_region){ 0x1000000 + split, split,
				      len + (2u << 20) - split };
	assert_int_equal(vmi_mem_file_open_fd(fd, reg, 2, &m, err,
					      sizeof(err)), 0);
	assert_int_equal(vmi_kallsyms_scan(m, &ks, &got, err, sizeof(err)), 0);
	expect_where(&got, &w, 0x1000000 + (1u << 20));
	check_kernel(ks, &f);
	assert_int_equal(vmi_kallsyms_count(ks), vmi_kallsyms_count(k));
	for (size_t i = 0; i < vmi_kallsyms_count(k); i++) {
		const char *a, *b;
		uint64_t x, y;

		vmi_kallsyms_get(k, i, &a, &x, NULL);
		vmi_kallsyms_get(ks, i, &b, &y, NULL);
		assert_string_equal(a, b);
		assert_true(x == y);
	}
	vmi_kallsyms_free(ks);
	vmi_kallsyms_free(k);
	vmi_mem_close(m);
	close(fd);
}

/* 512 MiB of RAM, the kernel's first 40 MiB near its end: how long a
 * whole scan takes. */
static void test_kernel_scan_512m(void **state)
{
	struct vmi_kallsyms_where w;
	struct vmi_kallsyms *k;
	struct vmi_region reg = { 0, 0, 512u << 20 };
	struct vmi_mem *m;
	char err[160] = "";
	size_t len = vmlinux_len < (40u << 20) ? vmlinux_len : 40u << 20;
	uint64_t at = (512u - 48) << 20;
	double t0;
	int fd;

	(void)state;
	NEED_KERNEL();
	fd = memfd_create("vsb-ksyms", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 512u << 20), 0);
	assert_int_equal(pwrite(fd, vmlinux, len, (off_t)at), (ssize_t)len);
	assert_int_equal(vmi_mem_file_open_fd(fd, &reg, 1, &m, err,
					      sizeof(err)), 0);
	/* Twice: the first touches the memfd's pages. */
	for (int i = 0; i < 2; i++) {
		t0 = now_ms();
		assert_int_equal(vmi_kallsyms_scan(m, &k, &w, err,
						   sizeof(err)), 0);
		print_message("scan of 512 MiB (tables at 0x%llx): %.1f ms%s\n",
			      (unsigned long long)w.token_table,
			      now_ms() - t0, i ? "" : " (pages touched)");
		assert_true(w.token_table > at);
		vmi_kallsyms_free(k);
	}
	vmi_mem_close(m);
	close(fd);
}

/* The real tables, alone in a buffer, then damaged. */
static void test_kernel_damaged(void **state)
{
	struct vmi_kallsyms_where w, g;
	struct vmi_kallsyms *k;
	uint8_t *t, *c;
	size_t base, len;
	unsigned seed = 7;
	char err[160];
	int r;

	(void)state;
	NEED_KERNEL();
	assert_int_equal(vmi_kallsyms_parse(vmlinux, vmlinux_len, &k, &w, err,
					    sizeof(err)), 0);
	vmi_kallsyms_free(k);
	base = w.offsets - 4096;
	len = w.token_index + 512 + 4096 - base;
	t = vmlinux + base;
	c = malloc(len);
	assert_non_null(c);
	/* Alone: found the same. */
	memcpy(c, t, len);
	assert_int_equal(vmi_kallsyms_parse(c, len, &k, &g, err, sizeof(err)),
			 0);
	expect_where(&g, &w, (uint64_t)-base);
	vmi_kallsyms_free(k);
#define AT(x) (c + (w.x - base))
	/* A token index entry: no token table left. */
	memcpy(c, t, len);
	AT(token_index)[2 * 0x90] ^= 1;
	expect_refused(c, len, -ENOENT, NULL);
	/* A marker, num_syms, a name's length byte. */
	memcpy(c, t, len);
	put32(AT(markers) + 4 * 100, get32(AT(markers) + 4 * 100) + 1);
	expect_refused(c, len, -EINVAL, "no markers");
	memcpy(c, t, len);
	put32(AT(num_syms), get32(AT(num_syms)) + 1);
	expect_refused(c, len, -EINVAL, "no markers");
	memcpy(c, t, len);
	AT(names)[0] += 1;
	expect_refused(c, len, -EINVAL, "no markers");
	/* Cut: through the offsets, the names, the token index. */
	memcpy(c, t, len);
	expect_refused(c + (w.offsets - base) + 8, len - (w.offsets - base) - 8,
		       -EINVAL, "offsets would start");
	expect_refused(c + (w.names - base) + 100,
		       len - (w.names - base) - 100, -EINVAL, NULL);
	expect_refused(c, w.token_index + 256 - base, -ENOENT, NULL);
	/* Random bytes anywhere in the tables: whatever the answer, no
	 * crash and a consistent result. */
	for (int i = 0; i < 30; i++) {
		memcpy(c, t, len);
		for (int j = 0; j < 16; j++)
			c[(size_t)rand_r(&seed) % len] =
				(uint8_t)rand_r(&seed);
		r = vmi_kallsyms_parse(c, len, &k, NULL, err, sizeof(err));
		if (r == 0) {
			assert_true(vmi_kallsyms_count(k) > 0);
			vmi_kallsyms_free(k);
		} else {
			assert_true(r == -EINVAL || r == -ENOENT);
		}
	}
#undef AT
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_tables),
		cmocka_unit_test(test_larger_tables),
		cmocka_unit_test(test_small_damaged),
		cmocka_unit_test(test_random_buffers),
		cmocka_unit_test(test_scan_small),
		cmocka_unit_test(test_kernel_parse),
		cmocka_unit_test(test_kernel_scan),
		cmocka_unit_test(test_kernel_scan_512m),
		cmocka_unit_test(test_kernel_damaged),
	};

	return cmocka_run_group_tests(tests, extract_vmlinux, cleanup);
}
