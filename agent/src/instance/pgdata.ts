/**
 * What is on the data volume: nothing yet, or a PostgreSQL data directory with its system identifier and
 * the agent's marker saying which cluster it belongs to. Nothing here writes to existing data.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AgentError } from '../common/errors';
import { execTool } from '../common/exec';

export const MARKER_FILE = 'cdk8s-postgres.json';

export interface Marker {
  cluster: string;
  systemIdentifier: string;
  bootstrappedBy: string;
  bootstrappedAt: string;
}

export type DataState = { kind: 'empty' } | { kind: 'initialized'; systemIdentifier: string; marker?: Marker; standby: boolean };

/** The system identifier is the first 8 bytes of global/pg_control (little-endian on amd64 and arm64). */
export function readSystemIdentifier(pgdata: string): string {
  const fd = fs.openSync(path.join(pgdata, 'global', 'pg_control'), 'r');
  try {
    const buf = Buffer.alloc(8);
    fs.readSync(fd, buf, 0, 8, 0);
    return buf.readBigUInt64LE(0).toString();
  } finally {
    fs.closeSync(fd);
  }
}

export function inspectDataDir(pgdata: string): DataState {
  if (!fs.existsSync(pgdata) || fs.readdirSync(pgdata).length === 0) return { kind: 'empty' };
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION')) || !fs.existsSync(path.join(pgdata, 'global', 'pg_control'))) {
    throw new AgentError(
      `data directory ${pgdata} is not empty but holds no PostgreSQL data directory`,
      'Nothing was touched. Inspect the volume; if its content is expendable, empty it so the instance can bootstrap.',
      { pgdata },
    );
  }
  const markerPath = path.join(pgdata, MARKER_FILE);
  const marker = fs.existsSync(markerPath) ? (JSON.parse(fs.readFileSync(markerPath, 'utf8')) as Marker) : undefined;
  return { kind: 'initialized', systemIdentifier: readSystemIdentifier(pgdata), marker, standby: fs.existsSync(path.join(pgdata, 'standby.signal')) };
}

export function writeMarker(pgdata: string, marker: Marker): void {
  fs.writeFileSync(path.join(pgdata, MARKER_FILE), JSON.stringify(marker, null, 2) + '\n', { mode: 0o600 });
}

/** Refuses a data directory made for another cluster: starting it would mix two databases' histories. */
export function checkOwnership(state: DataState, cluster: string, pgdata: string): void {
  if (state.kind !== 'initialized' || !state.marker) return;
  if (state.marker.cluster !== cluster || state.marker.systemIdentifier !== state.systemIdentifier) {
    throw new AgentError(
      `data directory ${pgdata} belongs to cluster "${state.marker.cluster}" (system identifier ${state.marker.systemIdentifier}), not to "${cluster}" (found ${state.systemIdentifier})`,
      'Nothing was touched. Attach the right volume, or bootstrap this cluster from a backup of the other one (bootstrap.recovery).',
      { pgdata },
    );
  }
}

/** Bytes free on the filesystem holding `dir` (the nearest existing ancestor). */
export function freeBytes(dir: string): number {
  let d = dir;
  while (!fs.existsSync(d)) d = path.dirname(d);
  const s = fs.statfsSync(d);
  return s.bavail * s.bsize;
}

/** PostgreSQL cannot even write a checkpoint on a full disk; fail before touching anything. */
export const MIN_FREE_BYTES = 64 * 1024 * 1024;

export function checkFreeSpace(dir: string, need = MIN_FREE_BYTES): void {
  const free = freeBytes(dir);
  if (free < need) {
    throw new AgentError(
      `only ${Math.floor(free / 1024 / 1024)} MiB free on the volume of ${dir}; at least ${Math.floor(need / 1024 / 1024)} MiB are needed to start`,
      'Grow the PersistentVolumeClaim (storage.size, if the StorageClass allows expansion) or free space; no data was touched.',
      { dir, freeBytes: free },
    );
  }
}

/** What pg_controldata says of a stopped data directory: whether it shut down cleanly, and its last checkpoint. */
export async function readControlData(pgdata: string): Promise<{ state: string; checkpointLsn: string }> {
  const { stdout } = await execTool('pg_controldata', [pgdata], {
    env: { LC_ALL: 'C' },
    fix: 'pg_controldata is part of the PostgreSQL server binaries in the image.',
  });
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(stdout)?.[1].trim() ?? '';
  return { state: field('Database cluster state'), checkpointLsn: field('Latest checkpoint location') };
}
