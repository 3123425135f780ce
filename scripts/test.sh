#!/usr/bin/env bash
# Every check, on a fresh machine: a virtual environment with the locked test
# dependencies (requirements-dev.lock, hashes checked) and the package, Debian's
# chromium when missing, then ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium for the browser tests; DejaVu Sans for the summary PDF (German,
# Turkish, Cyrillic and Arabic glyphs); for the field networks (tests/fieldnet.py):
# iproute2 (namespaces), nftables (NAT and firewalls), nginx (the agency's TLS proxy),
# coturn (TURN), libnss3-tools (Chromium trusts the test CA), curl; slapd and ldap-utils
# (the agency's directory for staff sign-in, tests/ldapserver.py).
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing="$missing fonts-dejavu-core"
command -v ip >/dev/null || missing="$missing iproute2"
command -v nft >/dev/null || missing="$missing nftables"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v turnserver >/dev/null || missing="$missing coturn"
command -v certutil >/dev/null || missing="$missing libnss3-tools"
command -v curl >/dev/null || missing="$missing curl"
[ -x /usr/sbin/slapd ] || missing="$missing slapd"
command -v ldapadd >/dev/null || missing="$missing ldap-utils"
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi
# axe-core, from the npm registry, checks every kiosk screen for accessibility.
# Pinned like the Python packages: a new axe release may add rules.
AXE_VERSION=4.14.1
if ! grep -qs "\"version\": \"$AXE_VERSION\"" .cache/axe/node_modules/axe-core/package.json; then
  npm install --prefix .cache/axe --no-save --no-package-lock --no-audit --no-fund \
    "axe-core@$AXE_VERSION" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -r requirements-dev.lock
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
