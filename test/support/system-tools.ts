/**
 * The system tools the tests run, each with the Debian bookworm package that installs it. `npm run setup`
 * (scripts/setup.sh) installs exactly these packages; the jest globalSetup checks them first, so that a missing
 * tool fails the run at once with the package to install instead of deep inside a test.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The PostgreSQL server binaries (Debian's layout); PGC_TEST_PG_BIN points elsewhere. */
const PG_BIN = process.env.PGC_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface SystemTool {
  /** A command looked up on PATH, or an absolute path. */
  tool: string;
  /** The Debian package that provides it. */
  debian: string;
  /** What the tests need it for. */
  why: string;
  /** A data file (an extension's control file, a jar) that must be readable, not executable. */
  data?: boolean;
}

export const SYSTEM_TOOLS: SystemTool[] = [
  ...['postgres', 'initdb', 'pg_ctl', 'pg_controldata', 'pg_rewind', 'pgbench'].map(t => ({
    tool: path.join(PG_BIN, t),
    debian: 'postgresql-15',
    why: 'the PostgreSQL 15 server the agent runs',
  })),
  ...['pg_basebackup', 'pg_amcheck', 'psql'].map(t => ({
    tool: path.join(PG_BIN, t),
    debian: 'postgresql-client-15',
    why: 'the client tools the agent runs',
  })),
  ...['radosgw'].map(tool => ({ tool, debian: 'radosgw', why: 'the S3 server of the backup tests (Ceph RGW)' })),
  { tool: 'ceph-mon', debian: 'ceph-mon', why: "Ceph RGW's monitor" },
  { tool: 'ceph-osd', debian: 'ceph-osd', why: "Ceph RGW's storage daemon" },
  ...['ceph', 'radosgw-admin', 'ceph-authtool'].map(tool => ({ tool, debian: 'ceph-common', why: "Ceph RGW's set-up" })),
  { tool: 'uuidgen', debian: 'uuid-runtime', why: "Ceph RGW's set-up" },
  { tool: 'openssl', debian: 'openssl', why: "Ceph RGW's TLS certificate and keys" },
  { tool: 'curl', debian: 'curl', why: "Ceph RGW's readiness check" },
  ...['barman-cloud-backup', 'barman-cloud-wal-restore'].map(tool => ({
    tool,
    debian: 'barman-cli-cloud',
    why: "interoperability with CloudNativePG's backups",
  })),
  { tool: 'zstd', debian: 'zstd', why: 'the zstd format tests' },
  { tool: 'lz4', debian: 'lz4', why: 'the lz4 format tests' },
  { tool: process.env.PGC_TEST_CHROMIUM ?? '/usr/bin/chromium', debian: 'chromium', why: "the restore canary's browser test" },
  ...['unshare', 'setpriv', 'nsenter'].map(tool => ({
    tool,
    debian: 'util-linux',
    why: 'the pod root: a read-only root, its volumes, uid 999 (docs/testing.md)',
  })),
  { tool: 'chroot', debian: 'coreutils', why: 'the pod root (docs/testing.md)' },
  { tool: 'faketime', debian: 'faketime', why: 'the failover tests with skewed clocks (libfaketime)' },
  ...['prometheus', 'promtool'].map(tool => ({ tool, debian: 'prometheus', why: 'the monitoring tests (a real Prometheus, promtool)' })),
  { tool: '/usr/share/postgresql/15/extension/postgis.control', debian: 'postgresql-15-postgis-3', why: 'the extension tests (PostGIS)', data: true },
  { tool: '/usr/share/java/postgresql.jar', debian: 'libpostgresql-jdbc-java', why: 'the TLS client tests (JDBC)', data: true },
  { tool: 'java', debian: 'default-jdk-headless', why: 'the TLS client tests (JDBC, run from source)' },
];

/** The Debian packages of SYSTEM_TOOLS plus postgresql-contrib (amcheck), in install order, each once. */
export const DEBIAN_PACKAGES = [...new Set([...SYSTEM_TOOLS.map(t => t.debian), 'postgresql-contrib'])];

function found({ tool, data }: SystemTool): boolean {
  const candidates = path.isAbsolute(tool)
    ? [tool]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map(d => path.join(d, tool));
  return candidates.some(f => {
    try {
      fs.accessSync(f, data ? fs.constants.R_OK : fs.constants.X_OK);
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** The tools that are missing (none when the machine is set up). */
export function missingSystemTools(tools: SystemTool[] = SYSTEM_TOOLS): SystemTool[] {
  return tools.filter(t => !found(t));
}

/** Throws, naming each missing tool's Debian package and the setup command, when any tool is missing. */
export function checkSystemTools(tools: SystemTool[] = SYSTEM_TOOLS): void {
  const missing = missingSystemTools(tools);
  if (!missing.length) return;
  const packages = [...new Set(missing.map(t => t.debian))];
  throw new Error(
    [
      `The tests need system tools that are not installed (Debian bookworm packages in brackets):`,
      ...missing.map(t => `  ${t.tool} [${t.debian}]: ${t.why}`),
      `Install them with \`npm run setup\` (as root), or: apt-get install -y ${packages.join(' ')}`,
    ].join('\n'),
  );
}
