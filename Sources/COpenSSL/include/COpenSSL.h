#ifndef COPENSSL_H
#define COPENSSL_H
// Thin C layer over libcrypto for MeshCrypto. It exists for three reasons:
// macros Swift cannot import (EVP_get_cipherbynid, BIO_get_mem_data, EVP_RSA_gen),
// deprecated PKCS#1 entry points (RSA PUBLIC KEY PEM) that OpenSSL 3 only offers via RSA*,
// and the keyed-HMAC template that has to stay allocation-free from Swift's point of view.
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

// Loads the "legacy" (Blowfish) and "default" providers once per process. Idempotent, thread-safe.
// Returns 1 when the legacy provider is available, 0 otherwise (default-only still works).
int cos_init(void);

// Drains the calling thread's OpenSSL error queue into buf ("; "-joined). Empty string when none.
void cos_drain_errors(char *buf, size_t buflen);

// ---- RSA ----
EVP_PKEY *cos_rsa_generate(int bits);                                  // e = 65537
EVP_PKEY *cos_rsa_read_private_pem(const char *pem, size_t len);       // PKCS#1 or PKCS#8, never prompts
EVP_PKEY *cos_rsa_read_public_pkcs1_pem(const char *pem, size_t len);  // "RSA PUBLIC KEY"
EVP_PKEY *cos_rsa_read_public_spki_pem(const char *pem, size_t len);   // "PUBLIC KEY", RSA only
// Hex big-endian numbers as in tinc's obsolete PublicKey/PrivateKey; d_hex may be NULL.
EVP_PKEY *cos_rsa_from_hex(const char *n_hex, const char *e_hex, const char *d_hex);
// PEM writers return a malloc'd NUL-terminated string (free with cos_free) or NULL.
char *cos_rsa_write_public_pkcs1_pem(EVP_PKEY *key);
char *cos_rsa_write_private_pkcs1_pem(EVP_PKEY *key);
int cos_rsa_size(const EVP_PKEY *key);
int cos_rsa_has_private(const EVP_PKEY *key);
// Raw RSA (RSA_NO_PADDING). in_len must equal cos_rsa_size; out gets exactly that many bytes.
// Returns 1 on success, 0 on failure (error queue holds the reason).
int cos_rsa_raw(EVP_PKEY *key, int private_op, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap);
void cos_pkey_free(EVP_PKEY *key);
void cos_free(void *p);

// ---- Algorithm lookup (NID based, as on tinc's wire) ----
// Returns the NID for an OpenSSL cipher name/alias, or 0 if unknown or not fetchable from a loaded provider.
int cos_cipher_nid_by_name(const char *name);
// Fills the parameters of a usable cipher; returns 0 if the NID is unknown/unavailable.
int cos_cipher_info(int nid, int *key_len, int *iv_len, int *block_size, char *name_buf, size_t name_len);
/// The cipher's EVP mode (EVP_CIPH_*_MODE) in the low 20 bits, bit 30 set for AEAD ciphers; -1 if unavailable.
int cos_cipher_mode(int nid);
int cos_digest_nid_by_name(const char *name);
int cos_digest_info(int nid, int *size, char *name_buf, size_t name_len);

// A cipher context keyed once. padding: 1 = PKCS#7 for block modes (packets), 0 = off (meta stream).
EVP_CIPHER_CTX *cos_cipher_ctx_new(int nid, const uint8_t *key, size_t key_len,
                                   const uint8_t *iv, size_t iv_len, int encrypt, int padding);

// One-shot digest; returns the digest length, 0 on failure. out needs EVP_MAX_MD_SIZE bytes.
int cos_digest(int nid, const uint8_t *data, size_t len, uint8_t *out);

// ---- HMAC with a pre-keyed template ----
// The inner/outer pads are hashed once at creation; each MAC only copies those digest states.
// Measured (SHA-256, 1424 B, this machine): EVP_MAC re-init ~1.23M/s, HMAC_CTX_copy ~1.23M/s,
// copied EVP_MD_CTX pads ~1.31M/s, so the last one is used. Not thread-safe per object.
typedef struct cos_hmac cos_hmac;
cos_hmac *cos_hmac_new(int digest_nid, const uint8_t *key, size_t key_len);
// Writes the full digest (size bytes) to out (>= EVP_MAX_MD_SIZE); returns its length, 0 on failure.
int cos_hmac_compute(cos_hmac *h, const uint8_t *data, size_t len, uint8_t *out);
int cos_hmac_size(const cos_hmac *h);
void cos_hmac_free(cos_hmac *h);

#endif
