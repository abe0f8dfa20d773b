#include "machine.h"
#include "conhub.h"
#include "console.h"
#include "log.h"
#include "vm.h"
#include "../devices/acpi_pm.h"
#include "../devices/cmos.h"
#include "../devices/i8042.h"
#include "../devices/pci_host.h"
#include "../devices/pvpanic.h"
#include "../devices/uart16550.h"

#include <errno.h>
#include <string.h>

/* The UART has one callback context; COM1 needs both the console (data)
 * and the VM (its IRQ line). */
static void com1_irq(void *ctx, int level)
{
	struct machine *m = ctx;
	vm_irq_line(m->vm, COM1_IRQ, level);
}

static void com1_tx(void *ctx, const uint8_t *buf, size_t len)
{
	struct machine *m = ctx;
	if (m->con)
		console_uart_tx(m->con, buf, len);
	if (m->hub)
		conhub_output(m->hub, buf, len);
}

static void com1_rx_room(void *ctx)
{
	struct machine *m = ctx;
	if (m->con)
		console_uart_rx_room(m->con);
	if (m->hub)
		conhub_rx_room(m->hub);
}

static void i8042_irq(void *ctx, unsigned irq, int level)
{
	vm_irq_line(ctx, irq, level);
}

static void guest_reset(void *ctx)
{
	log_info("guest requested a reset");
	vm_request_stop(ctx, VM_STOP_RESET);
}

static void guest_poweroff(void *ctx)
{
	log_debug("guest powered off");
	vm_request_stop(ctx, VM_STOP_POWEROFF);
}

/* Linux's pvpanic driver writes from its panic notifier, before the
 * kernel acts on panic= (a reboot under the lab's panic=-1): stopping here
 * first makes a panic its own exit status instead of a reset. */
static void guest_panicked(void *ctx)
{
	log_info("guest kernel panicked");
	vm_request_stop(ctx, VM_STOP_PANIC);
}

/* With a kdump kernel loaded the guest reports this instead of a panic and
 * boots that kernel to save a dump: the VM must keep running. */
static void guest_crash_loaded(void *ctx)
{
	(void)ctx;
	log_info("guest kernel panicked; its crash kernel takes over");
}

/* Port 0x80 is the POST-code port Linux writes to as an I/O delay; the
 * write needs no emulation, only an owner so it is not logged as stray. */
static void io_sink(void *opaque, uint64_t off, void *data, uint32_t len,
		    bool is_write)
{
	(void)opaque;
	(void)off;
	if (!is_write)
		memset(data, 0xff, len);
}

static int route(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn,
		 void *opaque, const char *name)
{
	int ret = io_router_add(&vm->io, IO_SPACE_PIO, base, len, IO_OWNER_VSBD,
				fn, opaque, name);
	if (ret)
		log_errno(ret, "cannot route ports %#llx+%llu to %s",
			  (unsigned long long)base, (unsigned long long)len,
			  name);
	return ret;
}

int machine_init(struct machine *m, struct vm *vm, struct console *con,
		 struct conhub *hub, bool shadow_consoles)
{
	memset(m, 0, sizeof(*m));
	m->vm = vm;

	static const struct uart16550_ops com1_ops = {
		.tx = com1_tx, .irq = com1_irq, .rx_room = com1_rx_room,
	};
	static const struct i8042_ops kbd_ops = {
		.irq = i8042_irq, .reset = guest_reset,
	};
	static const struct acpi_pm_ops pm_ops = { .poweroff = guest_poweroff };
	static const struct pvpanic_ops panic_ops = {
		.panicked = guest_panicked, .crash_loaded = guest_crash_loaded,
	};

	m->con = con;
	m->hub = hub;
	m->com1 = uart16550_new(&com1_ops, m);
	m->i8042 = i8042_new(&kbd_ops, vm);
	m->cmos = cmos_new(vm->mem.low_size, vm->mem.size - vm->mem.low_size);
	m->pci = pci_host_new();
	m->pm = acpi_pm_new(&pm_ops, vm);
	m->panic = pvpanic_new(&panic_ops, vm);
	if (!m->com1 || !m->i8042 || !m->cmos || !m->pci || !m->pm || !m->panic)
		return log_errno(-ENOMEM, "cannot create devices");
	if (con)
		console_attach(con, m->com1);
	if (hub)
		conhub_attach_uart(hub, m->com1);

	int ret = 0;
	if (shadow_consoles) {
		ret = ret ?: route(vm, COM1_PORT, 8, uart16550_io, m->com1,
				   "com1");
		ret = ret ?: route(vm, 0x60, 1, i8042_data_io, m->i8042,
				   "i8042-data");
		ret = ret ?: route(vm, 0x64, 1, i8042_cmd_io, m->i8042,
				   "i8042-cmd");
	}
	ret = ret ?: route(vm, 0x70, 2, cmos_io, m->cmos, "cmos");
	ret = ret ?: route(vm, 0x80, 1, io_sink, NULL, "post-code");
	ret = ret ?: route(vm, PVPANIC_PORT, PVPANIC_LEN, pvpanic_io, m->panic,
			   "pvpanic");
	ret = ret ?: route(vm, 0x600, 8, acpi_pm_io, m->pm, "acpi-pm");
	ret = ret ?: route(vm, 0xcf8, 8, pci_host_io, m->pci, "pci-host");
	return ret;
}

void machine_destroy(struct machine *m)
{
	if (m->com1)
		uart16550_free(m->com1);
	if (m->i8042)
		i8042_free(m->i8042);
	if (m->cmos)
		cmos_free(m->cmos);
	if (m->pci)
		pci_host_free(m->pci);
	if (m->pm)
		acpi_pm_free(m->pm);
	pvpanic_free(m->panic);
}
