/**
 * A base backup's metadata, stored as `base/<backupId>/backup.info` in barman's format (`key=value` lines), so
 * barman-cloud-restore and barman-cloud-backup-list read ours and we read theirs. Written last: a backup without
 * a `backup.info` whose status is DONE is not complete, whatever else is stored.
 *
 * The format, as barman 3.4's infofile.py writes it: one `name=value` line per field of its BackupInfo class, in
 * name order; `None` for a missing value; backup_label, tablespaces, included_files and copy_stats are Python
 * literals (repr / ast.literal_eval); times are Python's `str(datetime)` (`2026-11-27 03:07:08.756634+00:00`).
 * barman refuses a file with a name it does not know (its class has __slots__), so nothing of ours goes in
 * a line of its own: what barman has no field for (the writer, the data checksums) goes into copy_stats, a dict.
 */
import { Compression, isCompression } from '../../../lib/contract';
import { PyTuple, PyValue, pyLiteral, pyRepr } from './python-literal';
import { DEFAULT_WAL_SEGMENT_SIZE } from '../postgres/wal';

/** barman's statuses (DONE is the only complete one). */
export type BackupStatus = 'STARTED' | 'DONE' | 'FAILED' | 'EMPTY' | 'WAITING_FOR_WALS' | 'SYNCING';

export interface Tablespace {
  name: string;
  oid: number;
  location: string;
}

export interface BackupInfo {
  /** `YYYYMMDDTHHMMSS` (start time; UTC for ours, barman-cloud uses its local time), the folder name. */
  backupId: string;
  status: BackupStatus;
  /** barman's server_name: `cloud` for barman-cloud-backup, the store's serverName for ours. */
  serverName: string;
  systemIdentifier: string;
  timeline: number;
  beginTime: Date;
  endTime?: Date;
  /** WAL file names and LSNs (`0/2000028`) of the backup's start and end. */
  beginWal: string;
  endWal?: string;
  beginLsn: string;
  endLsn?: string;
  /** PostgreSQL version number, e.g. 150018. */
  pgVersion: number;
  /** Bytes of PGDATA (the uncompressed tar); barman-cloud leaves it empty (0 here). */
  size: number;
  /** Bytes stored under base/<id>/ (from the listing, {@link listBackups}). */
  storedSize?: number;
  /** Compression of the data tar (for barman-cloud's backups: from the object's extension, when listed). */
  compression: Compression;
  /** The backup_label the server returned (needed to restore; also inside the data tar). */
  backupLabel?: string;
  /** Which tool wrote it: `pg-agent` or `barman-cloud`. */
  writer?: string;
  error?: string;
  beginOffset?: number;
  endOffset?: number;
  /** Bytes per WAL segment. @default 16 MiB */
  walSegmentSize?: number;
  /** barman's mode: None for barman-cloud, `postgres` (replication protocol, as barman's own) for ours. */
  mode?: string;
  pgdata?: string;
  configFile?: string;
  hbaFile?: string;
  identFile?: string;
  tablespaces?: Tablespace[];
  backupName?: string;
  /** barman's copy_stats (times, workers), plus ours: writer, the data objects' SHA-256 and sizes. */
  copyStats?: { [key: string]: PyValue };
  /** Newest LastModified of the backup's objects (when listed): a running backup's last sign of life. */
  lastModified?: Date;
  /** barman fields this type does not model, as stored (kept when written back). */
  extra?: Record<string, string>;
}

/** Every field of barman 3.4's BackupInfo, i.e. every line it writes (backup_name and snapshots_info only when set). */
const BARMAN_FIELDS = [
  'backup_label',
  'backup_name',
  'begin_offset',
  'begin_time',
  'begin_wal',
  'begin_xlog',
  'compression',
  'config_file',
  'copy_stats',
  'deduplicated_size',
  'end_offset',
  'end_time',
  'end_wal',
  'end_xlog',
  'error',
  'hba_file',
  'ident_file',
  'included_files',
  'mode',
  'pgdata',
  'server_name',
  'size',
  'snapshots_info',
  'status',
  'systemid',
  'tablespaces',
  'timeline',
  'version',
  'xlog_segment_size',
] as const;
const HIDE_IF_NULL = new Set(['backup_name', 'snapshots_info']);
/** The fields {@link BackupInfo} models; the others are kept as they were read (`extra`). */
const MODELLED_FIELDS = new Set<string>(BARMAN_FIELDS.filter(f => !['deduplicated_size', 'included_files', 'snapshots_info'].includes(f)));
const STATUSES: BackupStatus[] = ['STARTED', 'DONE', 'FAILED', 'EMPTY', 'WAITING_FOR_WALS', 'SYNCING'];

/** Python's `str(datetime)` of a UTC instant: microseconds only when not zero, as Python prints them. */
export function formatPythonTime(d: Date): string {
  const iso = d.toISOString(); // 2026-11-27T03:07:08.756Z
  const ms = d.getUTCMilliseconds();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms ? `.${String(ms).padStart(3, '0')}000` : ''}+00:00`;
}

/** What dateutil reads from barman: `2026-11-27 03:07:08.756634+00:00` (a time without zone is local, as barman). */
export function parsePythonTime(s: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\s*(Z|[+-]\d{2}:?\d{2}(?::?\d{2})?)?$/.exec(s.trim());
  if (!m) throw new Error(`"${s}" is not a time barman writes`);
  const frac = m[3] ? `.${m[3].padEnd(6, '0').slice(0, 3)}` : '';
  const zone = m[4] ? (m[4] === 'Z' ? 'Z' : m[4].replace(/^([+-]\d{2}):?(\d{2}).*$/, '$1:$2')) : '';
  const d = new Date(`${m[1]}T${m[2]}${frac}${zone}`);
  if (Number.isNaN(d.getTime())) throw new Error(`"${s}" is not a valid time`);
  return d;
}

/** Parses a backup.info file (ours or barman's). Throws on a line that is not `name=value`. */
export function parseBackupInfo(text: string, backupId: string): BackupInfo {
  const raw: Record<string, string | null> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`invalid line "${line.trim()}" in backup.info of ${backupId}`);
    const value = line.slice(eq + 1).trim();
    raw[line.slice(0, eq).trim()] = value === 'None' ? null : value;
  }
  const str = (k: string) => raw[k] ?? undefined;
  const int = (k: string) => (raw[k] == null ? undefined : Number.parseInt(raw[k]!, 10));
  const lit = (k: string) => (raw[k] == null ? undefined : pyLiteral(raw[k]!));
  const status = (str('status') ?? 'EMPTY') as BackupStatus;
  const copyStats = lit('copy_stats') as BackupInfo['copyStats'] | undefined;
  const label = lit('backup_label');
  const compression = str('compression');
  const tablespaces = lit('tablespaces') as PyValue[] | undefined;
  const extra = Object.fromEntries(Object.entries(raw).filter(([k, v]) => !MODELLED_FIELDS.has(k) && v !== null)) as Record<string, string>;
  const writer = typeof copyStats?.writer === 'string' ? copyStats.writer : 'barman-cloud';
  return {
    backupId,
    status: STATUSES.includes(status) ? status : 'FAILED',
    serverName: str('server_name') ?? '',
    systemIdentifier: str('systemid') ?? '',
    timeline: int('timeline') ?? 0,
    beginTime: raw.begin_time ? parsePythonTime(raw.begin_time) : timeOfBackupId(backupId),
    endTime: raw.end_time ? parsePythonTime(raw.end_time) : undefined,
    beginWal: str('begin_wal') ?? '',
    endWal: str('end_wal'),
    beginLsn: str('begin_xlog') ?? '',
    endLsn: str('end_xlog'),
    pgVersion: int('version') ?? 0,
    size: int('size') ?? 0,
    compression: isCompression(compression) ? compression : 'none',
    backupLabel: typeof label === 'string' ? label : undefined,
    writer,
    error: str('error'),
    beginOffset: int('begin_offset'),
    endOffset: int('end_offset'),
    walSegmentSize: int('xlog_segment_size'),
    mode: str('mode'),
    pgdata: str('pgdata'),
    configFile: str('config_file'),
    hbaFile: str('hba_file'),
    identFile: str('ident_file'),
    tablespaces: tablespaces?.map(t => {
      const items = t instanceof PyTuple ? t.items : (t as PyValue[]);
      return { name: String(items[0]), oid: Number(items[1]), location: String(items[2]) };
    }),
    backupName: str('backup_name'),
    copyStats,
    extra: Object.keys(extra).length ? extra : undefined,
  };
}

/** Serializes as barman 3.4 does: every field, sorted by name, `None` when missing. */
export function serializeBackupInfo(info: BackupInfo): string {
  const oneLine = (s: string | undefined) => (s === undefined ? undefined : s.replace(/[\r\n]+/g, ' '));
  const values: Record<string, string | undefined> = {
    backup_label: info.backupLabel === undefined ? undefined : pyRepr(info.backupLabel),
    backup_name: oneLine(info.backupName),
    begin_offset: info.beginOffset?.toString(),
    begin_time: formatPythonTime(info.beginTime),
    begin_wal: info.beginWal || undefined,
    begin_xlog: info.beginLsn || undefined,
    compression: info.compression === 'none' ? undefined : info.compression,
    config_file: info.configFile,
    copy_stats: info.copyStats ? pyRepr(info.copyStats) : undefined,
    end_offset: info.endOffset?.toString(),
    end_time: info.endTime ? formatPythonTime(info.endTime) : undefined,
    end_wal: info.endWal,
    end_xlog: info.endLsn,
    error: oneLine(info.error),
    hba_file: info.hbaFile,
    ident_file: info.identFile,
    mode: info.mode,
    pgdata: info.pgdata,
    server_name: info.serverName,
    size: info.size ? String(info.size) : undefined,
    status: info.status,
    systemid: info.systemIdentifier || undefined,
    tablespaces: info.tablespaces?.length ? pyRepr(info.tablespaces.map(t => new PyTuple([t.name, t.oid, t.location]))) : undefined,
    timeline: info.timeline ? String(info.timeline) : undefined,
    version: info.pgVersion ? String(info.pgVersion) : undefined,
    xlog_segment_size: String(info.walSegmentSize ?? DEFAULT_WAL_SEGMENT_SIZE),
    ...info.extra,
  };
  return BARMAN_FIELDS.filter(k => !(HIDE_IF_NULL.has(k) && values[k] === undefined))
    .map(k => `${k}=${values[k] ?? 'None'}\n`)
    .join('');
}

/** The start time a backup id stands for (UTC for ours; barman-cloud's local-time ids are read as UTC too). */
export function timeOfBackupId(backupId: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})$/.exec(backupId);
  if (!m) return new Date(0);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/** barman's backup id pattern (`YYYYMMDDTHHMMSS`). */
export const BACKUP_ID = /^\d{8}T\d{6}$/;
