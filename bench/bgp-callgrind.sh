#!/usr/bin/env bash
# Per-route cost of BGPLite's receive-and-re-advertise path without timing noise: `tincd-swift
# bench-routes` feeds a sender's table (IPv4 /24s, one attribute set, 4 KB UPDATEs, 1 MB reads) to
# an in-memory eBGP session and re-advertises it to a second one (see RouteTransferBenchmark.swift;
# the same work as bench/bgp.sh's receiver, minus the syscalls). It runs twice under callgrind
# (ROUTES_A and ROUTES_B routes), collecting only inside the feed (not the set-up or the generation
# of the input); the difference divided by the difference in routes is the cost per route, start-up
# cancelled out, table growth included. Printed: instructions per route, and with CACHE=1 also the
# last-level data cache misses per route (the hash tables' cost on real hardware is mostly these).
#
# Environment: ROUTES_A (default 250000), ROUTES_B (1000000), ROUTES6 (IPv6 /48s added to both runs,
# default 0), CACHE=1 (cache simulation, ~2x slower), TOP=N (print the N functions with the most
# instructions of run B, self cost), TINCD_SWIFT_BIN (default <repo>/.build/release/tincd-swift),
# KEEP=1 keeps the callgrind files.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${TINCD_SWIFT_BIN:-$ROOT/.build/release/tincd-swift}
A=${ROUTES_A:-250000}
B=${ROUTES_B:-1000000}
V6=${ROUTES6:-0}
CACHE=${CACHE:-0}
TOP=${TOP:-0}
command -v valgrind >/dev/null || { echo "bgp-callgrind.sh: valgrind not installed (make deps)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "bgp-callgrind.sh: no tincd-swift at $BIN (make release)" >&2; exit 2; }
[[ "$A" =~ ^[0-9]+$ && "$B" =~ ^[0-9]+$ && "$V6" =~ ^[0-9]+$ ]] && [ "$B" -gt "$A" ] \
    || { echo "bgp-callgrind.sh: ROUTES_A < ROUTES_B, both numbers" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tswbgpcg.XXXXXX)
trap '[ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT
# Valgrind's DWARF reader gives up on the Swift binary's debug info: run a copy with the symbol
# table only (function names are all callgrind needs here).
cp "$BIN" "$WORK/tincd-swift"
strip --strip-debug "$WORK/tincd-swift" 2>/dev/null || objcopy --strip-debug "$WORK/tincd-swift"
BIN="$WORK/tincd-swift"

opts=(--tool=callgrind --toggle-collect='*benchFeedTable*')
[ "$CACHE" = 1 ] && opts+=(--cache-sim=yes)
declare -A ir ll
for n in "$A" "$B"; do
    out="$WORK/cg.$n"
    valgrind "${opts[@]}" --callgrind-out-file="$out" "$BIN" bench-routes --routes="$n" --v6="$V6" \
        >"$WORK/run.$n.out" 2>"$WORK/run.$n.err" \
        || { cat "$WORK/run.$n.out" "$WORK/run.$n.err" >&2; echo "bgp-callgrind.sh: run with $n routes failed" >&2; exit 1; }
    cat "$WORK/run.$n.out"
    # events: Ir [Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw]; the totals line lists them in that order.
    read -r -a t < <(awk '/^(summary|totals):/ {$1 = ""; print; exit}' "$out")
    ir[$n]=${t[0]}
    ll[$n]=$(( ${t[7]:-0} + ${t[8]:-0} ))
done
awk -v a="$A" -v b="$B" -v ia="${ir[$A]}" -v ib="${ir[$B]}" -v la="${ll[$A]}" -v lb="${ll[$B]}" -v c="$CACHE" 'BEGIN {
    printf "per route (runs of %d and %d IPv4 routes): %.0f instructions", a, b, (ib - ia) / (b - a)
    if (c == 1) printf ", %.2f last-level data cache misses", (lb - la) / (b - a)
    printf "\n" }'
if [ "$TOP" -gt 0 ]; then
    callgrind_annotate --threshold=99 "$WORK/cg.$B" 2>/dev/null | sed -n '/^-* *$/,$p' | grep -E '^ *[0-9,]+ ' | head -n "$TOP"
fi
