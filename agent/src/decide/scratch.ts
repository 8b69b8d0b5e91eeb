/**
 * May `pg-agent verify` use this directory as its scratch space? Verify deletes `<scratch>/pgdata` and
 * `<scratch>/tablespaces` (a previous run killed half-way), restores into them and deletes them afterwards, so a
 * wrong directory would lose data: the live PGDATA of the pod it runs in, or anything else somebody keeps there.
 * A pure function of what {@link ../verify/scratch-dir.ts} observed; table-tested in test/agent/decide-scratch.test.ts.
 */
import { VERIFY_SCRATCH_MARKER } from '../../../lib/contract/verify';
import { Decision, INVARIANTS, Invariant } from './invariants';

/** A path that holds (or is) the live data: PGDATA from the environment, the manifests' data mount and PGDATA. */
export interface DataPath {
  readonly path: string;
  /** Where it is known from, for the message: e.g. `PGDATA (environment)`, `the data volume's mount`. */
  readonly source: string;
}

export interface ScratchFacts {
  /** The scratch directory, absolute, symbolic links resolved as far as it exists. */
  readonly scratch: string;
  /** Known data paths, absolute, links resolved as far as they exist. */
  readonly dataPaths: readonly DataPath[];
  /** The scratch directory exists. */
  readonly exists: boolean;
  /** It exists but is not a directory. */
  readonly notADirectory?: boolean;
  /** Its entries, `lost+found` (a new ext4 volume has one) left out. */
  readonly entries: readonly string[];
  /** It holds verify's own marker file (verify made it or took it while empty). */
  readonly hasMarker: boolean;
  /** A PostgreSQL data directory (PG_VERSION or global/pg_control) that is the scratch or one of its parents. */
  readonly insideDataDir?: string;
  /** A PostgreSQL data directory below the scratch (verify's own `pgdata` not counted when the marker is there). */
  readonly containsDataDir?: string;
  /** Filesystem device of the scratch (or of its nearest existing parent). */
  readonly scratchDevice?: number;
  /** PGDATA and its device, when PGDATA is set and is a PostgreSQL data directory: the data volume. */
  readonly pgdataDevice?: { readonly path: string; readonly device: number };
}

export type ScratchDecision =
  | (Extract<Decision<'use'>, { action: 'use' }> & { invariant: Invariant; /** write the marker before using it */ mark: boolean })
  | { action: 'refuse'; why: string; fix: string; invariant: Invariant };

const invariant = INVARIANTS.VERIFY_BEFORE_DESTROY;

/** `a` is `b` or lies inside it (whole path components). */
export function isWithin(a: string, b: string): boolean {
  if (a === b) return true;
  const base = b.endsWith('/') ? b : b + '/';
  return a.startsWith(base);
}

const ELSEWHERE =
  'Point --scratch (or PGC_VERIFY_SCRATCH) at a new or empty directory on another volume than the data, ' +
  "e.g. the RestoreDrill's own scratch volume (kubectl create job --from=cronjob/<cluster>-restore-drill drill-now), " +
  'or an emptyDir such as /tmp/verify';

export function decideScratch(f: ScratchFacts): ScratchDecision {
  const refuse = (why: string, fix = `${ELSEWHERE}; nothing was deleted.`): ScratchDecision => ({ action: 'refuse', why, fix, invariant });
  for (const d of f.dataPaths) {
    if (f.scratch === d.path) return refuse(`it is ${d.source} ${d.path}, the live data`);
    if (isWithin(f.scratch, d.path)) return refuse(`it is inside ${d.source} ${d.path}, the live data`);
    if (isWithin(d.path, f.scratch)) return refuse(`it contains ${d.source} ${d.path}, the live data`);
  }
  if (f.insideDataDir !== undefined) {
    return refuse(
      f.insideDataDir === f.scratch
        ? 'it is a PostgreSQL data directory (it holds PG_VERSION or global/pg_control)'
        : `it is inside the PostgreSQL data directory ${f.insideDataDir}`,
    );
  }
  if (f.containsDataDir !== undefined) return refuse(`it contains the PostgreSQL data directory ${f.containsDataDir}`);
  if (f.pgdataDevice && f.scratchDevice !== undefined && f.scratchDevice === f.pgdataDevice.device) {
    return refuse(`it is on the data volume: the same filesystem (device ${f.scratchDevice}) as PGDATA ${f.pgdataDevice.path}`);
  }
  if (f.notADirectory)
    return refuse('it is not a directory', 'Point --scratch (or PGC_VERIFY_SCRATCH) at a new or empty directory; nothing was deleted.');
  if (!f.exists) return { action: 'use', why: 'a new directory: verify makes it and marks it as its own', invariant, mark: true };
  if (f.hasMarker) return { action: 'use', why: `verify's own scratch directory (it holds ${VERIFY_SCRATCH_MARKER})`, invariant, mark: false };
  if (f.entries.length === 0) return { action: 'use', why: 'an empty directory: verify marks it as its own', invariant, mark: true };
  const shown = [...f.entries].sort().slice(0, 3).join(', ') + (f.entries.length > 3 ? ', …' : '');
  return refuse(
    `it is not empty and has no ${VERIFY_SCRATCH_MARKER} marker, so verify did not make it (it holds ${shown})`,
    `Point --scratch (or PGC_VERIFY_SCRATCH) at a new or empty directory: verify deletes only what it made, in directories it marked with ${VERIFY_SCRATCH_MARKER}; nothing was deleted.`,
  );
}
