#!/usr/bin/env bash
# scripts/scale.sh -- `make scale N=50`: N tincd-swift nodes in network namespaces on one bridge.
#
# Topology (seeded by SCALE_SEED): node i has ConnectTo node i+1 (a ring, so the graph stays connected
# when any one node or connection fails) and SCALE_CHORDS (default 1) random other nodes; every 7th node
# has IndirectData = yes (others must relay its data through its meta peers). Router mode, one /32 each.
# All N daemons are started at once; then:
#   converge   a random sample of SCALE_PAIRS (default 250) ordered pairs is pinged (one echo, 1 s wait)
#              in rounds until every pair has answered once; the time from the start to the round in
#              which the last pair answered is the convergence time (target < 30 s). Then every node's
#              `dump nodes` must show all N reachable and every sampled pair must answer again
#              (3 echoes, one reply needed).
#   per node   RSS, open fds, threads (/proc) and meta requests sent (`ctl stats`, meta_requests_sent:
#              every request line queued on a meta connection, forwarded or own, PING/PONG included).
#   restart    one node (seeded choice) is stopped with SIGTERM, the others are given 5 s to notice,
#              it is started again and must reach and be reached by 10 sampled peers; the meta requests
#              sent by all nodes from before the stop to 3 s after it answered are the restart's cost;
#              the same window without a restart measured before it is the background (PINGs).
# Prints a summary and writes it with nodes.csv under SCALE_OUT (default <repo>/scale-results/<time>).
# Everything is named sk<pid>...: namespaces deleted and daemons signalled by pid on exit.
# Exit 0 when every sampled pair answered and the graph converged everywhere; 1 otherwise; 2 on set-up error.
set -uo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-50}
CHORDS=${SCALE_CHORDS:-1}
PAIRS=${SCALE_PAIRS:-250}
SEED=${SCALE_SEED:-1}
TIMEOUT=${SCALE_TIMEOUT:-120}
BIN=${TINCD_SWIFT_BIN:-$REPO/.build/release/tincd-swift}
TAG=sk$$
RUN=${SCALE_RUN:-/tmp/tincd-swift-scale/$TAG}
OUT=${SCALE_OUT:-$REPO/scale-results/$(date -u +%Y%m%d-%H%M%S)-n$N}

die() { echo "scale: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 3 ] && [ "$N" -le 500 ] || die "N must be 3..500, not '$N'"
[[ $CHORDS =~ ^[0-9]+$ ]] || die "SCALE_CHORDS must be a number"
[ -x "$BIN" ] || die "no tincd-swift at $BIN (swift build -c release, or TINCD_SWIFT_BIN)"
mkdir -p "$RUN" "$OUT" || die "cannot create $RUN or $OUT"
RANDOM=$SEED

ns() { echo "${TAG}n$1"; }
BR=${TAG}br
under() { echo "10.205.$(($1 / 250)).$(($1 % 250 + 1))"; }
over() { echo "10.251.$(($1 / 250)).$(($1 % 250 + 1))"; }
name() { echo "n$1"; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

declare -A PID
CREATED=()
cleanup() {
  local i p
  for i in "${!PID[@]}"; do kill -TERM "${PID[$i]}" 2>/dev/null; done
  for i in "${!PID[@]}"; do
    p=${PID[$i]}
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  for n in "${CREATED[@]}"; do ip netns del "$n" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- namespaces
ip netns add "$BR" || die "ip netns add $BR failed"; CREATED+=("$BR")
ip -n "$BR" link set lo up
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for ((i = 0; i < N; i++)); do
  n=$(ns "$i")
  ip netns add "$n" || die "ip netns add $n failed"; CREATED+=("$n")
  ip -n "$n" link set lo up
  ip -n "$BR" link add "p$i" type veth peer name eth0 netns "$n"
  ip -n "$BR" link set "p$i" master br0 up
  ip -n "$n" addr add "$(under "$i")/16" dev eth0
  ip -n "$n" link set eth0 up
done

# ---- configs: ring + random chords, keys made in parallel by the daemon itself
declare -A LINKS
EDGES=0
add_link() { local a=$1 b=$2; [ "$a" = "$b" ] && return 1; local k="$((a < b ? a : b))-$((a < b ? b : a))"; [ -n "${LINKS[$k]:-}" ] && return 1; LINKS[$k]=1; EDGES=$((EDGES + 1)); }
declare -A CONNECT
for ((i = 0; i < N; i++)); do add_link "$i" $(( (i + 1) % N )) && CONNECT[$i]="$(( (i + 1) % N ))"; done
for ((i = 0; i < N; i++)); do
  for ((c = 0; c < CHORDS; c++)); do
    for _ in 1 2 3 4 5; do j=$((RANDOM % N)); add_link "$i" "$j" && { CONNECT[$i]="${CONNECT[$i]} $j"; break; }; done
  done
done
for ((i = 0; i < N; i++)); do
  d=$RUN/$(name "$i"); mkdir -p "$d/hosts"
  {
    echo "Name = $(name "$i")"
    echo "Mode = router"
    echo "DeviceType = tun"
    for j in ${CONNECT[$i]}; do echo "ConnectTo = $(name "$j")"; done
    (( i % 7 == 6 )) && echo "IndirectData = yes"
  } > "$d/tinc.conf"
  printf 'Address = %s\nPort = 655\nSubnet = %s/32\n' "$(under "$i")" "$(over "$i")" > "$d/hosts/$(name "$i")"
  printf '#!/bin/sh\nip addr add %s/16 dev "$INTERFACE"\nip link set "$INTERFACE" up\n' "$(over "$i")" > "$d/tinc-up"
  chmod 755 "$d/tinc-up"
done
seq 0 $((N - 1)) | xargs -P 4 -I{} sh -c "'$BIN' -c '$RUN/n{}' -K2048 </dev/null >'$RUN/n{}/keygen.log' 2>&1" \
  || die "key generation failed"
for ((i = 0; i < N; i++)); do
  for ((j = 0; j < N; j++)); do (( i == j )) || cp "$RUN/$(name "$j")/hosts/$(name "$j")" "$RUN/$(name "$i")/hosts/"; done
done

# ---- sampled ordered pairs
PAIRLIST=$RUN/pairs
: > "$PAIRLIST"
declare -A PICKED
max_pairs=$((N * (N - 1)))
[ "$PAIRS" -gt "$max_pairs" ] && PAIRS=$max_pairs
while [ "$(wc -l < "$PAIRLIST")" -lt "$PAIRS" ]; do
  a=$((RANDOM % N)); b=$((RANDOM % N))
  [ "$a" = "$b" ] && continue
  [ -n "${PICKED[$a-$b]:-}" ] && continue
  PICKED[$a-$b]=1; echo "$a $b" >> "$PAIRLIST"
done

start_node() {
  local i=$1 d=$RUN/$(name "$1")
  ip netns exec "$(ns "$i")" "$BIN" -c "$d" -D -d1 --logfile="$d/tinc.log" --pidfile="$d/tinc.pid" </dev/null >>"$d/stdout.log" 2>&1 &
  PID[$i]=$!
}
ctl_n() { local i=$1; shift; timeout 10 ip netns exec "$(ns "$i")" "$BIN" ctl --pidfile "$RUN/$(name "$i")/tinc.pid" "$@"; }
# ping_pairs FILE COUNT: pings each "a b" line of FILE; prints the lines that got no reply
ping_pairs() {
  local count=$2
  xargs -P 64 -L 1 sh -c 'ip netns exec '"$TAG"'n$0 ping -n -q -c '"$count"' -i 0.2 -W 1 10.251.$(($1 / 250)).$(($1 % 250 + 1)) >/dev/null 2>&1 || echo "$0 $1"' < "$1"
}
# ping_round FILE OKFILE: one echo per "a b" line of FILE; answered pairs are appended to OKFILE with the
# epoch ms at which ping returned (= when the reply came), unanswered ones printed
ping_round() {
  xargs -P 64 -L 1 sh -c 'if ip netns exec '"$TAG"'n$0 ping -n -q -c 1 -W 1 10.251.$(($1 / 250)).$(($1 % 250 + 1)) >/dev/null 2>&1; then echo "$0 $1 $(date +%s%3N)" >> '"$2"'; else echo "$0 $1"; fi' < "$1"
}
meta_sent_total() {
  seq 0 $((N - 1)) | xargs -P 8 -I{} sh -c "timeout 10 ip netns exec ${TAG}n{} '$BIN' ctl --pidfile '$RUN/n{}/tinc.pid' stats 2>/dev/null | awk '\$1 == \"meta_requests_sent\" { print \$2 }'" \
    | awk '{ s += $1; n++ } END { print s + 0, n + 0 }'
}

echo "scale: $N tincd-swift nodes ($BIN), $EDGES connections (ring + $CHORDS random chord(s) per node), IndirectData on every 7th node, $PAIRS sampled ordered pairs; seed $SEED"
echo "scale: machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- start everything at once, converge
t0=$(now_ms)
for ((i = 0; i < N; i++)); do start_node "$i"; done
pending=$RUN/pending; cp "$PAIRLIST" "$pending"
answered=$RUN/answered; : > "$answered"
t_conv="" rounds=0
while [ $(( $(now_ms) - t0 )) -lt $((TIMEOUT * 1000)) ]; do
  rounds=$((rounds + 1))
  ping_round "$pending" "$answered" > "$pending.next"
  mv "$pending.next" "$pending"
  # converged when the last pair first answered (its own reply time, not the end of the round)
  if [ ! -s "$pending" ]; then t_conv=$(( $(sort -k3 -n "$answered" | tail -1 | awk '{ print $3 }') - t0 )); break; fi
done
first_half=$(awk -v t0="$t0" '{ print $3 - t0 }' "$answered" | sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%.1f", a[int((NR + 1) / 2)] / 1000 }')
left=$(wc -l < "$pending")
# graph view everywhere
not_all=0
for ((i = 0; i < N; i++)); do
  r=$(ctl_n "$i" dump nodes 2>/dev/null | awk 'NR > 1 && ($2 == "reachable" || $2 == "myself")' | wc -l)
  [ "$r" -eq "$N" ] || not_all=$((not_all + 1))
done
t_graph=$(( $(now_ms) - t0 ))
recheck=$(ping_pairs "$PAIRLIST" 3 | wc -l)
ok=1
if [ -n "$t_conv" ]; then
  echo "scale: converged: the last of $PAIRS sampled pairs first answered $(secs "$t_conv") s after the start (half of them by ${first_half} s; $rounds ping rounds; target < 30 s: $([ "$t_conv" -lt 30000 ] && echo met || echo NOT met))"
else
  echo "scale: NOT converged: $left of $PAIRS sampled pairs never answered within $TIMEOUT s"; ok=0
fi
echo "scale: graph: $((N - not_all)) of $N nodes see all $N reachable (checked $(secs "$t_graph") s after the start); re-check: $((PAIRS - recheck)) of $PAIRS pairs answer"
[ "$not_all" = 0 ] && [ "$recheck" = 0 ] || ok=0

# ---- per node figures after convergence
sleep 2
echo "node,pid,rss_kib,fds,threads,meta_requests_sent,connections" > "$OUT/nodes.csv"
for ((i = 0; i < N; i++)); do
  p=${PID[$i]}
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
  thr=$(awk '/^Threads:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
  fds=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  st=$(ctl_n "$i" stats 2>/dev/null)
  ms=$(awk '$1 == "meta_requests_sent" { print $2 }' <<< "$st")
  cn=$(awk '$1 == "connections" { print $2 }' <<< "$st")
  echo "$(name "$i"),$p,${rss:--},$fds,${thr:--},${ms:--},${cn:--}" >> "$OUT/nodes.csv"
done
python3 - "$OUT/nodes.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def col(k):
    return sorted(int(r[k]) for r in rows if r[k] not in ("-", ""))
def fig(xs, unit="", div=1):
    if not xs: return "-"
    med = xs[len(xs) // 2] / div
    return f"median {med:.1f}{unit}, min {xs[0] / div:.1f}{unit}, max {xs[-1] / div:.1f}{unit}"
rss = col("rss_kib")
print(f"scale: RSS per node: {fig(rss, ' MiB', 1024)}; all {len(rss)} nodes: {sum(rss) / 1024:.0f} MiB")
print(f"scale: open fds per node: {fig(col('fds'))}; threads: {fig(col('threads'))}; meta connections: {fig(col('connections'))}")
ms = col("meta_requests_sent")
print(f"scale: meta requests sent per node from start to convergence: {fig(ms)}; total {sum(ms)}")
EOF

# ---- one restart: its cost in meta requests
# cost = what every other node sent from just before the stop until 3 s after the node answered again,
# plus what the node's new process sent; the old process's count (read just before the stop) is taken
# out of the sum it was part of. The same length of quiet time before it gives the background (PINGs).
victim=$((RANDOM % N))
degree=0
for k in "${!LINKS[@]}"; do [ "${k%-*}" = "$victim" ] || [ "${k#*-}" = "$victim" ] && degree=$((degree + 1)); done
read -r base0 _ < <(meta_sent_total); sleep 8; read -r before _ < <(meta_sent_total)
background=$((before - base0))
v_old=$(ctl_n "$victim" stats 2>/dev/null | awk '$1 == "meta_requests_sent" { print $2 }')
tr0=$(now_ms)
kill -TERM "${PID[$victim]}"; wait "${PID[$victim]}" 2>/dev/null
sleep 5
start_node "$victim"
peers=$RUN/victim-pairs; : > "$peers"
for ((k = 0; k < 10; k++)); do j=$(( (victim + 1 + RANDOM % (N - 1)) % N )); echo "$victim $j" >> "$peers"; echo "$j $victim" >> "$peers"; done
t_back=""
while [ $(( $(now_ms) - tr0 )) -lt $((TIMEOUT * 1000)) ]; do
  left=$(ping_pairs "$peers" 1 | wc -l)
  [ "$left" = 0 ] && { t_back=$(( $(now_ms) - tr0 - 5000 )); break; }
done
sleep 3
read -r after _ < <(meta_sent_total)
window=$(( $(now_ms) - tr0 ))
cost=$(( after - before + ${v_old:-0} ))
bg_scaled=$(awk -v b="$background" -v w="$window" 'BEGIN { printf "%d", b * w / 8000 }')
echo "scale: restart of $(name "$victim") (degree $degree): back (10 peers both ways answer) $(secs "${t_back:-0}") s after its start$([ -z "$t_back" ] && echo ' -- NOT back')"
echo "scale: restart cost: $cost meta requests in $(secs "$window") s over all $N nodes ($(awk -v c="$cost" -v n="$N" 'BEGIN { printf "%.1f", c / n }') per node); background in the same time without a restart: ~$bg_scaled"
[ -n "$t_back" ] || ok=0
{
  echo "N=$N seed=$SEED connections=$EDGES pairs=$PAIRS"
  echo "converge_ms=${t_conv:-none} graph_all_reachable=$((N - not_all))/$N recheck_failed=$recheck"
  echo "restart_victim=$(name "$victim") restart_back_ms=${t_back:-none} restart_cost=$cost window_ms=$window background=$bg_scaled"
} > "$OUT/summary.txt"
echo "scale: results in $OUT"
[ "$ok" = 1 ]
