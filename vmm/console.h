/* The serial console backend: the guest's UART on the terminal, on pipes or
 * files, or on a UNIX socket. Guest output is written as the guest sends it;
 * input is pushed into the UART only as fast as its RX FIFO has room, so no
 * typed byte is ever dropped. */
#ifndef VSB_CONSOLE_H
#define VSB_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uart16550;

enum console_kind { CONSOLE_STDIO, CONSOLE_UNIX };

struct console_opts {
	enum console_kind kind;
	const char *path; /* CONSOLE_UNIX: socket path */
	bool wait;        /* CONSOLE_UNIX: start the guest once a client came */
	int escape;       /* terminal escape prefix byte, -1 for none */
};

/* Parses "stdio" or "unix:PATH[,nowait]"; returns false on a bad spec. */
bool console_parse_spec(const char *spec, struct console_opts *o);

struct console;

/* quit is called when the user types the escape sequence to quit. */
struct console *console_open(const struct console_opts *o,
			     void (*quit)(void *ctx), void *ctx);
/* Blocks until a client connects (CONSOLE_UNIX with wait), or returns at
 * once. Returns false if interrupted by console_close's stop request. */
bool console_wait_client(struct console *c, int stop_fd);
void console_attach(struct console *c, struct uart16550 *uart);
int console_start(struct console *c);
/* Stops the input thread, restores the terminal, removes the socket. */
void console_close(struct console *c);

/* uart16550_ops callbacks; ctx is the console. */
void console_uart_tx(void *ctx, const uint8_t *buf, size_t len);
void console_uart_rx_room(void *ctx);

#endif
