/* The PC board vsbd gives a VM: which device sits at which port and IRQ.
 * The device models live in devices/; this file only wires them to the
 * routing table, the irqchip and the console. */
#ifndef VSB_MACHINE_H
#define VSB_MACHINE_H

#include <stdbool.h>

struct vm;
struct console;
struct conhub;
struct uart16550;
struct i8042;
struct cmos;
struct pci_host;
struct acpi_pm;
struct pvpanic;

#define COM1_PORT 0x3f8
#define COM1_IRQ  4

struct machine {
	struct vm *vm;
	struct console *con;   /* the local console, or NULL */
	struct conhub *hub;    /* remote sessions (SSH), or NULL */
	struct uart16550 *com1;
	struct i8042 *i8042;
	struct cmos *cmos;
	struct pci_host *pci;
	struct acpi_pm *pm;
	struct pvpanic *panic;
};

/* shadow_consoles false (traditional routing) leaves COM1 and the i8042
 * ports unrouted, for the operator's vsb-ghv to emulate. */
int machine_init(struct machine *m, struct vm *vm, struct console *con,
		 struct conhub *hub, bool shadow_consoles);
void machine_destroy(struct machine *m);

#endif
