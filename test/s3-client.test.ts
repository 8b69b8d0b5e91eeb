/**
 * The agent's S3 client against a real Ceph RGW on loopback (test/support/s3): round trips, bounded-memory streaming
 * multipart, batched deletes, readable errors, TLS with a custom CA, and an S3 outage.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { createS3Client, describeS3Config, S3Error, type S3Bucket, type S3Config } from '../agent/src/s3/client';
import { deleteObject, deleteObjects, getObject, getObjectBuffer, headObject, listPrefix, putObject, uploadStream } from '../agent/src/s3/objects';
import {
  createBucket,
  createUser,
  deleteBucketRecursive,
  ensureS3,
  listKeys,
  outageEndpoint,
  rgwAnswers,
  s3For,
  uniqueBucketName,
  withS3Outage,
  type S3Endpoint,
} from './support/s3';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function expectS3Error(p: Promise<unknown>): Promise<S3Error> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(S3Error);
    return e as S3Error;
  }
  throw new Error('expected an S3Error, but the operation succeeded');
}

/** Byte-equality of large buffers (jest's toEqual walks a Buffer element by element: seconds per MiB). */
function expectSameBytes(actual: Buffer | undefined, expected: Buffer): void {
  expect(actual?.length).toBe(expected.length);
  expect(actual!.equals(expected)).toBe(true);
}

async function streamSha256(body: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of body) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

let ep: S3Endpoint;
const bucket = uniqueBucketName('s3-client');
let s3: S3Bucket;
const clients: S3Bucket[] = [];
const client = (config: Partial<S3Config> = {}): S3Bucket => {
  const c = createS3Client({
    endpoint: ep.endpoint,
    region: ep.region,
    bucket,
    accessKeyId: ep.accessKeyId,
    secretAccessKey: ep.secretAccessKey,
    maxAttempts: 2,
    ...config,
  });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  ep = await ensureS3();
  await createBucket(bucket);
  s3 = client();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await deleteBucketRecursive(bucket);
});

describe('round trips', () => {
  test('put a Buffer, head, get (stream and buffer), list, delete', async () => {
    const body = Buffer.from('{"wal":"000000010000000000000001"}\n');
    const put = await putObject(s3, 'rt/a.json', body, { contentType: 'application/json' });
    expect(put).toMatchObject({ key: 'rt/a.json', size: body.length, multipart: false, sha256: sha256(body) });
    expect(put.etag).toBe(createHash('md5').update(body).digest('hex'));

    const head = await headObject(s3, 'rt/a.json');
    expect(head).toMatchObject({ size: body.length, etag: put.etag, metadata: { sha256: sha256(body) } });

    const got = await getObject(s3, 'rt/a.json');
    expect(got?.info.size).toBe(body.length);
    expect(got?.body).toBeInstanceOf(Readable);
    expect(await streamSha256(got!.body)).toEqual({ sha256: sha256(body), size: body.length });
    expect(await getObjectBuffer(s3, 'rt/a.json')).toEqual(body);

    const ranged = await getObject(s3, 'rt/a.json', 'bytes=2-4');
    expect((await streamSha256(ranged!.body)).size).toBe(3);

    await putObject(s3, 'rt/b', Buffer.alloc(0));
    await putObject(s3, 'rtx/not-under-prefix', Buffer.from('x'));
    const listed = await listPrefix(s3, 'rt/');
    expect(listed.map(o => [o.key, o.size])).toEqual([
      ['rt/a.json', body.length],
      ['rt/b', 0],
    ]);
    expect(await listKeys(bucket, 'rt')).toEqual(['rt/a.json', 'rt/b', 'rtx/not-under-prefix']);

    await deleteObject(s3, 'rt/a.json');
    await deleteObject(s3, 'rt/a.json'); // deleting a missing key is not an error
    expect(await headObject(s3, 'rt/a.json')).toBeUndefined();
    expect(await getObject(s3, 'rt/a.json')).toBeUndefined();
    expect(await getObjectBuffer(s3, 'rt/a.json')).toBeUndefined();
  });

  test('put a stream of known length, verified by ETag; a wrong length fails fast instead of hanging', async () => {
    const parts = [randomBytes(700_000), randomBytes(348_576)];
    const all = Buffer.concat(parts);
    const put = await putObject(s3, 'known/segment', Readable.from(parts), { contentLength: all.length, checksumSha256: sha256(all) });
    expect(put).toMatchObject({ size: all.length, sha256: sha256(all), multipart: false });
    expect((await headObject(s3, 'known/segment'))?.metadata.sha256).toBe(sha256(all));
    expectSameBytes(await getObjectBuffer(s3, 'known/segment'), all);

    const short = await expectS3Error(putObject(s3, 'known/short', Readable.from([all.subarray(0, 1000)]), { contentLength: all.length }));
    expect(short.code).toBe('LengthMismatch');
    expect(short.message).toMatch(/ended after 1000 bytes, not its declared length/);
    const long = await expectS3Error(putObject(s3, 'known/long', Readable.from(parts), { contentLength: 1000 }));
    expect(long.message).toMatch(/longer than its declared length 1000/);
    expect(await headObject(s3, 'known/short')).toBeUndefined();
  });

  test('a checksum that does not match the bytes is refused and nothing is left behind', async () => {
    const wrong = '0'.repeat(64);
    const e1 = await expectS3Error(putObject(s3, 'sum/buf', Buffer.from('abc'), { checksumSha256: wrong }));
    expect(e1.code).toBe('ChecksumMismatch');
    const e2 = await expectS3Error(putObject(s3, 'sum/stream', Readable.from([Buffer.from('abc')]), { contentLength: 3, checksumSha256: wrong }));
    expect(e2.code).toBe('ChecksumMismatch');
    expect(await listKeys(bucket, 'sum/')).toEqual([]);
  });
});

describe('streaming upload of unknown length', () => {
  test('~50 MiB as a multipart upload with bounded memory, verified with HeadObject', async () => {
    const total = 50 * MiB + 12_345; // not a multiple of the part size
    const expected = createHash('sha256');
    let produced = 0;
    function* source(): Generator<Buffer> {
      while (produced < total) {
        const chunk = randomBytes(Math.min(256 * 1024, total - produced));
        produced += chunk.length;
        expected.update(chunk);
        yield chunk;
      }
    }
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    let put;
    try {
      put = await uploadStream(s3, 'big/base.tar', Readable.from(source()), { partSize: 8 * MiB, queueSize: 2 });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = (peak - before) / MiB;
    process.stdout.write(
      `[s3-client] 50 MiB streamed upload: RSS ${(before / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB (+${growth.toFixed(0)} MiB)\n`,
    );
    expect(growth).toBeLessThan(150);

    expect(put.multipart).toBe(true);
    expect(put.size).toBe(total);
    expect(put.sha256).toBe(expected.digest('hex'));
    expect(put.etag).toMatch(/^[0-9a-f]{32}-7$/); // ceil(50 MiB / 8 MiB) parts
    const head = await headObject(s3, 'big/base.tar');
    expect(head).toMatchObject({ size: total, etag: put.etag });
    const got = await getObject(s3, 'big/base.tar');
    expect(await streamSha256(got!.body)).toEqual({ sha256: put.sha256, size: total });
  });

  test('a short stream of unknown length becomes one verified PUT; putObject without a length streams too', async () => {
    const small = await uploadStream(s3, 'big/small', Readable.from([Buffer.from('tiny')]));
    expect(small).toMatchObject({ multipart: false, size: 4, etag: createHash('md5').update('tiny').digest('hex') });
    const viaPut = await putObject(s3, 'big/via-put', Readable.from([randomBytes(6 * MiB)]), {});
    expect(viaPut).toMatchObject({ multipart: false, size: 6 * MiB });
  });

  test('a source that fails mid-stream fails the upload and leaves no object and no parts', async () => {
    function* failing(): Generator<Buffer> {
      yield randomBytes(6 * MiB);
      yield randomBytes(6 * MiB);
      throw new Error('disk read error');
    }
    await expect(uploadStream(s3, 'big/failed', Readable.from(failing()), { partSize: 5 * MiB })).rejects.toThrow(/disk read error/);
    expect(await headObject(s3, 'big/failed')).toBeUndefined();
    const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'big/' }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});

describe('deleteObjects', () => {
  test('1500 keys are deleted in two DeleteObjects requests and are really gone', async () => {
    const keys = Array.from({ length: 1500 }, (_, i) => `del/${String(i).padStart(5, '0')}`);
    const queue = [...keys];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let k = queue.shift(); k; k = queue.shift()) await putObject(s3, k, Buffer.from(k));
      }),
    );
    await putObject(s3, 'keep/me', Buffer.from('keep'));
    expect((await listPrefix(s3, 'del/')).length).toBe(1500);

    const counting = client();
    let deleteRequests = 0;
    counting.client.middlewareStack.add(
      next => async args => {
        deleteRequests++;
        return next(args);
      },
      { step: 'initialize', name: 'countDeletes' },
    );
    expect(await deleteObjects(counting, [...keys, 'del/never-existed'])).toBe(1501);
    expect(deleteRequests).toBe(2);

    expect(await listPrefix(s3, 'del/')).toEqual([]);
    expect(await headObject(s3, keys[0])).toBeUndefined();
    expect(await headObject(s3, keys[1499])).toBeUndefined();
    expect(await headObject(s3, 'keep/me')).toBeDefined();
    expect(await deleteObjects(s3, [])).toBe(0);
  });
});

describe('errors name the problem', () => {
  test('an unknown access key id', async () => {
    const bad = client({ accessKeyId: 'NOSUCHKEY0000000000', secretAccessKey: 'whatever' });
    const e = await expectS3Error(putObject(bad, 'x', Buffer.from('x')));
    expect(e.code).toBe('InvalidAccessKeyId');
    expect(e.message).toMatch(/does not know this access key id \(InvalidAccessKeyId\)/);
    expect(e.fix).toMatch(/credentials Secret/);
  });

  test('a wrong secret access key', async () => {
    const bad = client({ secretAccessKey: 'not-the-secret' });
    const e = await expectS3Error(listPrefix(bad, ''));
    expect(e.code).toBe('SignatureDoesNotMatch');
    expect(e.message).toMatch(/secret access key is wrong/);
  });

  test('a HEAD with wrong keys (no error code in a HEAD response) still says what may be wrong', async () => {
    await putObject(s3, 'head/me', Buffer.from('x'));
    const bad = client({ secretAccessKey: 'not-the-secret' });
    const e = await expectS3Error(headObject(bad, 'head/me'));
    expect(e.status).toBe(403);
    expect(e.message).toMatch(/access key id or secret access key is wrong/);
  });

  test("another user's keys on this bucket: AccessDenied; that user's own bucket works", async () => {
    const other = await createUser('s3-client-other');
    expect(await createUser('s3-client-other')).toEqual(other); // idempotent
    expect(other.accessKeyId).not.toBe(ep.accessKeyId);
    const theirs = client({ accessKeyId: other.accessKeyId, secretAccessKey: other.secretAccessKey });
    const e = await expectS3Error(putObject(theirs, 'x', Buffer.from('x')));
    expect(e.code).toBe('AccessDenied');
    expect(e.message).toMatch(new RegExp(`denied access to bucket "${bucket}"`));

    const own = uniqueBucketName('other-user');
    await createBucket(own, other);
    try {
      const mine = await s3For(own, other);
      clients.push(mine);
      await putObject(mine, 'ok', Buffer.from('ok'));
      expect(await getObjectBuffer(mine, 'ok')).toEqual(Buffer.from('ok'));
    } finally {
      await deleteBucketRecursive(own, other);
    }
  });

  test('a missing bucket: NoSuchBucket naming it', async () => {
    const missing = client({ bucket: uniqueBucketName('does-not-exist') });
    const e = await expectS3Error(putObject(missing, 'x', Buffer.from('x')));
    expect(e.code).toBe('NoSuchBucket');
    expect(e.message).toMatch(new RegExp(`bucket "${missing.bucket}" does not exist at ${ep.endpoint}`));
    const e2 = await expectS3Error(listPrefix(missing, ''));
    expect(e2.code).toBe('NoSuchBucket');
  });

  test('nothing secret appears in errors or in the loggable config', async () => {
    const bad = client({ secretAccessKey: 'SECRET-SENTINEL-do-not-print' });
    const e = await expectS3Error(putObject(bad, 'x', Buffer.from('x')));
    const printed = JSON.stringify({ message: e.message, fix: e.fix, fields: e.fields }) + String(e.stack);
    expect(printed).not.toContain('SECRET-SENTINEL');
    const cfg: S3Config = { endpoint: ep.endpoint, bucket, accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey };
    expect(JSON.stringify(describeS3Config(cfg))).not.toContain(ep.secretAccessKey);
    expect(JSON.stringify(describeS3Config(cfg))).not.toContain(ep.accessKeyId);
  });

  test('a bad endpoint or empty credentials fail before any request', () => {
    expect(() => createS3Client({ endpoint: 'localhost:7480', bucket, accessKeyId: 'a', secretAccessKey: 'b' })).toThrow(/must start with http/);
    expect(() => createS3Client({ endpoint: 'http://k:s@localhost', bucket, accessKeyId: 'a', secretAccessKey: 'b' })).toThrow(
      /must not carry credentials/,
    );
    expect(() => createS3Client({ endpoint: ep.endpoint, bucket, accessKeyId: '', secretAccessKey: 'b' })).toThrow(/credentials are missing/);
    expect(() => createS3Client({ endpoint: ep.endpoint, bucket, accessKeyId: 'a', secretAccessKey: 'b', caBundle: '/nonexistent/ca.pem' })).toThrow(
      /cannot read the S3 CA bundle/,
    );
  });
});

describe('TLS', () => {
  test('the HTTPS endpoint works with the CA file', async () => {
    expect(ep.httpsEndpoint).toMatch(/^https:\/\/localhost:\d+$/);
    const tls = client({ endpoint: ep.httpsEndpoint, caBundle: ep.caFile });
    const body = randomBytes(3 * MiB);
    await putObject(tls, 'tls/obj', body);
    expectSameBytes(await getObjectBuffer(tls, 'tls/obj'), body);
    const big = await uploadStream(tls, 'tls/mp', Readable.from([randomBytes(6 * MiB), randomBytes(1 * MiB)]), { partSize: 5 * MiB });
    expect(big.multipart).toBe(true);
    expect((await listPrefix(tls, 'tls/')).map(o => o.key)).toEqual(['tls/mp', 'tls/obj']);
  });

  test('without the CA the certificate is not trusted, and the error says so', async () => {
    const untrusting = client({ endpoint: ep.httpsEndpoint, maxAttempts: 1 });
    const e = await expectS3Error(putObject(untrusting, 'tls/x', Buffer.from('x')));
    expect(e.message).toMatch(/TLS certificate of https:\/\/localhost:\d+ is not trusted/);
    expect(e.fix).toMatch(/caBundle/);
  });
});

describe('S3 outage (second gateway; the main one stays up for other workers)', () => {
  test('requests fail with "cannot reach" while radosgw is down and succeed once it is back', async () => {
    const outage = await outageEndpoint();
    const viaOutage = client({ endpoint: outage.endpoint, maxAttempts: 1 });
    await putObject(viaOutage, 'outage/before', Buffer.from('before'));

    const during = await withS3Outage(2000, async () => {
      const e = await expectS3Error(putObject(viaOutage, 'outage/during', Buffer.from('during')));
      expect(await rgwAnswers(Number(new URL(ep.endpoint).port))).toBe(true); // main gateway unaffected
      return e;
    });
    expect(during?.code).toBe('ECONNREFUSED');
    expect(during?.message).toMatch(/cannot reach S3 at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);

    await putObject(viaOutage, 'outage/after', Buffer.from('after'));
    expect(await listKeys(bucket, 'outage/')).toEqual(['outage/after', 'outage/before']);
  });

  test('with retries, a request started during a short outage succeeds when S3 comes back', async () => {
    const outage = await outageEndpoint();
    const patient = client({ endpoint: outage.endpoint, maxAttempts: 10 }); // full-jitter backoff: ~50 s of retries on average
    const started = Date.now();
    const put = await withS3Outage(1500, () => putObject(patient, 'outage/retried', Buffer.from('retried')));
    expect(put?.size).toBe(7);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(await headObject(s3, 'outage/retried')).toBeDefined();
  });
});
