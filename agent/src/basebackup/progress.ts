/**
 * One log line every few seconds while a backup streams: bytes read from PostgreSQL, bytes stored, rate, and an
 * ETA from pg_basebackup's own estimate of the size (the server's sum of its file sizes at the start).
 */
import { Transform, TransformCallback } from 'stream';
import { log } from '../common/log';

/** Counts the bytes that pass. */
export class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

const MiB = 1024 * 1024;

export type ProgressSink = (fields: Record<string, number | undefined>, msg: string) => void;

export function startProgressLog(
  read: () => { done: number; stored: number; estimate: number },
  intervalMs = 5000,
  sink: ProgressSink = (fields, msg) => log.info(fields, msg),
): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    const { done, stored, estimate } = read();
    const seconds = (Date.now() - started) / 1000;
    const rate = done / seconds;
    const total = Math.max(estimate, done);
    sink(
      {
        doneBytes: done,
        storedBytes: stored,
        estimatedBytes: estimate || undefined,
        percent: estimate ? Math.min(100, Math.round((done / total) * 100)) : undefined,
        rateMiBps: Number((rate / MiB).toFixed(1)),
        etaSeconds: estimate && rate > 0 ? Math.round((total - done) / rate) : undefined,
      },
      'backup in progress',
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
