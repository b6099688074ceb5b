#!/usr/bin/env bash
# Installs the Debian packages the FTPS and SFTP test servers need (tests/servers/ftp and
# tests/servers/ssh): proftpd with mod_tls (proftpd-mod-crypto) and OpenSSH's sshd; and
# headless Chromium with its WebDriver and wrk for `hub serve`'s page test and benchmark;
# the PostgreSQL server for the store's conformance suite (tests/pg starts a private cluster);
# python3 with venv, where `cargo xtask` installs the pinned componentize-py.
# `install.sh python` installs only the last group (what `cargo xtask demo` needs).
# Idempotent and quiet: does nothing when everything is already there. Needs root (or sudo);
# when it cannot install, it says in one line on stderr what is missing and why.
set -euo pipefail

# openssl: `openssl passwd -6` hashes the FTP test password. openssh-server brings
# openssh-client (ssh-keygen). unshare (util-linux) and useradd (passwd) are in every Debian.
# chromium + chromium-driver: the status page's browser test (WebDriver on loopback);
# wrk: `cargo xtask bench-api`. lftp: the FTPS client `cargo bench -p hub --bench files`
# compares the hub with (OpenSSH's sftp, the other one, comes with openssh-server).
# postgresql: initdb, pg_ctl and postgres (under /usr/lib/postgresql/*/bin) and the
# `postgres` user they run as when the tests run as root; openssl makes the test cluster's CA.
# prometheus: its promtool checks a real scrape of `hub serve`'s /metrics (the server it
# also brings is never started: see policy-rc.d below).
python=(python3 python3-venv)
packages=(proftpd-core proftpd-mod-crypto openssh-server openssl chromium chromium-driver wrk lftp postgresql prometheus "${python[@]}")
[ "${1:-}" = python ] && packages=("${python[@]}")

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! sudo -n true 2>/dev/null; then
        echo "not root and no password-less sudo, so these are missing: ${missing[*]}" >&2
        exit 1
    fi
    SUDO="sudo"
fi
command -v apt-get >/dev/null || { echo "no apt-get (not Debian), so these are missing: ${missing[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start the system's proftpd, sshd or PostgreSQL: the tests start
# their own.
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_added=1
fi
cleanup() { [ -n "$policy_added" ] && $SUDO rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT

log=$(mktemp)
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    echo "apt-get could not install ${missing[*]}: $(grep -E '^(E|Err):' "$log" | tail -1)" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
