import { AgentError } from '../common/errors';
import type { S3Bucket } from './bucket';

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

/** An error S3 answered (the SDK's S3ServiceException, or our HTTP client's S3ResponseError): its name is S3's code. */
function isServiceError(e: { $fault?: string; $metadata?: unknown }): boolean {
  return e.$fault !== undefined && e.$metadata !== undefined;
}

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
  const e = err as { name?: string; code?: string; Code?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const code =
    e.Code ??
    (isServiceError(e) ? e.name : undefined) ??
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
