/* i8042 PS/2 controller model. See i8042.h for the interface and README.md
 * for what is simplified. */
#include "i8042.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Status register (port 0x64 read). */
#define STS_OBF 0x01     /* output buffer full */
#define STS_SYS 0x04     /* system flag, mirrors CTR bit 2 */
#define STS_CMD 0x08     /* last write was to port 0x64 */
#define STS_UNLOCK 0x10  /* keyboard not inhibited by the keylock */
#define STS_AUXDATA 0x20 /* output buffer holds mouse data */
/* IBF (bit 1) stays clear: writes are consumed synchronously. */

/* Command byte (CTR, controller RAM byte 0). */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40
/* What a BIOS (SeaBIOS) leaves: keyboard on with IRQ and translation, mouse
 * off, system flag set by its self-test. No BIOS runs before our guests. */
#define CTR_DEFAULT (CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT)

/* Output port (0xD0/0xD1). */
#define OUT_RESET 0x01 /* 0 holds the CPU in reset */
#define OUT_A20 0x02
#define OUT_KBD_OBF 0x10
#define OUT_AUX_OBF 0x20

#define ACK 0xfa
#define RESEND 0xfe
#define BAT_OK 0xaa

#define Q_AUX 0x100 /* controller queue entries: the byte comes from aux */

struct byteq {
	uint16_t buf[I8042_QUEUE_SIZE];
	unsigned head, count;
};

struct i8042 {
	pthread_mutex_t lock;
	const struct i8042_ops *ops;
	void *ctx;

	uint8_t ram[32]; /* controller RAM; ram[0] is the command byte */
	uint8_t outport;
	bool last_was_cmd;  /* STS_CMD */
	uint8_t pending;    /* controller command waiting for its data byte */

	/* The single output buffer the guest reads at port 0x60. */
	bool obf, ob_aux;
	uint8_t ob;

	struct byteq ctrlq; /* controller replies (and 0xD2/0xD3 bytes) */
	struct byteq kbdq;  /* keyboard replies and scancodes */
	struct byteq auxq;  /* mouse replies */

	/* Keyboard */
	uint8_t kbd_arg_cmd; /* command waiting for its argument, or 0 */
	bool kbd_scanning;
	uint8_t kbd_set, kbd_leds, kbd_typematic, kbd_last;
	unsigned long kbd_dropped;

	/* Mouse */
	uint8_t aux_arg_cmd;
	uint8_t aux_rate, aux_res;
	bool aux_reporting; /* 0xF4 seen: movement packets are sent */

	int irq_level[2]; /* [0] IRQ1, [1] IRQ12, as last reported */
};

static bool q_push(struct byteq *q, uint16_t v)
{
	if (q->count == I8042_QUEUE_SIZE)
		return false;
	q->buf[(q->head + q->count++) % I8042_QUEUE_SIZE] = v;
	return true;
}

static bool q_pop(struct byteq *q, uint16_t *v)
{
	if (!q->count)
		return false;
	*v = q->buf[q->head];
	q->head = (q->head + 1) % I8042_QUEUE_SIZE;
	q->count--;
	return true;
}

static void q_clear(struct byteq *q)
{
	q->head = q->count = 0;
}

static uint8_t ctr(const struct i8042 *k)
{
	return k->ram[0];
}

/* Level interrupts from the output buffer, each gated by its CTR enable. */
static void update_irqs(struct i8042 *k)
{
	int lvl[2] = {
		k->obf && !k->ob_aux && (ctr(k) & CTR_KBDINT),
		k->obf && k->ob_aux && (ctr(k) & CTR_AUXINT),
	};
	static const unsigned irqs[2] = { I8042_KBD_IRQ, I8042_AUX_IRQ };

	for (int i = 0; i < 2; i++) {
		if (lvl[i] != k->irq_level[i]) {
			k->irq_level[i] = lvl[i];
			k->ops->irq(k->ctx, irqs[i], lvl[i]);
		}
	}
}

/* Moves the next byte into an empty output buffer: controller replies
 * first, then the keyboard, then the mouse; a port disabled in the CTR holds
 * its bytes (its clock line is inhibited) until re-enabled. */
static void fill_output(struct i8042 *k)
{
	uint16_t v;

	if (!k->obf) {
		if (q_pop(&k->ctrlq, &v) ||
		    (!(ctr(k) & CTR_KBDDIS) && q_pop(&k->kbdq, &v))) {
			k->obf = true;
			k->ob_aux = v & Q_AUX;
		} else if (!(ctr(k) & CTR_AUXDIS) && q_pop(&k->auxq, &v)) {
			k->obf = true;
			k->ob_aux = true;
		}
		if (k->obf)
			k->ob = (uint8_t)v;
	}
	update_irqs(k);
}

static void ctrl_reply(struct i8042 *k, uint8_t b, bool aux)
{
	q_push(&k->ctrlq, b | (aux ? Q_AUX : 0));
}

static void kbd_reply(struct i8042 *k, uint8_t b)
{
	if (q_push(&k->kbdq, b))
		k->kbd_last = b;
	else
		k->kbd_dropped++;
}

static void aux_reply(struct i8042 *k, uint8_t b)
{
	q_push(&k->auxq, b | Q_AUX);
}

static void aux_defaults(struct i8042 *k)
{
	k->aux_rate = 100;
	k->aux_res = 2;
	k->aux_reporting = false;
}

static void kbd_defaults(struct i8042 *k)
{
	k->kbd_leds = 0;
	k->kbd_typematic = 0x2b; /* 10.9 chars/s, 500 ms delay */
}

/* A byte the guest sent to the keyboard. */
static void kbd_write(struct i8042 *k, uint8_t b)
{
	uint8_t cmd = k->kbd_arg_cmd;

	if (cmd) {
		k->kbd_arg_cmd = 0;
		switch (cmd) {
		case 0xed: /* set LEDs */
			k->kbd_leds = b & 7;
			kbd_reply(k, ACK);
			break;
		case 0xf3: /* typematic rate and delay */
			k->kbd_typematic = b & 0x7f;
			kbd_reply(k, ACK);
			break;
		case 0xf0: /* scancode set: 0 asks, 1-3 selects */
			if (b > 3) {
				kbd_reply(k, RESEND);
				break;
			}
			kbd_reply(k, ACK);
			if (b == 0)
				kbd_reply(k, k->kbd_set);
			else
				k->kbd_set = b;
			break;
		}
		return;
	}
	switch (b) {
	case 0xed:
	case 0xf3:
	case 0xf0:
		k->kbd_arg_cmd = b;
		kbd_reply(k, ACK);
		break;
	case 0xee: /* echo */
		kbd_reply(k, 0xee);
		break;
	case 0xf2: /* identify: MF2 keyboard */
		kbd_reply(k, ACK);
		kbd_reply(k, 0xab);
		kbd_reply(k, 0x83);
		break;
	case 0xf4: /* enable scanning */
		k->kbd_scanning = true;
		kbd_reply(k, ACK);
		break;
	case 0xf5: /* disable scanning and restore defaults */
		k->kbd_scanning = false;
		kbd_defaults(k);
		kbd_reply(k, ACK);
		break;
	case 0xf6: /* restore defaults */
		kbd_defaults(k);
		kbd_reply(k, ACK);
		break;
	case 0xf7: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc:
	case 0xfd: /* set-3 key types: accepted, no effect */
		kbd_reply(k, ACK);
		break;
	case 0xfe: /* resend the last byte */
		kbd_reply(k, k->kbd_last);
		break;
	case 0xff: /* reset: pending output is discarded, then BAT passes */
		q_clear(&k->kbdq);
		kbd_defaults(k);
		k->kbd_set = 2;
		k->kbd_scanning = true;
		kbd_reply(k, ACK);
		kbd_reply(k, BAT_OK);
		break;
	default:
		kbd_reply(k, RESEND);
		break;
	}
}

/* A byte the guest sent to the mouse (after 0xD4). Just enough for psmouse
 * to find a plain PS/2 mouse and switch its reporting on and off: everything
 * is acknowledged. */
static void aux_write(struct i8042 *k, uint8_t b)
{
	uint8_t cmd = k->aux_arg_cmd;

	if (cmd) {
		k->aux_arg_cmd = 0;
		if (cmd == 0xf3)
			k->aux_rate = b;
		else
			k->aux_res = b & 3;
		aux_reply(k, ACK);
		return;
	}
	if (b == 0xff) { /* reset: pending output is discarded, BAT passes */
		q_clear(&k->auxq);
		aux_defaults(k);
		aux_reply(k, ACK);
		aux_reply(k, BAT_OK);
		aux_reply(k, 0x00); /* device ID */
		return;
	}
	aux_reply(k, ACK);
	switch (b) {
	case 0xe8: /* set resolution */
	case 0xf3: /* set sample rate */
		k->aux_arg_cmd = b;
		break;
	case 0xe9: /* status request: stream mode, bit 5 = reporting */
		aux_reply(k, k->aux_reporting ? 0x20 : 0);
		aux_reply(k, k->aux_res);
		aux_reply(k, k->aux_rate);
		break;
	case 0xf2: /* identify: standard PS/2 mouse */
		aux_reply(k, 0x00);
		break;
	case 0xf4: /* enable data reporting */
		k->aux_reporting = true;
		break;
	case 0xf5: /* disable data reporting */
		k->aux_reporting = false;
		break;
	case 0xf6: /* set defaults, which include reporting off */
		aux_defaults(k);
		break;
	default: /* everything else is acknowledged and ignored */
		break;
	}
}

/* Returns true if the guest asked for a CPU reset. */
static bool ctrl_command(struct i8042 *k, uint8_t c)
{
	k->pending = 0;
	if (c >= 0x20 && c <= 0x3f) { /* read controller RAM */
		ctrl_reply(k, k->ram[c & 0x1f], false);
		return false;
	}
	if (c >= 0x60 && c <= 0x7f) { /* write controller RAM */
		k->pending = c;
		return false;
	}
	if (c >= 0xf0) /* pulse output lines: a 0 in bit 0 pulses reset */
		return !(c & 1);
	switch (c) {
	case 0xa7:
		k->ram[0] |= CTR_AUXDIS;
		break;
	case 0xa8:
		k->ram[0] &= (uint8_t)~CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: no error */
	case 0xab: /* keyboard interface test: no error */
		ctrl_reply(k, 0x00, false);
		break;
	case 0xaa: /* controller self-test: passed, sets the system flag */
		k->ram[0] |= CTR_SYS;
		ctrl_reply(k, 0x55, false);
		break;
	case 0xad:
		k->ram[0] |= CTR_KBDDIS;
		break;
	case 0xae:
		k->ram[0] &= (uint8_t)~CTR_KBDDIS;
		break;
	case 0xd0: { /* read output port; bits 4/5 show the buffer's owner */
		uint8_t v = k->outport & (uint8_t)~(OUT_KBD_OBF | OUT_AUX_OBF);
		if (k->obf)
			v |= k->ob_aux ? OUT_AUX_OBF : OUT_KBD_OBF;
		ctrl_reply(k, v, false);
		break;
	}
	case 0xd1: /* write output port */
	case 0xd2: /* write keyboard output buffer */
	case 0xd3: /* write aux output buffer */
	case 0xd4: /* write to aux device */
		k->pending = c;
		break;
	case 0xdd:
		k->outport &= (uint8_t)~OUT_A20;
		break;
	case 0xdf:
		k->outport |= OUT_A20;
		break;
	case 0xe0: /* read test inputs */
		ctrl_reply(k, 0x00, false);
		break;
	default: /* unknown or unmodelled: ignored */
		break;
	}
	return false;
}

/* A byte written to port 0x60. Returns true if the guest asked for reset. */
static bool data_write(struct i8042 *k, uint8_t b)
{
	uint8_t c = k->pending;

	k->pending = 0;
	if (c >= 0x60 && c <= 0x7f) {
		k->ram[c & 0x1f] = b;
		return false;
	}
	switch (c) {
	case 0xd1:
		k->outport = b;
		return !(b & OUT_RESET);
	case 0xd2:
		ctrl_reply(k, b, false);
		break;
	case 0xd3:
		ctrl_reply(k, b, true);
		break;
	case 0xd4:
		aux_write(k, b);
		break;
	default:
		kbd_write(k, b);
		break;
	}
	return false;
}

struct i8042 *i8042_new(const struct i8042_ops *ops, void *ctx)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		return NULL;
	}
	k->ops = ops;
	k->ctx = ctx;
	k->ram[0] = CTR_DEFAULT;
	k->outport = OUT_RESET | OUT_A20;
	k->kbd_scanning = true;
	k->kbd_set = 2;
	kbd_defaults(k);
	aux_defaults(k);
	return k;
}

void i8042_free(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

void i8042_data_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		   bool is_write)
{
	struct i8042 *k = opaque;
	uint8_t *bytes = data;
	bool reset = false;

	(void)offset;
	if (len == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = false;
		reset = data_write(k, bytes[0]);
	} else {
		/* With nothing new, the stale byte is read again. */
		memset(data, 0, len);
		bytes[0] = k->ob;
		if (k->obf) {
			k->obf = false;
			/* Let the line drop before the next byte raises it,
			 * so an edge-triggered PIC sees a new edge. */
			update_irqs(k);
		}
	}
	fill_output(k);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->ops->reset)
		k->ops->reset(k->ctx);
}

void i8042_cmd_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		  bool is_write)
{
	struct i8042 *k = opaque;
	uint8_t *bytes = data;
	bool reset = false;

	(void)offset;
	if (len == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = true;
		reset = ctrl_command(k, bytes[0]);
		fill_output(k);
	} else {
		memset(data, 0, len);
		bytes[0] = STS_UNLOCK | (k->obf ? STS_OBF : 0) |
			   (ctr(k) & CTR_SYS ? STS_SYS : 0) |
			   (k->last_was_cmd ? STS_CMD : 0) |
			   (k->obf && k->ob_aux ? STS_AUXDATA : 0);
	}
	pthread_mutex_unlock(&k->lock);
	if (reset && k->ops->reset)
		k->ops->reset(k->ctx);
}

void i8042_kbd_input(struct i8042 *k, const uint8_t *scancodes, size_t n)
{
	pthread_mutex_lock(&k->lock);
	if (k->kbd_scanning) {
		for (size_t i = 0; i < n; i++)
			kbd_reply(k, scancodes[i]);
		fill_output(k);
	}
	pthread_mutex_unlock(&k->lock);
}

void i8042_aux_input(struct i8042 *k, const uint8_t *bytes, size_t n)
{
	pthread_mutex_lock(&k->lock);
	/* All or nothing: a partial packet would shift every later one. */
	if (k->aux_reporting && n <= I8042_QUEUE_SIZE - k->auxq.count) {
		for (size_t i = 0; i < n; i++)
			aux_reply(k, bytes[i]);
		fill_output(k);
	}
	pthread_mutex_unlock(&k->lock);
}

unsigned long i8042_kbd_dropped(struct i8042 *k)
{
	unsigned long n;

	pthread_mutex_lock(&k->lock);
	n = k->kbd_dropped;
	pthread_mutex_unlock(&k->lock);
	return n;
}

unsigned i8042_kbd_scancode_set(struct i8042 *k)
{
	unsigned set;

	pthread_mutex_lock(&k->lock);
	set = (ctr(k) & CTR_XLATE) ? 1 : k->kbd_set;
	pthread_mutex_unlock(&k->lock);
	return set;
}
