#!/usr/bin/env bash
# scripts/validate.sh -- the ISP integration guide's validation checklist, run against the lab that
# `make lab` (scripts/lab.sh up) started. Prints every item with ✅/❌ and the measured figure, and
# exits non-zero if any item fails.
#
# Environment:
#   STABILITY_WINDOW=10     seconds during which no BGP session may flap (the guide says > 5 minutes in
#                           production; the lab default keeps `make validate` short)
#   PROPAGATION_GOAL=1      seconds: routes from the ISP must reach every mesh node within this (guide: < 1 s)
#   ESTABLISH_GOAL=5        seconds: ISP session establishment (guide: < 5 s; reported, not enforced)
#   VALIDATE_LOGS=1         on failure, print log excerpts (0: do not)
#   LAB_RUN, LAB_ENV        as for scripts/lab.sh
set -uo pipefail
# shellcheck source=scripts/lab-lib.sh
. "$(dirname "$0")/lab-lib.sh"

STABILITY_WINDOW=${STABILITY_WINDOW:-10}
PROPAGATION_GOAL=${PROPAGATION_GOAL:-1}
ESTABLISH_GOAL=${ESTABLISH_GOAL:-5}
VALIDATE_LOGS=${VALIDATE_LOGS:-1}

lab_exists || { echo "❌ no lab is up (nothing in $LAB_RUN): run \`make lab\` first"; exit 1; }
lab_load || exit 1

PASSED=0 FAILED=0 FAILED_ITEMS=() ITEM=0
LOG_HINTS=()
item() { # ok|fail TITLE FIGURE [DETAIL...]
  local st=$1 title=$2 figure=$3 mark
  shift 3
  ITEM=$((ITEM + 1))
  if [ "$st" = ok ]; then mark="✅"; PASSED=$((PASSED + 1)); else mark="❌"; FAILED=$((FAILED + 1)); FAILED_ITEMS+=("$ITEM. $title"); fi
  printf '%s %2d. %s -- %s\n' "$mark" "$ITEM" "$title" "$figure"
  local d
  for d in "$@"; do [ -n "$d" ] && printf '        %s\n' "$d"; done
}
indent() { sed 's/^/        | /'; }

B1=${NODE_PREFIX}1
LAST=${NODE_PREFIX}${NODES}
OTHERS=() ; for n in $(lab_nodes); do [ "$n" = "$B1" ] || OTHERS+=("$n"); done
ISP_ON=false; [ "$ISP_ENABLED" = true ] && [ "${STATE_ISP_KIND:-none}" != none ] && ISP_ON=true
IFS=', ' read -r -a ACCEPT_SET <<< "$ISP_ACCEPT_PREFIXES"
IFS=', ' read -r -a EXPORT_SET <<< "$ISP_EXPORT_PREFIXES"
PROBE=${ACCEPT_SET[0]}

# sessions NODE: "name state since info" for every BGP protocol of a mesh node (or of the ISP: NODE=isp)
sessions() {
  if [ "$1" = isp ]; then isp_show show protocols 2>/dev/null | bgp_protocols
  else node_cli "$1" show protocols 2>/dev/null | bgp_protocols; fi
}
established() { awk -v p="$2" '$1 == p && / Established/ { found = 1 } END { exit !found }' <<< "$1"; }
since_of() { awk -v p="$2" '$1 == p { print $3 }' <<< "$1"; }
# route_since NODE PREFIX [PROTO]: since of the best route for PREFIX on a mesh node (empty if none)
route_since() {
  local out
  out=$(node_cli "$1" show route for "$2" 2>/dev/null) || return 0
  route_lines <<< "$out" | awk -v p="$2" -v pr="${3:-}" '$1 == p && (pr == "" || $2 == pr) { print $3; exit }'
}
ms() { awk -v s="$1" 'BEGIN { if (s < 0 && s > -0.005) s = 0; printf "%d ms", s * 1000 + (s >= 0 ? 0.5 : -0.5) }'; }

echo "tincd-swift lab validation -- ISP: ${STATE_ISP_KIND:-?}, binary: $LAB_BIN${LAB_MIXED:+, mixed nodes (C tincd 1.0 + bird2): $LAB_MIXED}"
echo "  nodes: $(lab_nodes | tr '\n' ' ')  stability window: ${STABILITY_WINDOW} s"
echo

# baseline for the stability window (item 8)
T_BASE=$(now_ms)
declare -A BASE
for n in $(lab_nodes); do BASE[$n]=$(sessions "$n"); done
$ISP_ON && BASE[isp]=$(sessions isp)
closed_before=$(cat "$LAB_CONF"/*/tinc.log 2>/dev/null | grep -c "Closing connection" || true)

# ---- 1. all nodes running -------------------------------------------------------------------------------
running=() dead=() ctl_dead=()
while read -r name pid; do
  if pid_alive "$name" "$pid"; then running+=("$name"); else dead+=("$name(pid $pid)"); fi
done < "$LAB_RUN/pids"
MIXED_N=0
for n in $(lab_nodes); do
  if is_mixed "$n"; then
    # C tincd + bird2: bird answers birdc, tincd answers SIGUSR2 with its node list
    MIXED_N=$((MIXED_N + 1))
    node_birdc "$n" show status >/dev/null 2>&1 || ctl_dead+=("$n(birdc)")
    tinc_nodes "$n" 2>/dev/null | grep -q . || ctl_dead+=("$n(tincd SIGUSR2 dump)")
  else
    ctl "$n" dump nodes >/dev/null 2>&1 || ctl_dead+=("$n")
  fi
done
if $ISP_ON && [ "$STATE_ISP_KIND" = bird2 ]; then isp_birdc show status >/dev/null 2>&1 || ctl_dead+=("isp(birdc)"); fi
expected=$(( NODES + MIXED_N + $( $ISP_ON && echo 1 || echo 0 ) ))
if [ ${#dead[@]} -eq 0 ] && [ ${#ctl_dead[@]} -eq 0 ] && [ ${#running[@]} -eq "$expected" ]; then
  item ok "All nodes running" "${#running[@]}/$expected processes up and answering (${running[*]}; ISP: $STATE_ISP_KIND${LAB_MIXED:+; C tincd + bird2 on: $LAB_MIXED})"
else
  details=()
  for d in "${dead[@]}"; do
    nm=${d%%(*}
    details+=("$d is not running")
    [ -s "$LAB_CONF/$nm/stdout.log" ] && details+=("$nm stdout/stderr: $(tail -3 "$LAB_CONF/$nm/stdout.log" | tr '\n' ' ')")
    ls "$LAB_CONF/$nm"/core* >/dev/null 2>&1 && details+=("$nm left a core dump: $(ls "$LAB_CONF/$nm"/core* | head -1) (gdb -batch -ex bt $LAB_BIN CORE)")
    [ -s "$LAB_CONF/$nm/tinc.log" ] && details+=("$nm last log line: $(tail -1 "$LAB_CONF/$nm/tinc.log")")
  done
  for d in "${ctl_dead[@]}"; do details+=("$d does not answer its control socket"); done
  item fail "All nodes running" "${#running[@]}/$expected processes up" "${details[@]}"
fi

# ---- 2. macvlan ------------------------------------------------------------------------------------------
if [ "$ISP_ENABLED" = true ]; then
  link=$(ip -n "$B1" -d link show "$LAN_MACVLAN_NAME" 2>&1)
  addr=$(ip -n "$B1" -4 addr show dev "$LAN_MACVLAN_NAME" 2>&1)
  rget=$(ip -n "$B1" route get "$ISP_NEIGHBOR" 2>&1 | head -1 | sed 's/ *uid [0-9]* *$//')
  lanping=$(ip netns exec "$B1" ping -n -c 2 -i 0.2 -W 1 "$ISP_NEIGHBOR" 2>&1 | awk -F/ '/^rtt/ { print $5 }')
  probs=()
  grep -q "macvlan mode bridge" <<< "$link" || probs+=("$LAN_MACVLAN_NAME is not a macvlan in bridge mode: $(echo "$link" | grep -o 'macvlan mode [a-z]*' || echo "$link" | head -1)")
  grep -q "inet $TINC1_LAN_IP/" <<< "$addr" || probs+=("$LAN_MACVLAN_NAME lacks $TINC1_LAN_IP: $(echo "$addr" | grep inet | xargs)")
  grep -q "dev $LAN_MACVLAN_NAME src $TINC1_LAN_IP" <<< "$rget" || probs+=("route to the ISP: $rget (expected dev $LAN_MACVLAN_NAME src $TINC1_LAN_IP)")
  [ -n "$lanping" ] || probs+=("no ping reply from the ISP at $ISP_NEIGHBOR over the LAN")
  if [ ${#probs[@]} -eq 0 ]; then
    item ok "$B1 has $TINC1_LAN_IP on its macvlan" "$LAN_MACVLAN_NAME: macvlan mode bridge on $LAB_NETNS/$LAN_INTERFACE, $rget, ISP ping ${lanping} ms"
  else
    item fail "$B1 has $TINC1_LAN_IP on its macvlan" "${#probs[@]} problem(s)" "${probs[@]}"
  fi
else
  item ok "$B1 has $TINC1_LAN_IP on its macvlan" "skipped: ISP_ENABLED=$ISP_ENABLED"
fi

# ---- 3. ISP session Established -----------------------------------------------------------------------
S_B1=$(sessions "$B1")
if $ISP_ON; then
  S_ISP=$(sessions isp)
  line=$(awk '$1 == "isp"' <<< "$S_B1")
  if established "$S_B1" isp; then
    since=$(since_of "$S_B1" isp)
    took=$( [ -n "${STATE_START_TOD:-}" ] && tod_diff "$STATE_START_TOD" "$since" || echo "?")
    goal=$(awk -v t="$took" -v g="$ESTABLISH_GOAL" 'BEGIN { print (t < g) ? "within" : "OVER" }')
    ispview="ISP \`customer\`: $(awk '$1 == "customer" { $1 = ""; print }' <<< "$S_ISP" | xargs)"
    item ok "ISP session Established" "bird1 \`isp\` Established at $since, ${took} s after $B1 started ($goal the guide's ${ESTABLISH_GOAL} s); $ispview"
  else
    det=("$B1 \`isp\`: ${line:-no such protocol (show protocols: $(node_cli "$B1" show protocols 2>&1 | head -3 | tr '\n' ' '))}")
    det+=("ISP \`customer\`: $(awk '$1 == "customer"' <<< "$S_ISP")")
    det+=("$B1 log: $(grep -i ' isp\b\|isp:' "$LAB_CONF/$B1/tinc.log" 2>/dev/null | tail -3 | tr '\n' ' ')")
    item fail "ISP session Established" "not established" "${det[@]}"
    LOG_HINTS+=("$B1" isp)
  fi
else
  item ok "ISP session Established" "skipped: no ISP in this lab"
fi

# ---- 4. 3+ routes from the ISP ------------------------------------------------------------------------
ISP_ROUTES=()
if $ISP_ON; then
  mapfile -t ISP_ROUTES < <(node_cli "$B1" show route protocol isp 2>/dev/null | route_lines | awk '$2 == "isp" { print $1 }' | sort -u)
  kern=0
  for p in "${ISP_ROUTES[@]}"; do ip -n "$B1" route show "$p" 2>/dev/null | grep -q "via $ISP_NEIGHBOR" && kern=$((kern + 1)); done
  if [ ${#ISP_ROUTES[@]} -ge 3 ]; then
    item ok "3+ routes received from the ISP" "${#ISP_ROUTES[@]} routes: ${ISP_ROUTES[*]} ($kern in $B1's kernel FIB via $ISP_NEIGHBOR)"
  else
    item fail "3+ routes received from the ISP" "${#ISP_ROUTES[@]} routes${ISP_ROUTES[*]:+: ${ISP_ROUTES[*]}}" \
      "$B1 show route protocol isp: $(node_cli "$B1" show route protocol isp 2>&1 | head -4 | tr '\n' ' ')"
  fi
else
  item ok "3+ routes received from the ISP" "skipped: no ISP in this lab"
fi

# ---- 5. routes on bird2..N, propagation delay -----------------------------------------------------------
if $ISP_ON && [ ${#ISP_ROUTES[@]} -gt 0 ]; then
  # presence of every ISP route on every other node, in BGP and in the kernel
  missing=()
  for n in "${OTHERS[@]}"; do
    for p in "${ISP_ROUTES[@]}"; do
      node_cli "$n" show route for "$p" 2>/dev/null | grep -qF "$p" || { missing+=("$n lacks $p in BGP"); continue; }
      ip -n "$n" route show "$p" 2>/dev/null | grep -q . || missing+=("$n lacks $p in its kernel FIB")
    done
  done
  # propagation delay
  prop_fig="" prop_ok=1 prop_det=()
  if [ ${#missing[@]} -eq 0 ] && [ "$STATE_ISP_KIND" = bird2 ]; then
    # withdraw the ISP's routes and announce them again, then compare the route timestamps
    # (BIRD's and ours: HH:MM:SS.mmm on the same clock)
    trap 'isp_birdc enable static1 >/dev/null 2>&1' EXIT INT TERM
    isp_birdc disable static1 >/dev/null
    for ((i = 0; i < 100; i++)); do
      gone=1
      for n in "${OTHERS[@]}"; do [ -n "$(route_since "$n" "$PROBE")" ] && gone=0; done
      [ $gone = 1 ] && break
      sleep 0.1
    done
    [ $gone = 1 ] || prop_det+=("withdrawal of $PROBE did not reach every node within 10 s")
    isp_birdc enable static1 >/dev/null
    trap - EXIT INT TERM
    for ((i = 0; i < 100; i++)); do
      all=1
      for n in $(lab_nodes); do [ -n "$(route_since "$n" "$PROBE" "")" ] || all=0; done
      [ $all = 1 ] && break
      sleep 0.1
    done
    origin=$(isp_birdc show route for "$PROBE" protocol static1 2>/dev/null | route_lines | awk '{ print $3; exit }')
    at_b1=$(route_since "$B1" "$PROBE")
    worst=0 worst_node="" per=()
    for n in "${OTHERS[@]}"; do
      s=$(route_since "$n" "$PROBE")
      if [ -z "$s" ] || [ -z "$origin" ]; then prop_ok=0; per+=("$n: -"); continue; fi
      d=$(tod_diff "$origin" "$s")
      per+=("$n $(ms "$d")")
      if awk -v a="$d" -v b="$worst" 'BEGIN { exit !(a > b) }'; then worst=$d; worst_node=$n; fi
    done
    if [ "$prop_ok" = 1 ] && [ -n "$at_b1" ]; then
      prop_fig="re-announced $PROBE at the ISP: ISP->$B1 $(ms "$(tod_diff "$origin" "$at_b1")"), ISP->all mesh nodes max $(ms "$worst") ($worst_node) [${per[*]}]"
    else
      prop_ok=0; prop_fig="re-announced $PROBE but it did not come back on every node within 10 s [${per[*]}]"
    fi
  elif [ ${#missing[@]} -eq 0 ]; then
    # built-in ISP (no control socket to withdraw with): from the later of (route on bird1, iBGP session up)
    # to the route's arrival on each node
    at_b1=$(route_since "$B1" "$PROBE" isp)
    worst=0 worst_node="" per=()
    for n in "${OTHERS[@]}"; do
      s=$(route_since "$n" "$PROBE")
      up=$(since_of "$(sessions "$n")" "$B1")
      ref=$at_b1
      [ -n "$up" ] && awk -v a="$(tod_diff "$at_b1" "$up")" 'BEGIN { exit !(a > 0) }' && ref=$up
      d=$(tod_diff "$ref" "$s")
      per+=("$n $(ms "$d")")
      if awk -v a="$d" -v b="$worst" 'BEGIN { exit !(a > b) }'; then worst=$d; worst_node=$n; fi
    done
    prop_fig="$B1->all mesh nodes max $(ms "$worst") ($worst_node), from the route's or the session's arrival [${per[*]}]"
  fi
  if [ ${#missing[@]} -eq 0 ] && [ "$prop_ok" = 1 ] && awk -v w="$worst" -v g="$PROPAGATION_GOAL" 'BEGIN { exit !(w < g) }'; then
    item ok "Routes propagated to ${OTHERS[0]}-${LAST}" "${#ISP_ROUTES[@]} ISP routes on every node (BGP and kernel); $prop_fig; goal < ${PROPAGATION_GOAL} s"
  elif [ ${#missing[@]} -gt 0 ]; then
    item fail "Routes propagated to ${OTHERS[0]}-${LAST}" "${#missing[@]} missing" "${missing[@]}"
    LOG_HINTS+=("${OTHERS[@]}")
  else
    item fail "Routes propagated to ${OTHERS[0]}-${LAST}" "$prop_fig; goal < ${PROPAGATION_GOAL} s" "${prop_det[@]}"
  fi
else
  item fail "Routes propagated to ${OTHERS[0]:-?}-${LAST}" "nothing to propagate: no routes from the ISP on $B1"
fi

# ---- 6. iBGP peers Established ------------------------------------------------------------------------
notup=() mesh_up=0 mesh_all=$(( NODES * (NODES - 1) ))
for n in $(lab_nodes); do
  s=$( [ "$n" = "$B1" ] && echo "$S_B1" || sessions "$n")
  for m in $(lab_nodes); do
    [ "$n" = "$m" ] && continue
    if established "$s" "$m"; then mesh_up=$((mesh_up + 1)); else
      notup+=("$n -> $m: $(awk -v p="$m" '$1 == p { $1 = ""; print }' <<< "$s" | xargs | sed 's/^$/no session/')")
    fi
  done
done
b1_up=$(for m in "${OTHERS[@]}"; do established "$S_B1" "$m" && echo "$m"; done | wc -l)
if [ ${#notup[@]} -eq 0 ]; then
  item ok "Peers ${OTHERS[0]}-${LAST} Established on $B1" "$b1_up/${#OTHERS[@]} on $B1; full iBGP mesh $mesh_up/$mesh_all sessions"
else
  item fail "Peers ${OTHERS[0]}-${LAST} Established on $B1" "$b1_up/${#OTHERS[@]} on $B1; full iBGP mesh $mesh_up/$mesh_all" "${notup[@]:0:8}"
  LOG_HINTS+=("$B1")
fi

# ---- 7. overlay reachability --------------------------------------------------------------------------
p4=$(ping_matrix 4 3); r4=$?
p6=$(ping_matrix 6 3); r6=$?
ok4=$(grep -c '^ok' <<< "$p4"); ok6=$(grep -c '^ok' <<< "$p6"); pairs=$(( NODES * (NODES - 1) ))
maxrtt=$(printf '%s\n%s\n' "$p4" "$p6" | awk '$1 == "ok" && $4 > m { m = $4 } END { printf "%.2f", m }')
if [ $r4 = 0 ] && [ $r6 = 0 ]; then
  item ok "Overlay operational (every ${OVERLAY_PREFIX}.x reachable from every node)" "IPv4 $ok4/$pairs pairs, IPv6 ($OVERLAY6_PREFIX/$OVERLAY6_PREFIXLEN) $ok6/$pairs pairs, max avg rtt $maxrtt ms"
else
  item fail "Overlay operational (every ${OVERLAY_PREFIX}.x reachable from every node)" "IPv4 $ok4/$pairs, IPv6 $ok6/$pairs" \
    "$(printf '%s\n%s\n' "$p4" "$p6" | awk '$1 == "fail" { printf "%s->%s ", $2, $3 }')"
fi

# ---- 8. IPv4 and IPv6 exchanged over iBGP --------------------------------------------------------------
miss=() seen4=0 seen6=0
for n in $(lab_nodes); do
  rt=$(node_cli "$n" show route 2>/dev/null | route_lines)
  for m in $(lab_nodes); do
    [ "$n" = "$m" ] && continue
    j=$(node_index "$m")
    if awk -v p="${SITE_PREFIX}.$j.0/24" -v s="$m" '$1 == p && $2 == s { f = 1 } END { exit !f }' <<< "$rt"; then seen4=$((seen4 + 1)); else miss+=("$n lacks ${SITE_PREFIX}.$j.0/24 from $m"); fi
    if awk -v p="${SITE6_PREFIX}:$j::/64" -v s="$m" '$1 == p && $2 == s { f = 1 } END { exit !f }' <<< "$rt"; then seen6=$((seen6 + 1)); else miss+=("$n lacks ${SITE6_PREFIX}:$j::/64 from $m"); fi
  done
done
if [ ${#miss[@]} -eq 0 ]; then
  item ok "BGP exchanges IPv4 and IPv6 in the mesh" "site prefixes learned over iBGP: IPv4 $seen4/$pairs, IPv6 $seen6/$pairs"
else
  item fail "BGP exchanges IPv4 and IPv6 in the mesh" "IPv4 $seen4/$pairs, IPv6 $seen6/$pairs" "${miss[@]:0:6}"
fi

# ---- 9. export filters --------------------------------------------------------------------------------
if $ISP_ON; then
  mapfile -t GOT < <(isp_show show route protocol customer 2>/dev/null | route_lines | awk '$2 == "customer" { print $1 }' | sort -u)
  mapfile -t WANT < <(printf '%s\n' "${EXPORT_SET[@]}" | sed '/^$/d' | sort -u)
  extra=$(comm -13 <(printf '%s\n' "${WANT[@]}") <(printf '%s\n' "${GOT[@]}") | xargs)
  lack=$(comm -23 <(printf '%s\n' "${WANT[@]}") <(printf '%s\n' "${GOT[@]}") | xargs)
  held=$(node_cli "$B1" show route 2>/dev/null | route_lines | awk '{ print $1 }' | sort -u | grep -vxF -f <(printf '%s\n' "${WANT[@]}" "${ISP_ROUTES[@]}") | grep -c . || true)
  expline=$(node_cli "$B1" show protocols all isp 2>/dev/null | awk '/Export updates:/ { printf "export updates: %s accepted, %s filtered", $7, $5 }')
  if [ -z "$extra" ] && [ -z "$lack" ] && [ ${#GOT[@]} -gt 0 ]; then
    item ok "Export filters working" "ISP receives exactly ${GOT[*]} (export_to_isp allows ${WANT[*]}); $held other mesh routes kept back; $B1: $expline"
  else
    item fail "Export filters working" "ISP receives: ${GOT[*]:-nothing}; allowed: ${WANT[*]}" \
      "${extra:+leaked past the filter: $extra}" "${lack:+allowed but not received: $lack}" "$B1: $expline"
  fi
else
  item ok "Export filters working" "skipped: no ISP in this lab"
fi

# ---- 10. end to end through the mesh and the border router --------------------------------------------
if $ISP_ON; then
  rget=$(ip -n "$LAST" route get "$ISP_TEST_IP" 2>&1 | head -1 | sed 's/ *uid [0-9]* *$//')
  out=$(ip netns exec "$LAST" ping -n -c 3 -i 0.2 -W 1 "$ISP_TEST_IP" 2>&1)
  rtt=$(awk -F/ '/^rtt/ { print $5 }' <<< "$out")
  loss=$(grep -o '[0-9.]*% packet loss' <<< "$out")
  back=$(ip -n isp route show "${OVERLAY_PREFIX}.0/${OVERLAY_PREFIXLEN}" 2>/dev/null | head -1 | sed 's/ *$//')
  if [ -n "$rtt" ] && grep -q "via ${OVERLAY_PREFIX}.1 dev $TINC_INTERFACE" <<< "$rget"; then
    item ok "End to end: $LAST pings $ISP_TEST_IP through the mesh and $B1" "$rget; $loss, avg rtt $rtt ms; ISP returns via: $back"
  else
    item fail "End to end: $LAST pings $ISP_TEST_IP through the mesh and $B1" "${loss:-no reply}" \
      "$LAST route: $rget" "ISP route back to the overlay: ${back:-none}" \
      "$B1 route: $(ip -n "$B1" route get "$ISP_TEST_IP" 2>&1 | head -1); ip_forward=$(ip netns exec "$B1" sysctl -n net.ipv4.ip_forward)"
  fi
else
  item ok "End to end ping to the ISP" "skipped: no ISP in this lab"
fi

# ---- 11. stability window -----------------------------------------------------------------------------
# BIRD derives its "since" wall time from a monotonic clock at print time, so the same event can read
# 1 ms apart on two calls: equal within 100 ms (a real re-establishment moves it by far more).
same_since() {
  [ "$1" = "$2" ] && return 0
  awk -v a="$1" -v b="$2" 'function s(t, p) { split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    BEGIN { d = s(a) - s(b); if (d < 0) d = -d; exit !(d <= 0.1 && a ~ /:/ && b ~ /:/) }'
}
left=$(( STABILITY_WINDOW * 1000 - ($(now_ms) - T_BASE) ))
[ $left -gt 0 ] && sleep "$(awk -v l="$left" 'BEGIN { printf "%.3f", l / 1000 }')"
flaps=() total=0
closed_after=$(cat "$LAB_CONF"/*/tinc.log 2>/dev/null | grep -c "Closing connection" || true)
for n in $(lab_nodes) $($ISP_ON && echo isp); do
  now=$(sessions "$n")
  while read -r name state since info; do
    [ -n "$name" ] || continue
    total=$((total + 1))
    before=$(awk -v p="$name" '$1 == p { print $3 }' <<< "${BASE[$n]:-}")
    if [[ $info != Established* ]]; then flaps+=("$n/$name is $state $info now")
    elif [ -z "$before" ]; then flaps+=("$n/$name appeared during the window (since $since)")
    elif ! same_since "$before" "$since"; then flaps+=("$n/$name re-established during the window (since $before -> $since)")
    fi
  done <<< "$now"
  # sessions that disappeared
  while read -r name _; do
    [ -n "$name" ] || continue
    awk -v p="$name" '$1 == p { f = 1 } END { exit !f }' <<< "$now" || flaps+=("$n/$name disappeared during the window")
  done <<< "${BASE[$n]:-}"
done
span=$(awk -v a="$T_BASE" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
if [ ${#flaps[@]} -eq 0 ] && [ $total -gt 0 ]; then
  item ok "No BGP session flapped (stability window)" "$total sessions unchanged over ${span} s (STABILITY_WINDOW=${STABILITY_WINDOW}); tinc meta connections closed meanwhile: $((closed_after - closed_before))"
else
  item fail "No BGP session flapped (stability window)" "${#flaps[@]} of $total sessions changed over ${span} s; tinc meta connections closed meanwhile: $((closed_after - closed_before))" "${flaps[@]:0:10}"
fi

# ---- summary ------------------------------------------------------------------------------------------
echo
if [ "$FAILED" -eq 0 ]; then
  echo "validate: all $PASSED items passed"
  exit 0
fi
echo "validate: $FAILED of $((PASSED + FAILED)) items FAILED: ${FAILED_ITEMS[*]}"
if [ "$VALIDATE_LOGS" = 1 ]; then
  echo
  echo "log excerpts (errors, warnings and BGP state changes, last 15 per node):"
  for f in "$LAB_CONF"/*/tinc.log "$LAB_CONF"/*/stdout.log "$LAB_CONF"/*/bird.log "$LAB_CONF"/isp/bgp.log; do
    [ -s "$f" ] || continue
    ex=$(grep -iE "error|warn|fail|crash|fatal|BGP state|notification|limit|unreachable|established" "$f" | tail -15)
    [ -n "$ex" ] || continue
    echo "----- ${f#"$LAB_RUN"/}"
    echo "$ex"
  done
fi
exit 1
