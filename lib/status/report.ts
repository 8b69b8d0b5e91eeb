/**
 * The JSON of `pg-agent status -o json`: the contract between the in-pod command (which gathers it) and the laptop
 * command `cdk8s-postgres status` (which renders it). Each section either holds its facts or says why it could
 * not be read (`{ unavailable }`), so a store or API outage hides one section, never the whole report.
 */
import type { RetentionSpec } from '../contract/backup';

/** Bumped when a field changes meaning; a renderer refuses a report of a newer version. */
export const STATUS_REPORT_VERSION = 1;

export interface Unavailable {
  /** Why the section could not be read, and what to do. */
  readonly unavailable: string;
}

export type Section<T> = T | Unavailable;

export function isUnavailable<T extends object>(s: Section<T> | undefined): s is Unavailable {
  return !!s && typeof (s as Unavailable).unavailable === 'string';
}

export interface PodStatus {
  name: string;
  /** The role label the agent set on its pod (`primary`, `replica`), absent when none. */
  role?: string;
  ready: boolean;
  /** Pod phase, or `missing` when the API has no such pod. */
  phase: string;
}

export interface ReplicaStatus {
  name: string;
  /** `streaming`, `catchup`… (pg_stat_replication), or `reported` when only its pod's annotation was read. */
  state: string;
  /** `sync`, `async`, `potential`, `quorum` (pg_stat_replication). */
  syncState?: string;
  lagBytes?: number;
  lagSeconds?: number;
}

export interface StatusReport {
  version: number;
  cluster: string;
  namespace: string;
  /** ISO time the report was made. */
  generatedAt: string;
  /** The pod that ran `pg-agent status` and what its PostgreSQL is. */
  observedFrom: { pod: string; role: 'primary' | 'replica' | 'unknown' };
  /** Pod name of the primary (the Lease holder when it is valid, else the pod labelled primary). */
  primary?: string;
  instances: Section<{ expected: number; pods: PodStatus[] }>;
  lease: Section<{ holder?: string; renewTime?: string; renewAgeSeconds?: number; durationSeconds?: number; expired: boolean }>;
  postgres: Section<{ role: 'primary' | 'replica'; timeline: number; lsn: string; systemIdentifier: string; version: string }>;
  replication: Section<{
    /** `primary`: read from the primary's pg_stat_replication; `annotations`: the replicas' published positions. */
    source: 'primary' | 'annotations';
    replicas: ReplicaStatus[];
  }>;
  archiving: Section<{
    lastArchivedWal?: string;
    lastArchivedTime?: string;
    lastFailedWal?: string;
    lastFailedTime?: string;
    /** The last attempt failed (last failure after the last success). */
    failing: boolean;
    archivedCount: number;
    failedCount: number;
    /** Segments waiting to be archived (pg_wal/archive_status/*.ready). */
    readyFiles: number;
  }>;
  backups: Section<{
    schedule?: string;
    /** Next scheduled run (from the CronJob's schedule, UTC), absent when unknown or suspended. */
    nextTime?: string;
    suspended?: boolean;
    lastCompleted?: { backupId: string; endTime: string; sizeBytes: number; storedBytes: number };
    lastFailed?: { backupId: string; time: string; error?: string };
    /** A backup whose backup.info is not final yet (running, or killed). */
    inProgress?: { backupId: string; beginTime: string };
    /** Complete backups in the store (what retention kept). */
    kept: number;
    oldest?: { backupId: string; endTime: string };
    retention?: RetentionSpec;
  }>;
  recoverable: Section<{
    /** The earliest point a restore can reach: the end of the oldest complete backup. */
    from?: string;
    fromBackup?: string;
    /** The last WAL segment of the continuous archive after the oldest backup (newest timeline). */
    toWal?: string;
    timeline?: number;
    continuous: boolean;
    /** With a gap: the first missing segment (a restore stops before it). */
    missing?: string;
  }>;
  drill: Section<{
    result: 'succeeded' | 'failed' | 'running' | 'never' | 'unknown';
    schedule?: string;
    lastScheduleTime?: string;
    lastSuccessfulTime?: string;
    detail?: string;
  }>;
}
