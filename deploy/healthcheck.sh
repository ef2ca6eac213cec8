#!/usr/bin/env bash
# deploy/healthcheck.sh -- container health of a tincd-swift node (Docker HEALTHCHECK, compose healthcheck).
#
# Healthy when
#   1. the daemon answers on its control socket (`tincd-swift ctl -c DIR dump nodes`),
#   2. at least HEALTHCHECK_MIN_REACHABLE other nodes are reachable (default 0),
#   3. with BGP (bgp.conf beside tinc.conf): every reachable node whose hosts/NAME declares BGPAddress
#      has its automatic iBGP session (named after the node) Established, and
#   4. with HEALTHCHECK_REQUIRE_ISP=true and a `protocol bgp isp` in bgp.conf: session `isp` is Established.
# Prints one status line (docker inspect shows it) and exits 0 (healthy) or 1 (unhealthy).
#
# Usage: healthcheck.sh [CONFIG_DIR]   (default /etc/tinc/$NETNAME, NETNAME default mesh)
# Outside containers: TINCD_SWIFT=/path/to/tincd-swift deploy/healthcheck.sh lab-run/config/bird1
set -uo pipefail
CONF=${1:-/etc/tinc/${NETNAME:-mesh}}
BIN=${TINCD_SWIFT:-$(command -v tincd-swift || echo /usr/sbin/tincd-swift)}
MIN=${HEALTHCHECK_MIN_REACHABLE:-0}
ctl() { timeout "${HEALTHCHECK_TIMEOUT:-5}" "$BIN" ctl -c "$CONF" "$@"; }

if ! nodes=$(ctl dump nodes 2>&1); then
  echo "unhealthy: daemon does not answer on its control socket: $nodes"; exit 1
fi
reachable=$(echo "$nodes" | awk 'NR > 1 && $2 == "reachable" { print $1 }')
n=$(echo "$reachable" | grep -c . || true)
total=$(echo "$nodes" | awk 'NR > 1 && $2 != "myself"' | grep -c . || true)
if [ "$n" -lt "$MIN" ]; then
  echo "unhealthy: $n of $total other nodes reachable (want at least $MIN)"; exit 1
fi
status="ok: $n/$total nodes reachable"

if [ -f "$CONF/bgp.conf" ]; then
  if ! protos=$(ctl show protocols 2>&1); then
    echo "unhealthy: BGP configured but \`show protocols\` fails: $protos"; exit 1
  fi
  want=()
  for node in $reachable; do
    grep -qiE '^[[:space:]]*BGPAddress[[:space:]]*=?' "$CONF/hosts/$node" 2>/dev/null && want+=("$node")
  done
  if [ "${HEALTHCHECK_REQUIRE_ISP:-false}" = true ] && grep -qE '^[[:space:]]*protocol[[:space:]]+bgp[[:space:]]+isp\b' "$CONF/bgp.conf"; then
    want+=(isp)
  fi
  down=()
  for s in "${want[@]}"; do
    echo "$protos" | awk -v s="$s" '$1 == s && $2 == "BGP" && /Established/ { ok = 1 } END { exit !ok }' || down+=("$s")
  done
  if [ ${#down[@]} -gt 0 ]; then
    echo "unhealthy: BGP sessions not Established: ${down[*]} ($((${#want[@]} - ${#down[@]}))/${#want[@]} up)"; exit 1
  fi
  status+=", ${#want[@]}/${#want[@]} expected BGP sessions Established"
fi
echo "$status"
exit 0
