import * as http from 'node:http';
import * as https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { log } from '../common/log';
import { openS3Bucket, type S3Bucket } from './bucket';
import { readCa, validateS3Config, type S3Config } from './config';

// What callers import from here; the instance imports bucket.ts, config.ts and errors.ts directly (no SDK load).
export type { S3Bucket } from './bucket';
export { openS3Bucket } from './bucket';
export { describeS3Config, type S3Config } from './config';
export { S3Error, explainS3Error } from './errors';

/**
 * The SDK's logger: without one it prints some warnings with console.warn. Requests and responses (logged at info)
 * are dropped; warnings and errors, plain strings from the SDK, go to the agent's log at debug level.
 */
const sdkLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (...m: unknown[]) => log.debug({ sdk: m.filter(x => typeof x === 'string').join(' ') }, 'aws-sdk warning'),
  error: (...m: unknown[]) => log.debug({ sdk: m.filter(x => typeof x === 'string').join(' ') }, 'aws-sdk error'),
};

/**
 * A bucket with the AWS SDK loaded from the start: for the commands that upload multipart (backup, logical
 * backups) and delete in batches (retention). Single-object requests still go through the bucket's HTTP client.
 */
export function createS3Client(config: S3Config): S3Bucket & { readonly client: S3Client } {
  const bucket = openS3Bucket(config);
  const sdk = createSdkClient(config);
  return {
    bucket: bucket.bucket,
    endpoint: bucket.endpoint,
    http: bucket.http,
    client: sdk.client,
    sdk: () => Promise.resolve(sdk.client),
    destroy() {
      bucket.destroy();
      sdk.destroy();
    },
  };
}

/**
 * Builds the agent's AWS SDK client. Choices, each for a reason:
 * - checksums `WHEN_REQUIRED`: SDK defaults send `aws-chunked` bodies with CRC32 trailers that Ceph RGW 16 rejects
 *   with 411 (and that s3rver stores verbatim inside the object);
 * - path style by default: RGW, MinIO and most in-cluster S3 have no wildcard DNS;
 * - keep-alive with a bounded pool: WAL archiving makes many small requests;
 * - standard retries: transient errors (5xx, throttling, ECONNRESET/ECONNREFUSED, timeouts) back off and retry;
 * - a custom CA is added to the default roots, never replaces certificate verification.
 * The keys go to the SDK's credentials only; they are never logged (the SDK's logger drops requests, and
 * {@link describeS3Config} is what logs may carry).
 */
export function createSdkClient(config: S3Config): { client: S3Client; destroy(): void } {
  validateS3Config(config);
  const maxSockets = config.maxSockets ?? 16;
  const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets, maxFreeSockets: Math.min(maxSockets, 8) };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent({ ...agentOptions, ...(config.caBundle ? { ca: readCa(config.caBundle) } : {}) });
  const requestHandler = new NodeHttpHandler({
    httpAgent,
    httpsAgent,
    connectionTimeout: config.connectTimeoutMs ?? 5000,
    // an idle socket for this long means the server is gone; a slow but moving transfer is not affected
    socketTimeout: 120_000,
  });
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region ?? 'us-east-1',
    forcePathStyle: config.forcePathStyle ?? true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    retryMode: 'standard',
    maxAttempts: config.maxAttempts ?? 5,
    requestHandler,
    logger: sdkLogger,
  });
  return {
    client,
    destroy() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
