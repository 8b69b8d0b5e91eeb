/**
 * Disk usage of the data volume (statfs of PGDATA): size, used and available bytes for /metrics, and one warning
 * line each time usage crosses {@link DISK_WARN_RATIO} upwards, with the fix (raise storage.size).
 */
import * as fs from 'fs';
import { log } from '../common/log';

/** Above this share of the volume in use, the agent warns (once per crossing). */
export const DISK_WARN_RATIO = 0.8;

export interface DiskUsage {
  sizeBytes: number;
  usedBytes: number;
  /** What an unprivileged writer (postgres) can still use; root's reserved blocks are not counted. */
  availableBytes: number;
}

export function readDiskUsage(dir: string): DiskUsage {
  const s = fs.statfsSync(dir);
  return { sizeBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, availableBytes: s.bavail * s.bsize };
}

/** The share in use as `df` reports it: used / (used + available), so root's reserve does not hide a full disk. */
export function usedRatio(u: DiskUsage): number {
  const usable = u.usedBytes + u.availableBytes;
  return usable > 0 ? u.usedBytes / usable : 0;
}

/**
 * Whether to warn now: only on the tick usage goes above the threshold (it was below, or unknown, before), so a
 * volume that stays full logs once, and again only after it went below and filled up once more.
 */
export function diskWarning(wasAbove: boolean, u: DiskUsage, threshold = DISK_WARN_RATIO): { above: boolean; warn: boolean } {
  const above = usedRatio(u) > threshold;
  return { above, warn: above && !wasAbove };
}

/** Reads the volume at most every `intervalMs` and logs the warning; `current` is what /metrics shows. */
export class DiskWatch {
  current?: DiskUsage;
  private above = false;
  private lastRead = -Infinity;

  constructor(
    private readonly pgdata: string,
    private readonly intervalMs = 10000,
  ) {}

  tick(): void {
    if (performance.now() - this.lastRead < this.intervalMs) return;
    this.lastRead = performance.now();
    try {
      this.current = readDiskUsage(this.pgdata);
    } catch {
      this.current = undefined; // the data directory is being swapped (a clone aside): next time
      return;
    }
    const d = diskWarning(this.above, this.current);
    this.above = d.above;
    if (d.warn) {
      log.warn(
        {
          usedBytes: this.current.usedBytes,
          sizeBytes: this.current.sizeBytes,
          availableBytes: this.current.availableBytes,
          fix: 'Raise storage.size (the PersistentVolumeClaim grows online where the StorageClass has allowVolumeExpansion: true), or free space: look for WAL held by a replication slot or a failing archive.',
        },
        `the data volume is ${(usedRatio(this.current) * 100).toFixed(1)} % full (above ${DISK_WARN_RATIO * 100} %)`,
      );
    }
  }
}

/** Prometheus lines for the data volume. */
export function diskMetrics(labels: string, u: DiskUsage | undefined): string[] {
  if (!u) return [];
  return [
    '# HELP pgc_volume_size_bytes Size of the data volume (statfs of PGDATA).',
    '# TYPE pgc_volume_size_bytes gauge',
    `pgc_volume_size_bytes{${labels}} ${u.sizeBytes}`,
    '# HELP pgc_volume_used_bytes Bytes in use on the data volume.',
    '# TYPE pgc_volume_used_bytes gauge',
    `pgc_volume_used_bytes{${labels}} ${u.usedBytes}`,
    '# HELP pgc_volume_available_bytes Bytes PostgreSQL can still write on the data volume.',
    '# TYPE pgc_volume_available_bytes gauge',
    `pgc_volume_available_bytes{${labels}} ${u.availableBytes}`,
  ];
}
