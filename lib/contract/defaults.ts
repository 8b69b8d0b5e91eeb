/**
 * The values half of the contract: defaults and allowed values that the constructs (which validate props against
 * them and render them) and the agent (which checks what it reads against them) must agree on. A value here is
 * spelled nowhere else; prop JSDoc `@default` tags repeat it for the reader, and `test/lib` checks they agree.
 */
import type { Compression } from './backup';

/** Compressions of base backups and WAL segments: gzip (and none) are what barman-cloud restores too. */
export const COMPRESSIONS: readonly Compression[] = ['gzip', 'zstd', 'lz4', 'none'];

/** Is `value` one of {@link COMPRESSIONS}? */
export function isCompression(value: unknown): value is Compression {
  return (COMPRESSIONS as readonly unknown[]).includes(value);
}

/** Backup settings a cluster gets when its `backup` props leave them out. */
export const BACKUP_DEFAULTS = {
  /** Base backup tar compression: gzip, so `barman-cloud-restore` can restore our backups. */
  compression: 'gzip',
  walCompression: 'gzip',
  /** WAL segments an instance's archiver uploads at once. */
  walMaxParallel: 4,
} as const satisfies { compression: Compression; walCompression: Compression; walMaxParallel: number };

/** Allowed range of `backup.walMaxParallel`: more rarely helps one disk, and each upload holds a segment in memory. */
export const WAL_MAX_PARALLEL_RANGE = { min: 1, max: 32 } as const;

/** The primary's Lease (failover clock). */
export const LEASE = {
  /** Seconds a Lease stays valid without renewal, unless `failover.leaseDurationSeconds` says otherwise. */
  defaultDurationSeconds: 15,
  minDurationSeconds: 5,
  maxDurationSeconds: 300,
  /**
   * A primary that has not renewed for this part of the lease duration stops accepting writes (fences itself), so
   * it is fenced before any replica may consider the Lease expired.
   */
  fenceAfterFraction: 2 / 3,
} as const;

/** A replica further behind the last known primary position is never promoted: one WAL segment unless set. */
export const DEFAULT_FAILOVER_MAX_LAG_BYTES = 16 * 1024 * 1024;

/** Synchronous replication's promises (SynchronousSpec.dataDurability); `required` unless the props say otherwise. */
export const DATA_DURABILITIES = ['required', 'preferred'] as const;
export const DEFAULT_DATA_DURABILITY: (typeof DATA_DURABILITIES)[number] = 'required';

/** Stopping a pod: a fast shutdown first, then an immediate one before the kubelet's SIGKILL. */
export const SHUTDOWN = {
  /** The pod's terminationGracePeriodSeconds unless the props say otherwise. */
  defaultGracePeriodSeconds: 60,
  /** Less leaves PostgreSQL no time to checkpoint. */
  minGracePeriodSeconds: 10,
  /** Seconds before the grace period ends at which the agent escalates to an immediate shutdown. */
  immediateMarginSeconds: 5,
} as const;

/** The agent's fast-shutdown timeout (SHUTDOWN_ENV) for a pod with this grace period. */
export function shutdownTimeoutSeconds(gracePeriodSeconds: number): number {
  return Math.max(1, gracePeriodSeconds - SHUTDOWN.immediateMarginSeconds);
}
