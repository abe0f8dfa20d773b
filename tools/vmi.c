/* vmi: introspect a Linux guest from outside, for administrators and
 * tests: its processes, modules, memory and registers, from a running
 * QEMU or vsbd guest or from a QEMU core file, with no profile. Output is
 * a table, or JSON with --json. Strings from the guest (process and
 * module names) are untrusted: bytes outside printable ASCII are shown
 * as \xNN, so a guest cannot send escape sequences to a terminal. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../vmi/linux.h"
#include "../vmi/mem_elfcore.h"
#include "../vmi/mem_file.h"
#include "../vmi/mem_qemu.h"
#include "../vmi/mem_vsbd.h"
#include "../vmi/vmi_hexdump.h"
#include "../vmi/vmi_json.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define READ_MAX (64u << 20)

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vmi SOURCE [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Introspects a Linux guest from outside: no agent in the guest, no\n"
"profile; symbols, KASLR offset and struct layouts come from the guest's\n"
"own kernel (kallsyms, VMCOREINFO, BTF).\n"
"\n"
"Sources (exactly one):\n"
"  --qemu MEMFILE --qmp SOCKET  a running QEMU started with\n"
"                      -object memory-backend-file,...,mem-path=MEMFILE,share=on\n"
"                      and -qmp unix:SOCKET,server=on,wait=off\n"
"  --vsbd SOCKET       a vsbd VM's control socket (vsbd run --control)\n"
"  --core FILE         an ELF core from QEMU's dump-guest-memory\n"
"  --ram FILE --machine pc|q35|vsbd\n"
"                      a guest RAM file alone (no registers)\n"
"\n"
"Commands:\n"
"  info                kernel release, banner, KASLR offset, where each\n"
"                      piece of knowledge came from\n"
"  ps                  processes: pid, ppid, uid, state, page-table root, name\n"
"  lsmod               modules: name, base, size, state\n"
"  read ADDR LEN       LEN bytes at kernel virtual ADDR, hex dump\n"
"                      (--pid PID: that process's address; --phys: physical)\n"
"  write ADDR HEX      write bytes (needs --write; --pid, --phys as read)\n"
"  regs [VCPU]         a vCPU's registers (default 0)\n"
"  pause | resume      stop or restart every vCPU (live guests)\n"
"  sym NAME|0xADDR     a symbol's address, or the symbol at an address\n"
"\n"
"Options:\n"
"  --json              JSON instead of a table\n"
"  --raw               read: the bytes themselves on stdout\n"
"  --pid PID, --phys   read/write: address space (default: the kernel's)\n"
"  --pause             pause a live guest during the command\n"
"  --write             open guest memory writable\n"
"  --btf FILE          struct layouts from FILE, not from the guest\n"
"  --system-map FILE   symbols from FILE (checked against the guest)\n"
"  --vcpu N            vCPU whose page tables find the kernel when the\n"
"                      guest has no VMCOREINFO (default 0)\n"
"  --no-vmcoreinfo     ignore VMCOREINFO: find the kernel through vCPU\n"
"                      --vcpu's page tables (for kernels without it)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 success, 1 the operation failed (message on stderr),\n"
"2 bad usage. See vmi/README.md.\n");
}

struct cli {
	const char *qemu, *qmp, *vsbd, *core, *ram, *machine;
	struct vmi_linux_opts lopts;
	bool json, raw, phys, pause, writable;
	int32_t pid;
	struct vmi_mem *mem;
	struct vmi_linux *lx;
	char err[512];
};

static int fail(struct cli *c, const char *what)
{
	fprintf(stderr, "vmi: %s%s%s\n", what ? what : "", what ? ": " : "",
		c->err);
	return EXIT_FAIL;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno == 0 && *end == '\0';
}

static int open_source(struct cli *c)
{
	int n = !!c->qemu + !!c->vsbd + !!c->core + !!c->ram;
	int r;

	if (n != 1) {
		fprintf(stderr, "vmi: give exactly one of --qemu, --vsbd, "
			"--core, --ram (see --help)\n");
		return EXIT_USAGE;
	}
	if (c->qemu && !c->qmp) {
		fprintf(stderr, "vmi: --qemu needs --qmp SOCKET\n");
		return EXIT_USAGE;
	}
	if (c->qemu) {
		r = vmi_mem_qemu_open(c->qemu, c->qmp, c->writable, &c->mem,
				      c->err, sizeof(c->err));
	} else if (c->vsbd) {
		r = vmi_mem_vsbd_open(c->vsbd, c->writable, &c->mem, c->err,
				      sizeof(c->err));
	} else if (c->core) {
		if (c->writable) {
			fprintf(stderr, "vmi: a core file is read-only\n");
			return EXIT_USAGE;
		}
		r = vmi_mem_elfcore_open(c->core, &c->mem, c->err,
					 sizeof(c->err));
	} else {
		enum vmi_ram_layout layout = VMI_RAM_PC;
		if (c->machine && vmi_ram_layout_parse(c->machine, &layout)) {
			fprintf(stderr, "vmi: --machine %s: pc, q35 or "
				"vsbd\n", c->machine);
			return EXIT_USAGE;
		}
		r = vmi_mem_ram_open(c->ram, layout, c->writable, &c->mem,
				     c->err, sizeof(c->err));
	}
	return r < 0 ? fail(c, "cannot open the guest") : 0;
}

static int open_linux(struct cli *c)
{
	if (vmi_linux_open(c->mem, &c->lopts, &c->lx, c->err,
			   sizeof(c->err)) < 0)
		return fail(c, "cannot find the guest's Linux kernel");
	return 0;
}

/* Prints j (a result from vmi_json.h, consumed); NULL means it could not
 * be built. */
static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) :
		      NULL;

	json_decref(j);
	if (!s) {
		fprintf(stderr, "vmi: out of memory\n");
		return EXIT_FAIL;
	}
	puts(s);
	free(s);
	return 0;
}

static int cmd_info(struct cli *c)
{
	const struct vmi_linux_info *i = vmi_linux_info(c->lx);
	const struct vmi_linux_layout *ly = vmi_linux_layout(c->lx);
	char banner[512], safe[2048], rel[300];

	if (vmi_linux_banner(c->lx, banner, sizeof(banner), c->err,
			     sizeof(c->err)) < 0)
		return fail(c, NULL);
	if (c->json)
		return print_json(vmi_json_info(i, ly, banner,
						vmi_mem_name(c->mem)));
	vmi_sanitize(banner, safe, sizeof(safe));
	vmi_sanitize(i->release, rel, sizeof(rel));
	printf("release        %s\n", rel);
	printf("banner         %s\n", safe);
	printf("kaslr offset   0x%" PRIx64 " (from %s)\n", i->kaslr_offset,
	       i->kaslr_source);
	printf("phys_base      0x%" PRIx64 "\n", i->phys_base);
	printf("kernel root    0x%" PRIx64 " (%u-level paging)\n",
	       i->kernel_root, i->levels);
	printf("symbols        %zu (from %s)\n", i->nr_symbols,
	       i->symbol_source);
	printf("struct layouts BTF from %s (%" PRIu64 " bytes)\n",
	       i->btf_source, i->btf_size);
	printf("memory         %s\n", vmi_mem_name(c->mem));
	printf("task_struct    tasks +%u, pid +%u, comm +%u, mm +%u, "
	       "cred +%u (%u bytes)\n", ly->task.tasks, ly->task.pid,
	       ly->task.comm, ly->task.mm, ly->task.cred, ly->task.size);
	return 0;
}

static int cmd_ps(struct cli *c)
{
	struct vmi_linux_task *t;
	size_t n;
	char name[80];
	int ret = 0;

	if (vmi_linux_tasks(c->lx, &t, &n, c->err, sizeof(c->err)) < 0)
		return fail(c, "process list");
	if (c->json) {
		ret = print_json(vmi_json_tasks(t, n));
		free(t);
		return ret;
	}
	printf("%7s %7s %6s %-2s %-18s %s\n", "PID", "PPID", "UID", "S",
	       "PGD", "COMM");
	/* init_task (pid 0, the idle task) is not a process: ps and /proc
	 * leave it out too. */
	for (size_t i = 1; i < n; i++) {
		vmi_sanitize(t[i].comm, name, sizeof(name));
		printf("%7d %7d %6u %-2s 0x%-16" PRIx64 " %s%s%s\n",
		       t[i].pid, t[i].ppid, t[i].uid,
		       vmi_linux_state_name(t[i].state), t[i].pgd,
		       t[i].kthread ? "[" : "", name,
		       t[i].kthread ? "]" : "");
	}
	free(t);
	return 0;
}

static int cmd_lsmod(struct cli *c)
{
	struct vmi_linux_module *m;
	size_t n;
	char name[300];
	int ret;

	if (vmi_linux_modules(c->lx, &m, &n, c->err, sizeof(c->err)) < 0)
		return fail(c, "module list");
	if (c->json) {
		ret = print_json(vmi_json_modules(m, n));
		free(m);
		return ret;
	}
	printf("%-24s %-18s %8s %s\n", "MODULE", "BASE", "SIZE", "STATE");
	for (size_t i = 0; i < n; i++) {
		vmi_sanitize(m[i].name, name, sizeof(name));
		printf("%-24s 0x%-16" PRIx64 " %8u %s\n", name, m[i].base,
		       m[i].size, vmi_module_state_name(m[i].state));
	}
	free(m);
	return 0;
}

static bool needs_linux(const struct cli *c)
{
	return !c->phys;
}

static int cmd_read(struct cli *c, int argc, char **argv)
{
	uint64_t addr, len;
	uint8_t *buf;
	ssize_t n;

	if (argc != 2 || !parse_u64(argv[0], &addr) ||
	    !parse_u64(argv[1], &len) || len == 0 || len > READ_MAX) {
		fprintf(stderr, "vmi: read ADDR LEN (LEN 1..%u)\n", READ_MAX);
		return EXIT_USAGE;
	}
	buf = malloc(len);
	if (!buf)
		return EXIT_FAIL;
	if (c->phys) {
		n = vmi_read_pa(c->mem, addr, buf, len);
		if (n < 0)
			snprintf(c->err, sizeof(c->err), "physical address "
				 "0x%" PRIx64 " is not guest RAM", addr);
	} else {
		n = vmi_linux_read_va(c->lx, c->pid, addr, buf, len,
				      c->err, sizeof(c->err));
	}
	if (n < 0) {
		free(buf);
		return fail(c, "read");
	}
	int ret = 0;
	if (c->raw)
		fwrite(buf, 1, (size_t)n, stdout);
	else if (c->json)
		ret = print_json(vmi_json_read(addr, buf, (size_t)n));
	else
		vmi_hexdump(stdout, addr, buf, (size_t)n);
	free(buf);
	if (ret)
		return ret;
	if ((uint64_t)n < len) {
		fprintf(stderr, "vmi: read: only %zd of %" PRIu64 " bytes: "
			"0x%" PRIx64 " is not mapped\n", n, len,
			addr + (uint64_t)n);
		return EXIT_FAIL;
	}
	return 0;
}

static int cmd_write(struct cli *c, int argc, char **argv)
{
	uint64_t addr;
	size_t hl, n;
	uint8_t *buf;
	ssize_t w;

	if (argc != 2 || !parse_u64(argv[0], &addr) ||
	    (hl = strlen(argv[1])) == 0 || hl % 2 || hl / 2 > READ_MAX) {
		fprintf(stderr, "vmi: write ADDR HEXBYTES\n");
		return EXIT_USAGE;
	}
	if (!c->writable) {
		fprintf(stderr, "vmi: write needs --write\n");
		return EXIT_USAGE;
	}
	n = hl / 2;
	buf = malloc(n);
	if (!buf)
		return EXIT_FAIL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(argv[1] + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", argv[1][2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", argv[1][2 * i + 1])) {
			free(buf);
			fprintf(stderr, "vmi: write: %s is not hex\n",
				argv[1]);
			return EXIT_USAGE;
		}
		buf[i] = (uint8_t)v;
	}
	if (c->phys) {
		w = vmi_write_pa(c->mem, addr, buf, n);
		if (w < 0)
			snprintf(c->err, sizeof(c->err), "physical address "
				 "0x%" PRIx64 ": %s", addr, strerror((int)-w));
	} else {
		w = vmi_linux_write_va(c->lx, c->pid, addr, buf, n, c->err,
				       sizeof(c->err));
	}
	free(buf);
	if (w < 0)
		return fail(c, "write");
	if ((size_t)w < n) {
		fprintf(stderr, "vmi: write: only %zd of %zu bytes\n", w, n);
		return EXIT_FAIL;
	}
	return 0;
}

static int cmd_regs(struct cli *c, int argc, char **argv)
{
	struct vmi_regs r;
	uint64_t vcpu = 0;
	int ret;

	if (argc > 1 || (argc == 1 && (!parse_u64(argv[0], &vcpu) ||
				       vcpu > 8192))) {
		fprintf(stderr, "vmi: regs [VCPU]\n");
		return EXIT_USAGE;
	}
	ret = vmi_mem_get_regs(c->mem, (unsigned)vcpu, &r);
	if (ret < 0) {
		snprintf(c->err, sizeof(c->err), "%s",
			 ret == -ENOSYS ? "this source has no registers" :
			 ret == -EINVAL ? "no such vCPU" : strerror(-ret));
		return fail(c, "regs");
	}
	if (c->json)
		return print_json(vmi_json_regs((unsigned)vcpu, &r));
	struct vmi_reg_field f[VMI_REG_FIELDS];
	size_t nf = vmi_reg_fields(&r, f);
	for (size_t i = 0; i < nf; i++)
		printf("%-9s 0x%016" PRIx64 "\n", f[i].name, f[i].value);
	return 0;
}

static int cmd_sym(struct cli *c, int argc, char **argv)
{
	uint64_t addr, off;
	const char *name;

	if (argc != 1) {
		fprintf(stderr, "vmi: sym NAME|0xADDR\n");
		return EXIT_USAGE;
	}
	if (!strncmp(argv[0], "0x", 2) && parse_u64(argv[0], &addr)) {
		name = vmi_linux_symbolize(c->lx, addr, &off);
		if (!name) {
			snprintf(c->err, sizeof(c->err), "no symbol at or "
				 "below 0x%" PRIx64, addr);
			return fail(c, "sym");
		}
		if (c->json)
			return print_json(vmi_json_sym_at(name, addr, off));
		printf("%s+0x%" PRIx64 "\n", name, off);
		return 0;
	}
	if (vmi_linux_symbol(c->lx, argv[0], &addr) < 0) {
		snprintf(c->err, sizeof(c->err), "no symbol %s", argv[0]);
		return fail(c, "sym");
	}
	if (c->json)
		return print_json(vmi_json_sym(argv[0], addr));
	printf("0x%016" PRIx64 "\n", addr);
	return 0;
}

static int cmd_lifecycle(struct cli *c, bool pause)
{
	int r = pause ? vmi_mem_pause(c->mem) : vmi_mem_resume(c->mem);

	if (r < 0) {
		snprintf(c->err, sizeof(c->err), "%s",
			 r == -ENOSYS ? "this source is not a live guest" :
			 strerror(-r));
		return fail(c, pause ? "pause" : "resume");
	}
	if (c->json)
		return print_json(vmi_json_state(pause));
	printf("%s\n", pause ? "paused" : "running");
	return 0;
}

static int run(struct cli *c, const char *cmd, int argc, char **argv)
{
	bool linux_cmd = !strcmp(cmd, "info") || !strcmp(cmd, "ps") ||
			 !strcmp(cmd, "lsmod") || !strcmp(cmd, "sym") ||
			 ((!strcmp(cmd, "read") || !strcmp(cmd, "write")) &&
			  needs_linux(c));
	int r;

	bool no_args = !strcmp(cmd, "pause") || !strcmp(cmd, "resume") ||
		       !strcmp(cmd, "info") || !strcmp(cmd, "ps") ||
		       !strcmp(cmd, "lsmod");
	if (no_args && argc) {
		fprintf(stderr, "vmi: %s takes no arguments\n", cmd);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume"))
		return cmd_lifecycle(c, cmd[0] == 'p');
	if (!strcmp(cmd, "regs"))
		return cmd_regs(c, argc, argv);
	if (!linux_cmd && strcmp(cmd, "read") && strcmp(cmd, "write")) {
		fprintf(stderr, "vmi: unknown command %s (see --help)\n", cmd);
		return EXIT_USAGE;
	}
	if (linux_cmd && (r = open_linux(c)) != 0)
		return r;
	if (!strcmp(cmd, "info"))
		return cmd_info(c);
	if (!strcmp(cmd, "ps"))
		return cmd_ps(c);
	if (!strcmp(cmd, "lsmod"))
		return cmd_lsmod(c);
	if (!strcmp(cmd, "sym"))
		return cmd_sym(c, argc, argv);
	if (!strcmp(cmd, "read"))
		return cmd_read(c, argc, argv);
	return cmd_write(c, argc, argv);
}

int main(int argc, char **argv)
{
	enum { O_QEMU = 256, O_QMP, O_VSBD, O_CORE, O_RAM, O_MACHINE, O_JSON,
	       O_RAW, O_PID, O_PHYS, O_PAUSE, O_WRITE, O_BTF, O_SYSMAP,
	       O_VCPU, O_NO_VCI };
	static const struct option opts[] = {
		{ "qemu", required_argument, 0, O_QEMU },
		{ "qmp", required_argument, 0, O_QMP },
		{ "vsbd", required_argument, 0, O_VSBD },
		{ "core", required_argument, 0, O_CORE },
		{ "ram", required_argument, 0, O_RAM },
		{ "machine", required_argument, 0, O_MACHINE },
		{ "json", no_argument, 0, O_JSON },
		{ "raw", no_argument, 0, O_RAW },
		{ "pid", required_argument, 0, O_PID },
		{ "phys", no_argument, 0, O_PHYS },
		{ "pause", no_argument, 0, O_PAUSE },
		{ "write", no_argument, 0, O_WRITE },
		{ "btf", required_argument, 0, O_BTF },
		{ "system-map", required_argument, 0, O_SYSMAP },
		{ "vcpu", required_argument, 0, O_VCPU },
		{ "no-vmcoreinfo", no_argument, 0, O_NO_VCI },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct cli c = { .pid = -1 };
	uint64_t v;
	int o, ret;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case O_QEMU: c.qemu = optarg; break;
		case O_QMP: c.qmp = optarg; break;
		case O_VSBD: c.vsbd = optarg; break;
		case O_CORE: c.core = optarg; break;
		case O_RAM: c.ram = optarg; break;
		case O_MACHINE: c.machine = optarg; break;
		case O_JSON: c.json = true; break;
		case O_RAW: c.raw = true; break;
		case O_PHYS: c.phys = true; break;
		case O_PAUSE: c.pause = true; break;
		case O_WRITE: c.writable = true; break;
		case O_BTF: c.lopts.btf_path = optarg; break;
		case O_SYSMAP: c.lopts.system_map = optarg; break;
		case O_NO_VCI: c.lopts.no_vmcoreinfo = true; break;
		case O_PID:
			if (!parse_u64(optarg, &v) || v > INT32_MAX) {
				fprintf(stderr, "vmi: --pid %s\n", optarg);
				return EXIT_USAGE;
			}
			c.pid = (int32_t)v;
			break;
		case O_VCPU:
			if (!parse_u64(optarg, &v) || v > 8192) {
				fprintf(stderr, "vmi: --vcpu %s\n", optarg);
				return EXIT_USAGE;
			}
			c.lopts.vcpu = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (c.phys && c.pid >= 0) {
		fprintf(stderr, "vmi: --phys and --pid exclude each other\n");
		return EXIT_USAGE;
	}
	if ((ret = open_source(&c)) != 0)
		return ret;
	bool paused = false;
	if (c.pause && vmi_mem_is_live(c.mem)) {
		if (vmi_mem_pause(c.mem) < 0) {
			fprintf(stderr, "vmi: cannot pause the guest\n");
			vmi_mem_close(c.mem);
			return EXIT_FAIL;
		}
		paused = true;
	}
	ret = run(&c, argv[optind], argc - optind - 1, argv + optind + 1);
	if (paused && vmi_mem_resume(c.mem) < 0) {
		fprintf(stderr, "vmi: cannot resume the guest\n");
		ret = EXIT_FAIL;
	}
	vmi_linux_close(c.lx);
	vmi_mem_close(c.mem);
	fflush(stdout);
	return ret;
}
