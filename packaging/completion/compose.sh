#!/bin/sh
# packaging/completion/compose.sh BINARY bash|zsh -- the installed completion script of tincd-swift:
# what swift-argument-parser generates for `ctl` and `bgp` (BINARY ctl --generate-completion-script
# SHELL), its functions renamed from _tincd-swift* to _tincd_swift_cli* and without its own
# registration, followed by the hand-written part for tincd's own options (tincd-swift.bash or
# _tincd-swift here), which registers the whole and hands `ctl`/`bgp` words to _tincd_swift_cli.
set -eu
bin=${1:?usage: compose.sh BINARY bash|zsh}
shell=${2:?usage: compose.sh BINARY bash|zsh}
here=$(cd "$(dirname "$0")" && pwd)
generated=$("$bin" ctl --generate-completion-script "$shell")
case $generated in *_tincd-swift_ctl*) ;; *) echo "compose.sh: $bin printed no ctl completion for $shell" >&2; exit 1 ;; esac
rename() { sed -e 's/_tincd-swift/_tincd_swift_cli/g'; }
case $shell in
  bash)
    echo "$generated" | rename | grep -v '^complete ' | grep -v '^#!/bin/bash'
    echo
    cat "$here/tincd-swift.bash"
    ;;
  zsh)
    # compinit reads the first line: the hand-written file's #compdef leads
    head -n 1 "$here/_tincd-swift"
    echo "$generated" | rename | sed -e '/^#compdef/d' -e '/^if \[\[ "\${funcstack\[1\]}" = /,/^fi$/d'
    echo
    tail -n +2 "$here/_tincd-swift"
    ;;
  *) echo "compose.sh: bash or zsh, not $shell" >&2; exit 2 ;;
esac
