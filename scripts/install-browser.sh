#!/usr/bin/env bash
# Install the real browser the review station's test drives: Debian's chromium and
# chromium-driver (apt; idempotent). Needs root (or sudo). Nothing is downloaded at test time.
set -euo pipefail
PACKAGES="chromium chromium-driver"
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; install Chromium and its chromedriver by hand" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "install-browser: apt-get install $PACKAGES"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
