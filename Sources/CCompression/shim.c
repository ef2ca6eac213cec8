#include "CCompression.h"
#include <zlib.h>
#include <lzo/lzo1x.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// Per-thread state, created on first use and freed when the thread exits. Creating a deflate
// stream allocates ~256 KiB, far too much to do per packet, so streams are reset instead
// (deflateReset/inflateReset give byte-identical results to compress2/uncompress).
typedef struct {
    z_stream def;
    int def_level;  // 0 = not initialised
    z_stream inf;
    int inf_ready;
    void *lzo1_wrk;
    void *lzo999_wrk;
} ccz_state;

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static int lzo_ok = 0;

static void state_free(void *p) {
    ccz_state *s = p;
    if (!s) return;
    if (s->def_level) deflateEnd(&s->def);
    if (s->inf_ready) inflateEnd(&s->inf);
    free(s->lzo1_wrk);
    free(s->lzo999_wrk);
    free(s);
}

static void state_init_once(void) {
    pthread_key_create(&state_key, state_free);
    lzo_ok = lzo_init() == LZO_E_OK;
}

static ccz_state *state(void) {
    pthread_once(&state_once, state_init_once);
    ccz_state *s = pthread_getspecific(state_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (s && pthread_setspecific(state_key, s) != 0) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

long ccz_bound(int level, size_t in_len) {
    if (level == 0) return (long)in_len;
    if (level >= 1 && level <= 9) return (long)compressBound((uLong)in_len);
    if (level == 10 || level == 11) return (long)(in_len + in_len / 16 + 64 + 3);  // LZO's documented worst case
    return -1;
}

long ccz_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap) {
    if ((!in && in_len) || (!out && out_cap)) return -1;
    if (level == 0) {
        if (out_cap < in_len) return -1;
        if (in_len) memmove(out, in, in_len);  // memmove with NULL is undefined even for 0 bytes
        return (long)in_len;
    }
    if (level < 0 || level > 11 || in_len > 0x7fffffff) return -1;
    if (out_cap > 0xffffffffu) out_cap = 0xffffffffu;  // zlib counts in uInt
    ccz_state *s = state();
    if (!s) return -1;
    if (level <= 9) {
        if (s->def_level != level) {
            if (s->def_level) deflateEnd(&s->def);
            s->def_level = 0;
            memset(&s->def, 0, sizeof s->def);
            if (deflateInit(&s->def, level) != Z_OK) return -1;
            s->def_level = level;
        } else if (deflateReset(&s->def) != Z_OK) {
            return -1;
        }
        s->def.next_in = (Bytef *)in;
        s->def.avail_in = (uInt)in_len;
        s->def.next_out = out;
        s->def.avail_out = (uInt)out_cap;
        if (deflate(&s->def, Z_FINISH) != Z_STREAM_END) return -1;
        return (long)(out_cap - s->def.avail_out);
    }
    if (!lzo_ok) return -1;
    // lzo1x compressors never check the output size: refuse unless the worst case fits.
    if (out_cap < (size_t)ccz_bound(level, in_len)) return -1;
    void **wrk = level == 10 ? &s->lzo1_wrk : &s->lzo999_wrk;
    if (!*wrk && !(*wrk = malloc(level == 10 ? LZO1X_1_MEM_COMPRESS : LZO1X_999_MEM_COMPRESS))) return -1;
    lzo_uint outlen = 0;
    int r = level == 10 ? lzo1x_1_compress(in, in_len, out, &outlen, *wrk)
                        : lzo1x_999_compress(in, in_len, out, &outlen, *wrk);
    return r == LZO_E_OK ? (long)outlen : -1;
}

long ccz_decompress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap) {
    if ((!in && in_len) || (!out && out_cap)) return -1;
    if (level == 0) {
        if (out_cap < in_len) return -1;
        if (in_len) memmove(out, in, in_len);  // memmove with NULL is undefined even for 0 bytes
        return (long)in_len;
    }
    if (level < 0 || level > 11 || in_len > 0x7fffffff) return -1;
    if (out_cap > 0xffffffffu) out_cap = 0xffffffffu;  // zlib counts in uInt
    if (level <= 9) {
        ccz_state *s = state();
        if (!s) return -1;
        if (!s->inf_ready) {
            memset(&s->inf, 0, sizeof s->inf);
            if (inflateInit(&s->inf) != Z_OK) return -1;
            s->inf_ready = 1;
        } else if (inflateReset(&s->inf) != Z_OK) {
            return -1;
        }
        s->inf.next_in = (Bytef *)in;
        s->inf.avail_in = (uInt)in_len;
        s->inf.next_out = out;
        s->inf.avail_out = (uInt)out_cap;
        // Anything short of a complete stream (truncated, corrupt, output full) is a failure.
        if (inflate(&s->inf, Z_FINISH) != Z_STREAM_END) return -1;
        return (long)(out_cap - s->inf.avail_out);
    }
    pthread_once(&state_once, state_init_once);
    if (!lzo_ok) return -1;
    if (in_len == 0 || !out) return -1;  // no LZO stream is empty
    lzo_uint outlen = out_cap;
    // The _safe variant bounds-checks both input and output, so hostile input cannot overrun.
    int r = lzo1x_decompress_safe(in, in_len, out, &outlen, NULL);
    return r == LZO_E_OK ? (long)outlen : -1;
}
