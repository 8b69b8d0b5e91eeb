/**
 * The tests' S3: Ceph RGW from Debian's packages on loopback (see ceph-rgw.sh next to this file).
 *
 * One cluster serves the whole test run: jest's globalSetup starts it, every worker finds it through the state file
 * (DIR/state.json, DIR = $PGC_RGW_BASE or /tmp/cdk8s-postgres-rgw) after a health check, and a test file run on its
 * own starts it if needed. ceph-rgw.sh takes an flock on DIR.lock, so two workers never start it twice.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { createS3Client, type S3Bucket } from '../../../agent/src/s3/client';
import { deleteObjects, listPrefix } from '../../../agent/src/s3/objects';

const run = promisify(execFile);

export const RGW_BASE = process.env.PGC_RGW_BASE ?? '/tmp/cdk8s-postgres-rgw';
export const RGW_SCRIPT = path.join(__dirname, 'ceph-rgw.sh');
/** Port of the extra gateway that {@link withS3Outage} stops and starts by default. */
/**
 * Each jest worker gets its own outage gateway (name and port), so one test file's outage never cuts off another
 * file's requests running at the same time in another worker.
 */
const WORKER = Number(process.env.JEST_WORKER_ID ?? 1);
export const OUTAGE_PORT = Number(process.env.PGC_RGW_OUTAGE_PORT ?? 7481) + 10 * (WORKER - 1);
const OUTAGE_NAME = `outage${WORKER}`;

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface S3Endpoint extends S3Credentials {
  /** Plain HTTP, e.g. `http://127.0.0.1:7480`. */
  readonly endpoint: string;
  /** TLS with a certificate for `localhost` and `127.0.0.1`, e.g. `https://localhost:7443`. */
  readonly httpsEndpoint: string;
  /** PEM of the self-signed certificate that httpsEndpoint presents. */
  readonly caFile: string;
  readonly region: string;
}

interface State extends S3Endpoint {
  base: string;
  conf: string;
  keyring: string;
  mainPort: number;
  objectStore: string;
}

function readState(): State | undefined {
  try {
    return JSON.parse(readFileSync(path.join(RGW_BASE, 'state.json'), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

/** GET / answered 200 within a second and a half (RGW lists the anonymous user's buckets). */
export function rgwAnswers(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 1500, agent: false }, res => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function script(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('bash', [RGW_SCRIPT, ...args], { env: { ...process.env, PGC_RGW_BASE: RGW_BASE }, timeout: 300_000 });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`ceph-rgw.sh ${args.join(' ')} failed: ${(err.stderr || err.message).trim()}\n${err.stdout ?? ''}`.trim(), { cause: e });
  }
}

let ensured: Promise<State> | undefined;

async function ensureState(): Promise<State> {
  const s = readState();
  if (s && (await rgwAnswers(s.mainPort))) return s;
  await script('start');
  const started = readState();
  if (!started) throw new Error(`ceph-rgw.sh start succeeded but wrote no ${RGW_BASE}/state.json`);
  return started;
}

/** The test run's S3 endpoint: reuses a running RGW (state file + health check), else starts one. */
export async function ensureS3(): Promise<S3Endpoint> {
  ensured ??= ensureState().catch(e => {
    ensured = undefined;
    throw e;
  });
  const s = await ensured;
  return {
    endpoint: s.endpoint,
    httpsEndpoint: s.httpsEndpoint,
    caFile: s.caFile,
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    region: s.region,
  };
}

/** An agent S3 client on `bucket` with the test user's keys (or `credentials`); destroy() it when done. */
export async function s3For(bucket: string, credentials?: S3Credentials, endpoint?: string): Promise<S3Bucket> {
  const ep = await ensureS3();
  return createS3Client({
    endpoint: endpoint ?? ep.endpoint,
    region: ep.region,
    bucket,
    accessKeyId: (credentials ?? ep).accessKeyId,
    secretAccessKey: (credentials ?? ep).secretAccessKey,
    caBundle: ep.caFile,
    maxAttempts: 2,
  });
}

/** A bucket name unique to this process and moment, valid for S3 (lower case, <= 63 chars). */
export function uniqueBucketName(prefix = 'test'): string {
  const p = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 30);
  return `${p}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

async function withBucket<T>(name: string, credentials: S3Credentials | undefined, fn: (s3: S3Bucket) => Promise<T>): Promise<T> {
  const s3 = await s3For(name, credentials);
  try {
    return await fn(s3);
  } finally {
    s3.destroy();
  }
}

/** Creates a bucket owned by the test user (or by `credentials`); succeeds if that owner already has it. */
export async function createBucket(name: string, credentials?: S3Credentials): Promise<void> {
  await withBucket(name, credentials, async s3 => {
    try {
      await s3.client.send(new CreateBucketCommand({ Bucket: name }));
    } catch (e) {
      if ((e as Error).name !== 'BucketAlreadyOwnedByYou') throw e;
    }
  });
}

/** Deletes every object, every unfinished multipart upload, then the bucket. A missing bucket is fine. */
export async function deleteBucketRecursive(name: string, credentials?: S3Credentials): Promise<void> {
  await withBucket(name, credentials, async s3 => {
    try {
      for (;;) {
        const keys = (await listPrefix(s3, '')).map(o => o.key);
        if (keys.length === 0) break;
        await deleteObjects(s3, keys);
      }
      const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: name }));
      for (const u of uploads.Uploads ?? []) {
        await s3.client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key!, UploadId: u.UploadId! }));
      }
      await s3.client.send(new DeleteBucketCommand({ Bucket: name }));
    } catch (e) {
      if ((e as { code?: string }).code === 'NoSuchBucket' || (e as Error).name === 'NoSuchBucket') return;
      throw e;
    }
  });
}

/** The keys under a prefix (all pages), sorted. */
export async function listKeys(bucket: string, prefix = ''): Promise<string[]> {
  return withBucket(bucket, undefined, async s3 => (await listPrefix(s3, prefix)).map(o => o.key));
}

async function rgwAdmin(...args: string[]): Promise<string> {
  const s = await ensureState();
  const { stdout } = await run('radosgw-admin', ['-c', s.conf, ...args], { env: { ...process.env, CEPH_CONF: s.conf }, timeout: 60_000 });
  return stdout;
}

/**
 * A second S3 user with its own random keys (for wrong-credentials and bucket-policy tests). Idempotent: an existing
 * user's keys are returned.
 */
export async function createUser(uid: string): Promise<S3Credentials & { uid: string }> {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(uid)) throw new Error(`createUser: uid "${uid}" must match [a-z0-9][a-z0-9_-]*`);
  let out: string;
  try {
    out = await rgwAdmin('user', 'info', `--uid=${uid}`);
  } catch {
    out = await rgwAdmin('user', 'create', `--uid=${uid}`, `--display-name=${uid}`);
  }
  const key = (JSON.parse(out) as { keys: { user: string; access_key: string; secret_key: string }[] }).keys[0];
  return { uid, accessKeyId: key.access_key, secretAccessKey: key.secret_key };
}

/**
 * A read-only S3 credential on the test user's buckets: an RGW subuser of the test user with `--access=read` and its
 * own S3 keys (lists and gets work, puts and deletes are refused with AccessDenied). Idempotent.
 */
export async function createReadOnlySubuser(name: string): Promise<S3Credentials & { uid: string }> {
  if (!/^[a-z0-9][a-z0-9_-]{0,30}$/.test(name)) throw new Error(`createReadOnlySubuser: "${name}" must match [a-z0-9][a-z0-9_-]*`);
  const subuser = `test:${name}`;
  const info = JSON.parse(await rgwAdmin('user', 'info', '--uid=test')) as { keys: { user: string; access_key: string; secret_key: string }[] };
  let key = info.keys.find(k => k.user === subuser);
  if (!key) {
    const out = await rgwAdmin(
      'subuser',
      'create',
      '--uid=test',
      `--subuser=${subuser}`,
      '--access=read',
      '--key-type=s3',
      '--gen-access-key',
      '--gen-secret',
    );
    key = (JSON.parse(out) as typeof info).keys.find(k => k.user === subuser)!;
  }
  return { uid: subuser, accessKeyId: key.access_key, secretAccessKey: key.secret_key };
}

/** Runs RGW garbage collection now, so that deleted objects free their space. */
export async function rgwGc(): Promise<void> {
  await rgwAdmin('gc', 'process', '--include-all');
}

/**
 * Which gateway to stop. `outage` (default) is a second radosgw on the same cluster, at {@link outageEndpoint}:
 * stopping it does not disturb tests in other jest workers, which use `main`. Stop `main` only in a test run alone.
 */
export type Gateway = 'outage' | 'main';

/** The endpoint of the `outage` gateway (same users and buckets as `main`), started if needed. */
export async function outageEndpoint(): Promise<S3Endpoint> {
  const ep = await ensureS3();
  await startRgw('outage');
  return { ...ep, endpoint: `http://127.0.0.1:${OUTAGE_PORT}` };
}

/** Starts radosgw `gateway` again (mon and osd never stop) and waits until it answers. Idempotent. */
export async function startRgw(gateway: Gateway = 'outage'): Promise<void> {
  const s = await ensureState();
  const port = gateway === 'main' ? s.mainPort : OUTAGE_PORT;
  if (await rgwAnswers(port)) return;
  await script('gw-start', gateway === 'main' ? 'main' : OUTAGE_NAME, String(port));
}

/** Stops radosgw `gateway` only: S3 requests to it are refused until {@link startRgw}. */
export async function stopRgw(gateway: Gateway = 'outage'): Promise<void> {
  await ensureState();
  await script('gw-stop', gateway === 'main' ? 'main' : OUTAGE_NAME);
}

/**
 * S3 down for at least `ms` milliseconds, then back: stops the gateway (its port refuses connections at once), runs
 * `during` (if given) at once, starts the gateway again when `ms` have passed, whether or not `during` has finished
 * (a restart waits for the old radosgw to finish exiting: the outage may last 1-4 s longer than `ms`), and returns
 * `during`'s result once both are done.
 */
export async function withS3Outage<T>(ms: number, during?: () => Promise<T>, gateway: Gateway = 'outage'): Promise<T | undefined> {
  if (gateway === 'outage') await startRgw('outage');
  await stopRgw(gateway);
  const restarted = new Promise<void>(resolve => setTimeout(resolve, ms)).then(() => startRgw(gateway));
  const result = during ? during().finally(() => restarted) : undefined;
  const [value] = await Promise.all([result, restarted]);
  return value;
}

/** Stops the whole cluster (`--purge`: and removes its directory). For globalTeardown. */
export async function stopS3(purge = true): Promise<void> {
  ensured = undefined;
  await script('stop', ...(purge ? ['--purge'] : []));
}
