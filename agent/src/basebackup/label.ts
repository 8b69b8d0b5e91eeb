/**
 * Where a base backup starts and ends, from what the server put in its tar: backup_label (start) and the
 * backup manifest's WAL-Ranges (end, with the timeline), with pg_basebackup's own messages as the fallback.
 */
import { AgentError } from '../common/errors';
import { timelineOfWalFile } from '../postgres/wal';

export interface BackupLabel {
  startLsn: string;
  startWal: string;
  startTimeline: number;
  checkpointLsn?: string;
  backupFrom?: 'primary' | 'standby';
  label?: string;
}

/** PostgreSQL's backup_label (`START WAL LOCATION: 0/2000028 (file 000000010000000000000002)` ...). */
export function parseBackupLabel(text: string): BackupLabel {
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1]?.trim();
  const start = /^([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/.exec(field('START WAL LOCATION') ?? '');
  if (!start) throw new AgentError('the backup_label of the backup has no START WAL LOCATION', 'Run the backup again; report it if it persists.');
  const from = field('BACKUP FROM');
  return {
    startLsn: start[1],
    startWal: start[2],
    startTimeline: Number(field('START TIMELINE') ?? timelineOfWalFile(start[2])),
    checkpointLsn: field('CHECKPOINT LOCATION'),
    backupFrom: from === 'standby' ? 'standby' : from === 'primary' ? 'primary' : undefined,
    label: field('LABEL'),
  };
}

/** The last WAL range of a backup manifest's tail (`{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }`). */
export function manifestWalEnd(manifestTail: string | undefined): { endLsn: string; timeline: number } | undefined {
  if (!manifestTail) return undefined;
  const ranges = [
    ...manifestTail.matchAll(/"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)",\s*"End-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)"/g),
  ];
  // The manifest lists the backup's timelines newest first: the first range is where it ends.
  const first = ranges[0];
  return first ? { endLsn: first[3], timeline: Number(first[1]) } : undefined;
}
