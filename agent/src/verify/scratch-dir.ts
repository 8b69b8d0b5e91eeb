/**
 * The facts about verify's scratch directory (decided by decide/scratch.ts), and taking it: making it, marking it as
 * verify's own. Nothing here deletes anything.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ENV, PATHS, VERIFY_SCRATCH_MARKER } from '../../../lib/contract';
import { DataPath, ScratchFacts } from '../decide/scratch';

/** How deep below the scratch directory a PostgreSQL data directory is looked for (the scratch is empty or verify's own). */
const SEARCH_DEPTH = 3;
const SEARCH_ENTRIES = 2000;

/** Absolute path with symbolic links resolved as far as it exists (the missing tail appended as given). */
export function realPathSoFar(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

/** A PostgreSQL data directory: PG_VERSION or global/pg_control. */
export function isDataDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'PG_VERSION')) || fs.existsSync(path.join(dir, 'global', 'pg_control'));
}

function deviceOf(p: string): number | undefined {
  for (let dir = p; ; dir = path.dirname(dir)) {
    try {
      return fs.statSync(dir).dev;
    } catch {
      if (path.dirname(dir) === dir) return undefined;
    }
  }
}

function findDataDirBelow(root: string, skip: Set<string>): string | undefined {
  let seen = 0;
  const walk = (dir: string, depth: number): string | undefined => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) {
      if (!e.isDirectory() || ++seen > SEARCH_ENTRIES) continue;
      const child = path.join(dir, e.name);
      if (skip.has(child)) continue;
      if (isDataDir(child)) return child;
      if (depth < SEARCH_DEPTH) {
        const found = walk(child, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(root, 1);
}

/** Observes the scratch directory and where the live data is (PGDATA of the environment, the manifests' paths). */
export function scratchFacts(scratchDir: string, env: NodeJS.ProcessEnv): ScratchFacts {
  const scratch = realPathSoFar(scratchDir);
  const dataPaths: DataPath[] = [];
  const pgdataEnv = env[ENV.pgdata];
  if (pgdataEnv) dataPaths.push({ path: realPathSoFar(pgdataEnv), source: `PGDATA (environment)` });
  dataPaths.push(
    { path: PATHS.pgdata, source: 'the PGDATA of the manifests' },
    { path: PATHS.dataMount, source: 'the data volume mount of the manifests' },
  );

  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(scratch);
  } catch {
    stat = undefined;
  }
  const exists = stat !== undefined;
  const isDir = stat?.isDirectory() ?? false;
  const entries = isDir ? fs.readdirSync(scratch).filter(e => e !== 'lost+found') : [];
  const hasMarker = isDir && fs.existsSync(path.join(scratch, VERIFY_SCRATCH_MARKER));

  let insideDataDir: string | undefined;
  for (let dir = scratch; ; dir = path.dirname(dir)) {
    if (isDataDir(dir)) {
      insideDataDir = dir;
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  // verify's own restore from a run killed half-way is a data directory too: not a reason to refuse.
  const own = hasMarker ? new Set([path.join(scratch, 'pgdata'), path.join(scratch, 'tablespaces')]) : new Set<string>();
  const containsDataDir = isDir ? findDataDirBelow(scratch, own) : undefined;

  let pgdataDevice: ScratchFacts['pgdataDevice'];
  if (pgdataEnv && isDataDir(pgdataEnv)) {
    const device = deviceOf(pgdataEnv);
    if (device !== undefined) pgdataDevice = { path: realPathSoFar(pgdataEnv), device };
  }
  return {
    scratch,
    dataPaths,
    exists,
    notADirectory: exists && !isDir,
    entries,
    hasMarker,
    insideDataDir,
    containsDataDir,
    scratchDevice: deviceOf(scratch),
    pgdataDevice,
  };
}

/** Makes the scratch directory if needed and marks it as verify's own (written before anything is deleted in it). */
export function takeScratch(scratch: string, mark: boolean): void {
  fs.mkdirSync(scratch, { recursive: true, mode: 0o700 });
  if (mark) {
    const marker = path.join(scratch, VERIFY_SCRATCH_MARKER);
    fs.writeFileSync(marker, 'pg-agent verify scratch space: verify deletes and recreates pgdata/ and tablespaces/ here.\n');
    const fd = fs.openSync(marker, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
