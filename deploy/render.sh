#!/usr/bin/env bash
# deploy/render.sh ENV_FILE OUTDIR
#
# Renders every node's tincd-swift config dir (tinc.conf, hosts/, rsa_key.priv, tinc-up, tinc-down,
# bgp.conf) and the ISP's bird.conf from environment variables. The local lab (scripts/lab.sh,
# deploy/lab.env) and the Docker Compose deployment (.env) both use this renderer, so both run
# identical configs.
#
# Output:
#   OUTDIR/<node>/      one tinc config dir per node (bird1 .. birdN): `tincd-swift -c OUTDIR/<node>`
#   OUTDIR/isp/bird.conf  the integration guide's ISP config (BIRD 2; also read by `tincd-swift bgp -c OUTDIR/isp`
#   OUTDIR/isp/bgp.conf   as bgp.conf, a copy of bird.conf) -- only when ISP_ENABLED=true
#   OUTDIR/render.env   every variable below with its resolved value (shell syntax, for scripts)
#
# Variables. The file is read like docker compose reads .env (KEY=VALUE per line, `#` comments,
# optional quotes, no shell expansion); a variable already set in the environment wins over the file.
# ENV_FILE `-`: the environment alone (the containers' entrypoint). An empty value counts as unset
# (the default applies), except METRICS_ADDRESS, ISP_PASSWORD and MESH_PASSWORD (empty: off).
#
#   From the ISP integration guide (.env):
#     BGP_AS=65000               the mesh's AS
#     ISP_ENABLED=true           render bird1's eBGP session `isp` and the ISP's config
#     ISP_NEIGHBOR=10.42.0.228   the ISP's address on the LAN
#     LAN_INTERFACE              the macvlan parent (compose: the host's wired NIC; lab: a veth in labnet)
#     LAN_SUBNET=10.42.0.0/24    LAN_GATEWAY, LAN_IP_RANGE: the LAN (compose network settings)
#     TINC1_LAN_IP=10.42.0.100   the border router's (node 1's) macvlan address
#     ISP_LOCAL_IP=10.42.0.100   the border router's address for the BGP session (`local` in protocol isp)
#   Additions:
#     NODES=5                    number of mesh nodes; node N is named ${NODE_PREFIX}N, node 1 is the border router
#     NODE_PREFIX=bird
#     OVERLAY_PREFIX=10.0.0      node N gets ${OVERLAY_PREFIX}.N/${OVERLAY_PREFIXLEN} on the TAP device
#     OVERLAY_PREFIXLEN=24
#     OVERLAY6_PREFIX=2001:db8:: node N gets ${OVERLAY6_PREFIX}N/${OVERLAY6_PREFIXLEN}
#     OVERLAY6_PREFIXLEN=64
#     TINC_INTERFACE=tinc0       TAP device name
#     TINC_PORT=655
#     UNDERLAY_PREFIX=172.30.0   node N's tinc Address is ${UNDERLAY_PREFIX}.N ...
#     UNDERLAY_PREFIXLEN=24
#     <NODE>_ADDRESS             ... unless e.g. BIRD3_ADDRESS=bird3 (hostname or IP; compose service names)
#     SITE_PREFIX=10.100         node N announces ${SITE_PREFIX}.N.0/24 into the mesh (placeholder for its LAN;
#     SITE6_PREFIX=2001:db8:100  and ${SITE6_PREFIX}:N::/64), which the export filter keeps from the ISP
#     ISP_AS=65001               the ISP's AS and BGP router id (guide: 192.0.2.100)
#     ISP_ROUTER_ID=192.0.2.100
#     ISP_PREFIXES=192.0.2.0/24,198.51.100.0/24,203.0.113.0/24   the ISP's static1 routes (guide)
#     ISP_ACCEPT_PREFIXES=$ISP_PREFIXES                          bird1's import filter from the ISP
#     ISP_EXPORT_PREFIXES=${OVERLAY_PREFIX}.0/${OVERLAY_PREFIXLEN}  bird1's export filter to the ISP
#     ISP_HOLD_TIME=180 ISP_KEEPALIVE_TIME=60
#     ISP_TEST_IP=198.51.100.1   an address the ISP holds inside its prefixes (end-to-end ping target)
#     ISP_BIRD_LOG=stderr        `log` target of the ISP's bird.conf (a file name or stderr)
#     ISP_PASSWORD=              TCP MD5 password of the ISP session (both sides); empty: none
#     ISP_BFD=false              true: `bfd on` on the ISP session (both sides) and a `protocol bfd`
#     ISP_GRACEFUL_RESTART=false true: `graceful restart on` on the ISP session (both sides)
#     MESH_PASSWORD=             TCP MD5 password of every iBGP mesh session; empty: none
#     MESH_GRACEFUL_RESTART=false true: `graceful restart on` in the mesh template
#     METRICS_ADDRESS=           e.g. 0.0.0.0:9100: `MetricsAddress` in every tinc.conf (Prometheus); empty: off
#     HOSTS_DIR                  tinc host files of the nodes (Address, Port, BGPAddress, ... and no key): a
#                                node with a file there gets it as its hosts/NAME on every node, its public key
#                                appended; a node without one gets a host file rendered from the variables above.
#                                Default: the repository's top-level hosts/ (the example mesh; in the image,
#                                hosts/ beside this script); relative: to ENV_FILE's directory; none: not used.
#     KEYS_DIR=keys              where node keys are kept (relative: to ENV_FILE's directory). Keys are
#                                generated once (`tincd-swift -c DIR -K2048 </dev/null`, or `openssl genrsa`
#                                when there is no tincd-swift binary: no Swift needed) and reused, so
#                                re-rendering keeps every node's identity.
#     TINCD_SWIFT                binary used for -K (default: tincd-swift in PATH, then this repo's build); none: openssl
#     RENDER_CHECK=auto          auto|yes|no: check every bgp.conf and bird.conf with `bird -p -c FILE`
#     LAB_MIXED=                 nodes (e.g. "bird4") that run C tincd 1.0 + bird2 instead of tincd-swift, as
#                                during a migration: same tinc.conf and hosts files (C tincd ignores the
#                                BGPAddress extension), but bird.conf instead of bgp.conf: static iBGP sessions
#                                named after every other node (neighbor = its BGPAddress), the same static site
#                                prefixes, kernel export, and for node 1 the ISP session. The tincd-swift nodes
#                                open their automatic session to a mixed node as to any other.
set -euo pipefail

usage() { echo "usage: $0 ENV_FILE OUTDIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
ENV_FILE=$1
OUTDIR=$2
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ "$ENV_FILE" = - ]; then
  ENV_FILE=/dev/null ENV_NAME="the environment" ENV_DIR=$PWD
else
  [ -f "$ENV_FILE" ] || { echo "render: no such env file: $ENV_FILE" >&2; exit 2; }
  ENV_NAME=$(basename "$ENV_FILE")
  ENV_DIR=$(cd "$(dirname "$ENV_FILE")" && pwd)
fi

# --- read the env file (compose .env rules; the environment wins) ---------------------------------
FILE_KEYS=()
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%$'\r'}
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  line=${line#export }
  if [[ ! $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
    echo "render: $ENV_FILE: ignoring malformed line: $line" >&2
    continue
  fi
  key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
  FILE_KEYS+=("$key")
  if [[ $val =~ ^\"([^\"]*)\"[[:space:]]*(#.*)?$ ]]; then val=${BASH_REMATCH[1]}
  elif [[ $val =~ ^\'([^\']*)\'[[:space:]]*(#.*)?$ ]]; then val=${BASH_REMATCH[1]}
  elif [[ $val == \#* ]]; then
    val=""   # `KEY=   # comment`: an empty value followed by a comment
  else
    val=${val%%[[:space:]]#*}
    val=${val%"${val##*[![:space:]]}"}
  fi
  if [ -z "${!key+x}" ]; then printf -v "$key" '%s' "$val"; export "${key?}"; fi
done < "$ENV_FILE"

# --- defaults -----------------------------------------------------------------------------------------
: "${BGP_AS:=65000}" "${ISP_ENABLED:=false}" "${ISP_NEIGHBOR:=10.42.0.228}"
: "${LAN_INTERFACE:=eth1}" "${LAN_SUBNET:=10.42.0.0/24}" "${LAN_GATEWAY:=10.42.0.1}" "${LAN_IP_RANGE:=10.42.0.100/31}"
: "${TINC1_LAN_IP:=10.42.0.100}" "${ISP_LOCAL_IP:=$TINC1_LAN_IP}"
: "${NODES:=5}" "${NODE_PREFIX:=bird}"
: "${OVERLAY_PREFIX:=10.0.0}" "${OVERLAY_PREFIXLEN:=24}" "${OVERLAY6_PREFIX:=2001:db8::}" "${OVERLAY6_PREFIXLEN:=64}"
: "${TINC_INTERFACE:=tinc0}" "${TINC_PORT:=655}"
: "${UNDERLAY_PREFIX:=172.30.0}" "${UNDERLAY_PREFIXLEN:=24}"
: "${SITE_PREFIX:=10.100}" "${SITE6_PREFIX:=2001:db8:100}"
: "${ISP_AS:=65001}" "${ISP_ROUTER_ID:=192.0.2.100}"
: "${ISP_PREFIXES:=192.0.2.0/24,198.51.100.0/24,203.0.113.0/24}"
: "${ISP_ACCEPT_PREFIXES:=$ISP_PREFIXES}"
: "${ISP_EXPORT_PREFIXES:=${OVERLAY_PREFIX}.0/${OVERLAY_PREFIXLEN}}"
: "${ISP_HOLD_TIME:=180}" "${ISP_KEEPALIVE_TIME:=60}" "${ISP_TEST_IP:=198.51.100.1}" "${ISP_BIRD_LOG:=stderr}"
: "${KEYS_DIR:=keys}" "${RENDER_CHECK:=auto}"
: "${ISP_PASSWORD:=}" "${ISP_BFD:=false}" "${ISP_GRACEFUL_RESTART:=false}" "${MESH_PASSWORD:=}" "${MESH_GRACEFUL_RESTART:=false}"
: "${METRICS_ADDRESS:=}"
bool() { case $1 in true|yes|1|on) echo true ;; *) echo false ;; esac; }
ISP_BFD=$(bool "$ISP_BFD") ISP_GRACEFUL_RESTART=$(bool "$ISP_GRACEFUL_RESTART") MESH_GRACEFUL_RESTART=$(bool "$MESH_GRACEFUL_RESTART")
for v in ISP_PASSWORD MESH_PASSWORD; do
  # written into a BIRD string: no quote, backslash or control character
  case ${!v} in *'"'*|*'\'*|*[[:cntrl:]]*) echo "render: $v may not contain a double quote, backslash or control character" >&2; exit 2 ;; esac
done
case $KEYS_DIR in /*) ;; *) KEYS_DIR=$ENV_DIR/$KEYS_DIR ;; esac
if [ -z "${HOSTS_DIR:-}" ]; then
  # the image keeps hosts/ beside this script; the repository has it at the top level
  if [ -d "$(dirname "$0")/hosts" ]; then HOSTS_DIR=$(cd "$(dirname "$0")/hosts" && pwd); else HOSTS_DIR=$REPO/hosts; fi
elif [ "$HOSTS_DIR" != none ]; then
  case $HOSTS_DIR in /*) ;; *) HOSTS_DIR=$ENV_DIR/$HOSTS_DIR ;; esac
  [ -d "$HOSTS_DIR" ] || { echo "render: HOSTS_DIR $HOSTS_DIR is not a directory" >&2; exit 2; }
fi
KEYS_DIR=$(realpath -m "$KEYS_DIR")
case $ISP_ENABLED in true|yes|1|on) ISP_ENABLED=true ;; *) ISP_ENABLED=false ;; esac
[[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 250 ] || { echo "render: NODES must be 1..250" >&2; exit 2; }

VARS=(BGP_AS ISP_ENABLED ISP_NEIGHBOR LAN_INTERFACE LAN_SUBNET LAN_GATEWAY LAN_IP_RANGE TINC1_LAN_IP ISP_LOCAL_IP
      NODES NODE_PREFIX OVERLAY_PREFIX OVERLAY_PREFIXLEN OVERLAY6_PREFIX OVERLAY6_PREFIXLEN TINC_INTERFACE TINC_PORT
      UNDERLAY_PREFIX UNDERLAY_PREFIXLEN SITE_PREFIX SITE6_PREFIX ISP_AS ISP_ROUTER_ID ISP_PREFIXES
      ISP_ACCEPT_PREFIXES ISP_EXPORT_PREFIXES ISP_HOLD_TIME ISP_KEEPALIVE_TIME ISP_TEST_IP ISP_BIRD_LOG KEYS_DIR LAB_MIXED
      ISP_PASSWORD ISP_BFD ISP_GRACEFUL_RESTART MESH_PASSWORD MESH_GRACEFUL_RESTART METRICS_ADDRESS HOSTS_DIR)
: "${LAB_MIXED:=}"
LAB_MIXED=$(echo "$LAB_MIXED" | tr ',' ' ' | xargs)
is_mixed() { [[ " $LAB_MIXED " == *" $1 "* ]]; }

node_name() { echo "${NODE_PREFIX}$1"; }
overlay4() { echo "${OVERLAY_PREFIX}.$1"; }
overlay6() { echo "${OVERLAY6_PREFIX}$1"; }
underlay() {
  local var
  var="$(echo "$(node_name "$1")" | tr '[:lower:]-' '[:upper:]_')_ADDRESS"
  if [ -n "${!var:-}" ]; then echo "${!var}"; else echo "${UNDERLAY_PREFIX}.$1"; fi
}
# "a,b c" -> "a, b, c" (a BIRD prefix set body)
prefix_set() { echo "$1" | tr ', ' '\n\n' | sed '/^$/d' | paste -sd, - | sed 's/,/, /g'; }

find_keygen() {
  local c
  [ "${TINCD_SWIFT:-}" != none ] || return 1   # TINCD_SWIFT=none: openssl (what a host without Swift gets)
  for c in "${TINCD_SWIFT:-}" "${LAB_BIN:-}" "$(command -v tincd-swift 2>/dev/null || true)" \
           "$REPO/.build/release/tincd-swift" "$REPO/.build/debug/tincd-swift"; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

# --- keys: generated once per node, kept in KEYS_DIR ----------------------------------------------------
mkdir -p "$KEYS_DIR"
chmod 700 "$KEYS_DIR"
# never let lab keys end up in a commit
[ -f "$KEYS_DIR/.gitignore" ] || echo '*' > "$KEYS_DIR/.gitignore"
ensure_key() {
  local name=$1 kd=$KEYS_DIR/$1 tmp bin
  [ -s "$kd/rsa_key.priv" ] && [ -s "$kd/rsa_key.pub" ] && return 0
  tmp=$(mktemp -d)
  if ! bin=$(find_keygen); then
    # No Swift build on this host: the same PKCS#1 PEM files (tinc 1.0's key format) with openssl.
    command -v openssl >/dev/null || { rm -rf "$tmp"; echo "render: neither tincd-swift nor openssl to generate keys (set TINCD_SWIFT)" >&2; exit 1; }
    mkdir -p "$kd"
    openssl genrsa -traditional -out "$tmp/priv" 2048 2>/dev/null
    openssl rsa -in "$tmp/priv" -RSAPublicKey_out -out "$kd/rsa_key.pub" 2>/dev/null
    install -m 600 "$tmp/priv" "$kd/rsa_key.priv"
    rm -rf "$tmp"
    grep -q 'BEGIN RSA PRIVATE KEY' "$kd/rsa_key.priv" && grep -q 'BEGIN RSA PUBLIC KEY' "$kd/rsa_key.pub" \
      || { echo "render: openssl did not write PKCS#1 keys for $name" >&2; exit 1; }
    echo "render: generated a 2048-bit key for $name in $kd (openssl)" >&2
    return 0
  fi
  mkdir -p "$tmp/hosts"
  echo "Name = $name" > "$tmp/tinc.conf"
  if ! "$bin" -c "$tmp" -K2048 </dev/null >"$tmp/keygen.out" 2>&1; then
    cat "$tmp/keygen.out" >&2; rm -rf "$tmp"
    echo "render: key generation for $name failed ($bin -c DIR -K2048)" >&2; exit 1
  fi
  mkdir -p "$kd"
  sed -n '/-----BEGIN RSA PUBLIC KEY-----/,/-----END RSA PUBLIC KEY-----/p' "$tmp/hosts/$name" > "$kd/rsa_key.pub"
  install -m 600 "$tmp/rsa_key.priv" "$kd/rsa_key.priv"
  rm -rf "$tmp"
  grep -q 'BEGIN RSA PUBLIC KEY' "$kd/rsa_key.pub" || { echo "render: no public key for $name" >&2; exit 1; }
  echo "render: generated a 2048-bit key for $name in $kd" >&2
}

# --- the host files in HOSTS_DIR: variables only, the key comes from KEYS_DIR -----------------------------
if [ "$HOSTS_DIR" != none ]; then
  for ((i = 1; i <= NODES; i++)); do
    f=$HOSTS_DIR/$(node_name "$i")
    [ -f "$f" ] || continue
    [ -r "$f" ] || { echo "render: $f: not readable" >&2; exit 2; }
    if n=$(grep -n -m1 -e '-----BEGIN' "$f"); then
      echo "render: $f:${n%%:*}: a key block; host files in HOSTS_DIR hold variables only (the public key is appended from $KEYS_DIR, a private key never belongs there)" >&2
      exit 2
    fi
    # tinc's host file syntax: `Variable = value` (or `Variable value`), comments and blank lines
    if n=$(grep -n -m1 -v -E '^[[:space:]]*(#.*)?$|^[[:space:]]*[A-Za-z][A-Za-z0-9]*[[:space:]]*(=[[:space:]]*)?[^=[:space:]]' "$f"); then
      echo "render: $f:${n%%:*}: not a tinc variable line: ${n#*:}" >&2
      exit 2
    fi
    # The addresses the rest of the render (tinc.conf, tinc-up, bgp.conf) and the lab/compose networks
    # take from the variables must be the ones the host file announces: a mismatch is a broken mesh.
    lineno=0 seen_address=false
    while IFS= read -r line || [ -n "$line" ]; do
      lineno=$((lineno + 1))
      [[ $line =~ ^[[:space:]]*([A-Za-z][A-Za-z0-9]*)[[:space:]]*=?[[:space:]]*([^[:space:]#]+)([[:space:]]+([^[:space:]#]+))? ]] || continue
      var=${BASH_REMATCH[1],,} v1=${BASH_REMATCH[2]} v2=${BASH_REMATCH[4]}
      want="" got="" from=""
      case $var in
        address) $seen_address && continue   # further Address lines: alternatives, the first one is the underlay's
          seen_address=true
          want="$(underlay "$i") ${TINC_PORT}"; got="$v1 ${v2:-655}"; from="UNDERLAY_PREFIX or $(node_name "$i" | tr '[:lower:]-' '[:upper:]_')_ADDRESS, TINC_PORT" ;;
        port) want=$TINC_PORT; got=$v1; from=TINC_PORT ;;
        bgpaddress) want=$(overlay4 "$i"); got=$v1; from=OVERLAY_PREFIX ;;
        bgpaddress6) want=$(overlay6 "$i"); got=$v1; from=OVERLAY6_PREFIX ;;
      esac
      if [ -n "$want" ] && [ "$want" != "$got" ]; then
        echo "render: $f:$lineno: $line -- but $ENV_NAME ($from) gives '$want'; change one of them, or render without host files (HOSTS_DIR=none)" >&2
        exit 2
      fi
    done < "$f"
  done
fi

# --- per-node files -------------------------------------------------------------------------------------
HEADER_NOTE="rendered by deploy/render.sh from $ENV_NAME; edit the env file and re-render instead"

# optional lines of a BGP session (password, bfd, graceful restart), each starting with a newline:
# written at the end of the line before them, so nothing changes when none is set
session_options() {
  [ -z "$1" ] || printf '\n    password "%s";' "$1"
  [ "$2" != true ] || printf '\n    bfd on;'
  [ "$3" != true ] || printf '\n    graceful restart on;'
}
# BFD for the sessions that ask for it (single hop; any interface: eth1 in the containers and the lab)
bfd_protocol() {
  [ "$1" = true ] || return 0
  printf '\nprotocol bfd {\n    interface "*";\n}\n'
}

# bird1's eBGP session with the ISP (BIRD 2 syntax; in bgp.conf, or in bird.conf of a mixed bird1)
border_section() {
  cat <<EOF

# --- border router: eBGP with the ISP over the LAN (macvlan $TINC1_LAN_IP) ---

# The overlay prefix, announced to the ISP so that replies to overlay addresses come back through here.
protocol static overlay4 {
    ipv4;
    route ${OVERLAY_PREFIX}.0/${OVERLAY_PREFIXLEN} via "$TINC_INTERFACE";
}

filter import_from_isp {
    if net ~ [ $(prefix_set "$ISP_ACCEPT_PREFIXES") ] then accept;
    reject;
}

filter export_to_isp {
    if net ~ [ $(prefix_set "$ISP_EXPORT_PREFIXES") ] then accept;
    reject;
}

protocol bgp isp {
    description "ISP AS $ISP_AS";
    local $ISP_LOCAL_IP as $BGP_AS;
    neighbor $ISP_NEIGHBOR as $ISP_AS;
    hold time $ISP_HOLD_TIME;
    keepalive time $ISP_KEEPALIVE_TIME;$(session_options "$ISP_PASSWORD" "$ISP_BFD" "$ISP_GRACEFUL_RESTART")
    ipv4 {
        import filter import_from_isp;
        export filter export_to_isp;
        import limit 1000 action restart;
    };
}
EOF
  bfd_protocol "$ISP_BFD"
}

# bird.conf of a mixed node (C tincd + bird2): what tincd-swift's embedded speaker does, spelled out
render_mixed_bird() {
  local n=$1 dir=$2 i
  {
    cat <<EOF
# bird.conf of $(node_name "$n") (AS $BGP_AS, mixed node: C tincd + bird2) -- $HEADER_NOTE
log "bird.log" all;
router id $(overlay4 "$n");

protocol device {
}

protocol kernel kernel4 {
    ipv4 { export all; };
}

protocol kernel kernel6 {
    ipv6 { export all; };
}

protocol static site4 {
    ipv4;
    route ${SITE_PREFIX}.$n.0/24 blackhole;
}

protocol static site6 {
    ipv6;
    route ${SITE6_PREFIX}:$n::/64 blackhole;
}

# iBGP full mesh, static: one session per other node, named after it (the tincd-swift nodes name
# their automatic session to this node after it too)
template bgp mesh {
    local $(overlay4 "$n") as $BGP_AS;
    direct;
    connect retry time 5;$(session_options "$MESH_PASSWORD" false "$MESH_GRACEFUL_RESTART")
    ipv4 {
        import all;
        export all;
        next hop self;
    };
    ipv6 {
        import all;
        export all;
        next hop self;
        next hop address $(overlay6 "$n");
    };
}
EOF
    for ((i = 1; i <= NODES; i++)); do
      [ "$i" -eq "$n" ] && continue
      echo
      echo "protocol bgp $(node_name "$i") from mesh {"
      echo "    neighbor $(overlay4 "$i") as $BGP_AS;"
      echo "}"
    done
    if [ "$n" -eq 1 ] && [ "$ISP_ENABLED" = true ]; then border_section; fi
  } > "$dir/bird.conf"
}

render_node() {
  local n=$1 name dir i other
  name=$(node_name "$n")
  dir=$OUTDIR/$name
  mkdir -p "$dir/hosts"
  ensure_key "$name"
  install -m 600 "$KEYS_DIR/$name/rsa_key.priv" "$dir/rsa_key.priv"

  {
    echo "# tinc.conf of $name -- $HEADER_NOTE"
    echo "Name = $name"
    echo "Mode = switch"
    echo "DeviceType = tap"
    echo "Interface = $TINC_INTERFACE"
    echo "AddressFamily = ipv4"
    echo "Port = $TINC_PORT"
    echo "PingInterval = 10"
    echo "PingTimeout = 3"
    if [ -n "$METRICS_ADDRESS" ]; then echo "MetricsAddress = $METRICS_ADDRESS"; fi
    for ((i = 1; i <= NODES; i++)); do
      [ "$i" -eq "$n" ] || echo "ConnectTo = $(node_name "$i")"
    done
  } > "$dir/tinc.conf"

  # every node's host file (each node carries the whole mesh): HOSTS_DIR's file, else from the variables
  rm -f "$dir"/hosts/*
  for ((i = 1; i <= NODES; i++)); do
    other=$(node_name "$i")
    ensure_key "$other"
    {
      if [ "$HOSTS_DIR" != none ] && [ -f "$HOSTS_DIR/$other" ]; then
        echo "# host $other -- rendered by deploy/render.sh from $(basename "$HOSTS_DIR")/$other and $ENV_NAME; edit those and re-render instead"
        cat "$HOSTS_DIR/$other"
      else
        echo "# host $other -- $HEADER_NOTE"
        echo "Address = $(underlay "$i") $TINC_PORT"
        echo "Port = $TINC_PORT"
        echo "BGPAddress = $(overlay4 "$i")"
        echo "BGPAddress6 = $(overlay6 "$i")"
      fi
      echo
      cat "$KEYS_DIR/$other/rsa_key.pub"
    } > "$dir/hosts/$other"
  done

  cat > "$dir/tinc-up" <<EOF
#!/bin/sh
# tinc-up of $name -- $HEADER_NOTE
# A fixed MAC per node: after a restart the other nodes' ARP/ND caches stay right, so sessions over
# the overlay come back at once instead of waiting for stale neighbour entries to expire.
ip link set "\$INTERFACE" address 02:74:73:00:00:$(printf %02x "$n")
ip link set "\$INTERFACE" up
ip addr replace $(overlay4 "$n")/$OVERLAY_PREFIXLEN dev "\$INTERFACE"
ip -6 addr replace $(overlay6 "$n")/$OVERLAY6_PREFIXLEN dev "\$INTERFACE" nodad
EOF
  cat > "$dir/tinc-down" <<EOF
#!/bin/sh
# tinc-down of $name -- $HEADER_NOTE
ip -6 addr del $(overlay6 "$n")/$OVERLAY6_PREFIXLEN dev "\$INTERFACE" 2>/dev/null
ip addr del $(overlay4 "$n")/$OVERLAY_PREFIXLEN dev "\$INTERFACE" 2>/dev/null
ip link set "\$INTERFACE" down
exit 0
EOF
  chmod 755 "$dir/tinc-up" "$dir/tinc-down"

  {
    cat <<EOF
# bgp.conf of $name (AS $BGP_AS) -- rendered by deploy/render.sh from $(basename "$ENV_FILE"); edits are applied
# live with "birdc configure" (tincd-swift ctl configure) and kept by the container entrypoint (BGP_CONF)
# BIRD 2 syntax (check with: bird -p -c bgp.conf); read by tincd-swift's embedded speaker.
router id $(overlay4 "$n");

protocol device {
}

# best routes go into this node's kernel FIB
protocol kernel kernel4 {
    ipv4 { export all; };
}

protocol kernel kernel6 {
    ipv6 { export all; };
}

# This site's own prefixes (placeholders for the LAN behind the node), announced into the mesh.
protocol static site4 {
    ipv4;
    route ${SITE_PREFIX}.$n.0/24 blackhole;
}

protocol static site6 {
    ipv6;
    route ${SITE6_PREFIX}:$n::/64 blackhole;
}

# iBGP full mesh: tincd-swift opens one session per reachable node whose host file has BGPAddress,
# named after that node, from this template. All peers share the overlay segment (direct).
template bgp mesh {
    local as $BGP_AS;
    direct;
    connect retry time 5;$(session_options "$MESH_PASSWORD" false "$MESH_GRACEFUL_RESTART")
    ipv4 {
        import all;
        export all;
        next hop self;
    };
    ipv6 {
        import all;
        export all;
        next hop self;
        # the sessions run over IPv4: say which IPv6 address to announce as next hop
        next hop address $(overlay6 "$n");
    };
}
EOF
    if [ "$n" -eq 1 ] && [ "$ISP_ENABLED" = true ]; then border_section; fi
  } > "$dir/bgp.conf"
  if is_mixed "$name"; then
    rm -f "$dir/bgp.conf"
    render_mixed_bird "$n" "$dir"
  else
    rm -f "$dir/bird.conf"
  fi
}

render_isp() {
  local dir=$OUTDIR/isp p
  mkdir -p "$dir"
  {
    echo "# ISP (AS $ISP_AS) bird.conf -- the ISP integration guide's config, $HEADER_NOTE"
    # `log stderr` is a keyword, a file name is a string
    if [ "$ISP_BIRD_LOG" = stderr ]; then echo "log stderr all;"; else echo "log \"$ISP_BIRD_LOG\" all;"; fi
    cat <<EOF
router id $ISP_ROUTER_ID;

protocol device {}

protocol kernel {
    ipv4 { export all; };
}

# Routes to advertise
protocol static static1 {
    ipv4;
EOF
    for p in $(echo "$ISP_PREFIXES" | tr ',' ' '); do echo "    route $p blackhole;"; done
    cat <<EOF
}

# Filters
filter import_from_customer {
    print "Importing: ", net;
    accept;
}

filter export_to_customer {
    if proto = "static1" then {
        print "Exporting: ", net;
        accept;
    }
    reject;
}

# BGP session with customer
protocol bgp customer {
    description "Customer AS $BGP_AS";
    local $ISP_NEIGHBOR as $ISP_AS;
    neighbor $ISP_LOCAL_IP as $BGP_AS;  # Mesh border router macvlan IP

    ipv4 {
        import filter import_from_customer;
        export filter export_to_customer;
    };

    hold time $ISP_HOLD_TIME;
    keepalive time $ISP_KEEPALIVE_TIME;$(session_options "$ISP_PASSWORD" "$ISP_BFD" "$ISP_GRACEFUL_RESTART")
}
EOF
    bfd_protocol "$ISP_BFD"
  } > "$dir/bird.conf"
  cp "$dir/bird.conf" "$dir/bgp.conf"
}

mkdir -p "$OUTDIR"
for ((n = 1; n <= NODES; n++)); do render_node "$n"; done
# nodes of an earlier render with more nodes would otherwise linger
for d in "$OUTDIR/${NODE_PREFIX}"*; do
  [ -d "$d" ] || continue
  idx=${d##*/"$NODE_PREFIX"}
  if [[ $idx =~ ^[0-9]+$ ]] && [ "$idx" -gt "$NODES" ] && [ -f "$d/tinc.conf" ]; then rm -rf "$d"; fi
done
if [ "$ISP_ENABLED" = true ]; then render_isp; else rm -rf "$OUTDIR/isp"; fi

{
  echo "# resolved variables -- $HEADER_NOTE"
  for v in "${VARS[@]}"; do printf '%s=%q\n' "$v" "${!v}"; done
  # further variables of the env file (for instance the lab's own), as read
  for v in "${FILE_KEYS[@]}"; do
    [[ " ${VARS[*]} " == *" $v "* ]] || printf '%s=%q\n' "$v" "${!v}"
  done
} > "$OUTDIR/render.env"

# --- check with BIRD's parser (ours mirrors it) ---------------------------------------------------------
check=$RENDER_CHECK
if [ "$check" = auto ]; then command -v bird >/dev/null 2>&1 && check=yes || check=no; fi
if [ "$check" = yes ]; then
  files=()
  for ((n = 1; n <= NODES; n++)); do
    if is_mixed "$(node_name "$n")"; then files+=("$OUTDIR/$(node_name "$n")/bird.conf"); else files+=("$OUTDIR/$(node_name "$n")/bgp.conf"); fi
  done
  [ "$ISP_ENABLED" = true ] && files+=("$OUTDIR/isp/bird.conf")
  for f in "${files[@]}"; do
    if ! out=$(bird -p -c "$f" 2>&1); then
      echo "render: $f does not pass \`bird -p\`:" >&2; echo "$out" >&2; exit 1
    fi
  done
  echo "render: ${#files[@]} configs rendered into $OUTDIR, all pass \`bird -p\`" >&2
else
  echo "render: configs rendered into $OUTDIR (bird not installed: not checked with \`bird -p\`)" >&2
fi
