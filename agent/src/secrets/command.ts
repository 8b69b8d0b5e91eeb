/**
 * `pg-agent secrets`: makes sure every credentials Secret of the cluster exists. Never overwrites: a Secret that
 * exists is the source of truth for its role's password, and a missing sibling (e.g. `<cluster>-app` next to
 * `<cluster>-<db>-app`) is created with that same password. Safe to run any number of times.
 */
import { randomBytes } from 'crypto';
import { ENV, SecretSpec, appSecretData } from '../../../lib/contract';
import { jsonEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { KubeClient, KubeError, connectKube } from '../k8s/client';
import { readTlsSpec } from '../instance/tls';
import { ensureTlsSecrets } from '../tls/secrets';

/** Characters safe in URIs, JDBC URLs and .pgpass lines without escaping. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const PASSWORD_LENGTH = 48;

/** A password from the CSPRNG, uniformly over ALPHABET (rejection sampling avoids modulo bias). */
export function generatePassword(length = PASSWORD_LENGTH): string {
  const limit = 256 - (256 % ALPHABET.length);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && out.length < length) out += ALPHABET[b % ALPHABET.length];
    }
  }
  return out;
}

export function passwordOf(secretName: string, data: Record<string, string> | undefined): string {
  const b64 = data?.password;
  if (!b64) {
    throw new AgentError(
      `Secret ${secretName} exists but has no "password" key`,
      `Add a "password" key to ${secretName} (or delete it so it is generated); the agent never overwrites a Secret.`,
      { secret: secretName },
    );
  }
  return Buffer.from(b64, 'base64').toString('utf8');
}

/**
 * Ensures the Secrets of one spec; returns the names it created. Also used by the instances, which recreate a
 * deleted generated Secret (with a new password) while they run.
 */
export async function ensureSecrets(kube: KubeClient, spec: SecretSpec): Promise<string[]> {
  const existing = await Promise.all(spec.names.map(async name => ({ name, secret: await kube.getSecret(name) })));
  const source = existing.find(e => e.secret);
  const password = source ? passwordOf(source.name, source.secret!.data) : generatePassword();
  const created: string[] = [];
  for (const { name, secret } of existing) {
    if (secret) continue;
    try {
      await kube.createSecret({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/basic-auth',
        metadata: {
          name,
          labels: spec.labels,
          // Not in git: tell Argo CD not to count it as drift, nor prune it.
          annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' },
        },
        stringData: appSecretData(spec, password, kube.namespace),
      });
      created.push(name);
    } catch (e) {
      // Another run created it between our read and our write: theirs stands, as any existing Secret does.
      if (e instanceof KubeError && e.code === 409) {
        log.warn({ secret: name }, 'secret was created concurrently; keeping the existing one');
        continue;
      }
      throw e;
    }
  }
  return created;
}

export async function secretsCommand(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const namespace = requireEnv(ENV.namespace, env);
  const specs = jsonEnv<SecretSpec[]>(ENV.secrets, env);
  if (!Array.isArray(specs) || specs.some(s => !Array.isArray(s?.names) || !s.username || !s.host)) {
    throw new AgentError(
      `environment variable ${ENV.secrets} does not describe Secrets`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  const kube = await connectKube(namespace);
  let createdCount = 0;
  for (const spec of specs) {
    try {
      const created = await ensureSecrets(kube, spec);
      createdCount += created.length;
      log.info({ secrets: spec.names, created, user: spec.username }, created.length ? 'created missing secrets' : 'secrets already present');
    } catch (e) {
      if (e instanceof KubeError) {
        const fix =
          e.code === 403
            ? 'Check that the Role <cluster>-secrets from the manifests is applied and bound to this Job.'
            : 'Check the API server and retry; the Job retries on its own.';
        throw new AgentError(e.message, fix, { secrets: spec.names });
      }
      throw e;
    }
  }
  const tls = readTlsSpec(env);
  if (tls) {
    // The instances wait for the server certificate; with mode "generated" it is made here first.
    const written = await ensureTlsSecrets(kube, tls, { cluster: requireEnv(ENV.cluster, env), namespace, instances: 0 });
    log.info({ mode: tls.mode, written }, written.length ? 'TLS Secrets written' : 'TLS Secrets already present');
  }
  log.info({ created: createdCount, specs: specs.length }, 'secrets ensured');
  return 0;
}
