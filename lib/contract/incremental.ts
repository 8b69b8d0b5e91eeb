/**
 * Block-level incremental backups: the environment that turns them on and their place in the store, beside
 * barman-cloud's layout (`base/` keeps only full backups, which barman-cloud-restore and older agents read as before).
 */
import { COMPRESSION_EXTENSION, Compression } from './backup';

export const INCREMENTAL_ENV = {
  /** JSON {@link IncrementalSpec}; absent: every scheduled backup is a full one. */
  spec: 'PGC_BACKUP_INCREMENTAL',
} as const;

/** What the backup CronJob reads: how old a chain's full backup may get before the next run takes a new full one. */
export interface IncrementalSpec {
  /** A duration: a number and a unit, h (hours), d (days) or w (weeks), e.g. `7d`. */
  readonly fullEvery: string;
}

/** `fullEvery`: a whole number of hours, days or weeks. */
export const FULL_EVERY = /^([1-9][0-9]*)([hdw])$/;

/** Milliseconds of a {@link FULL_EVERY} duration, or undefined when it is not one. */
export function fullEveryMs(value: string): number | undefined {
  const m = FULL_EVERY.exec(value);
  if (!m) return undefined;
  const unit = { h: 3600_000, d: 86400_000, w: 7 * 86400_000 }[m[2] as 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

/** PostgreSQL's page size: relation files are stored page by page. */
export const PAGE_SIZE = 8192;

/** Keys of incremental backups under `<prefix><serverName>/incremental/<id>/`. */
export const incrementalLayout = {
  root: (prefix: string, server: string) => `${prefix}${server}/incremental/`,
  dir: (prefix: string, server: string, id: string) => `${prefix}${server}/incremental/${id}/`,
  /** The backup's metadata (JSON), written last: an incremental without it, or whose status is not DONE, is not complete. */
  info: (prefix: string, server: string, id: string) => `${prefix}${server}/incremental/${id}/incremental.json`,
  /** Every file of the source with its size, and for relation files the block numbers stored (JSON). */
  manifest: (prefix: string, server: string, id: string) => `${prefix}${server}/incremental/${id}/manifest.json`,
  /** The changed pages and the other files, in the agent's record format (see agent/src/incremental/records.ts). */
  data: (prefix: string, server: string, id: string, compression: Compression) =>
    `${prefix}${server}/incremental/${id}/data.pgci${COMPRESSION_EXTENSION[compression]}`,
} as const;
