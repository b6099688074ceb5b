#!/usr/bin/env bash
# packaging/check.sh: the Debian package as a user gets it. Builds it (`cargo xtask
# package`: cargo-deb at its pinned version, installed when missing), installs it with
# dpkg into a fresh Debian chroot (debootstrap --variant=minbase, plus systemd so that
# the unit is checked against a real systemd tree), then from the installed files:
# `systemd-analyze verify` of hub.service, `hub --version`, and `hub check` of the
# installed example configuration as the user hub. Needs root (debootstrap, chroot) and
# Debian's mirror; the bare chroot is kept under <target>/packaging/ for the next run
# (each run installs into a fresh copy of it). Any failed step ends the script with one
# line: "packaging/check.sh: FAILED: <step>: <why>". PACKAGING_DEB=<file> checks a .deb
# built before instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
target=${CARGO_TARGET_DIR:-$root_dir/target}
work=$target/packaging
base=$work/bookworm-minbase
run=$work/chroot
suite=bookworm

fail() {
    echo "packaging/check.sh: FAILED: $*" >&2
    exit 1
}
step() { echo "== packaging: $*"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

[ "$(id -u)" = 0 ] || fail "setup: needs root (debootstrap, chroot, dpkg inside the chroot)"
if ! command -v debootstrap >/dev/null; then
    step "installing debootstrap"
    { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; } ||
        fail "setup: cannot install debootstrap with apt-get"
fi

# The Debian mirror this machine's apt uses (deb822 or one-line sources).
mirror=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{ print $2 }' | grep -v security | head -n1 || true)
if [ -z "$mirror" ]; then
    mirror=$(grep -h -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '{ print $2 }' | grep -v security | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

if [ -n "${PACKAGING_DEB:-}" ]; then
    step "the .deb given in PACKAGING_DEB: $PACKAGING_DEB"
    deb=$PACKAGING_DEB
else
    step "building the .deb (cargo xtask package)"
    out=$(cargo xtask package) || fail "build: cargo xtask package failed (its output is above)"
    deb=$(printf '%s\n' "$out" | tail -n1)
fi
[ -f "$deb" ] || fail "build: cargo xtask package named no .deb ($deb)"

step "the package's contents"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"
for f in ./usr/bin/hub ./usr/lib/systemd/system/hub.service ./etc/hub/hub.toml \
    ./usr/share/hub/plugins/prisme.wasm ./usr/share/hub/plugins/rki.wasm \
    ./usr/share/hub/plugins/kitaplaner.wasm; do
    dpkg-deb --contents "$deb" | awk '{ print $6 }' | grep -qx "$f" ||
        fail "contents: $f is not in $deb"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/hub/hub.toml ||
    fail "contents: /etc/hub/hub.toml is not a conffile"

if [ ! -e "$base/.complete" ]; then
    step "debootstrap $suite (minbase + systemd) from $mirror into $base"
    rm -rf --one-file-system "$base" "$base.tmp"
    mkdir -p "$work"
    debootstrap --variant=minbase --include=systemd,procps "$suite" "$base.tmp" "$mirror" \
        >"$work/debootstrap.log" 2>&1 ||
        fail "chroot: debootstrap failed, see $work/debootstrap.log: $(tail -n1 "$work/debootstrap.log")"
    mv "$base.tmp" "$base"
    touch "$base/.complete"
else
    step "using the cached bare chroot $base"
fi

step "a fresh chroot: $run"
rm -rf --one-file-system "$run"
cp -a "$base" "$run" || fail "chroot: cannot copy $base to $run"
cleanup() {
    mountpoint -q "$run/proc" && umount "$run/proc"
    rm -rf --one-file-system "$run"
}
trap cleanup EXIT
mount -t proc proc "$run/proc" || fail "chroot: cannot mount /proc in $run"
cp "$deb" "$run/tmp/hub.deb"
in_chroot() { chroot "$run" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

step "dpkg -i (apt-get for dependencies where the chroot lacks any)"
if ! in_chroot dpkg -i /tmp/hub.deb; then
    cp /etc/resolv.conf "$run/etc/resolv.conf" 2>/dev/null || true
    { in_chroot apt-get update -qq && in_chroot apt-get install -f -y -qq; } ||
        fail "install: dpkg -i $(basename "$deb") failed and apt-get install -f could not repair it"
fi
in_chroot dpkg -s hub | grep -qx 'Status: install ok installed' ||
    fail "install: dpkg does not list hub as installed"
in_chroot getent passwd hub >/dev/null || fail "install: the postinst created no user hub"

step "systemd-analyze verify hub.service (the installed unit, in the chroot)"
# verify exits 0 on an unknown key or a bad value (it only warns): any output is a failure.
said=$(in_chroot systemd-analyze verify /usr/lib/systemd/system/hub.service 2>&1) ||
    fail "unit: systemd-analyze verify rejects hub.service: $(printf '%s' "$said" | head -n1)"
[ -z "$said" ] || fail "unit: systemd-analyze verify warns about hub.service: $(printf '%s' "$said" | head -n1)"
echo "accepted, no warnings; $(in_chroot systemd-analyze security --offline=yes \
    /usr/lib/systemd/system/hub.service 2>&1 | grep -o 'Overall exposure.*' || true)"

step "hub --version (installed)"
version=$(in_chroot /usr/bin/hub --version) || fail "run: /usr/bin/hub --version failed in the chroot"
echo "$version"

step "hub check of /etc/hub/hub.toml as the user hub (installed)"
chroot --userspec=hub:hub "$run" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/hub USER=hub \
    /usr/bin/hub --config /etc/hub/hub.toml check ||
    fail "run: hub --config /etc/hub/hub.toml check failed in the chroot"

unstripped=$(stat -c %s "$target/release/hub")
step "sizes: .deb $(mb "$(stat -c %s "$deb")"), installed /usr/bin/hub $(mb "$(stat -c %s "$run/usr/bin/hub")") (unstripped build: $(mb "$unstripped")), installed package $(in_chroot dpkg-query -W -f '${Installed-Size}' hub) KiB"
echo "packaging/check.sh: OK ($version installed in a fresh $suite chroot)"
