/**
 * One log line every few seconds while a backup streams (a bar on a terminal: ../common/progress): bytes read from
 * PostgreSQL, bytes stored, rate, and an ETA from pg_basebackup's own estimate of the size (the server's sum of
 * its file sizes at the start).
 */
import { Transform, TransformCallback } from 'stream';
import { ProgressSink, startProgress } from '../common/progress';

/** Counts the bytes that pass. */
export class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export type { ProgressSink };

export function startProgressLog(
  read: () => { done: number; stored: number; estimate: number },
  intervalMs?: number,
  sink?: ProgressSink,
): () => void {
  return startProgress(
    () => {
      const r = read();
      return { done: r.done, total: r.estimate, extra: { storedBytes: r.stored, estimatedBytes: r.estimate || undefined } };
    },
    { msg: 'backup in progress', intervalMs, sink },
  );
}
