#!/usr/bin/env bash
# Per-frame cost without timing noise: `tincd-swift bench-frames` pushes a fixed number of frames
# through the daemon's real TX path (device read, switch lookup, seqno, seal, sendmmsg) and RX path
# (recvmmsg, address lookup, MAC and replay window, open, lookup, device write) over loopback UDP,
# in one thread. It runs twice under callgrind (FRAMES_A and FRAMES_B frames); the difference
# divided by the difference in frames is the steady-state cost per frame, with start-up and
# warm-up cancelled out. Reported per frame (one frame = sealed once and opened once):
#   instructions total, in libcrypto (the cipher and HMAC), outside libcrypto (our code, Swift
#   runtime, libc), the TX and RX halves, and malloc calls.
# Kernel work (the syscalls themselves) is not counted by callgrind.
#
# Environment: FRAME (default 1400), CIPHER (aes-256-cbc), DIGEST (sha256), WORKERS (1: the TX
# worker as it runs beside WORKERS-1 others: shorter send runs, late-packet check), FRAMES_A (3200),
# FRAMES_B (12800), TINCD_SWIFT_BIN (default <repo>/.build/release/tincd-swift), KEEP=1 keeps the
# callgrind files.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${TINCD_SWIFT_BIN:-$ROOT/.build/release/tincd-swift}
FRAME=${FRAME:-1400}
CIPHER=${CIPHER:-aes-256-cbc}
DIGEST=${DIGEST:-sha256}
WORKERS=${WORKERS:-1}
FRAMES_A=${FRAMES_A:-3200}
FRAMES_B=${FRAMES_B:-12800}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed (make deps)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "callgrind.sh: no tincd-swift at $BIN (make release)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tswcg.XXXXXX)
trap '[ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT
# Valgrind's DWARF reader gives up on the Swift binary's debug info: run a copy with the symbol
# table only (function names are all callgrind needs here).
cp "$BIN" "$WORK/tincd-swift"
strip --strip-debug "$WORK/tincd-swift" 2>/dev/null || objcopy --strip-debug "$WORK/tincd-swift"
BIN="$WORK/tincd-swift"

# figures FILE -> "total crypto tx rx mallocs" (self cost summed per object; inclusive for tx/rx)
figures() {
    local f=$1 total crypto mallocs tx rx
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
    # Self cost per object: cost lines after ob=/fn= belong to the current object; the line after
    # calls= is the inclusive cost of that call and is skipped. Names are compressed as "(id) name".
    read -r crypto mallocs < <(awk '
        function named(ns, s,   id, rest) {
            if (match(s, /^\([0-9]+\)/)) { id = ns SUBSEP substr(s, 2, RLENGTH - 2); rest = substr(s, RLENGTH + 2)
                if (rest != "") nm[id] = rest; return nm[id] }
            return s }
        /^ob=/ { cur = named("o", substr($0, 4)); next }
        /^cob=/ { named("o", substr($0, 5)); next }
        /^cfn=/ { callee = named("f", substr($0, 5)); next }
        /^fn=/ { named("f", substr($0, 4)); next }
        /^calls=/ { skip = 1; split(substr($0, 7), c, " "); if (callee ~ /^(malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign)$/) m += c[1]; next }
        /^[0-9+*-]/ { if (skip) { skip = 0; next } if (cur ~ /libcrypto/) cr += $2; next }
        END { printf "%.0f %.0f\n", cr, m }' "$f")
    callgrind_annotate --inclusive=yes --threshold=100 "$f" >"$f.incl" 2>/dev/null
    tx=$(awk '/txWakeup/ && !done {gsub(",", "", $1); print $1; done = 1}' "$f.incl")
    rx=$(awk '/rxWakeup/ && !done {gsub(",", "", $1); print $1; done = 1}' "$f.incl")
    echo "$total $crypto ${tx:-0} ${rx:-0} $mallocs"
}

for n in "$FRAMES_A" "$FRAMES_B"; do
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$n" "$BIN" bench-frames --frames="$n" --frame="$FRAME" \
        --cipher="$CIPHER" --digest="$DIGEST" --workers="$WORKERS" >"$WORK/out.$n" 2>"$WORK/err.$n" \
        || { cat "$WORK/out.$n" "$WORK/err.$n" >&2; echo "callgrind.sh: run with $n frames failed" >&2; exit 1; }
done
read -r ta ca xa ra ma < <(figures "$WORK/cg.$FRAMES_A")
read -r tb cb xb rb mb < <(figures "$WORK/cg.$FRAMES_B")
sent_a=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$WORK/out.$FRAMES_A")
sent_b=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$WORK/out.$FRAMES_B")
awk -v ta="$ta" -v tb="$tb" -v ca="$ca" -v cb="$cb" -v xa="$xa" -v xb="$xb" -v ra="$ra" -v rb="$rb" \
    -v ma="$ma" -v mb="$mb" -v na="$sent_a" -v nb="$sent_b" -v f="$FRAME" -v c="$CIPHER" -v d="$DIGEST" -v w="$WORKERS" 'BEGIN {
    n = nb - na
    if (n <= 0) { print "callgrind.sh: no frame difference"; exit 1 }
    printf "callgrind, per frame (%s/%s, %d-byte frames, TX worker set up as one of %d, seal+send and receive+open, %d frames difference):\n", c, d, f, w, n
    printf "  instructions total              %8.0f\n", (tb - ta) / n
    printf "  instructions in libcrypto       %8.0f\n", (cb - ca) / n
    printf "  instructions outside libcrypto  %8.0f\n", ((tb - cb) - (ta - ca)) / n
    printf "  TX half (read, route, seal, sendmmsg) %8.0f\n", (xb - xa) / n
    printf "  RX half (recvmmsg, open, route, write) %8.0f\n", (rb - ra) / n
    printf "  malloc calls                    %8.3f\n", (mb - ma) / n
}'
