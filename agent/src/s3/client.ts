import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AgentError } from '../common/errors';
import { log } from '../common/log';

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

/** Where the agent keeps its objects, and how to reach it. */
export interface S3Config {
  /** `http(s)://host:port` of the S3 API (Ceph RGW, MinIO, AWS...). */
  readonly endpoint: string;
  /** @default 'us-east-1' (RGW and MinIO accept any region) */
  readonly region?: string;
  readonly bucket: string;
  /** Path-style URLs (`endpoint/bucket/key`); virtual-hosted style needs wildcard DNS. @default true */
  readonly forcePathStyle?: boolean;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** PEM file of the CA(s) that sign the endpoint's certificate, added to Node's default roots. */
  readonly caBundle?: string;
  /** Attempts per request, first one included (standard retry mode: exponential backoff with jitter). @default 5 */
  readonly maxAttempts?: number;
  /** Concurrent connections to the endpoint. @default 16 */
  readonly maxSockets?: number;
  /** Connect timeout in ms. @default 5000 */
  readonly connectTimeoutMs?: number;
}

/** An S3 client bound to one bucket: what every operation in `objects.ts` takes. */
export interface S3Bucket {
  readonly client: S3Client;
  readonly bucket: string;
  /** The endpoint, for messages (never carries credentials). */
  readonly endpoint: string;
  /** Closes the keep-alive connections; the process can then exit without waiting for idle sockets. */
  destroy(): void;
}

/**
 * Builds the agent's S3 client. Choices, each for a reason:
 * - checksums `WHEN_REQUIRED`: SDK defaults send `aws-chunked` bodies with CRC32 trailers that Ceph RGW 16 rejects
 *   with 411 (and that s3rver stores verbatim inside the object);
 * - path style by default: RGW, MinIO and most in-cluster S3 have no wildcard DNS;
 * - keep-alive with a bounded pool: WAL archiving makes many small requests;
 * - standard retries: transient errors (5xx, throttling, ECONNRESET/ECONNREFUSED, timeouts) back off and retry;
 * - a custom CA is added to the default roots, never replaces certificate verification.
 * The keys go to the SDK's credentials only; they are never logged (the SDK's logger drops requests, and
 * {@link describeS3Config} is what logs may carry).
 */
export function createS3Client(config: S3Config): S3Bucket {
  validate(config);
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
    bucket: config.bucket,
    endpoint: config.endpoint,
    destroy() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** The fields of an S3 config that may appear in logs and messages (no keys). */
export function describeS3Config(config: S3Config): Record<string, unknown> {
  return {
    endpoint: config.endpoint,
    bucket: config.bucket,
    region: config.region ?? 'us-east-1',
    forcePathStyle: config.forcePathStyle ?? true,
    caBundle: config.caBundle,
  };
}

function validate(config: S3Config): void {
  let url: URL;
  try {
    url = new URL(config.endpoint);
  } catch {
    throw new AgentError(`S3 endpoint "${config.endpoint}" is not a URL`, 'Set the endpoint to http(s)://host[:port] of the S3 API.', {
      endpoint: config.endpoint,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AgentError(
      `S3 endpoint "${config.endpoint}" must start with http:// or https://`,
      'Set the endpoint to http(s)://host[:port] of the S3 API.',
      { endpoint: config.endpoint },
    );
  }
  if (url.username || url.password) {
    throw new AgentError('S3 endpoint must not carry credentials in the URL', 'Put the keys in the credentials Secret, not in the endpoint.', {
      endpoint: `${url.protocol}//${url.host}`,
    });
  }
  if (!config.bucket) {
    throw new AgentError('S3 bucket is empty', 'Set the bucket of the BackupStore.', {});
  }
  if (!config.accessKeyId || !config.secretAccessKey) {
    throw new AgentError(
      'S3 credentials are missing (access key id or secret access key is empty)',
      'Check that the credentials Secret exists and has both keys the BackupStore names.',
      { endpoint: config.endpoint, bucket: config.bucket },
    );
  }
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AgentError(
      `cannot read the S3 CA bundle ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      'Mount the CA certificate (PEM) at the path the BackupStore gives as caBundle.',
      { caBundle: path },
    );
  }
}

/** An S3 failure explained: `code` is the S3 error code (or the network error code), `status` the HTTP status. */
export class S3Error extends AgentError {
  constructor(
    message: string,
    fix: string,
    readonly code: string,
    readonly status: number | undefined,
    fields: Record<string, unknown>,
  ) {
    super(message, fix, { ...fields, code, status });
    this.name = 'S3Error';
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'TimeoutError',
]);

/**
 * The code of a network or TLS error known only by its message. The SDK keeps only the message when the error is
 * not an `instanceof Error` of its own realm (as under jest): "AWS SDK error wrapper for Error: connect ECONNREFUSED".
 */
function codeFromMessage(message: string): string | undefined {
  const net = /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)\b/.exec(message);
  if (net) return net[1];
  const tls: [RegExp, string][] = [
    [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
    [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    [/unable to get local issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
    [/does not match certificate's altnames/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ];
  return tls.find(([re]) => re.test(message))?.[1];
}

/**
 * Turns an SDK or network error into an {@link S3Error} whose message names the problem and whose `fix` says what
 * to do. `what` describes the operation (`put s3://bucket/key`). Errors already explained pass through.
 */
export function explainS3Error(err: unknown, s3: Pick<S3Bucket, 'bucket' | 'endpoint'>, what: string): S3Error {
  if (err instanceof S3Error) return err;
  const e = err as Partial<S3ServiceException> & { code?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const code =
    e.Code ??
    (err instanceof S3ServiceException ? e.name : undefined) ??
    e.code ??
    (e.name && e.name !== 'Error' ? e.name : undefined) ??
    codeFromMessage(String((err as Error)?.message ?? err)) ??
    'Unknown';
  const at = `${s3.endpoint}`;
  const fields = { endpoint: s3.endpoint, bucket: s3.bucket, operation: what };
  const mk = (message: string, fix: string) => new S3Error(`${what}: ${message}`, fix, code, status, fields);
  switch (code) {
    case 'InvalidAccessKeyId':
      return mk(
        `S3 at ${at} does not know this access key id (InvalidAccessKeyId)`,
        'The access key id in the credentials Secret is wrong or the S3 user was deleted; fix the Secret.',
      );
    case 'SignatureDoesNotMatch':
      return mk(
        `S3 at ${at} rejected the request signature (SignatureDoesNotMatch): the secret access key is wrong`,
        'Fix the secret access key in the credentials Secret (the access key id is known to the server).',
      );
    case 'NoSuchBucket':
      return mk(
        `bucket "${s3.bucket}" does not exist at ${at} (NoSuchBucket)`,
        'Create the bucket (for example with the S3 console or `aws s3 mb`), or fix the bucket name of the BackupStore.',
      );
    case 'AccessDenied':
      return mk(
        `S3 at ${at} denied access to bucket "${s3.bucket}" (AccessDenied)`,
        "Grant these credentials read/write on the bucket (bucket policy or user permissions), or use the bucket owner's keys.",
      );
    case 'RequestTimeTooSkewed':
      return mk(`the clock of this host differs too much from the S3 server's (RequestTimeTooSkewed)`, 'Synchronize the node clock (NTP).');
    case 'NoSuchKey':
    case 'NotFound':
      return mk(`no such object (${code})`, 'The object does not exist; check the key.');
    case 'BadDigest':
    case 'InvalidDigest':
    case 'XAmzContentSHA256Mismatch':
      return mk(`S3 received different bytes than were sent (${code})`, 'Retry; if it persists, check proxies between the pod and S3.');
  }
  if (status === 403 && (code === 'Unknown' || code === 'Forbidden' || code === '403')) {
    // HEAD responses have no body, so S3 cannot say which of the 403s it is
    return new S3Error(
      `${what}: S3 at ${at} refused the request (HTTP 403, no error code on a HEAD): the access key id or secret access key is wrong, or these credentials may not read bucket "${s3.bucket}"`,
      'Check the keys in the credentials Secret and that their user may read and write the bucket.',
      'Forbidden',
      status,
      fields,
    );
  }
  if (TLS_CODES.has(code)) {
    return mk(
      `the TLS certificate of ${at} is not trusted (${code}: ${plainMessage(err)})`,
      'Give the CA that signed the S3 certificate as caBundle (a PEM file), and use the host name the certificate names.',
    );
  }
  if (NET_CODES.has(code)) {
    return mk(`cannot reach S3 at ${at} (${code})`, 'Check the endpoint, that the S3 service is up, and that a network policy allows egress to it.');
  }
  if (status !== undefined && status >= 500) {
    return mk(`S3 at ${at} failed with HTTP ${status} (${code})`, 'The S3 server is unhealthy or overloaded; the operation is retried later.');
  }
  const detail = plainMessage(err) && plainMessage(err) !== code ? `: ${plainMessage(err)}` : '';
  return mk(`S3 error ${code}${status ? ` (HTTP ${status})` : ''}${detail}`, 'See the S3 server logs for this request.');
}

function plainMessage(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/^AWS SDK error wrapper for (Error: )?/, '');
}
