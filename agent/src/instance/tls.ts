/**
 * The instance's TLS: the server certificate comes from the Secret `<cluster>-server` through the API (as the
 * passwords do), is written into the socket directory (an emptyDir: never on the data volume, so never in a base
 * backup), mode 0600, owned by the agent's uid (postgres'); PostgreSQL reads it at start and on every reload.
 * Every TLS_POLL_SECONDS the Secret is read again: a new certificate (a renewal by the primary, cert-manager or a
 * user) is written and picked up with pg_reload_conf(), no restart. The primary also renews a generated certificate
 * when it is due and keeps `<cluster>-ca` current.
 *
 * The agent's own libpq clients of the primary (streaming, pg_basebackup, pg_rewind) use `verify-full` against the
 * cluster CA, unless the primary does not offer TLS at all (replicationSslMode: only mid-rollout from a version
 * without TLS).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CREDENTIALS_POLL_SECONDS, TLS_ENV, TLS_FILES, TLS_MODES, TlsSpec } from '../../../lib/contract';
import { jsonEnv, optionalEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { OnceEach, pollSerially } from '../common/poll';
import { replicationSslMode } from '../decide/tls';
import { KubeClient } from '../k8s/client';
import { ensureTlsSecrets, renewServerCertificateIfDue, serverMaterial } from '../tls/secrets';
import { primarySslAnswer } from './bootstrap';
import { InstanceConfig } from './config';
import { writeConfigFiles } from './config-files';
import { reloadConfig } from './sql';
import { waitNotReady } from './not-ready';

export const TLS_POLL_SECONDS = CREDENTIALS_POLL_SECONDS;

export function readTlsSpec(env: NodeJS.ProcessEnv): TlsSpec | undefined {
  if (!optionalEnv(TLS_ENV, env)) return undefined;
  const spec = jsonEnv<TlsSpec>(TLS_ENV, env);
  if (!spec || !TLS_MODES.includes(spec.mode) || !spec.serverSecret || !spec.caSecret || (spec.mode === 'generated' && !spec.generate)) {
    throw new AgentError(
      `environment variable ${TLS_ENV} does not describe the TLS setup`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  return spec;
}

export function tlsPaths(cfg: Pick<InstanceConfig, 'socketDir'>): { dir: string; cert: string; key: string; ca: string } {
  const dir = path.join(cfg.socketDir, TLS_FILES.dir);
  return { dir, cert: path.join(dir, TLS_FILES.cert), key: path.join(dir, TLS_FILES.key), ca: path.join(dir, TLS_FILES.ca) };
}

/** Writes the files that differ (through a temporary file and a rename: PostgreSQL never reads half a key). */
export function writeTlsFiles(cfg: Pick<InstanceConfig, 'socketDir'>, m: { cert: string; key: string; ca: string }): boolean {
  const p = tlsPaths(cfg);
  fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  let changed = false;
  for (const [file, content] of [
    [p.key, m.key],
    [p.cert, m.cert],
    [p.ca, m.ca],
  ]) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) continue;
    fs.writeFileSync(`${file}.new`, content, { mode: 0o600 });
    fs.renameSync(`${file}.new`, file);
    changed = true;
  }
  return changed;
}

/** Reads the server Secret (generated mode: creating what is missing first) and writes the files; throws why not. */
async function syncOnce(kube: KubeClient, cfg: InstanceConfig, create: boolean): Promise<boolean> {
  const spec = cfg.tls!;
  if (create) await ensureTlsSecrets(kube, spec, { cluster: cfg.cluster, namespace: cfg.namespace, instances: cfg.instances });
  return writeTlsFiles(cfg, serverMaterial(spec.serverSecret, await kube.getSecret(spec.serverSecret)));
}

/**
 * At start, before PostgreSQL or a clone needs the files: waits (alive, not ready, one log line with the fix)
 * while the server Secret is missing or unusable. Generated mode creates it (the secrets Job normally did).
 */
export async function loadTls(kube: KubeClient, cfg: InstanceConfig): Promise<void> {
  const tls = cfg.tls;
  if (!tls) return;
  await waitNotReady(cfg, async () => {
    try {
      await syncOnce(kube, cfg, tls.mode === 'generated');
      return undefined;
    } catch (e) {
      const fix =
        e instanceof AgentError
          ? e.fix
          : "Check the Kubernetes API and that the Role of the manifests (get on the cluster's TLS Secrets) is applied.";
      return { why: `waiting for the TLS certificate: ${(e as Error).message}`, fields: { fix, secret: tls.serverSecret } };
    }
  });
}

/**
 * Follows the Secret while the agent runs. `isPrimary`: renew and keep `<cluster>-ca` (one writer); `onFilesChanged`:
 * reload PostgreSQL; `onCheck`: the replica's chance to move its streaming from `prefer` to `verify-full`.
 */
export function watchTls(
  kube: KubeClient,
  cfg: InstanceConfig,
  isPrimary: () => boolean,
  onFilesChanged: () => Promise<void>,
  onCheck: () => Promise<void>,
  intervalMs = TLS_POLL_SECONDS * 1000,
): () => void {
  if (!cfg.tls) return () => undefined;
  const tls = cfg.tls;
  const once = new OnceEach();
  return pollSerially(intervalMs, async () => {
    try {
      const primary = isPrimary();
      if (primary) await renewServerCertificateIfDue(kube, tls, { cluster: cfg.cluster, namespace: cfg.namespace, instances: cfg.instances });
      if (await syncOnce(kube, cfg, primary)) {
        log.info({ secret: tls.serverSecret }, 'TLS certificate changed: reloading PostgreSQL');
        await onFilesChanged();
      }
      await onCheck();
      once.clear();
    } catch (e) {
      const problem = `cannot follow the TLS Secret, keeping the current certificate: ${(e as Error).message}`;
      once.say(problem, () =>
        log.warn({ fix: e instanceof AgentError ? e.fix : 'Check the Kubernetes API; PostgreSQL keeps serving the current certificate.' }, problem),
      );
    }
  });
}

/** postgresql.conf settings for TLS (none without it). */
export function tlsParameters(cfg: Pick<InstanceConfig, 'tls' | 'socketDir'>): Record<string, string> {
  if (!cfg.tls) return {};
  const p = tlsPaths(cfg);
  return { ssl: 'on', ssl_cert_file: p.cert, ssl_key_file: p.key, ssl_min_protocol_version: 'TLSv1.2' };
}

/**
 * The sslmode the agent's libpq clients of the primary use now, learnt by asking the primary (an SSLRequest);
 * kept on cfg so that postgresql.conf renders the same.
 */
export async function probePrimaryTls(cfg: InstanceConfig): Promise<'verify-full' | 'prefer'> {
  const offers = cfg.tls ? await primarySslAnswer(cfg) : undefined;
  const mode = replicationSslMode({ tlsConfigured: !!cfg.tls, primaryOffersTls: offers });
  if (cfg.tls && mode !== 'verify-full' && cfg.replicationSslMode !== mode)
    log.warn(
      {
        primary: `${cfg.primary.host}:${cfg.primary.port}`,
        fix: 'None needed during a rollout: the primary rolls last; then the replicas verify it.',
      },
      'the primary does not offer TLS (it runs an agent without TLS): streaming with sslmode=prefer until it does',
    );
  cfg.replicationSslMode = mode;
  return mode;
}

/** libpq settings (conninfo keywords) for connecting to the primary: sslmode and the CA. */
export function primaryTlsConninfo(cfg: Pick<InstanceConfig, 'tls' | 'socketDir' | 'replicationSslMode'>): string[] {
  if (!cfg.tls) return ['sslmode=prefer'];
  const mode = cfg.replicationSslMode ?? 'verify-full';
  return mode === 'verify-full' ? [`sslmode=verify-full`, `sslrootcert=${tlsPaths(cfg).ca}`] : [`sslmode=${mode}`];
}

/** The same as environment variables, for pg_basebackup and pg_rewind. */
export function primaryTlsEnv(cfg: Pick<InstanceConfig, 'tls' | 'socketDir' | 'replicationSslMode'>): Record<string, string> {
  return Object.fromEntries(
    primaryTlsConninfo(cfg)
      .map(kv => kv.split('='))
      .map(([k, v]) => [k === 'sslmode' ? 'PGSSLMODE' : 'PGSSLROOTCERT', v]),
  );
}

/** Starts following the TLS Secret for a running instance (`instance()`: the running Instance's facts, once there). */
export function startTlsWatch(
  kube: KubeClient,
  cfg: InstanceConfig,
  instance: () => { isPrimary: boolean; role: 'primary' | 'replica'; postgresUp: boolean } | undefined,
): () => void {
  return watchTls(
    kube,
    cfg,
    () => instance()?.isPrimary ?? false,
    async () => {
      if (instance()?.postgresUp) await reloadConfig(cfg);
    },
    async () => {
      // Streaming without verification only while the primary offered no TLS: switch as soon as it does.
      const now = instance();
      if (!now?.postgresUp || now.role !== 'replica' || cfg.replicationSslMode !== 'prefer') return;
      if ((await probePrimaryTls(cfg)) !== 'verify-full') return;
      writeConfigFiles(cfg, 'replica');
      await reloadConfig(cfg);
      log.info({ primary: `${cfg.primary.host}:${cfg.primary.port}` }, 'the primary offers TLS now: streaming with sslmode=verify-full');
    },
  );
}
