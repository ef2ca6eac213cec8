#!/usr/bin/env bash
# scripts/cold-start.sh -- the cold-start race loop (issue 11 part 3).
#
# NODES tinc daemons (SWIFT_NODES tincd-swift, the rest C tincd 1.0) in network namespaces on one
# bridge are started together, N times in a row. During convergence every node pings every other
# node (TRAFFIC=1), so packet keys are requested while the graph is still changing -- the situation
# in which tinc 1.0 can be left with a stale packet key. These pings use a count, not a deadline:
# `ping -w` exits at the first ICMP error, and the daemons answer "net unknown" until the peer's
# Subnet arrives, so deadline pings to late nodes stopped at once and those pairs saw no traffic.
#
# The graph has converged when every node has run host-up for every other node (and host-down after
# none) and every node has an active meta connection to each node its ConnectTo graph links it with
# (ConnectTo attempts refused at start are retried 5 s later, and the graph changes again then).
# From that moment each unordered pair is checked over the overlay: echoes 0.2 s apart (an echo needs
# both directions) until the first reply, for at most HOLD seconds (default 5) from the start of the
# pair's check. A pair without any reply in that window is a pair that cannot exchange data. The
# start line gives the slowest pair's time from convergence to its first reply, and says when a
# meta connection came up or went down during the checks (the graph was not settled after all).
#
#   N=10 scripts/cold-start.sh                    8 swift + 4 C (default)
#   N=10 SWIFT_NODES=0 scripts/cold-start.sh      C tincd alone (the baseline)
#   N=10 SWIFT_NODES=12 scripts/cold-start.sh     tincd-swift alone
#
# Prints one line per start and a summary line; exits 1 when any pair failed in any start (logs of
# failing starts are kept under $COLD_RUN/fail-<k>/), 2 on a set-up error. In a mixed mesh a pair of
# two C daemons is reported but does not fail the run (C tincd 1.0's own late-ANS_KEY stale key, which
# a tincd-swift relay cannot tell apart from a good key: docs/HEALING.md); CC_STRICT=1 counts those
# too, and with SWIFT_NODES=0 (the C baseline) they always count. Needs root, ip, ping,
# bash 5 (EPOCHREALTIME). Everything it creates is named cs<pid>...: namespaces are deleted and the
# daemons it started are signalled by pid on exit, so runs can go in parallel.
set -euo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-10}
NODES=${NODES:-12}
SWIFT_NODES=${SWIFT_NODES:-8}
HOLD=${HOLD:-5}
TRAFFIC=${TRAFFIC:-1}
CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-60}
DEBUG=${DEBUG:-3}
SWIFT_BIN=${TINCD_SWIFT_BIN:-$REPO/.build/debug/tincd-swift}
C_BIN=${TINCD_C_BIN:-/usr/sbin/tincd}
TAG=cs$$
COLD_RUN=${COLD_RUN:-/tmp/tincd-swift-cold-start/$TAG}

die() { echo "cold-start: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[[ $N =~ ^[0-9]+$ && $N -ge 1 ]] || die "N must be a positive integer, not '$N'"
[[ $NODES =~ ^[0-9]+$ && $NODES -ge 2 && $NODES -le 200 ]] || die "NODES must be 2..200, not '$NODES'"
[[ $SWIFT_NODES =~ ^[0-9]+$ && $SWIFT_NODES -le $NODES ]] || die "SWIFT_NODES must be 0..$NODES, not '$SWIFT_NODES'"
[[ $HOLD =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "HOLD must be a number of seconds, not '$HOLD'"
if (( SWIFT_NODES > 0 )); then [ -x "$SWIFT_BIN" ] || die "tincd-swift not found at $SWIFT_BIN (swift build, or TINCD_SWIFT_BIN)"; fi
if (( SWIFT_NODES < NODES )); then [ -x "$C_BIN" ] || die "C tincd not found at $C_BIN (apt-get install tinc, or TINCD_C_BIN)"; fi

# Which nodes run C: spread evenly (with 8+4: nodes 2, 5, 8, 11), so C and Swift relay for each other.
CNT_C=$((NODES - SWIFT_NODES))
declare -a IMPL
for ((i = 0; i < NODES; i++)); do IMPL[i]=swift; done
for ((j = 0; j < CNT_C; j++)); do IMPL[$(( (j + 1) * NODES / CNT_C - 1 ))]=c; done

ns() { echo "${TAG}n$1"; }
BR=${TAG}br
under() { echo "10.204.$(($1 / 250)).$(($1 % 250 + 1))"; }
over() { echo "10.250.$(($1 / 250)).$(($1 % 250 + 1))"; }
name() { echo "n$1"; }

PIDS=()        # daemons of the current start
PINGS=()       # background pings of the current start
CREATED=()     # namespaces we created
cleanup() {
  for p in "${PINGS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  stop_all
  for n in "${CREATED[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$COLD_RUN/conf"
  rmdir "$COLD_RUN" 2>/dev/null || true   # a run that kept nothing leaves no directory
}
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- namespaces: one bridge namespace, one namespace per node ----
mkdir -p "$COLD_RUN"
ip netns add "$BR"; CREATED+=("$BR")
ip -n "$BR" link set lo up
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for ((i = 0; i < NODES; i++)); do
  n=$(ns "$i")
  ip netns add "$n"; CREATED+=("$n")
  ip -n "$n" link set lo up
  ip -n "$BR" link add "p$i" type veth peer name eth0 netns "$n"
  ip -n "$BR" link set "p$i" master br0 up
  ip -n "$n" addr add "$(under "$i")/16" dev eth0
  ip -n "$n" link set eth0 up
done

# ---- configuration: router mode on tun, ConnectTo the next node and the one opposite (both ways,
# so half the pairs also race to connect to each other), keys made once by each node's own daemon ----
CONF=$COLD_RUN/conf
for ((i = 0; i < NODES; i++)); do
  d=$CONF/$(name "$i")
  mkdir -p "$d/hosts"
  {
    echo "Name = $(name "$i")"
    echo "Mode = router"
    echo "DeviceType = tun"
    echo "ConnectTo = $(name $(( (i + 1) % NODES )))"
    (( NODES > 3 )) && echo "ConnectTo = $(name $(( (i + NODES / 2) % NODES )))"
  } > "$d/tinc.conf"
  printf 'Address = %s\nPort = 655\nSubnet = %s/32\n' "$(under "$i")" "$(over "$i")" > "$d/hosts/$(name "$i")"
  printf '#!/bin/sh\nip addr add %s/16 dev "$INTERFACE"\nip link set "$INTERFACE" up\n' "$(over "$i")" > "$d/tinc-up"
  printf '#!/bin/sh\necho "up $NODE" >> "%s/events"\n' "$d" > "$d/host-up"
  printf '#!/bin/sh\necho "down $NODE" >> "%s/events"\n' "$d" > "$d/host-down"
  chmod 755 "$d/tinc-up" "$d/host-up" "$d/host-down"
  bin=$SWIFT_BIN; [ "${IMPL[i]}" = c ] && bin=$C_BIN
  "$bin" -c "$d" -K2048 </dev/null >"$d/keygen.log" 2>&1 || die "key generation for $(name "$i") failed: $(cat "$d/keygen.log")"
done
for ((i = 0; i < NODES; i++)); do
  for ((j = 0; j < NODES; j++)); do
    (( i == j )) || cp "$CONF/$(name "$j")/hosts/$(name "$j")" "$CONF/$(name "$i")/hosts/"
  done
done

# Every node has run host-up for every other node and host-down after none of them.
all_up() {
  local i
  for ((i = 0; i < NODES; i++)); do
    [ -f "$CONF/$(name "$i")/events" ] || return 1
    [ "$(awk '{ s[$2] = $1 } END { for (k in s) if (s[k] == "up") c++; print c + 0 }' "$CONF/$(name "$i")/events")" = $((NODES - 1)) ] || return 1
  done
}

# The nodes node $1 has a ConnectTo with (either way): the next, the previous and the opposite ones.
neighbours() {
  local i=$1
  { echo $(( (i + 1) % NODES )); echo $(( (i + NODES - 1) % NODES ))
    if (( NODES > 3 )); then echo $(( (i + NODES / 2) % NODES )); echo $(( (i + NODES - NODES / 2) % NODES )); fi
  } | grep -vx "$i" | sort -un
}

# Meta connection log lines (both daemons log these at -d1 and above, in tinc's words).
conn_lines() { grep -E 'Connection with [^ ]+ \(.*\) activated|Closing connection with ' "$1" 2>/dev/null || true; }

# Node $1's peers with at least one active meta connection, from its log: a connection is keyed by
# peer and address, activated ... closed.
connected_peers() {
  conn_lines "$CONF/$(name "$1")/tinc.log" | awk '
    /activated/ { k = $0; sub(/.*Connection with /, "", k); sub(/\) activated.*/, ")", k); up[k] = 1 }
    /Closing connection with / { k = $0; sub(/.*Closing connection with /, "", k); sub(/\).*/, ")", k); delete up[k] }
    END { for (k in up) { split(k, a, " "); print a[1] } }' | sort -u
}

# Every node has a meta connection to each of its ConnectTo neighbours.
all_connected() {
  local i j have
  (( DEBUG >= 1 )) || return 0
  for ((i = 0; i < NODES; i++)); do
    have=$(connected_peers "$i")
    for j in $(neighbours "$i"); do grep -qx "$(name "$j")" <<<"$have" || return 1; done
  done
}

converged() { all_up && all_connected; }

# Meta connections opened or closed so far, all nodes together (to see the graph change later).
conn_events() {
  local i c=0
  for ((i = 0; i < NODES; i++)); do c=$((c + $(conn_lines "$CONF/$(name "$i")/tinc.log" | wc -l))); done
  echo "$c"
}

# Run inside node $1's namespace: checks $1 against each later node, all pairs at once. Each pair
# pings until the first reply or HOLD seconds after its check started; prints one line per pair:
# "ok <pair> <s from convergence to the first reply>" or "FAIL <pair> -". An ICMP error ends one
# ping early (ping -w does that), so the next one goes out 0.2 s later while time is left.
CHECK_PAIRS='
hold_us=$1 conv_us=$2; shift 2
check() {
  local addr=$1 label=$2 end=$(( ${EPOCHREALTIME/./} + hold_us )) left
  while :; do
    left=$(( (end - ${EPOCHREALTIME/./}) / 1000000 ))
    if (( left < 1 )); then echo "FAIL $label -"; return; fi
    if ping -n -q -c 1 -i 0.2 -W 1 -w "$left" "$addr" >/dev/null 2>&1; then
      local t=$(( ${EPOCHREALTIME/./} - conv_us ))
      printf "ok %s %d.%02d\n" "$label" $((t / 1000000)) $((t % 1000000 / 10000)); return
    fi
    sleep 0.2
  done
}
while (( $# >= 2 )); do check "$1" "$2" & shift 2; done
wait
'

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

total_fail=0; failed_runs=0; conv_times=(); cc_fail=0; cc_runs=0
mix="$SWIFT_NODES swift + $CNT_C C"
echo "cold-start: $N starts of $NODES nodes ($mix), each pair checked for up to ${HOLD} s from convergence, traffic during convergence: $([ "$TRAFFIC" = 1 ] && echo yes || echo no)"
hold_us=$(awk -v h="$HOLD" 'BEGIN { printf "%d", h * 1000000 }')
for ((k = 1; k <= N; k++)); do
  for ((i = 0; i < NODES; i++)); do
    d=$CONF/$(name "$i")
    rm -f "$d/events" "$d/tinc.log" "$d/tinc.pid" "$d/stdout.log"
  done
  t0=$(now)
  for ((i = 0; i < NODES; i++)); do
    d=$CONF/$(name "$i")
    bin=$SWIFT_BIN; [ "${IMPL[i]}" = c ] && bin=$C_BIN
    ip netns exec "$(ns "$i")" "$bin" -c "$d" -D -d"$DEBUG" --logfile="$d/tinc.log" --pidfile="$d/tinc.pid" >"$d/stdout.log" 2>&1 &
    PIDS+=($!)
  done
  if [ "$TRAFFIC" = 1 ]; then
    # Per node, once tinc-up gave the tun its address: a ping to every other node every 0.5 s
    # (a count, not -w: see the top).
    for ((i = 0; i < NODES; i++)); do
      (
        trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
        until ip -n "$(ns "$i")" -4 addr show 2>/dev/null | grep -q " $(over "$i")/"; do sleep 0.05; done
        for ((j = 0; j < NODES; j++)); do
          (( i == j )) && continue
          ip netns exec "$(ns "$i")" ping -n -q -i 0.5 -W 1 -c $((CONVERGE_TIMEOUT * 2)) "$(over "$j")" >/dev/null 2>&1 &
        done
        wait
      ) &
      PINGS+=($!)
    done
  fi
  conv=""
  while true; do
    if converged; then conv=$(since "$t0"); conv_us=${EPOCHREALTIME/./}; break; fi
    awk -v a="$t0" -v b="$(now)" -v t="$CONVERGE_TIMEOUT" 'BEGIN { exit !(b - a > t) }' && break
    sleep 0.1
  done
  [ -n "$conv" ] || conv_us=${EPOCHREALTIME/./}
  ev0=$(conn_events)
  # The pair checks: one namespace entry per node, its pairs in parallel inside it. They start
  # before the background pings are stopped, so stopping those does not delay them.
  res=$COLD_RUN/pairs.$k; : > "$res"
  cps=()
  for ((i = 0; i < NODES - 1; i++)); do
    args=()
    for ((j = i + 1; j < NODES; j++)); do args+=("$(over "$j")" "$(name "$i")[${IMPL[i]}]-$(name "$j")[${IMPL[j]}]"); done
    ip netns exec "$(ns "$i")" bash -c "$CHECK_PAIRS" check "$hold_us" "$conv_us" "${args[@]}" >> "$res" 2>/dev/null &
    cps+=($!)
  done
  for p in "${PINGS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PINGS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  PINGS=()
  for p in "${cps[@]}"; do wait "$p" || true; done
  moved=$(( $(conn_events) - ev0 ))
  bad=$(grep -c '^FAIL' "$res" || true)
  # What tincd-swift did about stale keys in this start (logged at -d2 and above).
  heal=$(cat "$CONF"/n*/tinc.log 2>/dev/null | grep -c 'a stale key' || true)
  heal=$heal/$(cat "$CONF"/n*/tinc.log 2>/dev/null | grep -c 'No probe reply from' || true)
  pairs=$(wc -l < "$res")
  slowest=$(awk '$1 == "ok" { if ($3 + 0 > m) m = $3 + 0 } END { printf "%.2f", m }' "$res")
  late=$(awk -v h="$HOLD" '$1 == "ok" && $3 + 0 > h + 0 { c++ } END { print c + 0 }' "$res")
  (( pairs == NODES * (NODES - 1) / 2 )) || { echo "start $k: only $pairs of $((NODES * (NODES - 1) / 2)) pair checks reported"; bad=$((bad > 0 ? bad : 1)); }
  if [ -z "$conv" ]; then
    echo "start $k: NOT converged within ${CONVERGE_TIMEOUT} s; $bad of $pairs pairs without data"
    bad=$((bad > 0 ? bad : 1))
  else
    conv_times+=("$conv")
    echo "start $k: converged in $conv s; $bad of $pairs pairs without data within ${HOLD} s; slowest first reply $slowest s after convergence ($late pairs after ${HOLD} s, their check started late)$( ((moved)) && echo "; GRAPH CHANGED during the checks: $moved meta connections opened/closed") (swift fresh keys for stale ones / silent-probe re-requests: $heal)$( ((bad)) && printf ': %s' "$(grep '^FAIL' "$res" | cut -d' ' -f2 | tr '\n' ' ')")"
  fi
  # Pairs of two C daemons: C tincd's own stale-key case (see the header), reported apart.
  ccbad=$(grep -cE '^FAIL [^ ]+\[c\]-[^ ]+\[c\]' "$res" || true)
  counted=$bad
  if (( SWIFT_NODES > 0 )) && [ -z "${CC_STRICT:-}" ] && (( ccbad )); then
    counted=$((bad - ccbad))
    cc_fail=$((cc_fail + ccbad)); cc_runs=$((cc_runs + 1))
    echo "start $k: $ccbad of the pairs without data join two C daemons (C tincd 1.0's stale key; not counted, CC_STRICT=1 counts them)"
  fi
  if (( counted )); then failed_runs=$((failed_runs + 1)); total_fail=$((total_fail + counted)); fi
  if (( bad )); then
    keep=$COLD_RUN/fail-$k; mkdir -p "$keep"
    for ((i = 0; i < NODES; i++)); do
      d=$CONF/$(name "$i"); cp "$d/tinc.log" "$keep/$(name "$i")-${IMPL[i]}.log" 2>/dev/null || true
      cp "$d/events" "$keep/$(name "$i").events" 2>/dev/null || true
    done
    cp "$res" "$keep/pairs"
  fi
  rm -f "$res"
  stop_all
done
med=$(printf '%s\n' "${conv_times[@]:-}" | grep . | sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f", a[int((NR + 1) / 2)]; else print "-" }')
echo "cold-start summary: $N starts, $NODES nodes ($mix): $total_fail pairs without data in $failed_runs starts$( ((cc_fail)) && echo " (and $cc_fail C-C pairs in $cc_runs starts, not counted)"); median convergence $med s$( ((failed_runs + cc_runs)) && echo "; logs in $COLD_RUN")"
(( failed_runs == 0 ))
