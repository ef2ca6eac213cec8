#!/usr/bin/env bash
# scripts/lab.sh up|down|status|ctl NODE COMMAND...|logs [LINES]|stop-node NODE|start-node NODE
#
#   stop-node NODE   stops exactly that node's recorded process(es) (SIGTERM; LAB_STOP_SIGNAL=KILL for a
#                    crash) and drops them from lab-run/pids; the rest of the lab is not touched
#   start-node NODE  starts that node again with the lab's binary and config, records the new pid(s)
#
# The ISP integration guide's topology on this machine, in network namespaces (root needed):
#
#   isp      the ISP (AS 65001): Debian's bird2 with the guide's config (or, without bird2 or with
#            LAB_ISP=builtin, `tincd-swift bgp` with the same file); eth1 10.42.0.228/24 on the LAN,
#            198.51.100.1/32 on lo (inside its announced 198.51.100.0/24, for end-to-end pings)
#   bird1    border router: eth1 = macvlan (mode bridge) 10.42.0.100/24 on the LAN, eth0 on the underlay,
#            tinc0 (TAP) 10.0.0.1/24 + 2001:db8::1/64, IP forwarding on
#   bird2..5 eth0 172.30.0.N/24 on the underlay, tinc0 10.0.0.N/24 + 2001:db8::N/64
#   labnet   the wires: bridge ul-br (underlay, ports ul-birdN), bridge lan-br (LAN) with port lan-isp
#            (peer: isp's eth1) and port lan-uplink, whose veth peer lan-phy stands in for the wired NIC
#            the guide's macvlan sits on: bird1's eth1 is a macvlan on labnet's lan-phy, moved into bird1.
#
# Every link is created directly inside these namespaces; nothing is left in the root namespace.
# Configs come from deploy/render.sh with deploy/lab.env (LAB_ENV), into lab-run/config (LAB_RUN).
#
# Environment: LAB_BIN (tincd-swift binary, default .build/release/tincd-swift), LAB_ISP=auto|bird2|builtin,
# LAB_CONVERGE_TIMEOUT (s, default 60), LAB_ENV, LAB_RUN,
# LAB_MIXED="bird4 ..." (at `up`): those nodes run C tincd 1.0 (/usr/sbin/tincd, LAB_TINCD) plus bird2 with
# static iBGP sessions to the others (bird.conf from deploy/render.sh) instead of tincd-swift -- a mixed
# mesh as during a migration. The Swift nodes still open their automatic session to them (BGPAddress).
set -uo pipefail
# shellcheck source=scripts/lab-lib.sh
. "$(dirname "$0")/lab-lib.sh"

die() { echo "lab: $*" >&2; exit 1; }
say() { echo "lab: $*"; }

record_netns() { echo "$1" >> "$LAB_RUN/netns"; }
# Closes every inherited descriptor above stderr (run in a daemon's subshell before exec). A caller such as
# Foundation's Process watches a descriptor it passed down to learn when its child exits; a daemon that
# kept it would make `lab.sh up` look like it never finished.
close_extra_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}
record_pid() { echo "$1 $2" >> "$LAB_RUN/pids"; }
run() { "$@" || die "failed: $*"; }

# ------------------------------------------------------------------------------------------------ down
cmd_down() {
  if ! lab_exists; then
    [ -d "$LAB_RUN" ] && rm -rf "$LAB_RUN"
    say "no lab to remove"
    return 0
  fi
  local name pid victims=() i ns
  if [ -f "$LAB_RUN/pids" ]; then
    while read -r name pid; do
      [ -n "$pid" ] || continue
      if pid_alive "$name" "$pid"; then kill -TERM "$pid" 2>/dev/null && victims+=("$name:$pid"); fi
    done < "$LAB_RUN/pids"
  fi
  for ((i = 0; i < 50; i++)); do
    local left=0 v
    for v in "${victims[@]}"; do pid_alive "${v%%:*}" "${v##*:}" && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for v in "${victims[@]}"; do
    if pid_alive "${v%%:*}" "${v##*:}"; then
      say "${v%%:*} (pid ${v##*:}) ignored SIGTERM for 5 s, sending SIGKILL"
      kill -KILL "${v##*:}" 2>/dev/null
    fi
  done
  local deleted=()
  if [ -f "$LAB_RUN/netns" ]; then
    # reverse creation order
    for ns in $(tac "$LAB_RUN/netns"); do
      ip netns del "$ns" 2>/dev/null && deleted+=("$ns")
    done
  fi
  rm -rf "$LAB_RUN"
  say "lab removed: ${#victims[@]} processes stopped, namespaces deleted: ${deleted[*]:-none}"
}

# -------------------------------------------------------------------------------------------------- up
start_isp() {
  local kind=$1 d=$LAB_CONF/isp pid
  if [ "$kind" = bird2 ]; then
    ( close_extra_fds
      exec setsid ip netns exec isp bird -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" \
        </dev/null >>"$d/stdout.log" 2>&1 ) &
  else
    ( close_extra_fds; cd "$d" && ulimit -c unlimited 2>/dev/null
      SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=yes,interactive=no} exec setsid ip netns exec isp \
        "$LAB_BIN" bgp -c "$d" -D -d2 --logfile="$d/bgp.log" </dev/null >>"$d/stdout.log" 2>&1 ) &
  fi
  pid=$!
  record_pid isp "$pid"
  ISP_PID=$pid
}

start_node() {
  if is_mixed "$1"; then start_mixed_node "$1"; else start_swift_node "$1"; fi
}

# C tincd 1.0 + bird2 in the node's namespace (two processes, both recorded under the node's name)
start_mixed_node() {
  local node=$1 d=$LAB_CONF/$1 tincd=${LAB_TINCD:-/usr/sbin/tincd}
  ( close_extra_fds; cd "$d" && ulimit -c unlimited 2>/dev/null
    exec setsid ip netns exec "$node" "$tincd" -c "$d" -D -d2 --logfile="$d/tinc.log" --pidfile="$d/tinc.pid" \
      </dev/null >>"$d/stdout.log" 2>&1 ) &
  record_pid "$node" $!
  ( close_extra_fds; cd "$d"
    exec setsid ip netns exec "$node" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" \
      </dev/null >>"$d/bird-stdout.log" 2>&1 ) &
  record_pid "$node" $!
}

# node_started NODE: its control socket(s) exist
node_started() {
  if is_mixed "$1"; then [ -S "$LAB_CONF/$1/bird.ctl" ] && [ -s "$LAB_CONF/$1/tinc.pid" ]
  else [ -S "$LAB_CONF/$1/tinc.socket" ]; fi
}

start_swift_node() {
  local node=$1 d=$LAB_CONF/$1
  # run in its config dir with core dumps on and Swift's crash backtracer, so a crash leaves evidence
  # (stdout.log, core*); `exec` keeps $! the daemon's pid (setsid and ip netns exec exec too)
  ( close_extra_fds; cd "$d" && ulimit -c unlimited 2>/dev/null
    SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=yes,interactive=no} exec setsid ip netns exec "$node" \
      "$LAB_BIN" -c "$d" -D -d2 --logfile="$d/tinc.log" --pidfile="$d/tinc.pid" </dev/null >>"$d/stdout.log" 2>&1 ) &
  record_pid "$node" $!
}

# Convergence probes (each true when converged).
tinc_converged() {
  local node n
  for node in $(lab_nodes); do
    n=$(tinc_nodes "$node" 2>/dev/null | awk '$2 == "reachable" || $2 == "myself"' | wc -l)
    [ "$n" -eq "$NODES" ] || return 1
  done
}
bgp_converged() {
  local node want n probe
  probe=${ISP_ACCEPT_PREFIXES%%,*}
  for node in $(lab_nodes); do
    want=$((NODES - 1))
    [ "$node" = "${NODE_PREFIX}1" ] && [ "$ISP_ENABLED" = true ] && want=$NODES
    n=$(node_cli "$node" show protocols 2>/dev/null | bgp_protocols | grep -c ' Established' || true)
    [ "$n" -ge "$want" ] || return 1
    if [ "$ISP_ENABLED" = true ]; then
      node_cli "$node" show route for "$probe" 2>/dev/null | grep -qF "$probe" || return 1
    fi
  done
}

cmd_up() {
  local t_begin t0 kind ns node i n ver
  t_begin=$(now_ms)
  LAB_BIN=$(realpath -m "${LAB_BIN:-$LAB_REPO/.build/release/tincd-swift}")
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
  command -v ip >/dev/null || die "needs iproute2's ip"
  [ -x "$LAB_BIN" ] || die "no tincd-swift binary at $LAB_BIN (run \`swift build -c release\` or set LAB_BIN)"
  if [ -n "${LAB_MIXED:-}" ]; then
    [ -x "${LAB_TINCD:-/usr/sbin/tincd}" ] || die "LAB_MIXED=$LAB_MIXED needs C tincd at ${LAB_TINCD:-/usr/sbin/tincd}"
    command -v bird >/dev/null && command -v birdc >/dev/null || die "LAB_MIXED=$LAB_MIXED needs bird2 (bird, birdc)"
  fi
  [ -c /dev/net/tun ] || die "no /dev/net/tun"
  if lab_exists; then
    say "a previous lab exists: removing it first"
    cmd_down
  fi

  # render the configs (same renderer as the compose deployment; host files from hosts/)
  mkdir -p "$LAB_RUN"
  echo '*' > "$LAB_RUN/.gitignore"
  lab_render "$LAB_CONF" || die "deploy/render.sh $LAB_ENV failed"
  lab_load || exit 1

  local all_ns=(isp)
  for node in $(lab_nodes); do all_ns+=("$node"); done
  all_ns+=("$LAB_NETNS")
  for ns in "${all_ns[@]}"; do
    if ip netns list | awk '{ print $1 }' | grep -qx "$ns"; then
      die "namespace $ns exists but was not created by this lab (no record in $LAB_RUN); remove it yourself (ip netns del $ns) or stop whoever uses it"
    fi
  done

  case ${LAB_ISP:-auto} in
    bird2) command -v bird >/dev/null || die "LAB_ISP=bird2 but bird is not installed"; kind=bird2 ;;
    builtin) kind=builtin ;;
    auto) if command -v bird >/dev/null && command -v birdc >/dev/null; then kind=bird2; else kind=builtin; fi ;;
    *) die "LAB_ISP must be auto, bird2 or builtin" ;;
  esac
  [ "$ISP_ENABLED" = true ] || kind=none
  : > "$LAB_RUN/lab.state"
  state_set STATE_BIN "$LAB_BIN"
  state_set STATE_ISP_KIND "$kind"

  # --- namespaces and wires
  say "creating namespaces ${all_ns[*]}"
  for ns in "${all_ns[@]}"; do
    run ip netns add "$ns"
    record_netns "$ns"
    run ip -n "$ns" link set lo up
  done
  local L=$LAB_NETNS
  run ip -n "$L" link add ul-br type bridge
  run ip -n "$L" link set ul-br up
  for node in $(lab_nodes); do
    i=$(node_index "$node")
    run ip -n "$L" link add "ul-$node" type veth peer name eth0 netns "$node"
    run ip -n "$L" link set "ul-$node" master ul-br
    run ip -n "$L" link set "ul-$node" up
    run ip -n "$node" addr add "${UNDERLAY_PREFIX}.$i/$UNDERLAY_PREFIXLEN" dev eth0
    run ip -n "$node" link set eth0 up
  done
  if [ "$ISP_ENABLED" = true ]; then
    local lanlen=${LAN_SUBNET##*/} b1=${NODE_PREFIX}1
    run ip -n "$L" link add lan-br type bridge
    run ip -n "$L" link set lan-br up
    # the "wired NIC" (macvlan parent) and its cable to the LAN switch
    run ip -n "$L" link add "$LAN_INTERFACE" type veth peer name lan-uplink
    run ip -n "$L" link set lan-uplink master lan-br
    run ip -n "$L" link set lan-uplink up
    run ip -n "$L" link set "$LAN_INTERFACE" up
    # bird1's macvlan in bridge mode on that parent, created straight into bird1
    run ip -n "$L" link add link "$LAN_INTERFACE" name "$LAN_MACVLAN_NAME" netns "$b1" type macvlan mode bridge
    run ip -n "$b1" addr add "$TINC1_LAN_IP/$lanlen" dev "$LAN_MACVLAN_NAME"
    run ip -n "$b1" link set "$LAN_MACVLAN_NAME" up
    # the ISP's LAN port
    run ip -n "$L" link add lan-isp type veth peer name eth1 netns isp
    run ip -n "$L" link set lan-isp master lan-br
    run ip -n "$L" link set lan-isp up
    run ip -n isp addr add "$ISP_NEIGHBOR/$lanlen" dev eth1
    run ip -n isp link set eth1 up
    run ip -n isp addr add "$ISP_TEST_IP/32" dev lo
    # the border router forwards between the LAN and the overlay
    run ip netns exec "$b1" sysctl -qw net.ipv4.ip_forward=1
    run ip netns exec "$b1" sysctl -qw net.ipv6.conf.all.forwarding=1
    ip netns exec "$b1" ping -c1 -W2 -q "$ISP_NEIGHBOR" >/dev/null 2>&1 \
      || die "bird1's macvlan cannot reach the ISP at $ISP_NEIGHBOR"
  fi

  # --- processes: the ISP first, so the border router's first connection attempt finds it
  if [ "$kind" != none ]; then
    start_isp "$kind"
    if [ "$kind" = bird2 ]; then
      for ((i = 0; i < 50; i++)); do [ -S "$LAB_CONF/isp/bird.ctl" ] && break; sleep 0.1; done
      [ -S "$LAB_CONF/isp/bird.ctl" ] || { tail -20 "$LAB_CONF/isp/stdout.log" "$LAB_CONF/isp/bird.log" 2>/dev/null; die "bird did not start in namespace isp"; }
    fi
  fi
  t0=$(now_ms)
  state_set STATE_START_MS "$t0"
  state_set STATE_START_TOD "$(now_tod)"
  if [ -n "${LAB_MIXED:-}" ]; then
    say "starting ${NODES} nodes: C tincd + bird2 on ${LAB_MIXED}, tincd-swift ($LAB_BIN) on the others"
  else
    say "starting ${NODES} tincd-swift nodes ($LAB_BIN)"
  fi
  for node in $(lab_nodes); do state_set "STATE_NODE_START_TOD_$node" "$(now_tod)"; start_node "$node"; done
  for node in $(lab_nodes); do
    for ((i = 0; i < 100; i++)); do node_started "$node" && break; sleep 0.1; done
    if ! node_started "$node"; then
      tail -20 "$LAB_CONF/$node/tinc.log" "$LAB_CONF/$node/stdout.log" "$LAB_CONF/$node/bird.log" 2>/dev/null
      die "$node did not come up (no control socket in $LAB_CONF/$node after 10 s)"
    fi
  done

  # --- convergence
  local timeout=${LAB_CONVERGE_TIMEOUT:-60} deadline t_tinc="" t_ping="" t_bgp="" bgp_on=1
  deadline=$(( t0 + timeout * 1000 ))
  [ -f "$LAB_CONF/${NODE_PREFIX}1/bgp.conf" ] || bgp_on=0
  while [ "$(now_ms)" -lt "$deadline" ]; do
    if [ -z "$t_tinc" ] && tinc_converged; then t_tinc=$(( $(now_ms) - t0 )); fi
    if [ -n "$t_tinc" ] && [ -z "$t_ping" ] && ping_matrix 4 1 >/dev/null && ping_matrix 6 1 >/dev/null; then
      t_ping=$(( $(now_ms) - t0 ))
    fi
    if [ "$bgp_on" = 1 ] && [ -z "$t_bgp" ] && bgp_converged; then t_bgp=$(( $(now_ms) - t0 )); fi
    [ -n "$t_tinc" ] && [ -n "$t_ping" ] && { [ -n "$t_bgp" ] || [ "$bgp_on" = 0 ]; } && break
    sleep 0.2
  done
  local ms2s='{ printf "%.1f s", $1 / 1000 }'
  fmt() { if [ -n "$1" ]; then echo "$1" | awk "$ms2s"; else echo "NOT converged after ${timeout} s"; fi; }
  state_set STATE_CONVERGED_TINC_MS "$t_tinc"
  state_set STATE_CONVERGED_PING_MS "$t_ping"
  state_set STATE_CONVERGED_BGP_MS "$t_bgp"

  case $kind in
    bird2) ver=$(bird --version 2>&1 | awk '{ print $NF }'); isp_desc="Debian bird2 (BIRD $ver), config $LAB_CONF/isp/bird.conf" ;;
    builtin) isp_desc="built-in speaker (tincd-swift bgp -c $LAB_CONF/isp), config $LAB_CONF/isp/bgp.conf (bird2 not installed or LAB_ISP=builtin)" ;;
    *) isp_desc="none (ISP_ENABLED=$ISP_ENABLED)" ;;
  esac
  local total=$(( $(now_ms) - t_begin )) ok=1
  [ -n "$t_tinc" ] && [ -n "$t_ping" ] || ok=0
  [ "$bgp_on" = 1 ] && [ -z "$t_bgp" ] && ok=0
  echo
  echo "================ tincd-swift lab ================"
  echo "  ISP:         $isp_desc"
  echo "  binary:      $LAB_BIN"
  echo "  namespaces:  ${all_ns[*]}"
  echo "  underlay:    ${UNDERLAY_PREFIX}.0/$UNDERLAY_PREFIXLEN, bridge ul-br in $LAB_NETNS"
  [ "$ISP_ENABLED" = true ] && \
  echo "  LAN:         $LAN_SUBNET: ${NODE_PREFIX}1 $LAN_MACVLAN_NAME $TINC1_LAN_IP (macvlan, bridge mode, parent $LAB_NETNS/$LAN_INTERFACE) <-> isp eth1 $ISP_NEIGHBOR"
  echo "  overlay:     ${OVERLAY_PREFIX}.0/$OVERLAY_PREFIXLEN and ${OVERLAY6_PREFIX}/$OVERLAY6_PREFIXLEN on $TINC_INTERFACE (TAP, switch mode)"
  echo "  converged (from daemon start):"
  echo "    tinc mesh (every node reaches all $NODES): $(fmt "$t_tinc")"
  echo "    overlay pings (IPv4+IPv6, all pairs):     $(fmt "$t_ping")"
  if [ "$bgp_on" = 1 ]; then
    echo "    BGP (all sessions up, ISP routes on all): $(fmt "$t_bgp")"
  fi
  local dead=() name pid
  while read -r name pid; do pid_alive "$name" "$pid" || dead+=("$name(pid $pid)"); done < "$LAB_RUN/pids"
  if [ ${#dead[@]} -gt 0 ]; then
    ok=0
    echo "  DIED:        ${dead[*]} -- see $LAB_CONF/<node>/stdout.log, tinc.log and core"
  fi
  if [ "$ok" = 1 ]; then
    local whole
    whole="$(echo "$total" | awk "$ms2s") for \`lab.sh up\`"
    if [ -n "${LAB_MAKE_START_MS:-}" ]; then
      whole="$whole, $(echo $(( $(now_ms) - LAB_MAKE_START_MS )) | awk "$ms2s") for \`make lab\` including the build"
    fi
    echo "  converged mesh in $(fmt "${t_bgp:-$t_ping}") after the daemons started ($whole)"
  else
    echo "  NOT fully converged: see \`make validate\` and the logs in $LAB_CONF/*/tinc.log"
  fi
  echo "  next:        make validate | make ctl NODE=bird2 CMD='show route' | make lab-down"
  echo "================================================="
  # a crashed process is a failed start (the lab stays up for inspection); slow convergence is only a warning
  [ ${#dead[@]} -eq 0 ] || return 1
  return 0
}

# ---------------------------------------------------------------------------------------------- status
cmd_status() {
  lab_exists || { echo "no lab is up"; return 1; }
  lab_load || return 1
  local name pid
  echo "ISP: ${STATE_ISP_KIND:-?}   binary: $LAB_BIN"
  echo "namespaces: $(tr '\n' ' ' < "$LAB_RUN/netns")"
  while read -r name pid; do
    if pid_alive "$name" "$pid"; then echo "  $name pid $pid running"; else echo "  $name pid $pid NOT running"; fi
  done < "$LAB_RUN/pids"
  for name in $(lab_nodes); do
    if is_mixed "$name"; then echo "--- $name (C tincd + bird2): birdc show protocols"; else echo "--- $name: show protocols"; fi
    node_cli "$name" show protocols 2>&1 | sed 's/^/  /'
  done
  if [ "${STATE_ISP_KIND:-}" != none ]; then
    echo "--- isp: show protocols"
    isp_show show protocols 2>&1 | sed 's/^/  /'
  fi
}

# ------------------------------------------------------------------------------------------------- ctl
cmd_ctl() {
  local node=${1:-}
  [ -n "$node" ] || die "usage: lab.sh ctl NODE COMMAND... (NODE: isp or ${NODE_PREFIX:-bird}1..N)"
  shift
  lab_exists || die "no lab is up; run \`make lab\`"
  lab_load || exit 1
  [ $# -gt 0 ] || set -- show protocols
  if [ "$node" = isp ]; then
    case ${STATE_ISP_KIND:-} in
      bird2) isp_birdc "$@" ;;
      builtin)
        echo "(ISP is the built-in speaker, which has no control socket: its status file after SIGUSR1)" >&2
        isp_show "$@" ;;
      *) die "this lab has no ISP" ;;
    esac
    return
  fi
  [ -d "$LAB_CONF/$node" ] || die "unknown node $node (nodes: isp $(lab_nodes | tr '\n' ' '))"
  if is_mixed "$node"; then
    case "$*" in
      "dump nodes") tinc_nodes "$node" ;;
      *) node_birdc "$node" "$@" ;;
    esac
    return
  fi
  ctl "$node" "$@"
}

# ------------------------------------------------------------------------------- stop-node / start-node
node_arg() {
  local node=${1:-}
  [ -n "$node" ] || die "usage: lab.sh stop-node|start-node NODE"
  lab_exists || die "no lab is up; run \`make lab\`"
  lab_load || exit 1
  lab_nodes | grep -qx "$node" || die "unknown node $node (nodes: $(lab_nodes | tr '\n' ' '))"
}

cmd_stop_node() {
  node_arg "$@"
  local node=$1 sig=${LAB_STOP_SIGNAL:-TERM} name pid victims=() i left v
  while read -r name pid; do
    [ "$name" = "$node" ] && pid_alive "$name" "$pid" && victims+=("$pid")
  done < "$LAB_RUN/pids"
  [ ${#victims[@]} -gt 0 ] || { sed -i "/^$node /d" "$LAB_RUN/pids"; die "$node is not running (no live pid recorded)"; }
  kill -"$sig" "${victims[@]}" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    left=0
    for v in "${victims[@]}"; do pid_alive "$node" "$v" && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for v in "${victims[@]}"; do
    pid_alive "$node" "$v" && { say "$node (pid $v) ignored SIG$sig for 5 s, sending SIGKILL"; kill -KILL "$v" 2>/dev/null; }
  done
  sed -i "/^$node /d" "$LAB_RUN/pids"
  # a killed daemon leaves its sockets and pid file behind; the next start must not mistake them for its own
  rm -f "$LAB_CONF/$node/tinc.socket" "$LAB_CONF/$node/tinc.pid" "$LAB_CONF/$node/bird.ctl" "$LAB_CONF/$node/bird.pid"
  state_set "STATE_STOPPED_${node}_MS" "$(now_ms)"
  say "$node stopped (SIG$sig, pid ${victims[*]})"
}

cmd_start_node() {
  node_arg "$@"
  local node=$1 name pid i
  while read -r name pid; do
    [ "$name" = "$node" ] && pid_alive "$name" "$pid" && die "$node is already running (pid $pid)"
  done < "$LAB_RUN/pids"
  sed -i "/^$node /d" "$LAB_RUN/pids"
  LAB_BIN=$(realpath -m "$LAB_BIN")
  start_node "$node"
  for ((i = 0; i < 100; i++)); do node_started "$node" && break; sleep 0.1; done
  node_started "$node" || { tail -20 "$LAB_CONF/$node/tinc.log" "$LAB_CONF/$node/stdout.log" 2>/dev/null; die "$node did not come up"; }
  state_set "STATE_STARTED_${node}_MS" "$(now_ms)"
  say "$node started (pid $(awk -v n="$node" '$1 == n { printf "%s ", $2 }' "$LAB_RUN/pids"| xargs))"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  ctl) shift; cmd_ctl "$@" ;;
  logs) lab_exists || die "no lab is up"; lab_load && lab_log_tails "${2:-25}" ;;
  stop-node) shift; cmd_stop_node "$@" ;;
  start-node) shift; cmd_start_node "$@" ;;
  *) echo "usage: $0 up|down|status|ctl NODE COMMAND...|logs [LINES]|stop-node NODE|start-node NODE" >&2; exit 2 ;;
esac
