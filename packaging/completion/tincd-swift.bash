# bash completion for tincd-swift: the daemon's options (tincd's getopt flags) are completed here;
# `ctl` and `bgp` by the functions generated from their parser, which packaging/completion/compose.sh
# puts before this text (`tincd-swift ctl --generate-completion-script bash`, renamed _tincd_swift_cli*).

_tincd_swift_nets() {
    local d
    for d in /etc/tinc/*/; do
        [ -f "${d}tinc.conf" ] && basename "$d"
    done
}

_tincd_swift() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -s || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    fi
    local daemon_opts="-c --config= -D --no-detach -d --debug= -k --kill= -n --net= -K --generate-keys= -L --mlock
        --logfile= --pidfile= -o --option= -R --chroot -U --user= --bypass-security --help --version"
    local sub=""
    [ "$cword" -ge 2 ] && sub=${words[1]}

    if [ "$sub" = ctl ] || [ "$sub" = bgp ]; then
        declare -F _tincd_swift_cli >/dev/null && _tincd_swift_cli tincd-swift "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        return
    fi
    case $prev in
        -n|--net) COMPREPLY=($(compgen -W "$(_tincd_swift_nets)" -- "$cur")); return ;;
        -c|--config) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --pidfile|--logfile|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -k|--kill) COMPREPLY=($(compgen -W "HUP TERM KILL USR1 USR2 WINCH INT ALRM ABRT" -- "$cur")); return ;;
        -U|--user) COMPREPLY=($(compgen -u -- "$cur")); return ;;
        -d|--debug) [[ " ${words[*]} " == *" top "* ]] || { COMPREPLY=($(compgen -W "0 1 2 3 4 5" -- "$cur")); return; } ;;
    esac
    case $cur in
        --net=*) COMPREPLY=($(compgen -W "$(_tincd_swift_nets)" -- "${cur#--net=}")); return ;;
        --config=*) COMPREPLY=($(compgen -d -- "${cur#--config=}")); return ;;
        --kill=*) COMPREPLY=($(compgen -W "HUP TERM KILL USR1 USR2 WINCH INT ALRM ABRT" -- "${cur#--kill=}")); return ;;
    esac

    if [ "$cword" -eq 1 ]; then
        COMPREPLY=($(compgen -W "ctl bgp $daemon_opts" -- "$cur"))
        [[ ${COMPREPLY[0]:-} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi
    case $sub in
        *)
            COMPREPLY=($(compgen -W "$daemon_opts" -- "$cur"))
            [[ ${COMPREPLY[0]:-} == *= ]] && compopt -o nospace 2>/dev/null
            ;;
    esac
}
complete -F _tincd_swift tincd-swift
