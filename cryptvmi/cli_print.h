/* The tenant CLI's output: a table per operation, or the JSON as is. */
#ifndef VSB_CVMI_CLI_PRINT_H
#define VSB_CVMI_CLI_PRINT_H

#include <jansson.h>
#include <stdbool.h>

/* 0, or -1 when the result does not have the operation's shape. raw:
 * `read` writes the bytes themselves. */
int cli_print(const char *op, json_t *result, bool json, bool raw);

#endif
