#!/usr/bin/env bash
# deploy/birdc.sh -- installed as `birdc` in the tincd-swift image, so the integration guide's
# `docker exec bird1 birdc show protocols` keeps working: BGP runs inside tincd-swift, whose control
# socket answers `show protocols [all NAME]` and `show route [for PREFIX] [protocol NAME] [count]`.
# `birdc configure [check]` maps to `tincd-swift ctl configure [check]`: bgp.conf is read again and
# applied as BIRD applies it (unchanged sessions stay up; the reply says what changed).
CONF=${CONF_DIR:-/etc/tinc/${NETNAME:-mesh}}   # as in entrypoint.sh
[ "${1:-}" = -s ] && shift 2   # birdc -s SOCKET: ignored, the control socket is found from the config dir
case "${1:-}" in
  configure) exec tincd-swift ctl -c "$CONF" "$@" ;;
  show) exec tincd-swift ctl -c "$CONF" "$@" ;;
  "") echo "usage: birdc show protocols [all NAME] | show route [for PREFIX] [protocol NAME] [count] | configure [check]" >&2; exit 2 ;;
  *) echo "birdc (tincd-swift): only \`show ...\` and \`configure\` are supported; see tincd-swift ctl" >&2; exit 2 ;;
esac
