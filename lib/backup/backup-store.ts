import { Construct } from 'constructs';
import { BACKUP_ENV } from '../contract';
import { ValidationError, checkDnsLabel } from '../validation';
import { k8s } from 'cdk8s-plus-28';

/** Where the S3 keys come from: a Secret you manage (Rook's CephObjectStoreUser Secret, SealedSecrets…). */
export interface S3CredentialsProps {
  /** Name of the Secret in the cluster's namespace. */
  readonly secretName: string;
  /**
   * Key holding the access key id.
   * @default 'AccessKey' (Rook CephObjectStoreUser Secrets)
   */
  readonly accessKeyIdKey?: string;
  /**
   * Key holding the secret access key.
   * @default 'SecretKey' (Rook CephObjectStoreUser Secrets)
   */
  readonly secretAccessKeyKey?: string;
}

/** A CA bundle (PEM) in a Secret or ConfigMap, for an endpoint with a private CA. */
export interface CaBundleProps {
  readonly secretName?: string;
  readonly configMapName?: string;
  /** @default 'ca.crt' */
  readonly key?: string;
}

export interface BackupStoreProps {
  /** S3 endpoint URL, e.g. `http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80` or `https://s3.example.com`. */
  readonly endpoint: string;
  /** Bucket shared by all clusters; each cluster writes under its own folder. */
  readonly bucket: string;
  /**
   * Folder inside the bucket before `<cluster>/` (the path part of barman's destinationPath).
   * @default '' (the bucket root, as `s3://backup-cnpg/` in the reference story)
   */
  readonly path?: string;
  /** @default 'us-east-1' (what Ceph RGW accepts by default) */
  readonly region?: string;
  /**
   * Path-style addressing (`endpoint/bucket/key`), which Ceph RGW and MinIO need.
   * @default true
   */
  readonly forcePathStyle?: boolean;
  readonly credentials: S3CredentialsProps;
  /** @default - the system's trusted CAs */
  readonly caBundle?: CaBundleProps;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
export const CA_MOUNT_PATH = '/etc/pg-agent/s3-ca';

/**
 * An S3-compatible object store for backups (Ceph RGW, MinIO, AWS S3). Renders nothing by itself: clusters that
 * back up to it get its settings as environment variables and its credentials by reference.
 */
export class BackupStore extends Construct {
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly credentials: Required<S3CredentialsProps>;
  readonly caBundle?: CaBundleProps & { key: string };

  constructor(scope: Construct, id: string, props: BackupStoreProps) {
    super(scope, id);
    let url: URL;
    try {
      url = new URL(props.endpoint);
    } catch {
      throw new ValidationError(
        'BackupStoreProps.endpoint',
        `"${props.endpoint}" is not a URL`,
        'Write it as http(s)://host[:port], e.g. "http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80".',
      );
    }
    if (!['http:', 'https:'].includes(url.protocol) || url.pathname.length > 1 || url.search || url.username) {
      throw new ValidationError(
        'BackupStoreProps.endpoint',
        `"${props.endpoint}" must be http(s)://host[:port] without path, query or credentials`,
        'Put the bucket in `bucket`, the folder in `path`, and the keys in a Secret (`credentials`).',
      );
    }
    if (!BUCKET.test(props.bucket) || props.bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(props.bucket)) {
      throw new ValidationError(
        'BackupStoreProps.bucket',
        `"${props.bucket}" is not a valid S3 bucket name`,
        'Use 3-63 lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (e.g. "backup-cnpg"); not an s3:// URL.',
      );
    }
    const path = props.path ?? '';
    if (path.startsWith('/') || /\/\//.test(path) || /[^A-Za-z0-9!\-_.*'()/]/.test(path)) {
      throw new ValidationError(
        'BackupStoreProps.path',
        `"${path}" is not a key prefix`,
        'Use a relative folder such as "postgres/" (no leading "/", no "//").',
      );
    }
    checkDnsLabel('BackupStoreProps.credentials.secretName', props.credentials?.secretName ?? '', 253);
    if (props.caBundle && !!props.caBundle.secretName === !!props.caBundle.configMapName) {
      throw new ValidationError(
        'BackupStoreProps.caBundle',
        'needs exactly one of secretName and configMapName',
        'Name the Secret or the ConfigMap that holds the PEM bundle.',
      );
    }
    this.endpoint = props.endpoint.replace(/\/$/, '');
    this.bucket = props.bucket;
    this.prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
    this.region = props.region ?? 'us-east-1';
    this.forcePathStyle = props.forcePathStyle ?? true;
    this.credentials = {
      secretName: props.credentials.secretName,
      accessKeyIdKey: props.credentials.accessKeyIdKey ?? 'AccessKey',
      secretAccessKeyKey: props.credentials.secretAccessKeyKey ?? 'SecretKey',
    };
    this.caBundle = props.caBundle ? { ...props.caBundle, key: props.caBundle.key ?? 'ca.crt' } : undefined;
  }

  /** The environment every agent command that talks to this store gets (credentials by reference only). */
  env(serverName: string): k8s.EnvVar[] {
    const ref = (key: string) => ({ secretKeyRef: { name: this.credentials.secretName, key } });
    return [
      { name: BACKUP_ENV.endpoint, value: this.endpoint },
      { name: BACKUP_ENV.bucket, value: this.bucket },
      { name: BACKUP_ENV.prefix, value: this.prefix },
      { name: BACKUP_ENV.region, value: this.region },
      { name: BACKUP_ENV.forcePathStyle, value: String(this.forcePathStyle) },
      { name: BACKUP_ENV.serverName, value: serverName },
      ...(this.caBundle ? [{ name: BACKUP_ENV.caFile, value: `${CA_MOUNT_PATH}/${this.caBundle.key}` }] : []),
      { name: BACKUP_ENV.accessKeyId, valueFrom: ref(this.credentials.accessKeyIdKey) },
      { name: BACKUP_ENV.secretAccessKey, valueFrom: ref(this.credentials.secretAccessKeyKey) },
    ];
  }

  /**
   * Volume and mount for the CA bundle, when there is one. A pod that talks to two stores (a restored cluster
   * archiving into its own store) mounts each under its own volume name and path.
   */
  caVolume(volumeName = 's3-ca', mountPath = CA_MOUNT_PATH): { volume: k8s.Volume; mount: k8s.VolumeMount; file: string } | undefined {
    if (!this.caBundle) return undefined;
    const items = [{ key: this.caBundle.key, path: this.caBundle.key }];
    const volume: k8s.Volume = this.caBundle.secretName
      ? { name: volumeName, secret: { secretName: this.caBundle.secretName, items } }
      : { name: volumeName, configMap: { name: this.caBundle.configMapName!, items } };
    return { volume, mount: { name: volumeName, mountPath, readOnly: true }, file: `${mountPath}/${this.caBundle.key}` };
  }
}
