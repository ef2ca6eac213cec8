#!/bin/sh
# packaging/build-deb.sh BINARY OUTDIR -- `make deb`: stages `make install` with Debian's paths
# (/usr/sbin, /lib/systemd/system, /etc/default) and builds OUTDIR/tincd-swift_VERSION_ARCH.deb with
# dpkg-deb (no network, no debhelper). Depends is computed from the binary's ELF dependencies
# (ldd + dpkg -S), so it names exactly the packages of the libraries it links.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?usage: build-deb.sh BINARY OUTDIR}
out=${2:?usage: build-deb.sh BINARY OUTDIR}
: "${VERSION:=0.0.0-unknown}"
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb not installed" >&2; exit 1; }

# Debian version: git describe without a leading v; a bare hash (no tag yet) becomes 0.0.0+gHASH;
# '-' separates the Debian revision, so describe's dashes become '+' / '.'.
v=${VERSION#v}
if ! echo "$v" | grep -Eq '^[0-9]+\.[0-9]+'; then v="0.0.0+g$v"; fi
debver=$(echo "$v" | sed 's/-\([0-9][0-9]*\)-g/+\1.g/; s/-dirty$/+dirty/; s/-/+/g')
arch=$(dpkg --print-architecture)

stage=$out/pkgroot
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system SYSTEMDGENERATORDIR=/lib/systemd/system-generators \
  SYSCONFDIR=/etc DESTDIR="$stage" VERSION="$VERSION" "$REPO/packaging/install.sh" "$bin" >/dev/null

# Depends: the packages owning the shared libraries the (static-Swift) binary needs
deps=$(ldd "$stage/usr/sbin/tincd-swift" | awk '/=>/ { print $3 }' | while read -r lib; do
         dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || echo "build-deb: no package owns $lib" >&2
       done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g')
[ -n "$deps" ] || { echo "build-deb: could not compute Depends" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)

cat > "$stage/DEBIAN/control" <<CTRL
Package: tincd-swift
Version: $debver
Architecture: $arch
Maintainer: tincd-swift developers <tincd-swift@localhost>
Installed-Size: $size
Depends: $deps
Recommends: iproute2
Suggests: bird2, tinc
Section: net
Priority: optional
Homepage: https://www.tinc-vpn.org/
Description: tinc 1.0 compatible mesh VPN daemon with an embedded BGP speaker
 tincd-swift speaks the tinc 1.0 protocol and reads /etc/tinc/NET unchanged, so it meshes
 with tincd 1.0 and can replace it net by net (tincd-swift@NET.service). With a bgp.conf
 (BIRD 2 syntax subset, see bgp.conf(5)) beside tinc.conf it also runs a BGP-4 speaker that
 BIRD accepts as a peer, with an automatic iBGP session to every reachable node.
 .
 Built from git $VERSION.
CTRL
echo /etc/default/tincd-swift > "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 755 "$REPO/packaging/debian/$s" "$stage/DEBIAN/$s"; done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort | xargs md5sum) > "$stage/DEBIAN/md5sums"

deb=$out/tincd-swift_${debver}_${arch}.deb
rm -f "$out"/tincd-swift_*.deb
dpkg-deb --root-owner-group -Zgzip -z6 --build "$stage" "$deb" >/dev/null
echo "$deb"
