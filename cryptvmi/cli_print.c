/* Tables for the tenant CLI, from the JSON results the agent returns (the
 * shapes of `vmi --json`). Everything printed comes from the agent, which
 * escaped the guest's names already; still, only printable bytes pass. */
#include "cli_print.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vmi/vmi_hexdump.h"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* Prints s with anything outside printable ASCII as '?'. */
static void safe(const char *s)
{
	for (; *s; s++)
		putchar(*s >= 0x20 && *s < 0x7f ? *s : '?');
}

static void print_ps(json_t *r)
{
	size_t i;
	json_t *t;

	printf("%7s %7s %6s %-2s %-18s %s\n", "PID", "PPID", "UID", "S",
	       "PGD", "COMM");
	json_array_foreach(r, i, t) {
		bool k = json_is_true(json_object_get(t, "kthread"));
		printf("%7lld %7lld %6lld %-2s %-18s %s", num(t, "pid"),
		       num(t, "ppid"), num(t, "uid"), str(t, "state"),
		       str(t, "pgd"), k ? "[" : "");
		safe(str(t, "comm"));
		printf("%s\n", k ? "]" : "");
	}
}

static void print_lsmod(json_t *r)
{
	size_t i;
	json_t *m;

	printf("%-24s %-18s %8s %s\n", "MODULE", "BASE", "SIZE", "STATE");
	json_array_foreach(r, i, m) {
		int pad = 24 - (int)strnlen(str(m, "name"), 24);

		safe(str(m, "name"));
		printf("%*s %-18s %8lld %s\n", pad, "", str(m, "base"),
		       num(m, "size"), str(m, "state"));
	}
}

static void print_object(json_t *r)
{
	const char *k;
	json_t *v;

	json_object_foreach(r, k, v) {
		if (json_is_object(v) || json_is_array(v))
			continue;
		printf("%-14s ", k);
		if (json_is_string(v))
			safe(json_string_value(v));
		else if (json_is_integer(v))
			printf("%lld", (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			printf("%s", json_is_true(v) ? "true" : "false");
		putchar('\n');
	}
}

static int print_read(json_t *r, bool raw)
{
	const char *hex = str(r, "hex");
	size_t n = strlen(hex) / 2;
	unsigned char *b = malloc(n ? n : 1);
	uint64_t addr = strtoull(str(r, "addr"), NULL, 16);

	if (!b)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(b);
			return -1;
		}
		b[i] = (unsigned char)v;
	}
	if (raw)
		fwrite(b, 1, n, stdout);
	else
		vmi_hexdump(stdout, addr, b, n);
	free(b);
	return 0;
}

int cli_print(const char *op, json_t *result, bool json, bool raw)
{
	if (json) {
		char *s = json_dumps(result, JSON_INDENT(2) |
				     JSON_PRESERVE_ORDER);
		if (!s)
			return -1;
		puts(s);
		free(s);
		return 0;
	}
	if (!strcmp(op, "ps") && json_is_array(result))
		print_ps(result);
	else if (!strcmp(op, "lsmod") && json_is_array(result))
		print_lsmod(result);
	else if (!strcmp(op, "read") && json_is_object(result))
		return print_read(result, raw);
	else if (json_is_object(result))
		print_object(result);
	else
		return -1;
	return 0;
}
