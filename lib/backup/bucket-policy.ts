import { ValidationError } from '../validation';

export interface BucketPolicyClusterUser {
  /** The cluster's folder in the bucket (its name, or the BackupStore path plus its name). */
  readonly prefix: string;
  /** The S3 user that cluster's pods use, e.g. `cnpg-backup-keycloak`. */
  readonly user: string;
}

export interface BucketPolicyProps {
  readonly bucket: string;
  /** One statement per cluster user, limited to its prefix. */
  readonly clusters: BucketPolicyClusterUser[];
  /** Users that may read everything (an external backup of the backups), e.g. `extern-backups-s3`. */
  readonly readOnlyUsers?: string[];
}

/**
 * The bucket policy of the reference story: each cluster's user may read and write only its own folder, an
 * external backup user may read all. Returns the policy document as a JSON string (apply it with your S3 tooling).
 */
export function s3BucketPolicy(props: BucketPolicyProps): string {
  if (props.clusters.length === 0 && !(props.readOnlyUsers ?? []).length) {
    throw new ValidationError('clusters', 'is empty', 'Name at least one cluster user or read-only user.');
  }
  const arn = (path: string) => `arn:aws:s3:::${props.bucket}${path}`;
  const user = (name: string) => {
    if (!/^[\w+=,.@-]{1,64}$/.test(name))
      throw new ValidationError('user', `"${name}" is not an S3 user name`, 'Use the name of the user, e.g. "cnpg-backup-keycloak".');
    return { AWS: [`arn:aws:iam:::user/${name}`] };
  };
  const statements: object[] = props.clusters.map(c => {
    const prefix = c.prefix.replace(/\/$/, '');
    return {
      Action: ['s3:GetObject', 's3:DeleteObject', 's3:PutObject', 's3:ListBucket', 's3:GetBucketLocation'],
      Effect: 'Allow',
      Resource: [arn(`/${prefix}/*`), arn(`/${prefix}`), arn('')],
      Principal: user(c.user),
    };
  });
  for (const ro of props.readOnlyUsers ?? []) {
    statements.push({
      Action: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
      Effect: 'Allow',
      Resource: [arn('/*'), arn('')],
      Principal: user(ro),
    });
  }
  return JSON.stringify({ Version: '2012-10-17', Statement: statements }, null, 2);
}
