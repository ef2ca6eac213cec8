#!/usr/bin/env bash
# deploy/entrypoint.sh -- container entry point of the tincd-swift image (deploy/Dockerfile).
#
# ROLE=node (default): renders this node's tinc config dir from environment variables with
#   deploy/render.sh (the same renderer as `make render` and the namespace lab), keeps the node keys
#   in the KEYS_DIR volume (generated on first start, reused afterwards), then
#   execs `tincd-swift -c /etc/tinc/$NETNAME -D -d$DEBUG`.
# ROLE=isp: renders the ISP's bird.conf (the integration guide's) and execs BIRD 2 in the foreground
#   (image target `isp`, which adds Debian's bird2).
#
# Environment (besides every variable deploy/render.sh documents: BGP_AS, ISP_ENABLED, ISP_NEIGHBOR,
# LAN_*, TINC1_LAN_IP, ISP_LOCAL_IP, NODES, NODE_PREFIX, OVERLAY_*, UNDERLAY_*, SITE_*, ISP_*, ...):
#   NODE_NAME        this node's name (bird1 .. birdN); required for ROLE=node
#   NETNAME=mesh     config dir /etc/tinc/$NETNAME (CONF_DIR overrides the whole path)
#   DEBUG=1          tincd-swift debug level (-d)
#   KEYS_DIR=/var/lib/tincd-swift/keys   key volume, shared by the nodes of one host (each node's
#                    hosts/ files carry every node's public key); a lock serialises first-start key generation
#   METRICS_ADDRESS  e.g. 0.0.0.0:9100: render.sh adds `MetricsAddress` to tinc.conf (Prometheus /metrics); empty: off
#   TINCD_EXTRA_ARGS further tincd-swift options (e.g. --logfile=/var/log/tinc.log)
#   RENDER=yes       no: use /etc/tinc/$NETNAME as mounted (hand-written config), render nothing
#   BGP_CONF=keep-edited  what happens to an existing bgp.conf when rendering:
#                    keep-edited: kept when it differs from what was rendered last time (the operator
#                      edited it, e.g. a filter, then ran `birdc configure`); replaced when unedited, so
#                      changed variables still take effect. The fresh render is always written to
#                      bgp.conf.rendered beside it (diff the two to merge new variables by hand).
#                    missing: rendered only when there is no bgp.conf.   always: always re-rendered.
#   ISP_TEST_IP      (ROLE=isp) also put this address on lo, inside the ISP's announced prefixes
set -euo pipefail

SHARE=${TINCD_SWIFT_SHARE:-/usr/share/tincd-swift}
BIN=${TINCD_SWIFT:-/usr/sbin/tincd-swift}
ROLE=${ROLE:-node}
NETNAME=${NETNAME:-mesh}
CONF=${CONF_DIR:-/etc/tinc/$NETNAME}
export KEYS_DIR=${KEYS_DIR:-/var/lib/tincd-swift/keys}
export TINCD_SWIFT=$BIN
log() { echo "entrypoint: $*" >&2; }

render_all() { # OUTDIR [KEYS_DIR]: deploy/render.sh with the environment as its only input
  local out=$1
  mkdir -p "$KEYS_DIR"
  # `-`: the environment is the only input; the rendered headers say "from the environment", so the
  # same environment renders the same bytes (BGP_CONF=keep-edited compares them).
  # Nodes starting together share the key volume: one renderer at a time generates missing keys.
  flock "$KEYS_DIR/.render.lock" "$SHARE/render.sh" - "$out"
}

case $ROLE in
  node)
    : "${NODE_NAME:?set NODE_NAME (bird1 .. birdN)}"
    if [ "${RENDER:-yes}" != no ]; then
      work=$(mktemp -d)
      render_all "$work"
      [ -d "$work/$NODE_NAME" ] || { log "render.sh produced no config for $NODE_NAME (NODES=${NODES:-5}, NODE_PREFIX=${NODE_PREFIX:-bird})"; exit 1; }
      mkdir -p "$CONF"
      keep_bgp=
      if [ -f "$CONF/bgp.conf" ] && [ -f "$work/$NODE_NAME/bgp.conf" ]; then
        case ${BGP_CONF:-keep-edited} in
          always) ;;
          missing) keep_bgp=1 ;;
          keep-edited) cmp -s "$CONF/bgp.conf" "$CONF/bgp.conf.rendered" || keep_bgp=1 ;;
          *) log "BGP_CONF must be keep-edited, missing or always"; exit 2 ;;
        esac
      fi
      if [ -f "$work/$NODE_NAME/bgp.conf" ]; then
        cp "$work/$NODE_NAME/bgp.conf" "$work/$NODE_NAME/bgp.conf.rendered"
        if [ -n "$keep_bgp" ]; then
          rm "$work/$NODE_NAME/bgp.conf"
          log "kept the edited $CONF/bgp.conf (BGP_CONF=${BGP_CONF:-keep-edited}); the fresh render is $CONF/bgp.conf.rendered"
        fi
      fi
      # replace the rendered files, keep anything else in the dir (logs, sockets, a kept bgp.conf)
      rm -rf "$CONF/hosts"
      cp -a "$work/$NODE_NAME/." "$CONF/"
      rm -rf "$work"
      log "rendered $CONF for $NODE_NAME (keys in $KEYS_DIR)"
    fi
    [ -f "$CONF/tinc.conf" ] || { log "no $CONF/tinc.conf"; exit 1; }
    # Nodes route between their LAN and the overlay (the border router between the ISP and the mesh).
    sysctl -qw net.ipv4.ip_forward=1 2>/dev/null || true
    # TINCD_EXTRA_ARGS: further tincd options, e.g. --logfile (word-split on purpose)
    # shellcheck disable=SC2086
    exec "$BIN" -c "$CONF" -D -d"${DEBUG:-1}" ${TINCD_EXTRA_ARGS:-}
    ;;
  isp)
    command -v bird >/dev/null || { log "ROLE=isp needs bird (image target isp)"; exit 1; }
    work=$(mktemp -d)
    # The ISP needs no node keys: render into a throw-away key dir (never the nodes' volume).
    KEYS_DIR=$work/keys ISP_ENABLED=true render_all "$work/out"
    mkdir -p /etc/bird /run/bird
    cp "$work/out/isp/bird.conf" /etc/bird/bird.conf
    rm -rf "$work"
    if [ -n "${ISP_TEST_IP:-}" ]; then ip addr replace "$ISP_TEST_IP/32" dev lo 2>/dev/null || log "could not add $ISP_TEST_IP to lo"; fi
    bird -p -c /etc/bird/bird.conf
    log "ISP bird.conf rendered (AS ${ISP_AS:-65001}, neighbor ${ISP_LOCAL_IP:-${TINC1_LAN_IP:-10.42.0.100}})"
    exec bird -f -c /etc/bird/bird.conf -s /run/bird/bird.ctl
    ;;
  *)
    log "ROLE must be node or isp"; exit 2 ;;
esac
