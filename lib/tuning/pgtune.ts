/**
 * A pgtune-style preset (after le0pard's pgtune, the tool the reference user used), computed from the memory, CPU
 * and storage the cluster declares. Only applied when the user asks for it; user parameters always win.
 */

export type WorkloadType = 'web' | 'oltp' | 'dw' | 'desktop' | 'mixed';
export type StorageKind = 'ssd' | 'hdd' | 'san';

export interface PgTuneProps {
  /**
   * What the database mostly serves.
   * @default 'mixed'
   */
  readonly workload?: WorkloadType;
  /**
   * The kind of storage behind the volume (Ceph RBD counts as 'san').
   * @default 'ssd'
   */
  readonly storage?: StorageKind;
  /**
   * Expected connections.
   * @default by workload: web 200, oltp 300, dw 40, desktop 20, mixed 100
   */
  readonly maxConnections?: number;
}

export interface PgTuneInput extends PgTuneProps {
  /** Memory available to PostgreSQL, bytes. */
  readonly memoryBytes: number;
  /** CPU cores available (may be fractional). */
  readonly cpus?: number;
}

const DEFAULT_CONNECTIONS: Record<WorkloadType, number> = { web: 200, oltp: 300, dw: 40, desktop: 20, mixed: 100 };
const WAL_SIZES: Record<WorkloadType, [number, number]> = {
  web: [1024, 4096],
  oltp: [2048, 8192],
  dw: [4096, 16384],
  desktop: [100, 2048],
  mixed: [1024, 4096],
};

/** Formats kB as pgtune does: GB when whole gigabytes, MB when whole megabytes, else kB. */
export function formatKb(kb: number): string {
  const v = Math.floor(kb);
  if (v % (1024 * 1024) === 0) return `${v / (1024 * 1024)}GB`;
  if (v % 1024 === 0) return `${v / 1024}MB`;
  return `${v}kB`;
}

function formatMb(mb: number): string {
  return mb % 1024 === 0 ? `${mb / 1024}GB` : `${mb}MB`;
}

/** Computes the preset. Returns PostgreSQL parameters as strings. */
export function pgtune(input: PgTuneInput): Record<string, string> {
  const workload = input.workload ?? 'mixed';
  const storage = input.storage ?? 'ssd';
  const conns = input.maxConnections ?? DEFAULT_CONNECTIONS[workload];
  const memKb = Math.floor(input.memoryBytes / 1024);

  const sharedBuffers = workload === 'desktop' ? memKb / 16 : memKb / 4;
  const effectiveCache = workload === 'desktop' ? memKb / 4 : (memKb * 3) / 4;
  const maintenance = Math.min(workload === 'dw' ? memKb / 8 : memKb / 16, 2 * 1024 * 1024);
  let walBuffers = (3 * sharedBuffers) / 100;
  if (walBuffers > 16 * 1024) walBuffers = 16 * 1024;
  if (walBuffers > 14 * 1024 && walBuffers < 16 * 1024) walBuffers = 16 * 1024;
  if (walBuffers < 32) walBuffers = 32;

  const cpus = Math.floor(input.cpus ?? 0);
  const parallel = cpus >= 4;
  const workersPerGather = parallel ? Math.min(Math.ceil(cpus / 2), 4) : 1;
  let workMem = (memKb - sharedBuffers) / (conns * 3) / workersPerGather;
  if (workload === 'dw' || workload === 'mixed') workMem /= 2;
  if (workload === 'desktop') workMem /= 6;
  workMem = Math.max(64, Math.floor(workMem));

  const [minWal, maxWal] = WAL_SIZES[workload];
  const params: Record<string, string> = {
    max_connections: String(conns),
    shared_buffers: formatKb(sharedBuffers),
    effective_cache_size: formatKb(effectiveCache),
    maintenance_work_mem: formatKb(maintenance),
    checkpoint_completion_target: '0.9',
    wal_buffers: formatKb(walBuffers),
    default_statistics_target: workload === 'dw' ? '500' : '100',
    random_page_cost: storage === 'hdd' ? '4' : '1.1',
    effective_io_concurrency: { ssd: '200', hdd: '2', san: '300' }[storage],
    work_mem: formatKb(workMem),
    huge_pages: memKb >= 32 * 1024 * 1024 ? 'try' : 'off',
    min_wal_size: formatMb(minWal),
    max_wal_size: formatMb(maxWal),
  };
  if (parallel) {
    params.max_worker_processes = String(cpus);
    params.max_parallel_workers_per_gather = String(workersPerGather);
    params.max_parallel_workers = String(cpus);
    params.max_parallel_maintenance_workers = String(Math.min(Math.ceil(cpus / 2), 4));
  }
  return params;
}
