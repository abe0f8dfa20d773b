/* Parser of HMP `info registers` (see hmp_regs.h). What QEMU 7.2 prints
 * for an x86-64 vCPU in long mode, lines ending in "\r\n":
 *
 *   CPU#0
 *   RAX=0000000000000060 RBX=0000000000000003 RCX=... RDX=...
 *   RSI=... RDI=... RBP=... RSP=...
 *   R8 =... R9 =... R10=... R11=...
 *   R12=... R13=... R14=... R15=...
 *   RIP=000000000010007b RFL=00003046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1
 *   ES =0023 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]
 *   (CS SS DS FS GS LDT TR alike: selector base limit flags, then words)
 *   GDT=     0000000000108000 00000037
 *   IDT=     0000000000108070 0000003f
 *   CR0=80000011 CR2=0000000000000000 CR3=0000000000102000 CR4=00000020
 *   DR0=... EFER=... FCW=... FPR0=... XMM00=... (not read)
 *
 * and outside long mode EAX=%08x ... EIP= EFL=, "ES =0000 00000000 0000ffff
 * 00009300", "GDT=     00000000 0000ffff", CR2/CR3 of 8 digits. A line is
 * read as tokens: NAME=VALUE (the name may be padded with spaces before
 * '='), anything else is skipped. */
#include "hmp_regs.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmi_err.h"
#include "vmi_text.h"

enum {
	F_RAX, F_RBX, F_RCX, F_RDX, F_RSI, F_RDI, F_RBP, F_RSP,
	F_R8, F_R9, F_R10, F_R11, F_R12, F_R13, F_R14, F_R15,
	F_RIP, F_RFL,
	F_CR0, F_CR2, F_CR3, F_CR4,
	F_ES, F_CS, F_SS, F_DS, F_FS, F_GS,
	F_GDT, F_IDT,
	F_N
};

enum kind { K_REG, K_REG32, K_SEG, K_DT };

#define BIT(f) (1u << (f))
#define GPR32_MASK (BIT(F_RAX) | BIT(F_RBX) | BIT(F_RCX) | BIT(F_RDX) |    \
		    BIT(F_RSI) | BIT(F_RDI) | BIT(F_RBP) | BIT(F_RSP) |    \
		    BIT(F_RIP) | BIT(F_RFL))
#define GPR64_MASK (BIT(F_RFL + 1) - 1)
#define CR_MASK (BIT(F_CR0) | BIT(F_CR2) | BIT(F_CR3) | BIT(F_CR4))
#define SEG_MASK (BIT(F_ES) | BIT(F_CS) | BIT(F_SS) | BIT(F_DS) |          \
		  BIT(F_FS) | BIT(F_GS))
#define DT_MASK (BIT(F_GDT) | BIT(F_IDT))

_Static_assert(F_N <= 32, "field mask is 32 bits");

#define U64(m) offsetof(struct vmi_regs, m)
#define SEL(m) offsetof(struct vmi_regs, m) /* a uint16_t */

static const struct field {
	const char *name;
	unsigned char f, kind;
	size_t off; /* of the uint64_t value (REG), or uint16_t selector */
} fields[] = {
	{ "RAX", F_RAX, K_REG, U64(rax) }, { "RBX", F_RBX, K_REG, U64(rbx) },
	{ "RCX", F_RCX, K_REG, U64(rcx) }, { "RDX", F_RDX, K_REG, U64(rdx) },
	{ "RSI", F_RSI, K_REG, U64(rsi) }, { "RDI", F_RDI, K_REG, U64(rdi) },
	{ "RBP", F_RBP, K_REG, U64(rbp) }, { "RSP", F_RSP, K_REG, U64(rsp) },
	{ "R8", F_R8, K_REG, U64(r8) },    { "R9", F_R9, K_REG, U64(r9) },
	{ "R10", F_R10, K_REG, U64(r10) }, { "R11", F_R11, K_REG, U64(r11) },
	{ "R12", F_R12, K_REG, U64(r12) }, { "R13", F_R13, K_REG, U64(r13) },
	{ "R14", F_R14, K_REG, U64(r14) }, { "R15", F_R15, K_REG, U64(r15) },
	{ "RIP", F_RIP, K_REG, U64(rip) }, { "RFL", F_RFL, K_REG, U64(rflags) },
	{ "EAX", F_RAX, K_REG32, U64(rax) },
	{ "EBX", F_RBX, K_REG32, U64(rbx) },
	{ "ECX", F_RCX, K_REG32, U64(rcx) },
	{ "EDX", F_RDX, K_REG32, U64(rdx) },
	{ "ESI", F_RSI, K_REG32, U64(rsi) },
	{ "EDI", F_RDI, K_REG32, U64(rdi) },
	{ "EBP", F_RBP, K_REG32, U64(rbp) },
	{ "ESP", F_RSP, K_REG32, U64(rsp) },
	{ "EIP", F_RIP, K_REG32, U64(rip) },
	{ "EFL", F_RFL, K_REG32, U64(rflags) },
	{ "CR0", F_CR0, K_REG, U64(cr0) }, { "CR2", F_CR2, K_REG, U64(cr2) },
	{ "CR3", F_CR3, K_REG, U64(cr3) }, { "CR4", F_CR4, K_REG, U64(cr4) },
	{ "ES", F_ES, K_SEG, SEL(es) },    { "CS", F_CS, K_SEG, SEL(cs) },
	{ "SS", F_SS, K_SEG, SEL(ss) },    { "DS", F_DS, K_SEG, SEL(ds) },
	{ "FS", F_FS, K_SEG, SEL(fs) },    { "GS", F_GS, K_SEG, SEL(gs) },
	{ "GDT", F_GDT, K_DT, 0 },         { "IDT", F_IDT, K_DT, 0 },
};

struct parse {
	const char *p, *e; /* rest of the current line */
	unsigned line;
	char *err;
	size_t errlen;
};

static bool is_sp(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_name(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* 1..maxdig hex digits ending the token; -EPROTO naming what otherwise. */
static int hex(struct parse *ps, unsigned maxdig, const char *what,
	       uint64_t *v)
{
	unsigned n = 0;
	int d;

	*v = 0;
	while (ps->p < ps->e && (d = vmi_hexval(*ps->p)) >= 0) {
		if (++n > maxdig)
			return vmi_err(ps->err, ps->errlen, -EPROTO, "info "
				       "registers line %u: %s longer than %u "
				       "hex digits", ps->line, what, maxdig);
		*v = *v << 4 | (unsigned)d;
		ps->p++;
	}
	if (n == 0 || (ps->p < ps->e && !is_sp(*ps->p)))
		return vmi_err(ps->err, ps->errlen, -EPROTO, "info registers "
			       "line %u: %s is not a hex number", ps->line,
			       what);
	return 0;
}

/* At least one space, then a hex number. */
static int next_hex(struct parse *ps, unsigned maxdig, const char *what,
		    uint64_t *v)
{
	if (ps->p == ps->e || !is_sp(*ps->p))
		return vmi_err(ps->err, ps->errlen, -EPROTO, "info registers "
			       "line %u: %s missing", ps->line, what);
	while (ps->p < ps->e && is_sp(*ps->p))
		ps->p++;
	return hex(ps, maxdig, what, v);
}

static const struct field *lookup(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == n &&
		    !memcmp(fields[i].name, name, n))
			return &fields[i];
	return NULL;
}

/* The value after "NAME=" (ps->p just past '='). */
static int value(struct parse *ps, const struct field *f, struct vmi_regs *r)
{
	uint8_t *base = (uint8_t *)r;
	uint64_t v, b, l, fl;
	uint16_t sel;
	int ret;

	switch (f->kind) {
	case K_REG:
	case K_REG32:
		ret = hex(ps, f->kind == K_REG32 ? 8 : 16, f->name, &v);
		if (ret == 0)
			memcpy(base + f->off, &v, sizeof(v));
		return ret;
	case K_SEG:
		if ((ret = hex(ps, 4, f->name, &v)) ||
		    (ret = next_hex(ps, 16, "segment base", &b)) ||
		    (ret = next_hex(ps, 8, "segment limit", &l)) ||
		    (ret = next_hex(ps, 8, "segment flags", &fl)))
			return ret;
		sel = (uint16_t)v;
		memcpy(base + f->off, &sel, sizeof(sel));
		if (f->f == F_FS)
			r->fs_base = b;
		else if (f->f == F_GS)
			r->gs_base = b;
		return 0;
	default: /* K_DT: "GDT=     base limit" */
		while (ps->p < ps->e && is_sp(*ps->p))
			ps->p++;
		if ((ret = hex(ps, 16, f->name, &b)) ||
		    (ret = next_hex(ps, 8, "table limit", &l)))
			return ret;
		if (f->f == F_GDT) {
			r->gdt_base = b;
			r->gdt_limit = (uint32_t)l;
		} else {
			r->idt_base = b;
			r->idt_limit = (uint32_t)l;
		}
		return 0;
	}
}

/* "CPU#N" alone on its line. */
static int cpu_line(struct parse *ps, int *cpu)
{
	unsigned n = 0;
	int v = 0;

	ps->p += 4;
	while (ps->p < ps->e && *ps->p >= '0' && *ps->p <= '9' && n < 9) {
		v = v * 10 + (*ps->p++ - '0');
		n++;
	}
	while (ps->p < ps->e && is_sp(*ps->p))
		ps->p++;
	if (n == 0 || ps->p != ps->e)
		return vmi_err(ps->err, ps->errlen, -EPROTO, "info registers "
			       "line %u: bad CPU#N line", ps->line);
	if (*cpu >= 0)
		return vmi_err(ps->err, ps->errlen, -EPROTO, "info registers "
			       "of more than one CPU (CPU#%d, CPU#%d)", *cpu,
			       v);
	*cpu = v;
	return 0;
}

static int line(struct parse *ps, struct vmi_regs *r, uint32_t *seen,
		unsigned *forms, int *cpu)
{
	while (ps->p < ps->e && is_sp(*ps->p))
		ps->p++;
	if (ps->e - ps->p >= 4 && !memcmp(ps->p, "CPU#", 4))
		return cpu_line(ps, cpu);
	while (ps->p < ps->e) {
		const char *name = ps->p, *q;
		const struct field *f;
		size_t n;
		int ret;

		while (ps->p < ps->e && is_name(*ps->p))
			ps->p++;
		n = ps->p - name;
		for (q = ps->p; q < ps->e && *q == ' '; q++)
			;
		if (n == 0 || q == ps->e || *q != '=') {
			/* Not NAME=: skip this token ("[-WA]", "DS", ...). */
			while (ps->p < ps->e && !is_sp(*ps->p))
				ps->p++;
		} else {
			ps->p = q + 1;
			f = lookup(name, n);
			if (!f) {
				while (ps->p < ps->e && !is_sp(*ps->p))
					ps->p++;
			} else {
				if (*seen & BIT(f->f))
					return vmi_err(ps->err, ps->errlen,
						       -EPROTO, "info registers"
						       " line %u: %s given "
						       "twice", ps->line,
						       f->name);
				*seen |= BIT(f->f);
				if (f->kind == K_REG || f->kind == K_REG32)
					if (BIT(f->f) & GPR64_MASK)
						*forms |= f->kind == K_REG32
							  ? 1 : 2;
				ret = value(ps, f, r);
				if (ret < 0)
					return ret;
			}
		}
		while (ps->p < ps->e && is_sp(*ps->p))
			ps->p++;
	}
	return 0;
}

/* A group is valid when all there, an error when partly there. */
static int group(uint32_t seen, uint32_t mask, uint32_t flag, const char *what,
		 struct vmi_regs *r, char *err, size_t errlen)
{
	if ((seen & mask) == mask) {
		r->valid |= flag;
		return 0;
	}
	if (seen & mask)
		return vmi_err(err, errlen, -EPROTO, "info registers: only "
			       "part of %s", what);
	return 0;
}

int vmi_hmp_parse_regs(const char *text, size_t len, struct vmi_regs *r,
		       int *cpu, char *err, size_t errlen)
{
	struct parse ps = { .err = err, .errlen = errlen };
	const char *end = text + len;
	uint32_t seen = 0;
	unsigned forms = 0; /* 1: 32-bit names, 2: 64-bit names */
	int cpuno = -1, ret;

	memset(r, 0, sizeof(*r));
	if (cpu)
		*cpu = -1;
	if (len > VMI_HMP_REGS_MAX_TEXT)
		return vmi_err(err, errlen, -EPROTO, "info registers: %zu bytes"
			       " of text (at most %d)", len,
			       VMI_HMP_REGS_MAX_TEXT);
	for (const char *s = text; s < end;) {
		const char *nl = memchr(s, '\n', end - s);

		ps.p = s;
		ps.e = nl ? nl : end;
		ps.line++;
		ret = line(&ps, r, &seen, &forms, &cpuno);
		if (ret < 0)
			return ret;
		s = nl ? nl + 1 : end;
	}
	if (forms == 3)
		return vmi_err(err, errlen, -EPROTO, "info registers: both "
			       "32-bit (EAX=) and 64-bit (RAX=) registers");
	if (!(seen & GPR64_MASK))
		return vmi_err(err, errlen, -EPROTO, "info registers: no RAX= "
			       "or EAX= line (not the output of info "
			       "registers?)");
	ret = group(seen, forms == 1 ? GPR32_MASK : GPR64_MASK, VMI_REGS_GPR,
		    forms == 1 ? "EAX..ESP, EIP, EFL" : "RAX..R15, RIP, RFL",
		    r, err, errlen);
	if (ret == 0)
		ret = group(seen, SEG_MASK, VMI_REGS_SEG, "ES CS SS DS FS GS",
			    r, err, errlen);
	if (ret == 0)
		ret = group(seen, CR_MASK, VMI_REGS_CR, "CR0 CR2 CR3 CR4", r,
			    err, errlen);
	if (ret == 0)
		ret = group(seen, DT_MASK, VMI_REGS_DT, "GDT IDT", r, err,
			    errlen);
	if (ret == 0 && !(r->valid & VMI_REGS_GPR))
		ret = vmi_err(err, errlen, -EPROTO, "info registers: general "
			      "registers missing");
	if (ret < 0) {
		memset(r, 0, sizeof(*r));
		return ret;
	}
	if (cpuno >= 0)
		r->cpu_id = (uint32_t)cpuno;
	if (cpu)
		*cpu = cpuno;
	return 0;
}
