/**
 * Reads a large object as a stream of ranged GETs, several in flight, delivered in order: one TCP stream rarely
 * fills the link to S3, a few do. Memory is bounded by `parallel` x `partSize`.
 */
import { Readable } from 'stream';
import { S3Error, S3Bucket } from '../s3/client';
import { getObject, readObjectBody } from '../s3/objects';

export interface RangedReadOptions {
  /** @default 8 MiB */
  partSize?: number;
  /** Ranges in flight. @default 4 */
  parallel?: number;
}

async function readRange(s3: S3Bucket, key: string, start: number, end: number): Promise<Buffer> {
  const got = await getObject(s3, key, `bytes=${start}-${end}`);
  if (!got)
    throw new S3Error(
      `get s3://${s3.bucket}/${key}: the object vanished while it was read`,
      'Something deleted the backup during the restore (retention?); restore another backup.',
      'NoSuchKey',
      404,
      { key },
    );
  const buf = await readObjectBody(s3, got.body, `get s3://${s3.bucket}/${key} (bytes ${start}-${end})`);
  if (buf.length !== end - start + 1) {
    throw new S3Error(
      `get s3://${s3.bucket}/${key}: got ${buf.length} bytes for a range of ${end - start + 1}`,
      'Retry; if it persists, check the S3 server.',
      'ShortRead',
      undefined,
      { key },
    );
  }
  return buf;
}

/** The object's bytes `0..size-1`, as a Readable. */
export function rangedObjectStream(s3: S3Bucket, key: string, size: number, opts: RangedReadOptions = {}): Readable {
  const partSize = opts.partSize ?? 8 * 1024 * 1024;
  const parallel = opts.parallel ?? 4;
  const queue: Promise<Buffer>[] = [];
  let next = 0;
  const fill = () => {
    while (queue.length < parallel && next < size) {
      const start = next;
      const end = Math.min(size, start + partSize) - 1;
      next = end + 1;
      const p = readRange(s3, key, start, end);
      p.catch(() => undefined); // surfaced in order by read()
      queue.push(p);
    }
  };
  return new Readable({
    highWaterMark: 1, // objects mode-like: one part buffered beyond those in flight
    read() {
      fill();
      const head = queue.shift();
      if (!head) {
        this.push(null);
        return;
      }
      head.then(
        buf => {
          fill();
          this.push(buf);
        },
        e => this.destroy(e as Error),
      );
    },
  });
}
