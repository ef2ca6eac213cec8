#!/usr/bin/env bash
# Crypto pipeline throughput: tinc 1.0 packet crypto (Cipher + HMAC Digest) on 1400-byte frames.
#
# Prints what `openssl speed` gives on this machine for the same cipher and digest (one core),
# the per-core frames/s ceiling that implies for tinc's seal (encrypt + HMAC) and open
# (HMAC + decrypt), and beside it the number from the daemon's in-process benchmark
# `tincd-swift bench-crypto --cipher=CIPHER --digest=DIGEST`, which prints one line
# `frames/s=<N> MB/s=<M>` for seal+open of 1400-byte frames. When the subcommand is not in the
# build, that is said and the script still succeeds.
#
# Environment: CIPHER (default aes-256-cbc), DIGEST (default sha256), SECONDS_PER_TEST (default 3;
# 1 with QUICK=1), FRAME (default 1400), TINCD_SWIFT_BIN (default <repo>/.build/release/tincd-swift),
# CEILING_ONLY=1 (only the openssl figures and ceilings: bench/throughput.sh's crypto-ceiling lines).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
CIPHER=${CIPHER:-aes-256-cbc}
DIGEST=${DIGEST:-sha256}
FRAME=${FRAME:-1400}
if [ "${QUICK:-0}" = 1 ]; then SECS=${SECONDS_PER_TEST:-1}; else SECS=${SECONDS_PER_TEST:-3}; fi
BIN=${TINCD_SWIFT_BIN:-$ROOT/.build/release/tincd-swift}

command -v openssl >/dev/null || { echo "crypto.sh: openssl CLI not found" >&2; exit 2; }

# openssl speed ARGS... -> MB/s (10^6 bytes/s) for the FRAME-byte column, or "n/a".
# Ciphers like Blowfish need the legacy provider under OpenSSL 3: retry with it.
speed() {
    local out kps
    for prov in "" "-provider default -provider legacy"; do
        # shellcheck disable=SC2086
        if out=$(openssl speed -seconds "$SECS" $prov "$@" -bytes "$FRAME" 2>/dev/null); then
            kps=$(awk '/^[^ ].*[0-9.]+k$/ && !/^type/ {v = $NF} END {sub(/k$/, "", v); print v}' <<<"$out")
            if [ -n "$kps" ]; then awk -v k="$kps" 'BEGIN{printf "%.0f", k / 1000}'; return; fi
        fi
    done
    echo "n/a"
}

echo "crypto: Cipher=$CIPHER Digest=$DIGEST, ${FRAME}-byte frames, one core, $(openssl version | cut -d' ' -f1-2)"
enc=n/a dec=n/a mac=n/a
if [ "$CIPHER" != none ]; then
    enc=$(speed -evp "$CIPHER")
    dec=$(speed -evp "$CIPHER" -decrypt)
fi
if [ "$DIGEST" != none ]; then
    mac=$(speed -hmac "$DIGEST")
fi
printf '  openssl speed %-28s %8s MB/s\n' "-evp $CIPHER (encrypt)" "$enc"
printf '  openssl speed %-28s %8s MB/s\n' "-evp $CIPHER -decrypt" "$dec"
printf '  openssl speed %-28s %8s MB/s\n' "-hmac $DIGEST" "$mac"

# Per-core ceilings from those numbers (cost per frame adds up: time = bytes/rate per stage).
awk -v e="$enc" -v d="$dec" -v m="$mac" -v f="$FRAME" -v c="$CIPHER" -v g="$DIGEST" 'BEGIN {
    te = (c == "none") ? 0 : (e + 0 > 0 ? f / (e * 1e6) : -1)
    td = (c == "none") ? 0 : (d + 0 > 0 ? f / (d * 1e6) : -1)
    tm = (g == "none") ? 0 : (m + 0 > 0 ? f / (m * 1e6) : -1)
    if (te < 0 || td < 0 || tm < 0) { print "  (ceilings not computed: an openssl speed figure is missing)"; exit }
    seal = te + tm; open = tm + td; both = seal + open
    if (seal > 0) printf "  => ceiling seal (encrypt+HMAC):      %9.0f frames/s  %6.0f MB/s  %5.2f Gbit/s\n", 1 / seal, f / seal / 1e6, 8 * f / seal / 1e9
    if (open > 0) printf "  => ceiling open (HMAC+decrypt):      %9.0f frames/s  %6.0f MB/s  %5.2f Gbit/s\n", 1 / open, f / open / 1e6, 8 * f / open / 1e9
    if (both > 0) printf "  => ceiling seal+open, one core:      %9.0f frames/s  %6.0f MB/s\n", 1 / both, f / both / 1e6
}'

[ "${CEILING_ONLY:-0}" != 1 ] || exit 0
line=""
if [ -x "$BIN" ]; then
    line=$(timeout 120 "$BIN" bench-crypto --cipher="$CIPHER" --digest="$DIGEST" 2>/dev/null | grep -m1 -o 'frames/s=[0-9.]* *MB/s=[0-9.]*' || true)
fi
if [ -n "$line" ]; then
    printf '  tincd-swift bench-crypto (seal+open): %s\n' "$line"
    fps=$(sed -n 's/.*frames\/s=\([0-9.]*\).*/\1/p' <<<"$line")
    awk -v e="$enc" -v d="$dec" -v m="$mac" -v f="$FRAME" -v n="$fps" 'BEGIN {
        if (e + 0 > 0 && d + 0 > 0 && m + 0 > 0 && n + 0 > 0) {
            both = f / (e * 1e6) + f / (d * 1e6) + 2 * f / (m * 1e6)
            printf "  => in-process pipeline reaches %.0f%% of the openssl seal+open ceiling\n", 100 * n * both
        }
    }'
else
    echo "  in-process crypto benchmark: not available in this build"
fi
