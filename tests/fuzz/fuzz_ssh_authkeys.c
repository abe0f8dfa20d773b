/* libFuzzer target: authorized_keys lines (remote/ssh_auth.c), the tenant
 * key list every SSH login reads. The input is one line (cut at the first
 * newline or NUL, as the file reader does). Checked: parsing never crashes
 * or leaks; a line classed as a key yields a key libssh can export again,
 * and any other class yields none. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/ssh_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[SSH_AK_LINE_MAX + 1];
	size_t n = size < SSH_AK_LINE_MAX ? size : SSH_AK_LINE_MAX;
	ssh_key key = NULL;

	memcpy(line, data, n);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	enum ssh_ak_line kind = ssh_ak_parse_line(line, &key);
	if (kind == SSH_AK_KEY) {
		char *b64 = NULL;
		if (!key || ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
			abort();
		ssh_string_free_char(b64);
		ssh_key_free(key);
	} else if (key) {
		abort();
	}
	return 0;
}
