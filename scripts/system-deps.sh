#!/usr/bin/env bash
# System packages the test suite and the benchmarks need, from Debian's repositories:
# Chromium (console browser tests, driven by Playwright without downloading a browser),
# wrk and hey (load generators for bench/), nginx (the reverse proxy of the fleet test,
# tests/fleet, and of deploy/; started by the test as its own child, never as a system
# service), dovecot-imapd (the IMAP server of the sign-up tests, tests/imap_server.py: each
# test starts a private one with its own config; the system service is never enabled or
# started). Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v hey >/dev/null 2>&1 || need+=(hey)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The tests start their own dovecot; the package's system service must not run (nor take 143).
if [[ " ${need[*]} " == *" dovecot-imapd "* ]] && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi
