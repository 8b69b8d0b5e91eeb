import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { cjsExports } from '../common/cjs-exports';
import type { S3Bucket } from './bucket';
import { explainS3Error, S3Error } from './errors';
import { xmlElements, xmlText } from './http';

// Single-object requests and listings go through the bucket's small HTTP client; multipart uploads and batch deletes
// through the AWS SDK, whose modules load only when one of those runs (the instance agent never does in its loop).
const sdkCommands = async () => cjsExports(await import('@aws-sdk/client-s3'));

/** What was stored, as verified against the server. */
export interface PutResult {
  readonly key: string;
  readonly size: number;
  /** ETag as the server reports it, without quotes: MD5 hex for a single PUT, `md5-of-part-md5s-N` for multipart. */
  readonly etag: string;
  /** SHA-256 (hex) of the bytes sent. */
  readonly sha256: string;
  readonly multipart: boolean;
}

export interface PutOptions {
  /** Length of a stream body in bytes. Without it a stream is sent as a multipart upload ({@link uploadStream}). */
  readonly contentLength?: number;
  /** Expected SHA-256 (hex) of the body: the put fails (and removes what it stored) if the bytes sent differ. */
  readonly checksumSha256?: string;
  readonly contentType?: string;
  /** User metadata (`x-amz-meta-*`). A known SHA-256 is added as `sha256`. */
  readonly metadata?: Record<string, string>;
}

export interface UploadOptions extends Omit<PutOptions, 'contentLength'> {
  /** Bytes per part, at least 5 MiB. Memory in use is about (queueSize + 1) x partSize. @default 8 MiB */
  readonly partSize?: number;
  /** Parts in flight at once. @default 2 */
  readonly queueSize?: number;
}

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified?: Date;
  readonly metadata: Record<string, string>;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified?: Date;
}

const MiB = 1024 * 1024;
const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');
const where = (s3: S3Bucket, key: string): string => `s3://${s3.bucket}/${key}`;

/**
 * Stores one object and verifies it. A Buffer is sent with Content-MD5 (the server checks the bytes) and its ETag
 * compared with the MD5; a stream of known length is hashed on the way and its ETag compared after; a stream of
 * unknown length goes through {@link uploadStream}.
 */
export async function putObject(s3: S3Bucket, key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
  if (!Buffer.isBuffer(body) && options.contentLength === undefined) {
    return uploadStream(s3, key, body, options);
  }
  const what = `put ${where(s3, key)}`;
  if (Buffer.isBuffer(body)) {
    const md5 = createHash('md5').update(body).digest();
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (options.checksumSha256 && options.checksumSha256 !== sha256) {
      throw new S3Error(
        `${what}: the body's SHA-256 ${sha256} differs from the expected ${options.checksumSha256}`,
        'The source changed while it was read; retry.',
        'ChecksumMismatch',
        undefined,
        { key },
      );
    }
    let etag: string;
    try {
      const out = await s3.http.send({
        method: 'PUT',
        key,
        body,
        headers: { 'Content-MD5': md5.toString('base64'), 'Content-Type': options.contentType, ...metadataHeaders({ ...options.metadata, sha256 }) },
      });
      etag = unquote(header(out.headers, 'etag'));
    } catch (e) {
      throw explainS3Error(e, s3, what);
    }
    await expectEtag(s3, key, etag, md5.toString('hex'), what);
    return { key, size: body.length, etag, sha256, multipart: false };
  }
  const length = options.contentLength!;
  const hasher = new HashingStream(length);
  const abort = new AbortController();
  const source = feed(body, hasher, () => abort.abort());
  let etag: string;
  try {
    const metadata = options.checksumSha256 ? { ...options.metadata, sha256: options.checksumSha256 } : options.metadata;
    const out = await s3.http.send({
      method: 'PUT',
      key,
      body: source,
      headers: { 'Content-Length': length, 'Content-Type': options.contentType, ...metadataHeaders(metadata) },
      signal: abort.signal,
    });
    etag = unquote(header(out.headers, 'etag'));
  } catch (e) {
    throw hasher.streamError ?? explainS3Error(e, s3, what);
  }
  const sums = hasher.result();
  await expectEtag(s3, key, etag, sums.md5, what);
  await expectSha256(s3, key, sums.sha256, options.checksumSha256, what);
  return { key, size: sums.size, etag, sha256: sums.sha256, multipart: false };
}

/**
 * Uploads a stream of unknown length with bounded memory: a single PUT when it fits in one part, else a multipart
 * upload (`queueSize` parts of `partSize` in flight). Each part's MD5 is computed here, and the stored object is
 * checked with HeadObject (RGW returns an empty ETag from CompleteMultipartUpload): size and ETag must be those of
 * the bytes sent. A failed upload is aborted, leaving no parts behind.
 */
export async function uploadStream(s3: S3Bucket, key: string, body: Readable, options: UploadOptions = {}): Promise<PutResult> {
  const what = `upload ${where(s3, key)}`;
  const partSize = options.partSize ?? 8 * MiB;
  const hasher = new HashingStream(undefined, partSize);
  // No early abort on a source error: the error reaches Upload through the stream, and Upload then aborts the
  // multipart upload and settles its parts before done() rejects (an early abort() could leave an upload behind).
  const source = feed(body, hasher, () => undefined);
  const metadata = options.checksumSha256 ? { ...options.metadata, sha256: options.checksumSha256 } : options.metadata;
  const [{ Upload }, client] = await Promise.all([import('@aws-sdk/lib-storage').then(cjsExports), s3.sdk()]);
  const upload = new Upload({
    client,
    params: { Bucket: s3.bucket, Key: key, Body: source, ContentType: options.contentType, Metadata: metadata },
    partSize,
    queueSize: options.queueSize ?? 2,
    leavePartsOnError: false,
  });
  try {
    await upload.done();
  } catch (e) {
    source.destroy();
    throw hasher.streamError ?? explainS3Error(e, s3, what);
  }
  const sums = hasher.result();
  const multipart = sums.parts.length > 1;
  const expected = multipart ? `${createHash('md5').update(Buffer.concat(sums.parts)).digest('hex')}-${sums.parts.length}` : sums.md5;
  const head = await headObject(s3, key);
  if (!head) {
    throw new S3Error(
      `${what}: the upload completed but the object is not there`,
      'The S3 server lost the object; retry and check its health.',
      'Missing',
      undefined,
      { key },
    );
  }
  if (head.size !== sums.size || head.etag !== expected) {
    await deleteObject(s3, key).catch(() => undefined);
    throw new S3Error(
      `${what}: stored object does not match the bytes sent (size ${head.size} vs ${sums.size}, ETag ${head.etag} vs ${expected}); removed it`,
      'Retry; if it persists, check the S3 server and any proxy in between.',
      'VerifyFailed',
      undefined,
      { key },
    );
  }
  await expectSha256(s3, key, sums.sha256, options.checksumSha256, what);
  return { key, size: sums.size, etag: head.etag, sha256: sums.sha256, multipart };
}

/** An object's body as a stream, or undefined when the key does not exist. `range` is an HTTP range (`bytes=0-99`). */
export async function getObject(s3: S3Bucket, key: string, range?: string): Promise<{ body: Readable; info: ObjectInfo } | undefined> {
  try {
    const out = await s3.http.send({ method: 'GET', key, headers: { Range: range }, stream: true });
    return { body: out.body!, info: objectInfo(key, out.headers) };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw explainS3Error(e, s3, `get ${where(s3, key)}`);
  }
}

/** An object's size, ETag and metadata, or undefined when the key does not exist. */
export async function headObject(s3: S3Bucket, key: string): Promise<ObjectInfo | undefined> {
  try {
    const out = await s3.http.send({ method: 'HEAD', key });
    return objectInfo(key, out.headers);
  } catch (e) {
    if (isNotFound(e) && !isNoSuchBucket(e)) return undefined;
    throw explainS3Error(e, s3, `head ${where(s3, key)}`);
  }
}

/** Every object under a prefix, in key order, page by page (1,000 keys a request). */
export async function* iteratePrefix(s3: S3Bucket, prefix: string): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    let page;
    try {
      page = await listObjectsV2(s3, { prefix, 'continuation-token': token });
    } catch (e) {
      throw explainS3Error(e, s3, `list ${where(s3, prefix)}`);
    }
    yield* page.objects;
    token = page.truncated ? page.nextToken : undefined;
  } while (token);
}

/** One page of keys under a prefix, in key order, starting after `startAfter` (exclusive): a lookup in one request. */
export async function listAfter(s3: S3Bucket, prefix: string, startAfter: string | undefined, maxKeys: number): Promise<ListedObject[]> {
  try {
    return (await listObjectsV2(s3, { prefix, 'start-after': startAfter, 'max-keys': String(maxKeys) })).objects;
  } catch (e) {
    throw explainS3Error(e, s3, `list ${where(s3, prefix)}`);
  }
}

/** The objects directly under a folder prefix, not in its subfolders: one page; `truncated` when there are more. */
export async function listFolderPage(s3: S3Bucket, prefix: string): Promise<{ objects: ListedObject[]; truncated: boolean }> {
  try {
    const page = await listObjectsV2(s3, { prefix, delimiter: '/' });
    return { objects: page.objects, truncated: page.truncated };
  } catch (e) {
    throw explainS3Error(e, s3, `list ${where(s3, prefix)}`);
  }
}

/** {@link iteratePrefix}, collected. */
export async function listPrefix(s3: S3Bucket, prefix: string): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  for await (const o of iteratePrefix(s3, prefix)) out.push(o);
  return out;
}

/** Deletes one object (no error if it does not exist). */
export async function deleteObject(s3: S3Bucket, key: string): Promise<void> {
  try {
    await s3.http.send({ method: 'DELETE', key });
  } catch (e) {
    throw explainS3Error(e, s3, `delete ${where(s3, key)}`);
  }
}

/**
 * Deletes keys in batches of 1,000 (one DeleteObjects request each; RGW 16 accepts the CRC32 checksum header that
 * SDK v3 adds to it). Keys that do not exist count as deleted. Fails naming the keys S3 refused. Returns the count.
 */
export async function deleteObjects(s3: S3Bucket, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const [{ DeleteObjectsCommand }, client] = await Promise.all([sdkCommands(), s3.sdk()]);
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const what = `delete ${batch.length} objects under s3://${s3.bucket}/ (batch ${i / 1000 + 1})`;
    let out;
    try {
      out = await client.send(
        new DeleteObjectsCommand({
          Bucket: s3.bucket,
          Delete: { Objects: batch.map(Key => ({ Key })), Quiet: true },
        }),
      );
    } catch (e) {
      throw explainS3Error(e, s3, what);
    }
    const errors = out.Errors ?? [];
    if (errors.length > 0) {
      const sample = errors
        .slice(0, 3)
        .map(e => `${e.Key}: ${e.Code} ${e.Message ?? ''}`.trim())
        .join('; ');
      throw new S3Error(
        `${what}: S3 refused ${errors.length} of them (${sample})`,
        'Check that these credentials may delete in the bucket (object lock or policy).',
        errors[0].Code ?? 'DeleteFailed',
        undefined,
        { failed: errors.length },
      );
    }
  }
  return keys.length;
}

/** An unfinished multipart upload (a killed process leaves one; its parts use space until it is aborted). */
export interface PendingUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated?: Date;
}

/** Unfinished multipart uploads under a prefix, all pages. */
export async function listMultipartUploads(s3: S3Bucket, prefix: string): Promise<PendingUpload[]> {
  const [{ ListMultipartUploadsCommand }, client] = await Promise.all([sdkCommands(), s3.sdk()]);
  const out: PendingUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    let page;
    try {
      page = await client.send(
        new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
    } catch (e) {
      throw explainS3Error(e, s3, `list multipart uploads under ${where(s3, prefix)}`);
    }
    for (const u of page.Uploads ?? []) out.push({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated });
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
  return out;
}

/** Aborts an unfinished multipart upload, freeing its parts (no error if it is already gone). */
export async function abortMultipartUpload(s3: S3Bucket, key: string, uploadId: string): Promise<void> {
  const [{ AbortMultipartUploadCommand }, client] = await Promise.all([sdkCommands(), s3.sdk()]);
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId }));
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchUpload') return;
    throw explainS3Error(e, s3, `abort upload ${where(s3, key)}`);
  }
}

/** One ListObjectsV2 page (query parameters as S3 names them). */
async function listObjectsV2(
  s3: S3Bucket,
  query: Record<string, string | undefined>,
): Promise<{ objects: ListedObject[]; truncated: boolean; nextToken?: string }> {
  const out = await s3.http.send({ method: 'GET', query: { 'list-type': '2', ...query } });
  const xml = out.text ?? '';
  const objects = xmlElements(xml, 'Contents').map(c => {
    const modified = xmlText(c, 'LastModified');
    return {
      key: xmlText(c, 'Key')!,
      size: Number(xmlText(c, 'Size') ?? 0),
      etag: unquote(xmlText(c, 'ETag')),
      lastModified: modified ? new Date(modified) : undefined,
    };
  });
  return { objects, truncated: xmlText(xml, 'IsTruncated') === 'true', nextToken: xmlText(xml, 'NextContinuationToken') };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** User metadata as `x-amz-meta-*` headers (S3 lower-cases the names, as the SDK does). */
function metadataHeaders(metadata: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [`x-amz-meta-${k.toLowerCase()}`, v]));
}

function objectInfo(key: string, headers: IncomingHttpHeaders): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-amz-meta-') && v !== undefined) metadata[k.slice(11)] = String(v);
  const modified = header(headers, 'last-modified');
  return {
    key,
    size: Number(header(headers, 'content-length') ?? 0),
    etag: unquote(header(headers, 'etag')),
    lastModified: modified ? new Date(modified) : undefined,
    metadata,
  };
}

/** body -> hasher; an error on either side (the source failing, a wrong length) calls onError once. */
function feed(body: Readable, hasher: HashingStream, onError: () => void): HashingStream {
  let failed = false;
  const fail = (e: Error) => {
    hasher.streamError ??= e;
    if (!failed) {
      failed = true;
      onError();
    }
  };
  hasher.on('error', fail);
  body.once('error', e => {
    fail(e);
    hasher.destroy(e);
  });
  return body.pipe(hasher);
}

async function expectEtag(s3: S3Bucket, key: string, etag: string, md5: string, what: string): Promise<void> {
  // An ETag that is not an MD5 (SSE-KMS, some gateways) proves nothing either way; a different MD5 is corruption.
  if (/^[0-9a-f]{32}$/.test(etag) && etag !== md5) {
    await deleteObject(s3, key).catch(() => undefined);
    throw new S3Error(
      `${what}: S3 stored different bytes (ETag ${etag}, MD5 of the body ${md5}); removed it`,
      'Retry; if it persists, check the S3 server and any proxy in between.',
      'VerifyFailed',
      undefined,
      { key },
    );
  }
}

async function expectSha256(s3: S3Bucket, key: string, actual: string, expected: string | undefined, what: string): Promise<void> {
  if (expected && expected !== actual) {
    await deleteObject(s3, key).catch(() => undefined);
    throw new S3Error(
      `${what}: the bytes sent have SHA-256 ${actual}, not the expected ${expected}; removed the object`,
      'The source changed while it was read; retry.',
      'ChecksumMismatch',
      undefined,
      { key },
    );
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.$metadata?.httpStatusCode === 404 || err?.name === 'NoSuchKey' || err?.name === 'NotFound';
}

function isNoSuchBucket(e: unknown): boolean {
  return (e as { name?: string; Code?: string })?.name === 'NoSuchBucket' || (e as { Code?: string })?.Code === 'NoSuchBucket';
}

/**
 * Passes bytes through while computing size, MD5 and SHA-256, and the MD5 of each `partSize` slice (what S3 uses
 * for a multipart ETag). With `expectedLength`, fails the stream if the source is longer or shorter, so a request
 * never hangs waiting for bytes that will not come.
 */
class HashingStream extends Transform {
  /** Why the stream failed: a wrong length, or the source's own error. */
  streamError: Error | undefined;
  private bytes = 0;
  private readonly md5: Hash = createHash('md5');
  private readonly sha256: Hash = createHash('sha256');
  private part: Hash | undefined;
  private partFill = 0;
  private readonly parts: Buffer[] = [];

  constructor(
    private readonly expectedLength?: number,
    private readonly partSize?: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedLength !== undefined && this.bytes > this.expectedLength) {
      done(this.fail(`the stream is longer than its declared length ${this.expectedLength}`));
      return;
    }
    this.md5.update(chunk);
    this.sha256.update(chunk);
    if (this.partSize) {
      let off = 0;
      while (off < chunk.length) {
        this.part ??= createHash('md5');
        const take = Math.min(this.partSize - this.partFill, chunk.length - off);
        this.part.update(chunk.subarray(off, off + take));
        this.partFill += take;
        off += take;
        if (this.partFill === this.partSize) {
          this.parts.push(this.part.digest());
          this.part = undefined;
          this.partFill = 0;
        }
      }
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.expectedLength !== undefined && this.bytes !== this.expectedLength) {
      done(this.fail(`the stream ended after ${this.bytes} bytes, not its declared length ${this.expectedLength}`));
      return;
    }
    if (this.part || this.parts.length === 0) this.parts.push((this.part ?? createHash('md5')).digest());
    this.part = undefined;
    done();
  }

  private fail(message: string): S3Error {
    const e = new S3Error(message, 'The source changed while it was read; retry.', 'LengthMismatch', undefined, {});
    this.streamError ??= e;
    return e;
  }

  result(): { size: number; md5: string; sha256: string; parts: Buffer[] } {
    return { size: this.bytes, md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex'), parts: this.parts };
  }
}

/** Reads a whole (small) object into memory, or undefined when it does not exist. */
export async function getObjectBuffer(s3: S3Bucket, key: string): Promise<Buffer | undefined> {
  const got = await getObject(s3, key);
  return got ? readObjectBody(s3, got.body, `get ${where(s3, key)}`) : undefined;
}

/** Collects a GET's body into memory; a failure while reading is explained as an S3 error of `what`. */
export async function readObjectBody(s3: S3Bucket, body: Readable, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    await pipeline(body, async function* (source: AsyncIterable<Buffer>) {
      for await (const c of source) chunks.push(c);
    });
  } catch (e) {
    throw explainS3Error(e, s3, what);
  }
  return Buffer.concat(chunks);
}
