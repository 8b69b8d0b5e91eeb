/**
 * A former primary (or a replica whose history diverged) joins the new primary: pg_rewind, with the archive for
 * old WAL; only a divergence that rewinding cannot repair justifies a fresh clone, and that clone goes into a side
 * directory and replaces the data only once complete. Anything else (authentication, permissions, space, another
 * system, an error nobody has classified) deletes nothing: the instance waits and says why.
 */
import { INVARIANTS, Invariant } from './invariants';

export type RewindFailure =
  { kind: 'unreachable'; why: string } | { kind: 'blocked'; why: string; fix: string; invariant: Invariant } | { kind: 'diverged'; why: string };

const UNREACHABLE =
  /could not connect|connection refused|timeout expired|server closed the connection|the database system is (shutting down|starting up)|no route to host|could not translate host name/i;

const BLOCKED: Array<[RegExp, string, string]> = [
  [
    /password authentication failed|no password supplied|pg_hba\.conf/i,
    "the new primary refused the superuser's credentials",
    "A rotated superuser Secret is applied by the primary within seconds and the rejoin retries on its own; if this lasts, check that the new primary's agent runs and reads the superuser Secret (its log says why not).",
  ],
  [
    /must be superuser|permission denied for|must have privileges|EXECUTE permission/i,
    'the rewind user lacks the privileges pg_rewind needs on the new primary',
    'The agent connects as the superuser: check that the role postgres on the new primary is a superuser.',
  ],
  [
    /No space left on device|disk full|could not extend file/i,
    'the volume is full',
    'Grow the PersistentVolumeClaim (storage.size) or free space; the data was kept.',
  ],
  [
    /different systems|system identifier/i,
    'the new primary is another database system',
    'Nothing was touched. The -rw Service reaches a server of another cluster: check the Services and the cluster name.',
  ],
  [
    /Permission denied|Read-only file system|could not (open|create|write|remove) file .*: Operation not permitted/i,
    'the data directory cannot be written',
    'Check the volume: it must be writable by uid 999 (fsGroup).',
  ],
];

const DIVERGED =
  /could not find previous WAL record|could not open file ".*pg_wal\/[0-9A-F]{24}"|could not find common ancestor|no common ancestor|data checksums or "wal_log_hints|could not find WAL file|unexpected pageaddr|invalid record length|restore_command.*(failed|not found)|could not restore file/i;

/** What a pg_rewind failure means, from its message. */
export function classifyRewindFailure(message: string): RewindFailure {
  if (UNREACHABLE.test(message)) return { kind: 'unreachable', why: 'the new primary cannot be reached' };
  for (const [re, why, fix] of BLOCKED) if (re.test(message)) return { kind: 'blocked', why, fix, invariant: INVARIANTS.VERIFY_BEFORE_DESTROY };
  if (DIVERGED.test(message))
    return { kind: 'diverged', why: 'the histories cannot be rewound (WAL gone from both the volume and the archive, or no common ancestor)' };
  return {
    kind: 'blocked',
    invariant: INVARIANTS.VERIFY_BEFORE_DESTROY,
    why: 'pg_rewind failed for a reason the agent does not know to be safe to clone over',
    fix: "The data was kept. Read pg_rewind's message above. If this instance's data is expendable, delete its PVC and the pod, so it clones the primary.",
  };
}

export interface CloneAsideFacts {
  freeBytes: number;
  /** What the clone will need: the size of the data directory being replaced (the primary's is about the same). */
  neededBytes: number;
}

export type CloneAsideDecision = { action: 'clone-aside'; why: string } | { action: 'wait'; why: string; fix: string; invariant: Invariant };

/** Whether the replacement fits beside the data it replaces (it must, since the old data stays until the new is complete). */
export function decideCloneAside(f: CloneAsideFacts): CloneAsideDecision {
  // 10 % and 64 MiB of headroom: WAL streamed during the clone, and postgres must still start afterwards.
  const need = Math.ceil(f.neededBytes * 1.1) + 64 * 1024 * 1024;
  if (f.freeBytes >= need) return { action: 'clone-aside', why: `${mib(f.freeBytes)} free, a clone needs about ${mib(need)}` };
  return {
    action: 'wait',
    invariant: INVARIANTS.VERIFY_BEFORE_DESTROY,
    why: `a fresh clone would need about ${mib(need)} beside the current data, but only ${mib(f.freeBytes)} are free: the data is kept and the clone waits`,
    fix: "Grow the PersistentVolumeClaim (storage.size), or, if this instance's data is expendable, delete its PVC and the pod so it clones into an empty volume.",
  };
}

const mib = (b: number) => `${Math.round(b / 1024 / 1024)} MiB`;
