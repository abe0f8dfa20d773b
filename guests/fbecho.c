/* fbecho: a framebuffer test guest. Draws a banner, then echoes every
 * character typed on the PS/2 keyboard or the serial console both on the
 * screen (8x16 console font) and on COM1, so a test can type through a VNC
 * client and read the result back from the serial console and from a
 * screenshot. '#' fills the whole frame with the next palette colour, for
 * timing full-screen updates.
 *
 * The frame comes from the command line: vsbd appends
 * " vsb.fb=0xADDR,WxH,STRIDE" (XRGB8888, little endian: byte 0 blue). Under
 * QEMU, the word "fb=bochs" makes the guest program the standard VGA's Bochs
 * VBE interface for 1024x768x32 instead, so both screens can be compared.
 * Without either it says "fbecho: no framebuffer" and reports a failure
 * (pvpanic, then poweroff). */
#include "rt.h"
#include "font.h"

#define FG 0x00FFFFFFu /* pure white on black: screenshots threshold cleanly */
#define BG 0x00000000u

#define BANNER "vsb fbecho ready"
#define TEXT_ROW0 2 /* typed text starts here; rows 0-1 hold the banner */

/* Full-frame fills cycle through these: the Nth '#' uses entry (N-1) % 5. */
static const uint32_t fill_palette[] = {
	0x00FF0000, /* red */
	0x0000FF00, /* green */
	0x000000FF, /* blue */
	0x00FFFFFF, /* white */
	0x00000000, /* black */
};

/* QEMU's pvpanic port: vsbd stops with status 7 on a write of 1; QEMU
 * ignores it without -device pvpanic, and then the poweroff ends it. */
#define PVPANIC_PORT     0x505
#define PVPANIC_PANICKED 0x01

/* ---- the frame ---- */

static struct {
	uint64_t addr;
	uint32_t width, height, stride; /* pixels, pixels, bytes */
	uint32_t cols, rows;            /* text cells */
} fb;

static volatile uint32_t *fb_row(uint32_t y)
{
	return (volatile uint32_t *)(uintptr_t)(fb.addr + (uint64_t)y * fb.stride);
}

/* Plain 32-bit stores, row by row: the access pattern the benchmark and
 * the VMM's dirty tracking are meant to see. */
static void fill_rect(uint32_t x, uint32_t y, uint32_t w, uint32_t h,
		      uint32_t colour)
{
	for (uint32_t j = 0; j < h; j++) {
		volatile uint32_t *p = fb_row(y + j) + x;
		for (uint32_t i = 0; i < w; i++)
			p[i] = colour;
	}
}

static void draw_glyph(uint32_t col, uint32_t row, uint8_t c)
{
	const uint8_t *g = font_glyphs[c];

	for (uint32_t j = 0; j < FONT_HEIGHT; j++) {
		volatile uint32_t *p = fb_row(row * FONT_HEIGHT + j) +
				       col * FONT_WIDTH;
		for (uint32_t i = 0; i < FONT_WIDTH; i++)
			p[i] = (g[j] & (0x80 >> i)) ? FG : BG;
	}
}

static void clear_rows(uint32_t first)
{
	fill_rect(0, first * FONT_HEIGHT, fb.width,
		  fb.height - first * FONT_HEIGHT, BG);
}

/* ---- command line ---- */

/* The value after "key" if some space-separated word of s starts with it. */
static const char *word_value(const char *s, const char *key)
{
	size_t n = strlen(key);

	while (*s) {
		while (*s == ' ')
			s++;
		if (!strncmp(s, key, n))
			return s + n;
		while (*s && *s != ' ')
			s++;
	}
	return NULL;
}

static bool has_word(const char *s, const char *word)
{
	const char *v = word_value(s, word);

	return v && (*v == '\0' || *v == ' ');
}

static uint64_t parse_hex(const char *s, const char **end)
{
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (;; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		v = v << 4 | d;
	}
	*end = s;
	return v;
}

/* "0xADDR,WxH,STRIDE"; false unless all of it is there and the frame lies
 * in the identity-mapped 4 GiB. */
static bool parse_vsb_fb(const char *s)
{
	const char *p, *q;
	uint64_t addr, w, h, stride;

	addr = parse_hex(s, &p);
	if (p == s || *p++ != ',')
		return false;
	w = parse_u64(p, &q);
	if (q == p || *q++ != 'x')
		return false;
	h = parse_u64(q, &p);
	if (p == q || *p++ != ',')
		return false;
	stride = parse_u64(p, &q);
	if (q == p || (*q && *q != ' '))
		return false;
	/* Bounds first, so the end address below cannot overflow. */
	if (w < FONT_WIDTH || h < (TEXT_ROW0 + 1) * FONT_HEIGHT ||
	    w > 65536 || h > 65536 || stride < w * 4 || stride > 1u << 20 ||
	    stride % 4 || addr % 4 || addr >= 0x100000000ull ||
	    addr + stride * h > 0x100000000ull)
		return false;
	fb.addr = addr;
	fb.width = (uint32_t)w;
	fb.height = (uint32_t)h;
	fb.stride = (uint32_t)stride;
	return true;
}

/* ---- QEMU standard VGA (Bochs VBE "DISPI") ---- */

#define PCI_CONFIG_ADDR 0xCF8
#define PCI_CONFIG_DATA 0xCFC
#define PCI_COMMAND     0x04
#define PCI_COMMAND_MEM 0x0002
#define PCI_BAR0        0x10

#define BOCHS_VENDOR 0x1234
#define BOCHS_DEVICE 0x1111

#define DISPI_INDEX 0x1CE
#define DISPI_DATA  0x1CF
#define DISPI_ID     0
#define DISPI_XRES   1
#define DISPI_YRES   2
#define DISPI_BPP    3
#define DISPI_ENABLE 4
#define DISPI_ID0    0xB0C0 /* IDs 0xB0C0..0xB0C5: versions of the interface */
#define DISPI_ENABLED     0x01
#define DISPI_LFB_ENABLED 0x40

#define BOCHS_WIDTH  1024
#define BOCHS_HEIGHT 768

static uint32_t pci_addr(unsigned dev, unsigned off)
{
	return 0x80000000u | dev << 11 | (off & 0xFC); /* bus 0, function 0 */
}

static uint32_t pci_read32(unsigned dev, unsigned off)
{
	outl(PCI_CONFIG_ADDR, pci_addr(dev, off));
	return inl(PCI_CONFIG_DATA);
}

static void pci_write32(unsigned dev, unsigned off, uint32_t v)
{
	outl(PCI_CONFIG_ADDR, pci_addr(dev, off));
	outl(PCI_CONFIG_DATA, v);
}

static void dispi_write(uint16_t index, uint16_t v)
{
	outw(DISPI_INDEX, index);
	outw(DISPI_DATA, v);
}

static uint16_t dispi_read(uint16_t index)
{
	outw(DISPI_INDEX, index);
	return inw(DISPI_DATA);
}

static bool bochs_setup(void)
{
	unsigned dev;

	for (dev = 0; dev < 32; dev++)
		if (pci_read32(dev, 0) == (BOCHS_DEVICE << 16 | BOCHS_VENDOR))
			break;
	if (dev == 32) {
		uart_puts("fbecho: no Bochs VGA (1234:1111) on PCI bus 0\n");
		return false;
	}
	/* The firmware (SeaBIOS) has placed the BAR; bits 3:0 are flags. */
	uint32_t lfb = pci_read32(dev, PCI_BAR0) & ~0xFu;
	if (!lfb) {
		uart_puts("fbecho: Bochs VGA BAR0 is not assigned\n");
		return false;
	}
	uint32_t cmd = pci_read32(dev, PCI_COMMAND) & 0xFFFF; /* not status */
	if (!(cmd & PCI_COMMAND_MEM))
		pci_write32(dev, PCI_COMMAND, cmd | PCI_COMMAND_MEM);

	uint16_t id = dispi_read(DISPI_ID);
	if ((id & 0xFFF0) != DISPI_ID0) {
		printf("fbecho: Bochs VBE id 0x%x unknown\n", id);
		return false;
	}
	dispi_write(DISPI_ENABLE, 0); /* mode registers change only while off */
	dispi_write(DISPI_XRES, BOCHS_WIDTH);
	dispi_write(DISPI_YRES, BOCHS_HEIGHT);
	dispi_write(DISPI_BPP, 32);
	dispi_write(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);

	fb.addr = lfb;
	fb.width = BOCHS_WIDTH;
	fb.height = BOCHS_HEIGHT;
	fb.stride = BOCHS_WIDTH * 4;
	return true;
}

__attribute__((noreturn)) static void fail(void)
{
	uart_flush();
	outb(PVPANIC_PORT, PVPANIC_PANICKED);
	poweroff();
}

static void fb_setup(void)
{
	const char *cmdline = rt_cmdline();
	const char *spec = word_value(cmdline, "vsb.fb=");

	if (spec) {
		if (!parse_vsb_fb(spec)) {
			uart_puts("fbecho: bad vsb.fb=");
			while (*spec && *spec != ' ')
				uart_putc(*spec++);
			uart_putc('\n');
			fail();
		}
	} else if (has_word(cmdline, "fb=bochs")) {
		if (!bochs_setup())
			fail();
	} else {
		uart_puts("fbecho: no framebuffer\n");
		fail();
	}
	fb.cols = fb.width / FONT_WIDTH;
	fb.rows = fb.height / FONT_HEIGHT;
}

/* ---- text cursor ---- */

static uint32_t cur_col, cur_row = TEXT_ROW0;

static void newline(void)
{
	cur_col = 0;
	if (++cur_row >= fb.rows) {
		/* Start over rather than scroll: a scroll would rewrite the
		 * whole text area for every line. */
		clear_rows(TEXT_ROW0);
		cur_row = TEXT_ROW0;
	}
}

static void put_glyph(uint8_t c)
{
	draw_glyph(cur_col, cur_row, c);
	if (++cur_col >= fb.cols)
		newline();
}

static void backspace(void)
{
	if (cur_col > 0) {
		cur_col--;
	} else if (cur_row > TEXT_ROW0) {
		cur_row--;
		cur_col = fb.cols - 1;
	} else {
		return;
	}
	draw_glyph(cur_col, cur_row, ' ');
}

static unsigned fills;

static void fill_screen(void)
{
	uint32_t colour = fill_palette[fills % (sizeof(fill_palette) /
						sizeof(fill_palette[0]))];

	fill_rect(0, 0, fb.width, fb.height, colour);
	printf("fbecho: fill %u\n", ++fills);
}

/* One character from either source. A '\n' right after a '\r' is the
 * second half of a CRLF and does not add a line. */
static void handle_char(uint8_t c, bool from_kbd)
{
	static uint8_t prev;

	if (c == '#') {
		fill_screen();
		prev = c;
		return;
	}
	if (from_kbd && c == '\r')
		uart_puts("\r\n");
	else
		uart_putc((char)c);

	switch (c) {
	case '\r':
		newline();
		break;
	case '\n':
		if (prev != '\r')
			newline();
		break;
	case '\b':
	case 0x7F: /* what terminals send for Backspace */
		backspace();
		break;
	case '\t':
		do
			put_glyph(' ');
		while (cur_col % 8);
		break;
	default:
		/* Other control characters are echoed but not drawn. */
		if ((c >= 0x20 && c < 0x7F) || c >= 0xA0)
			put_glyph(c);
		break;
	}
	prev = c;
}

/* ---- PS/2 keyboard, scancode set 1 (the i8042 translates) ---- */

#define I8042_DATA   0x60
#define I8042_STATUS 0x64
#define I8042_OBF    0x01 /* a byte is waiting at I8042_DATA */
#define I8042_AUX    0x20 /* ... and it came from the mouse */

#define SC_LSHIFT    0x2A
#define SC_RSHIFT    0x36
#define SC_CAPSLOCK  0x3A
#define SC_KP_ENTER  0x1C /* after 0xE0 */
#define SC_KP_SLASH  0x35 /* after 0xE0 */
#define SC_BREAK     0x80
#define SC_EXTENDED  0xE0
#define SC_PAUSE     0xE1 /* E1 1D 45 / E1 9D C5: two more bytes each */

/* Set 1 make codes 0x00-0x39 to characters, unshifted and shifted (US
 * layout); 0 = no character (Esc, Ctrl, Alt, keypad *). */
static const char keymap[2][0x3A] = {
	{
		0, 0, '1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
		'-', '=', '\b', '\t',
		'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']',
		'\r', 0, /* 0x1D left ctrl */
		'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`',
		0, /* 0x2A left shift */ '\\',
		'z', 'x', 'c', 'v', 'b', 'n', 'm', ',', '.', '/',
		0, /* 0x36 right shift */ 0, /* 0x37 keypad * */
		0, /* 0x38 left alt */ ' ',
	},
	{
		0, 0, '!', '@', '#', '$', '%', '^', '&', '*', '(', ')',
		'_', '+', '\b', '\t',
		'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}',
		'\r', 0,
		'A', 'S', 'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~',
		0, '|',
		'Z', 'X', 'C', 'V', 'B', 'N', 'M', '<', '>', '?',
		0, 0, 0, ' ',
	},
};

static struct {
	bool lshift, rshift, caps, caps_down, extended;
	unsigned skip; /* bytes left of a Pause sequence */
} kbd;

/* Returns the character for one scancode byte, or -1. */
static int kbd_scancode(uint8_t sc)
{
	if (kbd.skip) {
		kbd.skip--;
		return -1;
	}
	if (sc == SC_EXTENDED) {
		kbd.extended = true;
		return -1;
	}
	if (sc == SC_PAUSE) {
		kbd.skip = 2;
		return -1;
	}
	bool ext = kbd.extended, brk = sc & SC_BREAK;
	uint8_t code = sc & ~SC_BREAK;

	kbd.extended = false;
	if (ext) {
		/* E0 2A / E0 AA and friends are fake shifts around the
		 * navigation keys: they must not touch the shift state. */
		if (brk)
			return -1;
		if (code == SC_KP_ENTER)
			return '\r';
		if (code == SC_KP_SLASH)
			return '/';
		return -1;
	}
	switch (code) {
	case SC_LSHIFT:
		kbd.lshift = !brk;
		return -1;
	case SC_RSHIFT:
		kbd.rshift = !brk;
		return -1;
	case SC_CAPSLOCK:
		/* Toggle once per press, not on every typematic repeat. */
		if (!brk && !kbd.caps_down)
			kbd.caps = !kbd.caps;
		kbd.caps_down = !brk;
		return -1;
	}
	if (brk || code >= sizeof(keymap[0]))
		return -1;

	bool shift = kbd.lshift || kbd.rshift;
	char c = keymap[shift][code];
	if (kbd.caps && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		c = keymap[!shift][code];
	return c ? (uint8_t)c : -1;
}

/* The PCI devices on bus 0, one line each: the operator's (vsb-ghv)
 * configuration space is read through vsbd's forwarding, so a tap on the
 * operator side sees these reads and nothing of what is typed. */
static void list_pci(void)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		outl(0xcf8, 0x80000000u | slot << 11);
		uint32_t id = inl(0xcfc);
		if (id != 0xffffffffu)
			printf("fbecho: pci %02u %04x:%04x\n", slot, id & 0xffff,
			       id >> 16);
	}
}

int main(void)
{
	list_pci();
	fb_setup();
	fill_rect(0, 0, fb.width, fb.height, BG);
	for (uint32_t i = 0; BANNER[i] && i < fb.cols; i++)
		draw_glyph(i, 0, (uint8_t)BANNER[i]);
	printf("fbecho: ready %ux%u\n", fb.width, fb.height);

	for (;;) {
		uint8_t st = inb(I8042_STATUS);
		if (st & I8042_OBF) {
			uint8_t b = inb(I8042_DATA);
			int c = (st & I8042_AUX) ? -1 : kbd_scancode(b);
			if (c >= 0)
				handle_char((uint8_t)c, true);
		}
		int c = uart_getc_nb();
		if (c >= 0)
			handle_char((uint8_t)c, false);
	}
}
