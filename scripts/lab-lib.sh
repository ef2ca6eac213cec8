# scripts/lab-lib.sh -- shared by scripts/lab.sh and scripts/validate.sh (sourced, not run).
#
# Layout of the lab's run dir (LAB_RUN, default <repo>/lab-run; `make lab-down` removes it):
#   config/          deploy/render.sh output: config/bird1 .. config/birdN (tinc config dirs, which are
#                    also the nodes' run dirs: tinc.pid, tinc.log, stdout.log, tinc.socket), config/isp
#   keys/            node keys (deploy/lab.env: KEYS_DIR=../lab-run/keys)
#   netns            the namespaces this lab created, one per line (lab-down deletes exactly these)
#   pids             "NAME PID" of every process this lab started (lab-down signals exactly these)
#   lab.state        KEY=VALUE facts about the running lab (binary, ISP kind, start and convergence times)

LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_RUN=${LAB_RUN:-$LAB_REPO/lab-run}
LAB_ENV=${LAB_ENV:-$LAB_REPO/deploy/lab.env}
LAB_CONF=$LAB_RUN/config
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# lab_render CONFDIR: the lab's configs, as `make lab` renders them: deploy/render.sh with LAB_ENV and
# the top-level hosts/ folder (render.sh's default HOSTS_DIR), keys generated with LAB_BIN (TINCD_SWIFT
# overrides; none: openssl). Also run on its own by the tests (HostsFolderTests), into a scratch dir.
lab_render() {
  ISP_BIRD_LOG=$1/isp/bird.log TINCD_SWIFT=${TINCD_SWIFT:-${LAB_BIN:-}} "$LAB_REPO/deploy/render.sh" "$LAB_ENV" "$1"
}

lab_exists() { [ -s "$LAB_RUN/netns" ] || [ -s "$LAB_RUN/pids" ]; }

# Loads the rendered variables and the lab state into the shell.
lab_load() {
  [ -f "$LAB_CONF/render.env" ] || { echo "no lab is up (no $LAB_CONF/render.env); run \`make lab\`" >&2; return 1; }
  # shellcheck disable=SC1091
  . "$LAB_CONF/render.env"
  LAB_NETNS=${LAB_NETNS:-labnet}
  LAN_MACVLAN_NAME=${LAN_MACVLAN_NAME:-eth1}
  if [ -f "$LAB_RUN/lab.state" ]; then
    # shellcheck disable=SC1091
    . "$LAB_RUN/lab.state"
  fi
  LAB_BIN=${LAB_BIN:-${STATE_BIN:-$LAB_REPO/.build/release/tincd-swift}}
}

state_set() { # KEY VALUE: replaces KEY in lab.state
  local f=$LAB_RUN/lab.state
  touch "$f"
  sed -i "/^$1=/d" "$f"
  printf '%s=%q\n' "$1" "$2" >> "$f"
}

lab_nodes() { local i; for ((i = 1; i <= NODES; i++)); do echo "${NODE_PREFIX}$i"; done; }
node_index() { echo "${1#"$NODE_PREFIX"}"; }

# Milliseconds since the epoch; seconds-of-day (local time) with milliseconds, like BIRD's HH:MM:SS.mmm.
now_ms() { date +%s%3N; }
now_tod() { date +%H:%M:%S.%3N; }
# tod_diff A B: B - A in seconds (3 decimals), both HH:MM:SS[.mmm], across midnight if needed.
tod_diff() {
  awk -v a="$1" -v b="$2" 'function s(t, p) { split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    BEGIN { d = s(b) - s(a); if (d < -43200) d += 86400; if (d > 43200) d -= 86400; printf "%.3f", d }'
}

# ctl NODE ARGS...: a control command to a mesh node (text on stdout; non-zero on error).
ctl() {
  local node=$1; shift
  timeout 10 ip netns exec "$node" "$LAB_BIN" ctl --pidfile "$LAB_CONF/$node/tinc.pid" "$@"
}

# Mixed nodes (LAB_MIXED="bird4 ..." when the lab was rendered, kept in render.env): C tincd 1.0 + bird2
# instead of tincd-swift. Their config dir has bird.conf (no bgp.conf); bird's socket is bird.ctl.
is_mixed() { [[ " ${LAB_MIXED:-} " == *" $1 "* ]]; }
node_birdc() { local node=$1; shift; timeout 10 ip netns exec "$node" birdc -s "$LAB_CONF/$node/bird.ctl" "$@"; }
# node_cli NODE ARGS...: a BIRD-style command (show protocols, show route ...) to a mesh node, whichever
# implementation runs there (tincd-swift's control socket, or birdc on a mixed node).
node_cli() {
  if is_mixed "$1"; then node_birdc "$@"; else ctl "$@"; fi
}
# tinc_nodes NODE: "name state" per node known to NODE's tinc daemon (state: myself|reachable|unreachable).
# tincd-swift: `dump nodes`; C tincd 1.0 (mixed node): SIGUSR2 makes it log its node list (status bit 0x10
# = reachable), which is read back from its log file.
tinc_nodes() {
  local node=$1
  if ! is_mixed "$node"; then
    ctl "$node" dump nodes 2>/dev/null | awk 'NR > 1 { print $1, $2 }'
    return
  fi
  local log=$LAB_CONF/$node/tinc.log pid before i
  pid=$(cat "$LAB_CONF/$node/tinc.pid" 2>/dev/null | awk '{ print $1; exit }')
  [ -n "$pid" ] && [ -f "$log" ] || return 1
  before=$(grep -c 'End of nodes' "$log" 2>/dev/null || true)
  kill -USR2 "$pid" 2>/dev/null || return 1
  for ((i = 0; i < 40; i++)); do
    [ "$(grep -c 'End of nodes' "$log" 2>/dev/null || true)" -gt "$before" ] && break
    sleep 0.05
  done
  # the last "Nodes:" ... "End of nodes." block (plain awk: no strtonum/and)
  awk -v me="$node" '
    function hex(h,   i, v) { v = 0; h = tolower(h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
    /Nodes:$/ { n = 0; next }
    /End of nodes\./ { m = n; for (i = 1; i <= n; i++) out[i] = L[i]; next }
    / at .* status [0-9a-fA-F]+ / { nm = ""; st = ""
      for (i = 1; i < NF; i++) { if ($i == "status") st = $(i + 1); if (nm == "" && $(i + 1) == "at") nm = $i }
      r = (nm == me) ? "myself" : ((int(hex(st) / 16) % 2) ? "reachable" : "unreachable")
      L[++n] = nm " " r }
    END { for (i = 1; i <= m; i++) print out[i] }' "$log"
}

# isp_birdc ARGS...: birdc on the ISP (bird2 only).
isp_birdc() { timeout 10 ip netns exec isp birdc -s "$LAB_CONF/isp/bird.ctl" "$@"; }

# isp_status: the built-in ISP speaker's `show protocols` + `show route` (+ details), refreshed by SIGUSR1.
isp_status() {
  local pid f=$LAB_CONF/isp/bgp.status before i
  pid=$(awk '$1 == "isp" { print $2 }' "$LAB_RUN/pids" 2>/dev/null | tail -1)
  before=$(stat -c %y "$f" 2>/dev/null || echo none)
  [ -n "$pid" ] && kill -USR1 "$pid" 2>/dev/null
  for ((i = 0; i < 20; i++)); do
    [ "$(stat -c %y "$f" 2>/dev/null || echo none)" != "$before" ] && break
    sleep 0.05
  done
  cat "$f" 2>/dev/null
}

# isp_show ARGS...: `show ...` on the ISP, whichever implementation runs there. For the built-in speaker
# `show protocols` and `show route` are answered from bgp.status (sections filtered roughly).
isp_show() {
  if [ "${STATE_ISP_KIND:-}" = bird2 ]; then isp_birdc "$@"; return; fi
  local all args="$*"
  all=$(isp_status) || return 1
  case "$args" in
    "show protocols") echo "$all" | awk 'NR == 1 || /^Name/ { p = 1 } /^$/ { if (p) exit } p' ;;
    "show route protocol "*) local proto=${args##* }; echo "$all" | awk -v p="[$proto " '
        /^[0-9a-fA-F:.]+\/[0-9]+ / { keep = index($0, p) > 0; if (keep) print; next }
        /^[ \t]/ { if (keep) print; next } { keep = 0 }' ;;
    *) echo "$all" ;;
  esac
}

# Protocol lines of `show protocols` that are BGP: "name state info..." (BIRD and BGPLite formats).
bgp_protocols() { awk '$2 == "BGP" { name = $1; state = $4; $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print name, state, $0 }'; }

# Route prefix lines from `show route` output with their protocol and since: "prefix proto since".
route_lines() {
  awk '/^[0-9a-fA-F:.]+\/[0-9]+[ \t]/ { pfx = $1 }
       /\[[^ \]]+ [0-9:.]+/ {
         s = $0; i = index(s, "["); s = substr(s, i + 1); split(s, w, /[ \]]/)
         if (pfx != "") print pfx, w[1], w[2] }'
}

# pid_alive NAME PID: the pid runs and is the lab's (its command line names the lab's config dir).
pid_alive() {
  local name=$1 pid=$2
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF "$LAB_CONF/$name"
}

# Prints the last lines of every log of the lab (for failure reports).
lab_log_tails() {
  local lines=${1:-25} f
  for f in "$LAB_CONF"/*/tinc.log "$LAB_CONF"/*/stdout.log "$LAB_CONF"/*/bird.log "$LAB_CONF"/isp/bgp.log; do
    [ -s "$f" ] || continue
    echo "----- ${f#"$LAB_RUN"/} (last $lines lines) -----"
    tail -n "$lines" "$f"
  done
}

# ping_matrix 4|6 [COUNT]: pings every node's overlay address from every other node, in parallel.
# Prints one line per pair: "ok|fail SRC DST RTT_MS" and returns non-zero if any pair failed.
ping_matrix() {
  local fam=$1 count=${2:-3} src dst addr tmp rc=0 pids=()
  tmp=$(mktemp -d)
  for src in $(lab_nodes); do
    for dst in $(lab_nodes); do
      [ "$src" = "$dst" ] && continue
      if [ "$fam" = 6 ]; then addr=${OVERLAY6_PREFIX}$(node_index "$dst"); else addr=${OVERLAY_PREFIX}.$(node_index "$dst"); fi
      ( out=$(ip netns exec "$src" ping -"$fam" -n -c "$count" -i 0.2 -W 1 "$addr" 2>&1)
        rtt=$(echo "$out" | awk -F/ '/^rtt|^round-trip/ { print $5 }')
        if [ -n "$rtt" ]; then echo "ok $src $addr $rtt"; else echo "fail $src $addr -"; fi ) > "$tmp/$src-$dst" &
      pids+=($!)
    done
  done
  # only our pings: a plain `wait` would also wait for the lab's daemons
  wait "${pids[@]}"
  cat "$tmp"/* 2>/dev/null
  grep -q '^fail' "$tmp"/* 2>/dev/null && rc=1
  rm -rf "$tmp"
  return $rc
}
