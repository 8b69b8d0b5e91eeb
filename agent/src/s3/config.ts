import { readFileSync } from 'node:fs';
import { AgentError } from '../common/errors';

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

export function validateS3Config(config: S3Config): void {
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

export function readCa(path: string): Buffer {
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
