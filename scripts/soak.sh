#!/usr/bin/env bash
# scripts/soak.sh -- `make soak`: the five-node lab with the ISP under churn for SOAK_MINUTES (default 30).
#
# What runs (all in the lab's namespaces, started and stopped by pid by this script):
#   traffic   iperf3 UDP bird1 -> bird2 at SOAK_RATE (default 20M bit/s), in 60 s runs back to back;
#             pings every 0.2 s: bird1 -> bird2 (never restarted), bird2 -> bird4 (restarted in turn),
#             bird2 -> the ISP's test address (through bird1; lost while the ISP withdraws its routes)
#   churn     every SOAK_RESTART_EVERY s (default 180) one of SOAK_RESTART_NODES (bird3 bird4 bird5) is
#             stopped (SIGTERM) and started again; every SOAK_ISP_EVERY s (default 240) the ISP disables
#             its static routes (withdraw) for SOAK_ISP_DOWN s (default 10) and enables them again; every
#             SOAK_RELOAD_EVERY s (default 150) bird1 or bird2 reloads its config (`ctl reload`), every
#             second time after touching a host file (which closes and re-opens that meta connection).
#             Events never overlap: after each one the script waits until every node reaches every
#             other, every BGP session is Established and every node has every route (site prefixes of
#             all nodes, the ISP's prefixes); not within SOAK_RECOVER s (default 60) = failure.
#   samples   every SOAK_SAMPLE s (default 10), per daemon: RSS, open fds, threads, CPU seconds,
#             Established BGP sessions, BGP routes, reachable nodes, sessions re-established since the
#             last sample (flaps) -> procs.csv; events -> events.csv; ping logs -> pings.csv (per minute).
#
# Pass (scripts/soak-report.py, which also writes summary.txt and soak.svg):
#   - no daemon died (every recorded pid alive at every sample unless it was being restarted; no crash);
#   - every recovery complete (no route missing) within SOAK_RECOVER s, and again at the end;
#   - for every tincd-swift process that lived >= 2 minutes past its first steady minute: RSS of its
#     last minute <= 110% of its first steady minute (its second minute of life), open fds <= that
#     minute's + max(2, 10%); the RSS linear-fit slope is printed (KiB/min) and, for processes that lived
#     >= 10 minutes, must stay below SOAK_SLOPE_BOUND % of the baseline per hour (default 10).
#
# Output: SOAK_OUT (default <repo>/soak-results/<UTC time>/): procs.csv, pings.csv, events.csv,
# summary.txt, soak.svg (soak.png with gnuplot), the ping/iperf3 logs and the lab's logs. Exit 0 on pass.
# The lab's namespace names are fixed (isp, bird1..5, labnet): refuses to start if a lab is up.
set -uo pipefail
# shellcheck source=scripts/lab-lib.sh
. "$(dirname "$0")/lab-lib.sh"

MINUTES=${SOAK_MINUTES:-30}
SAMPLE=${SOAK_SAMPLE:-10}
RESTART_EVERY=${SOAK_RESTART_EVERY:-180}
ISP_EVERY=${SOAK_ISP_EVERY:-240}
ISP_DOWN=${SOAK_ISP_DOWN:-10}
RELOAD_EVERY=${SOAK_RELOAD_EVERY:-150}
RECOVER=${SOAK_RECOVER:-60}
RATE=${SOAK_RATE:-20M}
read -r -a RESTART_NODES <<< "${SOAK_RESTART_NODES:-bird3 bird4 bird5}"
OUT=${SOAK_OUT:-$LAB_REPO/soak-results/$(date -u +%Y%m%d-%H%M%S)}
LAB_SH=$LAB_REPO/scripts/lab.sh
export LAB_BIN=${LAB_BIN:-$LAB_REPO/.build/release/tincd-swift}

say() { echo "soak: $*"; }
die() { echo "soak: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v iperf3 >/dev/null || die "needs iperf3"
command -v bird >/dev/null && command -v birdc >/dev/null || die "needs bird2 (the ISP withdraws and re-announces with birdc)"
[[ $MINUTES =~ ^[0-9]+$ ]] && [ "$MINUTES" -ge 2 ] || die "SOAK_MINUTES must be a whole number >= 2 (got $MINUTES)"
lab_exists && die "a lab is up ($LAB_RUN): not ours to remove; run \`make lab-down\` first"
for ns in isp bird1 bird2 bird3 bird4 bird5 labnet; do
  ip netns list | awk '{ print $1 }' | grep -qx "$ns" && die "namespace $ns exists (someone else's lab?): not ours to remove"
done
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)

HELPERS=()       # pids of our background jobs (each the leader of its own process group)
LAB_STARTED=0
cleanup() {
  local p
  for p in "${HELPERS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  for p in "${HELPERS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$LAB_STARTED" = 1 ]; then
    # the daemons' logs (-d2) go with the figures: a loss or a slow recovery is explained there
    mkdir -p "$OUT/logs"
    for d in "$LAB_CONF"/*/; do
      n=$(basename "$d"); mkdir -p "$OUT/logs/$n"
      cp "$d"/*.log "$OUT/logs/$n/" 2>/dev/null
    done
    "$LAB_SH" down
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME CMD...: runs CMD in its own process group (so cleanup stops it and everything it started)
bg() { local name=$1; shift; setsid "$@" </dev/null >"$OUT/$name.out" 2>&1 & HELPERS+=($!); }

T0=0
elapsed() { echo $(( ($(now_ms) - T0) / 1000 )); }
EV_BEGIN=""   # epoch ms when the current event began (set by begin_event)
begin_event() { EV_BEGIN=$(now_ms); }
event() { # KIND NODE DETAIL RECOVERY_MS RESULT: one line of events.csv (commas in the text become ';')
  local t=$(now_ms) b=${EV_BEGIN:-$(now_ms)}
  printf '%s,%s,%s,%s,%s,%s,%s\n' "$(awk -v ms=$((t - T0)) 'BEGIN { printf "%.1f", ms / 1000 }')" \
    "$(awk -v ms=$((b - T0)) 'BEGIN { printf "%.1f", ms / 1000 }')" "${1//,/;}" "${2//,/;}" "${3//,/;}" "$4" "${5//,/;}" >> "$OUT/events.csv"
}

# ---- lab up
say "results in $OUT"
say "starting the lab (release binary $LAB_BIN)"
LAB_STARTED=1
LAB_MIXED= LAB_ISP=bird2 "$LAB_SH" up > "$OUT/lab-up.log" 2>&1 || { cat "$OUT/lab-up.log"; SOAK_FAILED=1; die "lab.sh up failed"; }
grep -E 'converged|ISP:' "$OUT/lab-up.log" | sed 's/^/  /'
lab_load || die "lab state unreadable"
B1=${NODE_PREFIX}1
IFS=', ' read -r -a ISP_SET <<< "$ISP_ACCEPT_PREFIXES"
ISP_ANNOUNCED=1

# every_route NODE: NODE's BGP table holds every node's site prefixes and (when announced) the ISP's
want_routes() {
  local i p
  for ((i = 1; i <= NODES; i++)); do echo "${SITE_PREFIX}.$i.0/24"; echo "${SITE6_PREFIX}:$i::/64"; done
  if [ "$ISP_ANNOUNCED" = 1 ]; then for p in "${ISP_SET[@]}"; do echo "$p"; done; fi
}
missing_routes() { # NODE: prints the wanted prefixes NODE lacks
  local have
  have=$(node_cli "$1" show route 2>/dev/null | route_lines | awk '{ print $1 }' | sort -u)
  comm -23 <(want_routes | sort -u) <(echo "$have")
}
isp_routes_anywhere() { # true while any node still has an ISP prefix
  local n p out
  for n in $(lab_nodes); do
    out=$(node_cli "$n" show route 2>/dev/null | route_lines | awk '{ print $1 }')
    for p in "${ISP_SET[@]}"; do grep -qxF "$p" <<< "$out" && return 0; done
  done
  return 1
}
# recovered: every node reaches every other, every session Established, no route missing
WHY=""
recovered() {
  local n r est want miss
  for n in $(lab_nodes); do
    r=$(tinc_nodes "$n" 2>/dev/null | awk '$2 == "reachable" || $2 == "myself"' | wc -l)
    [ "$r" -eq "$NODES" ] || { WHY="$n reaches $r of $NODES nodes"; return 1; }
    want=$((NODES - 1)); [ "$n" = "$B1" ] && want=$NODES
    est=$(node_cli "$n" show protocols 2>/dev/null | bgp_protocols | grep -c ' Established' || true)
    [ "$est" -ge "$want" ] || { WHY="$n has $est of $want sessions Established"; return 1; }
    miss=$(missing_routes "$n")
    [ -z "$miss" ] || { WHY="$n lacks $(echo $miss)"; return 1; }
  done
  WHY=""
}
# wait_recovered KIND NODE DETAIL: waits (RECOVER s) and records the event with its recovery time
FAILURES=()
wait_recovered() {
  local t=$(now_ms) deadline
  deadline=$(( t + RECOVER * 1000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    if recovered; then
      event "$1" "$2" "$3" $(( $(now_ms) - t )) ok
      return 0
    fi
    sleep 0.3
  done
  event "$1" "$2" "$3" "" "NOT recovered: $WHY"
  FAILURES+=("$1 $2 at $(elapsed) s: not recovered within $RECOVER s ($WHY)")
  say "NOT recovered after $1 $2: $WHY"
  return 1
}

wait_recovered startup - lab-up || { SOAK_FAILED=1; die "the lab did not converge"; }

# ---- samplers and traffic
T0=$(now_ms)
echo "t_s,begin_s,kind,node,detail,recovery_ms,result" > "$OUT/events.csv"
event start - "minutes=$MINUTES" "" ok
echo "$T0" > "$OUT/t0"
: > "$OUT/restarting"
bg sampler "$LAB_REPO/scripts/soak-sample.sh" "$OUT" "$SAMPLE"
bg iperf3-server ip netns exec bird2 iperf3 -s -B "${OVERLAY_PREFIX}.2"
sleep 0.5
bg iperf3-client bash -c "while :; do ip netns exec $B1 iperf3 -u -b $RATE -l 1300 -t 60 -c ${OVERLAY_PREFIX}.2 --connect-timeout 2000 --forceflush || sleep 1; done"
bg ping-bird1-bird2 ip netns exec bird1 ping -D -O -n -i 0.2 -W 1 "${OVERLAY_PREFIX}.2"
bg ping-bird2-bird4 ip netns exec bird2 ping -D -O -n -i 0.2 -W 1 "${OVERLAY_PREFIX}.4"
bg ping-bird2-isp ip netns exec bird2 ping -D -O -n -i 0.2 -W 1 "$ISP_TEST_IP"
say "traffic and sampler running; churn for $MINUTES minutes"

# ---- churn
END=$(( MINUTES * 60 ))
next_restart=60 next_isp=90 next_reload=30 k_restart=0 k_reload=0
while [ "$(elapsed)" -lt "$END" ]; do
  now=$(elapsed)
  if [ "$now" -ge "$next_restart" ] && [ $((END - now)) -gt 45 ]; then
    n=${RESTART_NODES[$((k_restart % ${#RESTART_NODES[@]}))]}
    k_restart=$((k_restart + 1))
    begin_event
    echo "$n" > "$OUT/restarting"
    "$LAB_SH" stop-node "$n" >> "$OUT/churn.log" 2>&1
    sleep 2
    "$LAB_SH" start-node "$n" >> "$OUT/churn.log" 2>&1
    : > "$OUT/restarting"
    say "$(elapsed) s: restarted $n"
    wait_recovered restart "$n" "SIGTERM; 2 s down"
    next_restart=$((next_restart + RESTART_EVERY))
  elif [ "$now" -ge "$next_isp" ] && [ $((END - now)) -gt 45 ]; then
    begin_event
    t=$(now_ms)
    isp_birdc disable static1 >> "$OUT/churn.log" 2>&1
    ISP_ANNOUNCED=0
    gone=""
    while [ $(( $(now_ms) - t )) -lt $((RECOVER * 1000)) ]; do
      isp_routes_anywhere || { gone=$(( $(now_ms) - t )); break; }
      sleep 0.2
    done
    if [ -n "$gone" ]; then event isp-withdraw isp "static1 disabled" "$gone" ok
    else event isp-withdraw isp "static1 disabled" "" "ISP routes still present"; FAILURES+=("ISP withdraw at $now s: routes still present after $RECOVER s"); fi
    sleep "$ISP_DOWN"
    begin_event
    isp_birdc enable static1 >> "$OUT/churn.log" 2>&1
    ISP_ANNOUNCED=1
    say "$(elapsed) s: ISP withdrew (gone from every node in ${gone:-?} ms) and re-announced"
    wait_recovered isp-announce isp "static1 enabled"
    next_isp=$((next_isp + ISP_EVERY))
  elif [ "$now" -ge "$next_reload" ] && [ $((END - now)) -gt 45 ]; then
    if [ $((k_reload % 2)) = 0 ]; then n=$B1; detail="plain reload"
    else n=${NODE_PREFIX}2; detail="reload after touching hosts/${NODE_PREFIX}3"; touch "$LAB_CONF/$n/hosts/${NODE_PREFIX}3"; fi
    k_reload=$((k_reload + 1))
    begin_event
    echo "$n ${NODE_PREFIX}3" > "$OUT/restarting"
    ctl "$n" reload >> "$OUT/churn.log" 2>&1
    wait_recovered reload "$n" "$detail"
    : > "$OUT/restarting"
    say "$(elapsed) s: $n reloaded ($detail)"
    next_reload=$((next_reload + RELOAD_EVERY))
  else
    sleep 1
  fi
done

# ---- end: stop traffic, final check, report
EV_BEGIN=""
event end - "" "" ok
for p in "${HELPERS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
for p in "${HELPERS[@]}"; do wait "$p" 2>/dev/null; done
HELPERS=()
if recovered; then event final - "every node; session and route present" 0 ok
else event final - "" "" "NOT recovered: $WHY"; FAILURES+=("final check: $WHY"); fi
dead=()
while read -r name pid; do pid_alive "$name" "$pid" || dead+=("$name(pid $pid)"); done < "$LAB_RUN/pids"
[ ${#dead[@]} -eq 0 ] || FAILURES+=("dead at the end: ${dead[*]}")
crashes=$(grep -l -E 'Fatal error|Crash|backtrace' "$LAB_CONF"/*/stdout.log 2>/dev/null | tr '\n' ' ')
[ -z "$crashes" ] || FAILURES+=("crash output in: $crashes")
printf '%s\n' "${FAILURES[@]}" > "$OUT/failures.txt"

python3 "$LAB_REPO/scripts/soak-report.py" "$OUT"
rc=$?
[ ${#FAILURES[@]} -eq 0 ] || rc=1
[ $rc = 0 ] || SOAK_FAILED=1
exit $rc
