/* The tenant CLI's configuration directory ($CRYPTVMI_DIR, else
 * ~/.config/cryptvmi):
 *   config          "key = value" lines: handler, tenant, token, ca (0600)
 *   tenant.key/.pub the tenant's key pair (cryptvmi keygen)
 *   agents/I.pub    the agent key trusted for instance I (cryptvmi trust) */
#ifndef VSB_CVMI_CLI_CONFIG_H
#define VSB_CVMI_CLI_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct cli_config {
	char dir[PATH_MAX];
	char handler[512];	/* https://host:port */
	char tenant[CVMI_NAME_MAX + 1];
	char token[256];
	char ca[PATH_MAX];	/* "" for the system's CAs */
};

/* The directory: dir if given, else $CRYPTVMI_DIR, else
 * $HOME/.config/cryptvmi. */
int cli_config_dir(const char *dir, char *out, size_t len, char *err,
		   size_t errlen);
/* Reads DIR/config (strict: known keys once each); a missing key is an
 * error naming it. */
int cli_config_load(const char *dir, struct cli_config *c, char *err,
		    size_t errlen);
/* Writes DIR/config with mode 0600 (replacing it atomically). */
int cli_config_save(const struct cli_config *c, char *err, size_t errlen);
/* DIR/agents/INSTANCE.pub */
int cli_agent_key(const struct cli_config *c, const char *instance,
		  uint8_t pk[CVMI_KEY_BYTES], char *err, size_t errlen);

#endif
