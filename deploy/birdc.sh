#!/usr/bin/env bash
# deploy/birdc.sh -- installed as `birdc` in the tincd-swift image, so the integration guide's
# `docker exec bird1 birdc show protocols` keeps working: BGP runs inside tincd-swift, whose control
# socket answers birdc's everyday commands with BIRD 2's output: `show protocols [all] [NAME]`,
# `show route [all] [for ADDR] [protocol P] [export P] [filtered] [count]`, `show bfd sessions`,
# `enable|disable|restart NAME` and `reload [in|out] NAME`.
# `birdc configure [check]` maps to `tincd-swift ctl configure [check]`: bgp.conf is read again and
# applied as BIRD applies it (unchanged sessions stay up; the reply says what changed).
CONF=${CONF_DIR:-/etc/tinc/${NETNAME:-mesh}}   # as in entrypoint.sh
[ "${1:-}" = -s ] && shift 2   # birdc -s SOCKET: ignored, the control socket is found from the config dir
case "${1:-}" in
  configure) exec tincd-swift ctl -c "$CONF" "$@" ;;
  show|enable|disable|restart) exec tincd-swift ctl -c "$CONF" "$@" ;;
  reload)
    # birdc's `reload [in|out] NAME` reloads one protocol; a bare `reload` is not a birdc command.
    [ $# -ge 2 ] || { echo "usage: birdc reload [in|out] NAME" >&2; exit 2; }
    exec tincd-swift ctl -c "$CONF" "$@" ;;
  "") echo "usage: birdc show protocols [all] [NAME] | show route [all] [for ADDR] [protocol P] [export P] [filtered] [count] | show bfd sessions | enable|disable|restart NAME | reload [in|out] NAME | configure [check]" >&2; exit 2 ;;
  *) echo "birdc (tincd-swift): supported: show, enable, disable, restart, reload, configure; see tincd-swift ctl" >&2; exit 2 ;;
esac
