// The PKCS#1 public-key PEM functions only exist as RSA* APIs that OpenSSL 3 marks deprecated;
// they are still the simplest exact match for tinc's "RSA PUBLIC KEY" blocks.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "COpenSSL.h"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int legacy_loaded = 0;

static void do_init(void) {
    // Loading any provider explicitly switches off the implicit "default" load, so load both.
    legacy_loaded = OSSL_PROVIDER_load(NULL, "legacy") != NULL;
    (void)OSSL_PROVIDER_load(NULL, "default");
    ERR_clear_error();  // a missing legacy module is not an error for callers
}

int cos_init(void) {
    pthread_once(&init_once, do_init);
    return legacy_loaded;
}

void cos_drain_errors(char *buf, size_t buflen) {
    if (buflen == 0) return;
    buf[0] = 0;
    size_t used = 0;
    const char *data = NULL;
    int flags = 0;
    unsigned long e;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        int n = snprintf(buf + used, buflen - used, "%s%s%s%s", used ? "; " : "", one,
                         (data && (flags & ERR_TXT_STRING) && *data) ? " : " : "",
                         (data && (flags & ERR_TXT_STRING)) ? data : "");
        if (n < 0) break;
        used += (size_t)n;
        if (used >= buflen) { used = buflen - 1; }
    }
}

// ---- RSA ----

EVP_PKEY *cos_rsa_generate(int bits) {
    cos_init();
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!ctx) return NULL;
    BIGNUM *e = BN_new();
    if (e && BN_set_word(e, 65537) && EVP_PKEY_keygen_init(ctx) > 0 &&
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) > 0 &&
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) > 0) {
        if (EVP_PKEY_generate(ctx, &key) <= 0) key = NULL;
    }
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

// Never prompt on the terminal for an encrypted key: a daemon has no one to ask.
static int no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

static EVP_PKEY *require_rsa(EVP_PKEY *key) {
    if (key && !EVP_PKEY_is_a(key, "RSA")) {
        EVP_PKEY_free(key);
        ERR_raise_data(ERR_LIB_EVP, EVP_R_EXPECTING_AN_RSA_KEY, "PEM block holds a non-RSA key");
        return NULL;
    }
    return key;
}

EVP_PKEY *cos_rsa_read_private_pem(const char *pem, size_t len) {
    cos_init();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    return require_rsa(key);
}

EVP_PKEY *cos_rsa_read_public_pkcs1_pem(const char *pem, size_t len) {
    cos_init();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return NULL;
    RSA *rsa = PEM_read_bio_RSAPublicKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (!rsa) return NULL;
    EVP_PKEY *key = EVP_PKEY_new();
    if (!key || EVP_PKEY_set1_RSA(key, rsa) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    RSA_free(rsa);
    return key;
}

EVP_PKEY *cos_rsa_read_public_spki_pem(const char *pem, size_t len) {
    cos_init();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return NULL;
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
    BIO_free(bio);
    return require_rsa(key);
}

static BIGNUM *hex_bn(const char *hex) {
    BIGNUM *bn = NULL;
    size_t len = strlen(hex);
    if (len == 0 || len > 16384) return NULL;
    // BN_hex2bn silently stops at the first non-hex character; insist that it consumed everything.
    if ((size_t)BN_hex2bn(&bn, hex) != len) {
        BN_free(bn);
        ERR_raise_data(ERR_LIB_BN, ERR_R_PASSED_INVALID_ARGUMENT, "not a hexadecimal number");
        return NULL;
    }
    return bn;
}

EVP_PKEY *cos_rsa_from_hex(const char *n_hex, const char *e_hex, const char *d_hex) {
    cos_init();
    EVP_PKEY *key = NULL;
    BIGNUM *n = hex_bn(n_hex), *e = hex_bn(e_hex), *d = d_hex ? hex_bn(d_hex) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (!n || !e || (d_hex && !d) || !bld) goto done;
    if (BN_is_zero(n) || !BN_is_odd(n)) {
        ERR_raise_data(ERR_LIB_RSA, RSA_R_BAD_E_VALUE, "modulus must be odd and nonzero");
        goto done;
    }
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d)))
        goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0) goto done;
    if (EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0) key = NULL;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    BN_clear_free(d);
    return key;
}

static char *bio_to_string(BIO *bio) {
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || !data) return NULL;
    char *out = malloc((size_t)len + 1);
    if (!out) return NULL;
    memcpy(out, data, (size_t)len);
    out[len] = 0;
    return out;
}

char *cos_rsa_write_public_pkcs1_pem(EVP_PKEY *key) {
    const RSA *rsa = EVP_PKEY_get0_RSA(key);
    if (!rsa) return NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return NULL;
    char *out = PEM_write_bio_RSAPublicKey(bio, rsa) == 1 ? bio_to_string(bio) : NULL;
    BIO_free(bio);
    return out;
}

char *cos_rsa_write_private_pkcs1_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return NULL;
    // "traditional" = PKCS#1 "RSA PRIVATE KEY", which is what tincd -K writes.
    char *out = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL) == 1
                    ? bio_to_string(bio) : NULL;
    char *data = NULL;  // wipe the PEM copy inside the BIO before it is freed
    long len = BIO_get_mem_data(bio, &data);
    if (data && len > 0) OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return out;
}

int cos_rsa_size(const EVP_PKEY *key) { return EVP_PKEY_get_size(key); }

int cos_rsa_has_private(const EVP_PKEY *key) {
    BIGNUM *d = NULL;
    int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, &d) == 1 && d != NULL;
    BN_clear_free(d);
    ERR_clear_error();  // "no such parameter" on public keys is the expected answer, not an error
    return ok;
}

int cos_rsa_raw(EVP_PKEY *key, int private_op, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap) {
    size_t size = (size_t)EVP_PKEY_get_size(key);
    if (in_len != size || out_cap < size) {
        ERR_raise_data(ERR_LIB_RSA, RSA_R_DATA_TOO_LARGE_FOR_KEY_SIZE, "raw RSA input must be exactly the modulus size");
        return 0;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!ctx) return 0;
    int ok = 0;
    size_t outlen = out_cap;
    if (private_op) {
        // OpenSSL applies RSA blinding to private operations by default.
        ok = EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) > 0 &&
             EVP_PKEY_decrypt(ctx, out, &outlen, in, in_len) > 0;
    } else {
        ok = EVP_PKEY_encrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) > 0 &&
             EVP_PKEY_encrypt(ctx, out, &outlen, in, in_len) > 0;
    }
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return 0;
    if (outlen < size) {  // keep the fixed-width big-endian form
        memmove(out + (size - outlen), out, outlen);
        memset(out, 0, size - outlen);
    }
    return 1;
}

void cos_pkey_free(EVP_PKEY *key) { EVP_PKEY_free(key); }
void cos_free(void *p) { free(p); }

// ---- Algorithm lookup ----

static void lower_name(int nid, char *buf, size_t len) {
    if (!buf || len == 0) return;
    const char *sn = OBJ_nid2sn(nid);
    size_t i = 0;
    for (; sn && sn[i] && i + 1 < len; i++) buf[i] = (char)tolower((unsigned char)sn[i]);
    buf[i] = 0;
}

static EVP_CIPHER *fetch_cipher(int nid) {
    cos_init();
    if (nid <= 0) return NULL;
    const char *sn = OBJ_nid2sn(nid);
    if (!sn) return NULL;
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, sn, NULL);
    if (!c) ERR_clear_error();
    return c;
}

int cos_cipher_nid_by_name(const char *name) {
    cos_init();
    const EVP_CIPHER *c = EVP_get_cipherbyname(name);
    int nid = NID_undef;
    if (c) {
        nid = EVP_CIPHER_get_nid(c);
    } else {  // provider-only names are not in the legacy table
        EVP_CIPHER *f = EVP_CIPHER_fetch(NULL, name, NULL);
        if (f) nid = EVP_CIPHER_get_nid(f);
        EVP_CIPHER_free(f);
    }
    ERR_clear_error();
    if (nid == NID_undef) return 0;
    EVP_CIPHER *usable = fetch_cipher(nid);
    EVP_CIPHER_free(usable);
    return usable ? nid : 0;
}

int cos_cipher_info(int nid, int *key_len, int *iv_len, int *block_size, char *name_buf, size_t name_len) {
    EVP_CIPHER *c = fetch_cipher(nid);
    if (!c) return 0;
    *key_len = EVP_CIPHER_get_key_length(c);
    *iv_len = EVP_CIPHER_get_iv_length(c);
    *block_size = EVP_CIPHER_get_block_size(c);
    lower_name(nid, name_buf, name_len);
    EVP_CIPHER_free(c);
    return 1;
}

int cos_cipher_mode(int nid) {
    EVP_CIPHER *c = fetch_cipher(nid);
    if (!c) return -1;
    int mode = (int)(EVP_CIPHER_get_mode(c) & 0xFFFFF);
    if (EVP_CIPHER_get_flags(c) & EVP_CIPH_FLAG_AEAD_CIPHER) mode |= 1 << 30;
    EVP_CIPHER_free(c);
    return mode;
}

static EVP_MD *fetch_digest(int nid) {
    cos_init();
    if (nid <= 0) return NULL;
    const char *sn = OBJ_nid2sn(nid);
    if (!sn) return NULL;
    EVP_MD *md = EVP_MD_fetch(NULL, sn, NULL);
    if (md && (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF)) {  // no fixed size: unusable for HMAC/CHAL_REPLY
        EVP_MD_free(md);
        md = NULL;
    }
    if (!md) ERR_clear_error();
    return md;
}

int cos_digest_nid_by_name(const char *name) {
    cos_init();
    const EVP_MD *md = EVP_get_digestbyname(name);
    int nid = NID_undef;
    if (md) {
        nid = EVP_MD_get_type(md);
    } else {
        EVP_MD *f = EVP_MD_fetch(NULL, name, NULL);
        if (f) nid = EVP_MD_get_type(f);
        EVP_MD_free(f);
    }
    ERR_clear_error();
    if (nid == NID_undef) return 0;
    EVP_MD *usable = fetch_digest(nid);
    EVP_MD_free(usable);
    return usable ? nid : 0;
}

int cos_digest_info(int nid, int *size, char *name_buf, size_t name_len) {
    EVP_MD *md = fetch_digest(nid);
    if (!md) return 0;
    *size = EVP_MD_get_size(md);
    lower_name(nid, name_buf, name_len);
    EVP_MD_free(md);
    return 1;
}

EVP_CIPHER_CTX *cos_cipher_ctx_new(int nid, const uint8_t *key, size_t key_len,
                                   const uint8_t *iv, size_t iv_len, int encrypt, int padding) {
    EVP_CIPHER *c = fetch_cipher(nid);
    if (!c) {
        ERR_raise_data(ERR_LIB_EVP, EVP_R_UNSUPPORTED_CIPHER, "cipher NID %d not available", nid);
        return NULL;
    }
    EVP_CIPHER_CTX *ctx = NULL;
    if ((size_t)EVP_CIPHER_get_key_length(c) != key_len || (size_t)EVP_CIPHER_get_iv_length(c) != iv_len) {
        ERR_raise_data(ERR_LIB_EVP, EVP_R_INVALID_KEY_LENGTH, "key %zu/iv %zu bytes, cipher wants %d/%d",
                       key_len, iv_len, EVP_CIPHER_get_key_length(c), EVP_CIPHER_get_iv_length(c));
        goto done;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx) goto done;
    if (EVP_CipherInit_ex2(ctx, c, key, iv_len ? iv : NULL, encrypt ? 1 : 0, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, padding ? 1 : 0) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        ctx = NULL;
    }
done:
    EVP_CIPHER_free(c);  // the context holds its own reference
    return ctx;
}

int cos_digest(int nid, const uint8_t *data, size_t len, uint8_t *out) {
    EVP_MD *md = fetch_digest(nid);
    if (!md) return 0;
    unsigned int outlen = 0;
    int ok = EVP_Digest(data, len, out, &outlen, md, NULL);
    EVP_MD_free(md);
    return ok == 1 ? (int)outlen : 0;
}

// ---- HMAC (RFC 2104) over copied, pre-padded digest states ----

// HMAC keyed once. For SHA-1/-224/-256/-384/-512 the pre-hashed pad states are plain structs
// (the low-level SHA API, same assembly as EVP) copied per MAC: no allocation and no provider
// dispatch per packet. OpenSSL 3.0's EVP_MD_CTX_copy_ex duplicates the provider context with a
// heap allocation on every call, so other digests (MD5, RIPEMD-160, ...) keep that slower path.
enum { COS_H_EVP = 0, COS_H_SHA1, COS_H_SHA256, COS_H_SHA512 };
struct cos_hmac {
    EVP_MD_CTX *inner, *outer, *work;
    int size;
    int kind;
    union { SHA_CTX s1; SHA256_CTX s256; SHA512_CTX s512; } li, lo;
};

static int low_level_kind(int nid) {
    switch (nid) {
    case NID_sha1: return COS_H_SHA1;
    case NID_sha224: case NID_sha256: return COS_H_SHA256;
    case NID_sha384: case NID_sha512: return COS_H_SHA512;
    default: return COS_H_EVP;
    }
}

// Absorbs one pad block into a fresh low-level state.
static int low_level_start(int nid, void *ctx, const uint8_t *pad, int block) {
    switch (nid) {
    case NID_sha1: return SHA1_Init(ctx) == 1 && SHA1_Update(ctx, pad, (size_t)block) == 1;
    case NID_sha224: return SHA224_Init(ctx) == 1 && SHA224_Update(ctx, pad, (size_t)block) == 1;
    case NID_sha256: return SHA256_Init(ctx) == 1 && SHA256_Update(ctx, pad, (size_t)block) == 1;
    case NID_sha384: return SHA384_Init(ctx) == 1 && SHA384_Update(ctx, pad, (size_t)block) == 1;
    case NID_sha512: return SHA512_Init(ctx) == 1 && SHA512_Update(ctx, pad, (size_t)block) == 1;
    default: return 0;
    }
}

void cos_hmac_free(cos_hmac *h) {
    if (!h) return;
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_CTX_free(h->work);
    OPENSSL_cleanse(h, sizeof *h);
    free(h);
}

cos_hmac *cos_hmac_new(int digest_nid, const uint8_t *key, size_t key_len) {
    EVP_MD *md = fetch_digest(digest_nid);
    if (!md) {
        ERR_raise_data(ERR_LIB_EVP, EVP_R_UNSUPPORTED_ALGORITHM, "digest NID %d not available", digest_nid);
        return NULL;
    }
    cos_hmac *h = calloc(1, sizeof *h);
    int block = EVP_MD_get_block_size(md);
    uint8_t k[256], pad[256];  // >= largest digest block (SHA-512: 128)
    unsigned int klen = 0;
    if (!h || block <= 0 || (size_t)block > sizeof k) goto fail;
    h->size = EVP_MD_get_size(md);
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    h->work = EVP_MD_CTX_new();
    if (!h->inner || !h->outer || !h->work) goto fail;
    memset(k, 0, sizeof k);
    if (key_len > (size_t)block) {  // long keys are hashed first
        if (EVP_Digest(key, key_len, k, &klen, md, NULL) != 1) goto fail;
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    h->kind = low_level_kind(digest_nid);
    for (int i = 0; i < block; i++) pad[i] = k[i] ^ 0x36;
    if (EVP_DigestInit_ex2(h->inner, md, NULL) != 1 || EVP_DigestUpdate(h->inner, pad, (size_t)block) != 1) goto fail;
    if (h->kind != COS_H_EVP && !low_level_start(digest_nid, &h->li, pad, block)) h->kind = COS_H_EVP;
    for (int i = 0; i < block; i++) pad[i] = k[i] ^ 0x5c;
    if (EVP_DigestInit_ex2(h->outer, md, NULL) != 1 || EVP_DigestUpdate(h->outer, pad, (size_t)block) != 1) goto fail;
    if (h->kind != COS_H_EVP && !low_level_start(digest_nid, &h->lo, pad, block)) h->kind = COS_H_EVP;
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    EVP_MD_free(md);
    return h;
fail:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    EVP_MD_free(md);
    cos_hmac_free(h);
    return NULL;
}

int cos_hmac_compute(cos_hmac *h, const uint8_t *data, size_t len, uint8_t *out) {
    uint8_t inner[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    // SHA-224 and SHA-384 finish with SHA256_Final/SHA512_Final, which honour the context's md_len.
    switch (h->kind) {
    case COS_H_SHA1: {
        SHA_CTX c = h->li.s1;
        if (SHA1_Update(&c, data, len) != 1 || SHA1_Final(inner, &c) != 1) return 0;
        c = h->lo.s1;
        if (SHA1_Update(&c, inner, (size_t)h->size) != 1 || SHA1_Final(out, &c) != 1) return 0;
        OPENSSL_cleanse(&c, sizeof c);
        return h->size;
    }
    case COS_H_SHA256: {
        SHA256_CTX c = h->li.s256;
        if (SHA256_Update(&c, data, len) != 1 || SHA256_Final(inner, &c) != 1) return 0;
        c = h->lo.s256;
        if (SHA256_Update(&c, inner, (size_t)h->size) != 1 || SHA256_Final(out, &c) != 1) return 0;
        OPENSSL_cleanse(&c, sizeof c);
        return h->size;
    }
    case COS_H_SHA512: {
        SHA512_CTX c = h->li.s512;
        if (SHA512_Update(&c, data, len) != 1 || SHA512_Final(inner, &c) != 1) return 0;
        c = h->lo.s512;
        if (SHA512_Update(&c, inner, (size_t)h->size) != 1 || SHA512_Final(out, &c) != 1) return 0;
        OPENSSL_cleanse(&c, sizeof c);
        return h->size;
    }
    default:
        break;
    }
    if (EVP_MD_CTX_copy_ex(h->work, h->inner) != 1 || EVP_DigestUpdate(h->work, data, len) != 1 ||
        EVP_DigestFinal_ex(h->work, inner, &n) != 1)
        return 0;
    if (EVP_MD_CTX_copy_ex(h->work, h->outer) != 1 || EVP_DigestUpdate(h->work, inner, n) != 1 ||
        EVP_DigestFinal_ex(h->work, out, &n) != 1)
        return 0;
    return (int)n;
}

int cos_hmac_size(const cos_hmac *h) { return h->size; }
