/**
 * The instance's S3 path without the AWS SDK (openS3Bucket: agent/src/s3/http.ts) against the real Ceph RGW: what
 * the SDK did for free and a hand-written client can get wrong (key encoding in the signed path, XML entities in
 * listings, metadata, content type), and that the SDK loads only when a multipart upload or a batch delete needs it.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { openS3Bucket, type S3Bucket } from '../agent/src/s3/bucket';
import {
  deleteObject,
  deleteObjects,
  getObjectBuffer,
  headObject,
  listAfter,
  listFolderPage,
  listPrefix,
  putObject,
  uploadStream,
} from '../agent/src/s3/objects';
import type { S3Config } from '../agent/src/s3/config';
import { S3Error } from '../agent/src/s3/errors';
import { createBucket, deleteBucketRecursive, ensureS3, listKeys, uniqueBucketName } from './support/s3';

const bucket = uniqueBucketName('s3-http');
let config: S3Config;
let s3: S3Bucket;

beforeAll(async () => {
  const ep = await ensureS3();
  await createBucket(bucket);
  config = { endpoint: ep.endpoint, region: ep.region, bucket, accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey, maxAttempts: 2 };
  s3 = openS3Bucket(config);
});

afterAll(async () => {
  s3?.destroy();
  await deleteBucketRecursive(bucket);
});

test('keys with characters that need encoding round-trip through put, head, get, list and delete', async () => {
  const keys = ['odd/a b+c', "odd/(x)!'*~", 'odd/ü-ß-€', 'odd/x&y<z>', 'odd/q?r=s#t', 'odd/semi;colon,comma'];
  for (const key of keys) await putObject(s3, key, Buffer.from(key));
  expect(await listKeys(bucket, 'odd/')).toEqual([...keys].sort());
  expect((await listPrefix(s3, 'odd/')).map(o => o.key)).toEqual([...keys].sort());
  for (const key of keys) {
    expect((await headObject(s3, key))?.size).toBe(Buffer.byteLength(key));
    expect((await getObjectBuffer(s3, key))?.toString()).toBe(key);
  }
  for (const key of keys) await deleteObject(s3, key);
  expect(await listKeys(bucket, 'odd/')).toEqual([]);
});

test('metadata comes back lower-cased as the SDK gave it; a body without a type is stored as binary', async () => {
  const body = Buffer.from('segment');
  const put = await putObject(s3, 'meta/seg', body, { metadata: { rawSize: '16777216', rawsha256: 'ab' } });
  expect(put.etag).toBe(createHash('md5').update(body).digest('hex'));
  const head = await headObject(s3, 'meta/seg');
  expect(head?.metadata).toEqual({ rawsize: '16777216', rawsha256: 'ab', sha256: put.sha256 });
  expect(head?.lastModified).toBeInstanceOf(Date);
  const res = await s3.http.send({ method: 'HEAD', key: 'meta/seg' });
  expect(res.headers['content-type']).toBe('application/octet-stream');
});

test('listAfter and listFolderPage: start after a key, a page size, only the folder level', async () => {
  for (const k of ['f/0001', 'f/0002', 'f/0003', 'f/sub/0004']) await putObject(s3, k, Buffer.from(k));
  expect((await listAfter(s3, 'f/', 'f/0001', 2)).map(o => o.key)).toEqual(['f/0002', 'f/0003']);
  expect((await listAfter(s3, 'f/', undefined, 1000)).map(o => o.key)).toEqual(['f/0001', 'f/0002', 'f/0003', 'f/sub/0004']);
  const folder = await listFolderPage(s3, 'f/');
  expect(folder).toEqual({ objects: expect.any(Array), truncated: false });
  expect(folder.objects.map(o => [o.key, o.size])).toEqual([
    ['f/0001', 6],
    ['f/0002', 6],
    ['f/0003', 6],
  ]);
});

test('the AWS SDK is loaded only when a multipart upload or a batch delete needs it', async () => {
  const lazy = openS3Bucket(config);
  try {
    await putObject(lazy, 'lazy/one', Buffer.from('1'));
    expect(() => lazy.client).toThrow(/not loaded yet/);
    const up = await uploadStream(lazy, 'lazy/mp', Readable.from([Buffer.alloc(6 * 1024 * 1024, 1), Buffer.alloc(1024, 2)]), {
      partSize: 5 * 1024 * 1024,
    });
    expect(up.multipart).toBe(true);
    expect(lazy.client).toBeDefined();
    expect(await deleteObjects(lazy, ['lazy/one', 'lazy/mp'])).toBe(2);
    expect(await listKeys(bucket, 'lazy/')).toEqual([]);
  } finally {
    lazy.destroy();
  }
});

test('a missing object is undefined for head and get; S3 errors keep their code and status', async () => {
  expect(await headObject(s3, 'nope/x')).toBeUndefined();
  expect(await getObjectBuffer(s3, 'nope/x')).toBeUndefined();
  const missing = openS3Bucket({ ...config, bucket: uniqueBucketName('missing') });
  try {
    const e = await putObject(missing, 'x', Buffer.from('x')).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(S3Error);
    expect(e).toMatchObject({ code: 'NoSuchBucket', status: 404 });
    const e2 = await listPrefix(missing, '').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e2).toMatchObject({ code: 'NoSuchBucket', status: 404 });
  } finally {
    missing.destroy();
  }
});
