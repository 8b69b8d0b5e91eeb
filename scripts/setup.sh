#!/usr/bin/env bash
# The setup command (`npm run setup`, or `bash scripts/setup.sh`): makes a fresh Debian bookworm machine ready for
# `npm test`. Idempotent; run it again after pulling changes to package-lock.json.
#  1. the Debian packages the tests run (test/support/system-tools.ts names the tool each one provides; the jest
#     globalSetup fails with the package to install when one is missing), installed only when missing;
#  2. npm ci, building zstd-napi's native binding from source (no prebuilt download is reachable here);
#  3. the npm cache entries of the consumer tests (test/package/), which install cdk8s offline.
# Needs root (or sudo) for apt-get; PGC_SETUP_SKIP_APT=1 skips step 1 on a machine that has the packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL 15 server and client tools (initdb, postgres, pg_basebackup, pg_controldata, pg_amcheck, pgbench);
# a real S3 server for the backup tests: Ceph RGW (what the reference homelab runs), started by the tests;
# barman-cloud (CloudNativePG's backup tool) for the interoperability tests; the zstd/lz4 CLIs for format tests;
# libfaketime for the failover tests with skewed clocks; Prometheus (promtool) for the monitoring tests; PostGIS for
# the extension tests; the PostgreSQL JDBC driver and a Java runtime for the TLS client tests; unshare, setpriv,
# nsenter and chroot (essential packages, listed for completeness) for the pod root (docs/testing.md).
PACKAGES=(postgresql-15 postgresql-client-15 postgresql-contrib
  util-linux coreutils
  radosgw ceph-mon ceph-osd ceph-common uuid-runtime openssl curl
  barman-cli-cloud zstd lz4 faketime
  prometheus postgresql-15-postgis-3 libpostgresql-jdbc-java default-jdk-headless)
# Headless Chromium for the restore canary's browser test (driven by playwright-core, never a downloaded browser),
# with its recommended packages (fonts).
PACKAGES_WITH_RECOMMENDS=(chromium)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if [ "${PGC_SETUP_SKIP_APT:-}" != 1 ]; then
  missing=() missing_rec=()
  for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  for p in "${PACKAGES_WITH_RECOMMENDS[@]}"; do installed "$p" || missing_rec+=("$p"); done
  if [ ${#missing[@]} -gt 0 ] || [ ${#missing_rec[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || { echo "setup: apt-get not found; install on this system: ${missing[*]} ${missing_rec[*]}" >&2; exit 1; }
    SUDO=()
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || { echo "setup: run as root (apt-get install ${missing[*]} ${missing_rec[*]})" >&2; exit 1; }
      SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update
    [ ${#missing[@]} -eq 0 ] || "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
    [ ${#missing_rec[@]} -eq 0 ] || "${SUDO[@]}" apt-get install -y "${missing_rec[@]}"
  else
    echo "setup: the Debian packages are installed"
  fi
fi

# zstd-napi compiles its bundled zstd against Node's headers.
export npm_config_build_from_source=true
npm ci --no-audit --no-fund
node scripts/prime-npm-cache.mjs
echo "setup: done; run the tests with: npm test"
