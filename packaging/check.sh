#!/bin/bash
# packaging/check.sh OUTDIR -- `make package-check` (part of make test): the .deb that `make deb` left
# in OUTDIR is installed with dpkg into a scratch root (its own dpkg database; maintainer scripts run
# chrootless and leave the host alone), then: Depends are installed here, `tincd-swift --version`
# prints this tree's `git describe`, every man page renders without warnings (man -l), the bash
# completion loads and completes, the zsh one parses and compinit binds it (if zsh is installed), the generator turns
# nets.boot into wants links, and `systemd-analyze verify` accepts the installed units.
set -euo pipefail
out=${1:?usage: check.sh OUTDIR}
: "${VERSION:?VERSION (git describe) must be set}"
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }
ok() { echo "package-check: ok: $*"; }

deb=$(ls "$out"/tincd-swift_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "no .deb in $out (make deb)"
root=$(mktemp -d /tmp/tincd-swift-pkgcheck.XXXXXX)
trap 'rm -rf "$root"' EXIT

# --- install with dpkg into the scratch root ---------------------------------------------------------
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
: > "$root/var/lib/dpkg/status"
: > "$root/var/lib/dpkg/available"
# dependencies are checked against this machine below (the scratch database knows no packages)
dpkg --instdir="$root" --admindir="$root/var/lib/dpkg" --force-script-chrootless --force-depends \
     --force-not-root --log=/dev/null -i "$deb" > "$root/dpkg.out" 2>&1 || { cat "$root/dpkg.out" >&2; fail "dpkg -i $deb"; }
status=$(dpkg --admindir="$root/var/lib/dpkg" -s tincd-swift | sed -n 's/^Status: //p')
[ "$status" = "install ok installed" ] || fail "dpkg status of tincd-swift is '$status'"
ok "dpkg installed $(basename "$deb") into a scratch root ($status)"
for p in $(dpkg-deb -f "$deb" Depends | tr -d ' ' | tr ',' ' '); do
  dpkg -s "$p" >/dev/null 2>&1 || fail "dependency $p is not installed on this machine"
done
ok "Depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -c "$deb" | grep -q 'rsa_key.priv' && fail "the package contains a private key"
dpkg-deb -c "$deb" | grep -q ' ./etc/tinc/' && fail "the package installs into /etc/tinc"

# --- the binary ------------------------------------------------------------------------------------
got=$("$root/usr/sbin/tincd-swift" --version)
[ "$got" = "tincd-swift $VERSION (tinc 1.0 protocol 17)" ] || fail "--version printed '$got', expected git describe $VERSION"
ok "--version: $got"

# --- man pages ------------------------------------------------------------------------------------------
for page in man8/tincd-swift.8.gz man8/tincd-swift-ctl.8.gz man5/bgp.conf.5.gz; do
  f=$root/usr/share/man/$page
  [ -s "$f" ] || fail "missing $page"
  warn=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null || true)
  [ -z "$warn" ] || fail "man -l $page warns: $warn"
  text=$(MANWIDTH=80 man -l "$f" 2>/dev/null)
  echo "$text" | grep -q "NAME" || fail "man -l $page rendered no NAME section"
  echo "$text" | grep -q "$VERSION" || fail "man -l $page does not carry the version $VERSION"
done
ok "man -l renders tincd-swift(8), tincd-swift-ctl(8), bgp.conf(5) without warnings"

# --- completion -----------------------------------------------------------------------------------------
comp=$root/usr/share/bash-completion/completions/tincd-swift
got=$(bash -c 'source "$1" && complete -p tincd-swift >/dev/null &&
  COMP_WORDS=(tincd-swift ctl dump ""); COMP_CWORD=3; _tincd_swift; echo "${COMPREPLY[*]}"' _ "$comp")
[ "$got" = "nodes edges subnets connections graph" ] || fail "bash completion of 'ctl dump' gave '$got'"
ok "bash completion loads (ctl dump -> $got)"
# the ctl/bgp part is generated from the binary's parser; the daemon's options are the hand-written part
got=$(bash -c 'source "$1" && COMP_WORDS=(tincd-swift ctl ""); COMP_CWORD=2; _tincd_swift; echo "${COMPREPLY[*]}"' _ "$comp")
for w in dump info show log top --json --socket; do
  case " $got " in *" $w "*) ;; *) fail "bash completion of 'ctl' lacks $w (got '$got')" ;; esac
done
got=$(bash -c 'source "$1" && COMP_WORDS=(tincd-swift --n); COMP_CWORD=1; _tincd_swift; echo "${COMPREPLY[*]}"' _ "$comp")
[ "$got" = "--no-detach --net=" ] || fail "bash completion of the daemon option --n gave '$got'"
ok "bash completion: ctl subcommands from the parser, daemon options as tincd's"
if command -v zsh >/dev/null 2>&1; then
  zsh -n "$root/usr/share/zsh/vendor-completions/_tincd-swift" || fail "zsh completion does not parse"
  got=$(cd "$root" && zsh -fc 'fpath=($1 $fpath); autoload -U compinit; compinit -u -d "$2"; print -r -- ${_comps[tincd-swift]}' \
          _ "$root/usr/share/zsh/vendor-completions" "$root/zcompdump")
  [ "$got" = _tincd-swift ] || fail "zsh compinit does not bind tincd-swift to _tincd-swift (got '$got')"
  ok "zsh completion parses and compinit binds it"
else
  echo "package-check: zsh not installed: zsh completion not checked"
fi

# --- generator: nets.boot -> wants ------------------------------------------------------------------
g=$root/gen
mkdir -p "$g/etc/tinc/alpha" "$g/etc/tinc/beta" "$g/out"
touch "$g/etc/tinc/alpha/tinc.conf" "$g/etc/tinc/beta/tinc.conf"
printf '# nets\nalpha -d2\nbeta\ngamma\n' > "$g/etc/tinc/nets.boot"
TINCD_SWIFT_ROOT=$g "$root/lib/systemd/system-generators/tincd-swift-generator" "$g/out" "$g/out" "$g/out" 2>/dev/null
[ "$(readlink "$g/out/tincd-swift.service.wants/tincd-swift@alpha.service")" = /lib/systemd/system/tincd-swift@.service ] \
  || fail "generator: no wants link for alpha"
[ -L "$g/out/tincd-swift.service.wants/tincd-swift@beta.service" ] || fail "generator: no wants link for beta"
[ -e "$g/out/tincd-swift.service.wants/tincd-swift@gamma.service" ] && fail "generator: gamma has no tinc.conf but got a link"
grep -q 'NETS_BOOT_ARGS=-d2' "$g/out/tincd-swift@alpha.service.d/nets-boot.conf" || fail "generator: alpha's -d2 lost"
ok "generator: nets.boot -> tincd-swift@alpha (-d2), @beta; gamma (no tinc.conf) skipped"

# --- systemd-analyze verify on the installed units -----------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1; then fail "systemd-analyze not installed (package systemd, .ci/packages)"; fi
# verify resolves ExecStart= binaries and targets inside --root: give it /bin/kill, /bin/true and the targets
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd/system"
[ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
cp "$(type -P kill)" "$(type -P true)" "$root/usr/bin/"
for d in /lib/systemd/system /usr/lib/systemd/system; do
  for t in "$d"/*.target; do [ -e "$t" ] && cp -n "$t" "$root/usr/lib/systemd/system/" 2>/dev/null; done
done
# verify also runs `man` for every Documentation=man: page: only the package's own, through MANPATH
v=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" tincd-swift@mynet.service tincd-swift.service 2>&1) || fail "systemd-analyze verify: $v"
[ -z "$v" ] || fail "systemd-analyze verify printed: $v"
ok "systemd-analyze verify tincd-swift@mynet.service tincd-swift.service: clean"
echo "package-check: all checks passed for $(basename "$deb")"
