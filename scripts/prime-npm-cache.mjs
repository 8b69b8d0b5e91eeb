// Puts into the npm cache what the consumer tests (test/package/consumer.test.ts) install offline: cdk8s,
// constructs and cdk8s-plus-28 at the locked versions and at the oldest supported ones
// (test/package/consumers.json), each with its whole dependency tree and the library's own dependencies. Each set
// is installed once, online, into a throwaway app; npm keeps the packuments and tarballs in its cache. Idempotent:
// a second run finds everything cached.
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const { oldest } = JSON.parse(readFileSync('test/package/consumers.json', 'utf8'));
const peers = Object.keys(pkg.peerDependencies);
const current = Object.fromEntries(peers.map(n => [n, lock.packages[`node_modules/${n}`].version]));

for (const [name, versions] of Object.entries({ current, oldest })) {
  const dir = mkdtempSync(join(tmpdir(), 'pgc-prime-'));
  try {
    const dependencies = { ...versions, ...pkg.dependencies };
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `prime-${name}`, version: '0.0.0', private: true, dependencies }));
    process.stdout.write(
      `npm cache: ${name} consumer (${Object.entries(dependencies)
        .map(([n, v]) => `${n}@${v}`)
        .join(' ')})\n`,
    );
    execFileSync('npm', ['install', '--prefer-online', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: dir,
      stdio: 'inherit',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
