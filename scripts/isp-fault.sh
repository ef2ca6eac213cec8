#!/usr/bin/env bash
# scripts/isp-fault.sh -- the border router loses the ISP, then gets it back (issue 11, faults), against
# the running lab (`make lab`; the ISP's hold time is the lab's ISP_HOLD_TIME, e.g. `make lab
# ISP_HOLD_TIME=9 ISP_KEEPALIVE_TIME=3` to keep this short -- LabTests does that).
#
#   ISP_FAULT=nft (default)  an nftables table in bird1's namespace drops BGP (TCP port 179) to and from
#                            the ISP: nothing tells either side, only the hold timer ends the session
#   ISP_FAULT=link           bird1's LAN macvlan (eth1) is set down, then up again
#
# The fault lasts ISP_FAULT_SECONDS (default: hold time + 3 s). Every mesh node is watched in parallel
# (poll ~every 100 ms) for the ISP's prefixes (ISP_ACCEPT_PREFIXES) in its BGP table and kernel FIB:
#   withdraw   ms from the fault's start until none of them is left (BGP and FIB), per node
#   relearn    ms from the fault's end until all of them are back (BGP and FIB), per node; then bird5
#              must ping the ISP's test address through the mesh and bird1
# Figures are printed per node with a summary line. Exit 0 when every node withdrew within hold time +
# ISP_WITHDRAW_SLACK (default 5 s) of the fault's start and re-learnt within ISP_RELEARN_GOAL (default
# 90 s: after a hold-timer expiry both BIRD and BGPLite wait `error wait time`, 60 s by default, before
# they connect again, so the re-learn time is about that wait minus the time the fault outlasted the hold time).
# Only what this script added is removed again (its nftables table by name, the link it set down).
set -uo pipefail
# shellcheck source=scripts/lab-lib.sh
. "$(dirname "$0")/lab-lib.sh"

lab_exists || { echo "isp-fault: no lab is up: run \`make lab\` first" >&2; exit 2; }
lab_load || exit 2
[ "$ISP_ENABLED" = true ] && [ "${STATE_ISP_KIND:-none}" != none ] || { echo "isp-fault: this lab has no ISP" >&2; exit 2; }
MODE=${ISP_FAULT:-nft}
HOLD=${ISP_HOLD_TIME:-180}
FAULT=${ISP_FAULT_SECONDS:-$((HOLD + 3))}
SLACK=${ISP_WITHDRAW_SLACK:-5}
RELEARN_GOAL=${ISP_RELEARN_GOAL:-90}
B1=${NODE_PREFIX}1
LAST=${NODE_PREFIX}${NODES}
IFS=', ' read -r -a PFX <<< "$ISP_ACCEPT_PREFIXES"
TABLE=tsw_isp_fault
TMP=$(mktemp -d)
WATCHERS=()
FAULT_ON=0
undo_fault() {
  [ "$FAULT_ON" = 1 ] || return 0
  case $MODE in
    nft) ip netns exec "$B1" nft delete table inet "$TABLE" 2>/dev/null ;;
    link) ip -n "$B1" link set "$LAN_MACVLAN_NAME" up 2>/dev/null ;;
  esac
  FAULT_ON=0
}
cleanup() {
  local p
  undo_fault
  for p in "${WATCHERS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# count of ISP prefixes NODE has in BGP and in its FIB: "bgp fib"
isp_counts() {
  local n=$1 out b=0 f=0 p
  out=$(node_cli "$n" show route 2>/dev/null | route_lines | awk '{ print $1 }')
  for p in "${PFX[@]}"; do
    grep -qxF "$p" <<< "$out" && b=$((b + 1))
    [ -n "$(ip -n "$n" route show "$p" 2>/dev/null)" ] && f=$((f + 1))
  done
  echo "$b $f"
}
# watch NODE T0 MODE(down|up): writes "bgp MS" and "fib MS" once each condition holds
watch() {
  local n=$1 t0=$2 mode=$3 out=$TMP/$1.$3 b f got_b="" got_f="" deadline
  deadline=$(( t0 + (FAULT + RELEARN_GOAL + 30) * 1000 ))
  : > "$out"
  while [ "$(now_ms)" -lt "$deadline" ]; do
    read -r b f < <(isp_counts "$n")
    if [ "$mode" = down ]; then
      [ -z "$got_b" ] && [ "$b" = 0 ] && { got_b=$(( $(now_ms) - t0 )); echo "bgp $got_b" >> "$out"; }
      [ -z "$got_f" ] && [ "$f" = 0 ] && { got_f=$(( $(now_ms) - t0 )); echo "fib $got_f" >> "$out"; }
    else
      [ -z "$got_b" ] && [ "$b" = "${#PFX[@]}" ] && { got_b=$(( $(now_ms) - t0 )); echo "bgp $got_b" >> "$out"; }
      [ -z "$got_f" ] && [ "$f" = "${#PFX[@]}" ] && { got_f=$(( $(now_ms) - t0 )); echo "fib $got_f" >> "$out"; }
    fi
    [ -n "$got_b" ] && [ -n "$got_f" ] && return 0
    sleep 0.1
  done
}
start_watchers() { # T0 MODE
  local n
  WATCHERS=()
  for n in $(lab_nodes); do watch "$n" "$1" "$2" & WATCHERS+=($!); done
}
wait_watchers() { local p; for p in "${WATCHERS[@]}"; do wait "$p"; done; WATCHERS=(); }
ev() { awk -v e="$2" '$1 == e { print $2 }' "$TMP/$1.$3" 2>/dev/null; }
session_state() { node_cli "$B1" show protocols 2>/dev/null | bgp_protocols | awk '$1 == "isp" { print $4 }'; }

# --- before: everything in place
for n in $(lab_nodes); do
  read -r b f < <(isp_counts "$n")
  [ "$b" = "${#PFX[@]}" ] && [ "$f" = "${#PFX[@]}" ] || { echo "isp-fault: $n has $b/${#PFX[@]} ISP prefixes in BGP, $f in its FIB before the fault" >&2; exit 1; }
done
echo "isp-fault: ISP ${STATE_ISP_KIND} hold time ${HOLD} s; fault ($MODE) for ${FAULT} s on $B1; prefixes ${PFX[*]}"

# --- fault
t0=$(now_ms)
case $MODE in
  nft)
    ip netns exec "$B1" nft -f - <<EOF || { echo "isp-fault: nft failed" >&2; exit 2; }
table inet $TABLE {
  chain in { type filter hook input priority -10; policy accept; ip saddr $ISP_NEIGHBOR tcp sport 179 drop; ip saddr $ISP_NEIGHBOR tcp dport 179 drop; }
  chain out { type filter hook output priority -10; policy accept; ip daddr $ISP_NEIGHBOR tcp dport 179 drop; ip daddr $ISP_NEIGHBOR tcp sport 179 drop; }
}
EOF
    ;;
  link) ip -n "$B1" link set "$LAN_MACVLAN_NAME" down || exit 2 ;;
  *) echo "isp-fault: ISP_FAULT must be nft or link" >&2; exit 2 ;;
esac
FAULT_ON=1
start_watchers "$t0" down
t_sess=""
while [ $(( $(now_ms) - t0 )) -lt $((FAULT * 1000)) ]; do
  if [ -z "$t_sess" ] && [ "$(session_state)" != Established ]; then t_sess=$(( $(now_ms) - t0 )); fi
  sleep 0.1
done
t1=$(now_ms)
undo_fault
# a node that has not withdrawn by now never did during the fault (reported as NEVER)
for p in "${WATCHERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
WATCHERS=()
start_watchers "$t1" up
wait_watchers
t_ping="" tp=$(now_ms)
while [ $(( $(now_ms) - tp )) -lt 30000 ]; do
  if ip netns exec "$LAST" ping -c1 -W1 -q "$ISP_TEST_IP" >/dev/null 2>&1; then t_ping=$(( $(now_ms) - t1 )); break; fi
done

# --- report
ok=1 wmax=0 rmax=0
fmt() { if [ -n "$1" ]; then awk -v m="$1" 'BEGIN { printf "%.2f s", m / 1000 }'; else echo "NEVER"; fi; }
printf '  %-8s %14s %14s %14s %14s\n' node withdrawn-bgp withdrawn-fib relearnt-bgp relearnt-fib
for n in $(lab_nodes); do
  wb=$(ev "$n" bgp down) wf=$(ev "$n" fib down) rb=$(ev "$n" bgp up) rf=$(ev "$n" fib up)
  printf '  %-8s %14s %14s %14s %14s\n' "$n" "$(fmt "$wb")" "$(fmt "$wf")" "$(fmt "$rb")" "$(fmt "$rf")"
  for v in "$wb" "$wf"; do
    if [ -z "$v" ] || [ "$v" -gt $(( (HOLD + SLACK) * 1000 )) ]; then ok=0; fi
    [ -n "$v" ] && [ "$v" -gt "$wmax" ] && wmax=$v
  done
  for v in "$rb" "$rf"; do
    if [ -z "$v" ] || [ "$v" -gt $((RELEARN_GOAL * 1000)) ]; then ok=0; fi
    [ -n "$v" ] && [ "$v" -gt "$rmax" ] && rmax=$v
  done
done
[ -n "$t_ping" ] || ok=0
echo "  $B1's ISP session left Established $(fmt "$t_sess") after the fault started; $LAST pings $ISP_TEST_IP again $(fmt "$t_ping") after it ended"
echo "isp-fault summary: ($MODE, hold ${HOLD} s, fault ${FAULT} s) ISP routes withdrawn from every node (BGP+FIB) $(fmt "$wmax") after the fault started ($(fmt $((wmax - ${t_sess:-0}))) after $B1's session went down); re-learnt everywhere $(fmt "$rmax") after it ended: $([ $ok = 1 ] && echo PASS || echo FAIL)"
[ $ok = 1 ]
