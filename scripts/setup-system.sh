#!/usr/bin/env bash
# System packages the test suite needs that pip cannot provide. Installs only what is missing.
# Safe to re-run; a no-op on a machine that already has everything.
set -euo pipefail
missing=()
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "segmint setup: installing ${missing[*]} from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "segmint setup: please install: ${missing[*]} (tests that need them will be skipped)" >&2
  fi
fi
