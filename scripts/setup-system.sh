#!/usr/bin/env bash
# System packages the test suite needs that pip cannot provide. Installs only what is missing.
# Safe to re-run; a no-op on a machine that already has everything.
#
# PostgreSQL: tests/io starts a throw-away server with initdb/pg_ctl (Debian puts them in
# /usr/lib/postgresql/<version>/bin, not on PATH). As root the server must run as another user:
# the Debian package creates 'postgres'. Without the binaries those tests FAIL, they do not skip.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

missing=()
have_pg || missing+=(postgresql)
# the report's browser test drives Debian's Chromium (no browser download is possible here)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
    apt=(sudo -n apt-get)
  else
    echo "segmint setup: please install: ${missing[*]} (the tests that need them will fail)" >&2
    exit 0
  fi
  echo "segmint setup: installing ${missing[*]} from Debian packages"
  "${apt[@]}" update -qq
  # the package's own cluster is not used; a missing init system only makes its start a no-op
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  have_pg || { echo "segmint setup: postgresql installed but initdb not found" >&2; exit 1; }
fi

# as root, the test server runs as 'postgres' (initdb refuses root); make sure that user exists
if [ "$(id -u)" = "0" ] && ! id -u postgres >/dev/null 2>&1; then
  echo "segmint setup: creating system user postgres for the test database server"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi
