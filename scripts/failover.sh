#!/usr/bin/env bash
# scripts/failover.sh [NODE] -- the lab issue's failover item against the running lab (`make lab`):
#
#   "Stop NODE's daemon: every other node reports it unreachable, its iBGP sessions go down and its
#    routes are withdrawn everywhere within a few seconds; start it again and everything returns without
#    touching the other nodes."
#
# 1. `lab.sh stop-node NODE` (SIGTERM; FAILOVER_SIGNAL=KILL for a crash, which the others only notice
#    after PingInterval + PingTimeout). Every other node is watched in parallel (poll every ~50 ms) for:
#      unreach  its tinc daemon reports NODE unreachable (tincd-swift `dump nodes`; C tincd: SIGUSR2 dump)
#      session  its BGP session named NODE is gone or no longer Established
#      bgp      NODE's site prefixes (SITE_PREFIX.N.0/24, SITE6_PREFIX:N::/64) are gone from its BGP table
#      fib      ... and from its kernel FIB
#    Figures: ms from the stop command to each event, per node.
# 2. `lab.sh start-node NODE`, then the same the other way round (reachable, Established, prefixes back in
#    BGP and FIB on every other node; on NODE itself: every other node reachable, its sessions Established,
#    every other node's site prefixes learned), and the PIDs of the other nodes must be unchanged.
# 3. scripts/validate.sh (FAILOVER_VALIDATE=0 skips it) must pass again.
#
# Exit status 0 when every event happened within FAILOVER_GOAL seconds (default 5) and validate passed.
# Environment: FAILOVER_GOAL=5, FAILOVER_TIMEOUT=30 (s per phase), FAILOVER_SIGNAL=TERM|KILL,
# FAILOVER_VALIDATE=1, STABILITY_WINDOW (validate's, default here 5), LAB_RUN, LAB_ENV.
set -uo pipefail
# shellcheck source=scripts/lab-lib.sh
. "$(dirname "$0")/lab-lib.sh"

NODE=${1:-bird3}
GOAL=${FAILOVER_GOAL:-5}
TIMEOUT=${FAILOVER_TIMEOUT:-30}
SIGNAL=${FAILOVER_SIGNAL:-TERM}
LAB_SH=$(dirname "$0")/lab.sh

lab_exists || { echo "failover: no lab is up: run \`make lab\` first" >&2; exit 1; }
lab_load || exit 1
lab_nodes | grep -qx "$NODE" || { echo "failover: unknown node $NODE" >&2; exit 2; }
IDX=$(node_index "$NODE")
P4=${SITE_PREFIX}.$IDX.0/24
P6=${SITE6_PREFIX}:$IDX::/64
OTHERS=(); for n in $(lab_nodes); do [ "$n" = "$NODE" ] || OTHERS+=("$n"); done
TMP=$(mktemp -d)
WATCHERS=()
cleanup() {
  local p
  for p in "${WATCHERS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# probes on node $1 about $NODE; each true when the state is "$NODE present/up"
p_reach() { tinc_nodes "$1" 2>/dev/null | awk -v p="$NODE" '$1 == p && ($2 == "reachable" || $2 == "myself") { f = 1 } END { exit !f }'; }
p_session() { node_cli "$1" show protocols 2>/dev/null | bgp_protocols | awk -v p="$NODE" '$1 == p && / Established/ { f = 1 } END { exit !f }'; }
p_bgp() {
  local out
  out=$(node_cli "$1" show route 2>/dev/null | route_lines)
  awk -v a="$P4" -v b="$P6" '$1 == a { x = 1 } $1 == b { y = 1 } END { exit !(x && y) }' <<< "$out"
}
p_bgp_any() {
  local out
  out=$(node_cli "$1" show route 2>/dev/null | route_lines)
  awk -v a="$P4" -v b="$P6" '$1 == a || $1 == b { f = 1 } END { exit !f }' <<< "$out"
}
p_fib() { [ -n "$(ip -n "$1" route show "$P4" 2>/dev/null)" ] && [ -n "$(ip -n "$1" -6 route show "$P6" 2>/dev/null)" ]; }
p_fib_any() { [ -n "$(ip -n "$1" route show "$P4" 2>/dev/null)" ] || [ -n "$(ip -n "$1" -6 route show "$P6" 2>/dev/null)" ]; }

# watch NODE T0 MODE: MODE down (wait for absence) or up (presence); writes "event ms" lines to $TMP/NODE
watch() {
  local n=$1 t0=$2 mode=$3 out=$TMP/$1.$3 deadline ev done_all
  deadline=$(( t0 + TIMEOUT * 1000 ))
  declare -A got=()
  : > "$out"
  while [ "$(now_ms)" -lt "$deadline" ]; do
    done_all=1
    for ev in unreach session bgp fib; do
      [ -n "${got[$ev]:-}" ] && continue
      local present
      case $ev in
        unreach) p_reach "$n" && present=1 || present=0 ;;
        session) p_session "$n" && present=1 || present=0 ;;
        bgp) if [ "$mode" = down ]; then p_bgp_any "$n" && present=1 || present=0; else p_bgp "$n" && present=1 || present=0; fi ;;
        fib) if [ "$mode" = down ]; then p_fib_any "$n" && present=1 || present=0; else p_fib "$n" && present=1 || present=0; fi ;;
      esac
      if { [ "$mode" = down ] && [ $present = 0 ]; } || { [ "$mode" = up ] && [ $present = 1 ]; }; then
        got[$ev]=$(( $(now_ms) - t0 ))
        echo "$ev ${got[$ev]}" >> "$out"
      else
        done_all=0
      fi
    done
    [ $done_all = 1 ] && return 0
    sleep 0.05
  done
}

# the restarted node's own view: all others reachable, all sessions up, every other site prefix learned
self_ok() {
  local want reach est n j rt
  want=$(( NODES - 1 ))
  reach=$(tinc_nodes "$NODE" 2>/dev/null | awk '$2 == "reachable"' | wc -l)
  [ "$reach" -ge "$want" ] || return 1
  est=$(node_cli "$NODE" show protocols 2>/dev/null | bgp_protocols | grep -c ' Established' || true)
  [ "$NODE" = "${NODE_PREFIX}1" ] && [ "$ISP_ENABLED" = true ] && want=$NODES
  [ "$est" -ge "$want" ] || return 1
  rt=$(node_cli "$NODE" show route 2>/dev/null | route_lines)
  for n in "${OTHERS[@]}"; do
    j=$(node_index "$n")
    awk -v a="${SITE_PREFIX}.$j.0/24" -v b="${SITE6_PREFIX}:$j::/64" '$1 == a { x = 1 } $1 == b { y = 1 } END { exit !(x && y) }' <<< "$rt" || return 1
  done
}

pids_of_others() { awk -v x="$NODE" '$1 != x' "$LAB_RUN/pids" | sort; }

# table NAME MODE: per node, ms of each event; returns non-zero if an event is missing or over the goal
RESULT_OK=1
table() {
  local mode=$1 n ev v line worst=0 worst_what=""
  printf '  %-8s %10s %10s %10s %10s\n' node tinc bgp-session bgp-routes kernel-fib
  for n in "${OTHERS[@]}"; do
    line=$(printf '  %-8s' "$n")
    for ev in unreach session bgp fib; do
      v=$(awk -v e="$ev" '$1 == e { print $2 }' "$TMP/$n.$mode" 2>/dev/null)
      if [ -z "$v" ]; then line+=$(printf ' %10s' "NEVER"); RESULT_OK=0; worst=999999; worst_what="$n $ev never"
      else
        line+=$(printf ' %8s ms' "$v")
        if [ "$v" -gt "$worst" ]; then worst=$v; worst_what="$n $ev"; fi
      fi
    done
    echo "$line"
  done
  [ "$worst" -le $(( GOAL * 1000 )) ] || RESULT_OK=0
  WORST=$worst WORST_WHAT=$worst_what
}

echo "failover: $NODE (site prefixes $P4, $P6) in a lab of $NODES nodes${LAB_MIXED:+ (mixed: $LAB_MIXED)}; goal ${GOAL} s, signal SIG$SIGNAL"
# precondition: the lab is converged as seen from every other node
for n in "${OTHERS[@]}"; do
  if ! { p_reach "$n" && p_session "$n" && p_bgp "$n" && p_fib "$n"; }; then
    echo "failover: precondition failed: $n does not see $NODE fully up (reachable/session/routes) -- is the lab converged?" >&2
    exit 1
  fi
done
BEFORE=$(pids_of_others)

# ---- phase 1: stop
t0=$(now_ms)
LAB_STOP_SIGNAL=$SIGNAL "$LAB_SH" stop-node "$NODE" || { echo "failover: stop-node failed" >&2; exit 1; }
t_stopped=$(( $(now_ms) - t0 ))
WATCHERS=()
for n in "${OTHERS[@]}"; do watch "$n" "$t0" down & WATCHERS+=($!); done
wait "${WATCHERS[@]}"
WATCHERS=()
echo
echo "== $NODE stopped (lab.sh stop-node took $t_stopped ms); ms from the stop command until each node no longer has it:"
echo "   (tinc: dump nodes shows it unreachable; bgp-session: session $NODE gone/not Established;"
echo "    bgp-routes: $P4 and $P6 withdrawn from the BGP table; kernel-fib: both gone from the kernel)"
table down
DOWN_OK=$RESULT_OK DOWN_WORST=$WORST DOWN_WHAT=$WORST_WHAT
RESULT_OK=1
# the other nodes keep routing among themselves meanwhile
ping_ok=$(ping_matrix 4 1 2>/dev/null | grep -v " ${OVERLAY_PREFIX}.$IDX " | grep -v "^[a-z]* $NODE " | grep -c '^ok' || true)
echo "   overlay pings among the remaining $((NODES - 1)) nodes while $NODE is down: $ping_ok/$(( (NODES - 1) * (NODES - 2) )) ok"

# ---- phase 2: start again
t1=$(now_ms)
"$LAB_SH" start-node "$NODE" || { echo "failover: start-node failed" >&2; exit 1; }
t_started=$(( $(now_ms) - t1 ))
for n in "${OTHERS[@]}"; do watch "$n" "$t1" up & WATCHERS+=($!); done
t_self=""
deadline=$(( t1 + TIMEOUT * 1000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
  self_ok && { t_self=$(( $(now_ms) - t1 )); break; }
  sleep 0.1
done
wait "${WATCHERS[@]}"
WATCHERS=()
echo
echo "== $NODE started again (lab.sh start-node took $t_started ms); ms from the start command until each node has it back:"
table up
UP_OK=$RESULT_OK UP_WORST=$WORST UP_WHAT=$WORST_WHAT
echo "   $NODE itself: every other node reachable, all its sessions Established, all site prefixes learned: ${t_self:-NOT within ${TIMEOUT} s}${t_self:+ ms}"
[ -n "$t_self" ] || UP_OK=0
AFTER=$(pids_of_others)
if [ "$BEFORE" = "$AFTER" ]; then
  echo "   other nodes untouched: same processes before and after ($(echo "$AFTER" | awk '{ printf "%s:%s ", $1, $2 }'))"
  SAME=1
else
  echo "   OTHER PROCESSES CHANGED: before: $(echo "$BEFORE" | tr '\n' ' ') after: $(echo "$AFTER" | tr '\n' ' ')"
  SAME=0
fi

# ---- phase 3: the checklist again
VAL=skipped VAL_OK=1
if [ "${FAILOVER_VALIDATE:-1}" = 1 ]; then
  echo
  echo "== scripts/validate.sh after the restart"
  if STABILITY_WINDOW=${STABILITY_WINDOW:-5} "$(dirname "$0")/validate.sh"; then VAL=passed; else VAL=FAILED; VAL_OK=0; fi
fi

echo
verdict() { [ "$1" = 1 ] && echo ok || echo FAIL; }
echo "failover summary: $NODE down everywhere in $DOWN_WORST ms (slowest: $DOWN_WHAT) [$(verdict "$DOWN_OK")]," \
  "back everywhere in $(( UP_WORST > ${t_self:-999999} ? UP_WORST : ${t_self:-999999} )) ms (slowest other: $UP_WHAT; $NODE itself ${t_self:-never} ms) [$(verdict "$UP_OK")]," \
  "goal ${GOAL} s; other nodes untouched: $([ $SAME = 1 ] && echo yes || echo NO); validate: $VAL"
[ "$DOWN_OK" = 1 ] && [ "$UP_OK" = 1 ] && [ "$SAME" = 1 ] && [ "$VAL_OK" = 1 ]
