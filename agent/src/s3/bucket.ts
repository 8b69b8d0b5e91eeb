import type { S3Client } from '@aws-sdk/client-s3';
import { validateS3Config, type S3Config } from './config';
import { S3Http } from './http';

/**
 * An S3 bucket the agent works with: what every operation in `objects.ts` takes. Single-object requests and
 * listings go through {@link S3Http}; multipart uploads and batch deletes through the AWS SDK.
 */
export interface S3Bucket {
  readonly bucket: string;
  /** The endpoint, for messages (never carries credentials). */
  readonly endpoint: string;
  /** The small SigV4 client for PUT/GET/HEAD/DELETE of one object and listings. */
  readonly http: S3Http;
  /**
   * The AWS SDK client. A bucket made by `createS3Client` has it from the start; one made by {@link openS3Bucket}
   * only after {@link S3Bucket.sdk} resolved (reading it before throws).
   */
  readonly client: S3Client;
  /** The AWS SDK client, loaded on first use (multipart uploads, batch deletes, multipart listings). */
  sdk(): Promise<S3Client>;
  /** Closes the keep-alive connections; the process can then exit without waiting for idle sockets. */
  destroy(): void;
}

/**
 * A bucket without the AWS SDK in memory until an operation needs it: what the instance agent uses (it archives WAL
 * all day with single PUTs, HEADs and listings; the SDK alone would cost it about 11 MiB).
 */
export function openS3Bucket(config: S3Config): S3Bucket {
  validateS3Config(config);
  const http = new S3Http(config);
  let sdkBucket: Promise<{ client: S3Client; destroy(): void }> | undefined;
  let loaded: { client: S3Client; destroy(): void } | undefined;
  return {
    bucket: config.bucket,
    endpoint: config.endpoint,
    http,
    get client(): S3Client {
      if (!loaded) throw new Error('the AWS SDK client of this bucket is not loaded yet: await sdk() first');
      return loaded.client;
    },
    sdk() {
      sdkBucket ??= import('./client').then(m => (loaded = m.createSdkClient(config)));
      return sdkBucket.then(b => b.client);
    },
    destroy() {
      http.destroy();
      loaded?.destroy();
    },
  };
}
