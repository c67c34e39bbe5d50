#!/usr/bin/env bash
# The console's browser tests drive Debian's chromium (test/console/browser.ts). `npm test`
# runs this first, so a fresh machine needs no step beyond the README's two commands:
# present, nothing happens; missing, it is installed from Debian's packages (as root).
set -euo pipefail
browser="${HERALD_CHROMIUM:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "npm test: the console tests need Chromium at $browser; install Debian's chromium package (apt-get install chromium) or set HERALD_CHROMIUM" >&2
  exit 1
fi
echo "npm test: installing Debian's chromium for the console's browser tests..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
