/* Tenants' bearer tokens for the handler. A token is 32 bytes from the
 * system's CSPRNG; the directory keeps only BLAKE2b-256 of its text.
 *
 * Why a plain fast hash and not a password hash (Argon2): a token has 256
 * bits of entropy, so nobody can guess it from its hash however fast the
 * hash is; a slow hash only protects low-entropy secrets (passwords), and
 * would cost every request its time. Keyed with a fixed label so these
 * hashes cannot be confused with any other BLAKE2b value. */
#include <errno.h>
#include <sodium.h>

#include "dir.h"

static const char token_label[] = "cryptvmi handler token v1";

static void hash_text(const char *text, size_t len,
		      uint8_t hash[CVMI_TOKEN_HASH_BYTES])
{
	crypto_generichash(hash, CVMI_TOKEN_HASH_BYTES, (const uint8_t *)text,
			   len, (const uint8_t *)token_label,
			   sizeof(token_label) - 1);
}

void cvmi_token_new(char text[CVMI_TOKEN_TEXT + 1],
		    uint8_t hash[CVMI_TOKEN_HASH_BYTES])
{
	uint8_t raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(text, CVMI_TOKEN_TEXT + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	hash_text(text, CVMI_TOKEN_TEXT, hash);
}

int cvmi_token_hash(const char *text, size_t len,
		    uint8_t hash[CVMI_TOKEN_HASH_BYTES])
{
	/* Only the shape; whether it is the right one is the caller's
	 * constant-time comparison. */
	if (len != CVMI_TOKEN_TEXT)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -EINVAL;
	}
	hash_text(text, len, hash);
	return 0;
}

bool cvmi_token_equal(const uint8_t a[CVMI_TOKEN_HASH_BYTES],
		      const uint8_t b[CVMI_TOKEN_HASH_BYTES])
{
	return sodium_memcmp(a, b, CVMI_TOKEN_HASH_BYTES) == 0;
}
