#!/usr/bin/env bash
# Installs Debian's chromium when it is missing: plotly's PNG/SVG export (kaleido) and the browser tests
# (Playwright, never `playwright install`) use it. Needs root or sudo and apt-get.
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: chromium is missing and apt-get is not available: install Chromium yourself for PNG/SVG" \
       "export and the browser tests." >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "warning: chromium is missing; run 'apt-get install chromium' as root." >&2; exit 0
  fi
fi
echo "installing Debian's chromium (once)..."
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
