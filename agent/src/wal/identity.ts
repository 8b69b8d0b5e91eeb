/**
 * Which database an archive belongs to. A restored cluster, or a new cluster that reuses a name, must never write
 * its WAL over another history: before the first upload the archiver compares the system identifier of this
 * instance with the archive's, recorded in `<server>/identity.json` (written by us), or else read from the header
 * of any WAL segment already there (written by us or by barman-cloud).
 */
import { s3Layout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import type { S3Bucket } from '../s3/bucket';
import { getObject, getObjectBuffer, iteratePrefix, putObject } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { compressionOfKey, decompressStream } from '../store/compression';
import { SEGMENT_NAME } from '../postgres/wal';

export interface ArchiveIdentity {
  systemIdentifier: string;
  cluster: string;
  createdAt: string;
}

export function identityKey(store: StoreConfig): string {
  return `${s3Layout.serverRoot(store.prefix, store.serverName)}identity.json`;
}

/** The system identifier in a WAL segment's long page header (bytes 24..31, little-endian). */
export function systemIdentifierOfSegmentStart(head: Buffer): string {
  if (head.length < 32) throw new Error('WAL header too short');
  return head.readBigUInt64LE(24).toString();
}

/** The first `n` bytes of an archived file, decompressed (the download stops there). */
export async function firstBytesOf(s3: S3Bucket, key: string, n: number): Promise<Buffer> {
  const obj = await getObject(s3, key);
  if (!obj) throw new Error(`${key} vanished`);
  const out = obj.body.pipe(decompressStream(compressionOfKey(key)));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of out) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= n) break;
  }
  obj.body.destroy();
  return Buffer.concat(chunks).subarray(0, n);
}

/** The archive's system identifier, or undefined for an empty archive. */
export async function archiveSystemIdentifier(s3: S3Bucket, store: StoreConfig): Promise<string | undefined> {
  const identity = await getObjectBuffer(s3, identityKey(store));
  if (identity) return (JSON.parse(identity.toString('utf8')) as ArchiveIdentity).systemIdentifier;
  for await (const obj of iteratePrefix(s3, s3Layout.walsRoot(store.prefix, store.serverName))) {
    const name = obj.key
      .split('/')
      .pop()!
      .replace(/\.(gz|zst|lz4|bz2|xz|snappy)$/, '');
    if (SEGMENT_NAME.test(name)) return systemIdentifierOfSegmentStart(await firstBytesOf(s3, obj.key, 32));
  }
  return undefined;
}

/**
 * Fails closed when the archive belongs to another database; claims an empty archive for this one.
 */
export async function claimArchive(s3: S3Bucket, store: StoreConfig, systemIdentifier: string, cluster: string): Promise<void> {
  const found = await archiveSystemIdentifier(s3, store);
  const where = `s3://${s3.bucket}/${s3Layout.serverRoot(store.prefix, store.serverName)}`;
  if (found !== undefined && found !== systemIdentifier) {
    throw new AgentError(
      `the archive at ${where} belongs to another database (system identifier ${found}, this one is ${systemIdentifier}); refusing to write WAL there`,
      'A restored or re-created cluster needs its own folder: set backup.serverName (or the store path) to a new name; keep the old archive for its backups.',
      { archive: where },
    );
  }
  if (found === undefined || !(await getObjectBuffer(s3, identityKey(store)))) {
    const identity: ArchiveIdentity = { systemIdentifier, cluster, createdAt: new Date().toISOString() };
    await putObject(s3, identityKey(store), Buffer.from(JSON.stringify(identity, null, 2) + '\n'), { contentType: 'application/json' });
  }
}
