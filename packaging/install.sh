#!/bin/sh
# packaging/install.sh BINARY | --uninstall -- what `make install` / `make uninstall` (and `make deb`,
# into its staging root) put where. Directories come from the environment (the Makefile's
# PREFIX, DESTDIR, SBINDIR, MANDIR, BASHCOMPDIR, ZSHCOMPDIR, SYSTEMDUNITDIR, SYSTEMDGENERATORDIR,
# SYSCONFDIR, DOCDIR, VERSION). /etc/tinc is never touched.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
: "${PREFIX:=/usr/local}" "${DESTDIR:=}" "${SBINDIR:=$PREFIX/sbin}" "${MANDIR:=$PREFIX/share/man}"
: "${BASHCOMPDIR:=$PREFIX/share/bash-completion/completions}" "${ZSHCOMPDIR:=$PREFIX/share/zsh/vendor-completions}"
: "${SYSTEMDUNITDIR:=$PREFIX/lib/systemd/system}" "${SYSTEMDGENERATORDIR:=$PREFIX/lib/systemd/system-generators}"
: "${SYSCONFDIR:=/etc}" "${DOCDIR:=$PREFIX/share/doc/tincd-swift}" "${VERSION:=0.0.0-unknown}"

files="$SBINDIR/tincd-swift $MANDIR/man8/tincd-swift.8.gz $MANDIR/man8/tincd-swift-ctl.8.gz $MANDIR/man5/bgp.conf.5.gz
  $BASHCOMPDIR/tincd-swift $ZSHCOMPDIR/_tincd-swift $SYSTEMDUNITDIR/tincd-swift.service $SYSTEMDUNITDIR/tincd-swift@.service
  $SYSTEMDGENERATORDIR/tincd-swift-generator $DOCDIR/DEPLOY.md $DOCDIR/PACKAGING.md"

if [ "${1:-}" = --uninstall ]; then
  for f in $files; do rm -f "$DESTDIR$f"; done
  # the default file only if it is still ours, unchanged
  if cmp -s "$REPO/deploy/systemd/tincd-swift.default" "$DESTDIR$SYSCONFDIR/default/tincd-swift"; then
    rm -f "$DESTDIR$SYSCONFDIR/default/tincd-swift"
  fi
  rmdir "$DESTDIR$DOCDIR" 2>/dev/null || true
  exit 0
fi

bin=${1:?usage: install.sh BINARY | --uninstall}
[ -x "$bin" ] || { echo "install.sh: no binary at $bin (make dist-build)" >&2; exit 1; }

install -d "$DESTDIR$SBINDIR" "$DESTDIR$MANDIR/man8" "$DESTDIR$MANDIR/man5" "$DESTDIR$BASHCOMPDIR" "$DESTDIR$ZSHCOMPDIR" \
  "$DESTDIR$SYSTEMDUNITDIR" "$DESTDIR$SYSTEMDGENERATORDIR" "$DESTDIR$SYSCONFDIR/default" "$DESTDIR$DOCDIR"
# stripped: 80 MB of symbols otherwise (the static Swift runtime)
install -m 755 "$bin" "$DESTDIR$SBINDIR/tincd-swift"
if command -v strip >/dev/null 2>&1; then strip --strip-unneeded "$DESTDIR$SBINDIR/tincd-swift"; fi

for page in man8/tincd-swift.8 man8/tincd-swift-ctl.8 man5/bgp.conf.5; do
  sed "s/@VERSION@/$VERSION/g" "$REPO/packaging/man/${page#*/}" | gzip -9n > "$DESTDIR$MANDIR/$page.gz"
  chmod 644 "$DESTDIR$MANDIR/$page.gz"
done
install -m 644 "$REPO/packaging/completion/tincd-swift.bash" "$DESTDIR$BASHCOMPDIR/tincd-swift"
install -m 644 "$REPO/packaging/completion/_tincd-swift" "$DESTDIR$ZSHCOMPDIR/_tincd-swift"

# units name the installed binary and unit directory
for u in tincd-swift.service tincd-swift@.service; do
  sed "s#/usr/sbin/tincd-swift#$SBINDIR/tincd-swift#g" "$REPO/deploy/systemd/$u" > "$DESTDIR$SYSTEMDUNITDIR/$u"
  chmod 644 "$DESTDIR$SYSTEMDUNITDIR/$u"
done
sed "s#^unitdir=.*#unitdir=$SYSTEMDUNITDIR#" "$REPO/deploy/systemd/tincd-swift-generator" > "$DESTDIR$SYSTEMDGENERATORDIR/tincd-swift-generator"
chmod 755 "$DESTDIR$SYSTEMDGENERATORDIR/tincd-swift-generator"
# a conffile: an existing one (the admin's) stays
[ -e "$DESTDIR$SYSCONFDIR/default/tincd-swift" ] || install -m 644 "$REPO/deploy/systemd/tincd-swift.default" "$DESTDIR$SYSCONFDIR/default/tincd-swift"
install -m 644 "$REPO/docs/DEPLOY.md" "$REPO/docs/PACKAGING.md" "$DESTDIR$DOCDIR/"
echo "installed tincd-swift $VERSION under ${DESTDIR:-/} (sbin $SBINDIR, units $SYSTEMDUNITDIR)"
