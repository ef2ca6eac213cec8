#!/usr/bin/env bash
# scripts/lab-repeat.sh N: cold-starts the five-node lab N times in a row (scripts/lab.sh up, then down)
# and checks every BGP session of every run: Established within LAB_REPEAT_LIMIT (default 2) s of both
# of its daemons running (the later start of the two; the ISP's bird2 starts before the nodes), and no
# flap (a session established more than once or going down) from the start to LAB_REPEAT_HOLD (default
# 5) s after the lab converged. One line per run, a summary line, non-zero exit on any failure.
# The logs of failed runs are kept in LAB_REPEAT_KEEP (default /tmp/lab-repeat.<pid>/run-<i>).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lab-lib.sh
. "$HERE/lab-lib.sh"

N=${1:-${N:-10}}
LIMIT=${LAB_REPEAT_LIMIT:-2}
HOLD=${LAB_REPEAT_HOLD:-5}
KEEP=${LAB_REPEAT_KEEP:-/tmp/lab-repeat.$$}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "lab-repeat: N must be a positive integer (got '$N')" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "lab-repeat: needs root (network namespaces)" >&2; exit 2; }

total_sessions=0 slow=0 flaps=0 failed_runs=0 not_up=0
worst=0 all_delays=()
for ((run = 1; run <= N; run++)); do
  out=$(LAB_CONVERGE_TIMEOUT=${LAB_CONVERGE_TIMEOUT:-30} "$HERE/lab.sh" up 2>&1)
  rc=$?
  if [ $rc -ne 0 ] || ! lab_load 2>/dev/null; then
    echo "run $run: lab.sh up failed (rc $rc)"; echo "$out" | tail -15
    failed_runs=$((failed_runs + 1)); "$HERE/lab.sh" down >/dev/null 2>&1; continue
  fi
  sleep "$HOLD"
  run_slow=() run_flaps=() run_n=0 run_worst=0 run_worst_name=-
  for node in $(lab_nodes); do
    is_mixed "$node" && continue
    start_var=STATE_NODE_START_TOD_$node
    my_start=${!start_var:-$STATE_START_TOD}
    log=$LAB_CONF/$node/tinc.log
    # name state since info, for every BGP protocol of this node
    while read -r name state since info; do
      [ -n "$name" ] || continue
      run_n=$((run_n + 1))
      if [[ $info != Established* ]]; then
        run_slow+=("$node/$name $state $info"); not_up=$((not_up + 1)); continue
      fi
      if [ "$name" = isp ]; then both=$my_start
      else
        pv=STATE_NODE_START_TOD_$name
        both=$my_start
        [ -n "${!pv:-}" ] && awk -v d="$(tod_diff "$both" "${!pv}")" 'BEGIN { exit !(d > 0) }' && both=${!pv}
      fi
      d=$(tod_diff "$both" "$since")
      all_delays+=("$d")
      awk -v d="$d" -v w="$run_worst" 'BEGIN { exit !(d > w) }' && { run_worst=$d; run_worst_name=$node/$name; }
      awk -v d="$d" -v l="$LIMIT" 'BEGIN { exit !(d > l) }' && run_slow+=("$node/$name Established ${d} s after both daemons started")
      ups=$(grep -c "${name}: BGP session established" "$log" 2>/dev/null || true)
      downs=$(grep -c "${name}: BGP session down" "$log" 2>/dev/null || true)
      if [ "${ups:-0}" -ne 1 ] || [ "${downs:-0}" -ne 0 ]; then
        run_flaps+=("$node/$name established ${ups:-0}x, down ${downs:-0}x")
      fi
    done < <(ctl "$node" show protocols 2>/dev/null | bgp_protocols)
  done
  total_sessions=$((total_sessions + run_n))
  slow=$((slow + ${#run_slow[@]}))
  flaps=$((flaps + ${#run_flaps[@]}))
  awk -v d="$run_worst" -v w="$worst" 'BEGIN { exit !(d > w) }' && worst=$run_worst
  status=ok
  if [ ${#run_slow[@]} -gt 0 ] || [ ${#run_flaps[@]} -gt 0 ] || [ "$run_n" -eq 0 ]; then
    status=FAIL; failed_runs=$((failed_runs + 1))
    mkdir -p "$KEEP/run-$run" && cp -r "$LAB_CONF" "$KEEP/run-$run/" 2>/dev/null
  fi
  echo "run $run: $status, $run_n sessions, worst ${run_worst} s ($run_worst_name) after both daemons started, ${#run_flaps[@]} flapped, ${#run_slow[@]} late or down${run_slow:+: ${run_slow[*]}}${run_flaps:+; flaps: ${run_flaps[*]}}"
  "$HERE/lab.sh" down >/dev/null 2>&1 || { echo "run $run: lab.sh down failed" >&2; exit 1; }
done
median=$(printf '%s\n' "${all_delays[@]:-0}" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print 0 }')
echo "lab-repeat: $N runs, $failed_runs failed; $total_sessions sessions, $flaps flapped, $slow not Established within ${LIMIT} s (worst ${worst} s, median ${median} s after both daemons started)"
[ "$failed_runs" -eq 0 ]
