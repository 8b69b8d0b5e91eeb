/**
 * The instance's passwords, read from the cluster's Secrets through the Kubernetes API (never from environment
 * variables): at start, then every CREDENTIALS_POLL_SECONDS. A changed Secret is a rotation: the values here change,
 * the replication passfile is rewritten (a replica's next connection uses it), and the primary applies the new
 * password to its role (passwords.ts). A deleted Secret that the cluster generates is recreated with a new password,
 * by the same code as the secrets Job, by the primary (or by an instance that cannot start without it); a missing
 * Secret the user manages keeps the last known password (and at start makes the instance wait, alive and not ready,
 * saying which Secret to create). Polling `get` by name, not a watch: RBAC limits it to these Secrets, no
 * long-lived connection per Secret, and 10 s is well inside the 90 s a rotation may take.
 */
import { CREDENTIALS_POLL_SECONDS, DatabaseSpec, ENV, SecretSpec } from '../../../lib/contract';
import { jsonEnv, optionalEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { OnceEach, pollSerially } from '../common/poll';
import { KubeClient } from '../k8s/client';
import { ensureSecrets, passwordOf } from '../secrets/command';
import { waitNotReady } from './not-ready';

/** Where each password comes from (the manifest's Secret names). */
export interface CredentialSources {
  readonly superuserSecret: string;
  readonly replicationSecret: string;
  readonly databases: readonly DatabaseSpec[];
  /** The Secrets the cluster generates (the secrets Job's specs): only these are ever created by the agent. */
  readonly generated: readonly SecretSpec[];
}

export function readCredentialSources(databases: readonly DatabaseSpec[], env: NodeJS.ProcessEnv): CredentialSources {
  const generated = optionalEnv(ENV.secrets, env) ? jsonEnv<SecretSpec[]>(ENV.secrets, env) : [];
  if (!Array.isArray(generated) || generated.some(s => !Array.isArray(s?.names))) {
    throw new AgentError(
      `environment variable ${ENV.secrets} does not describe Secrets`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  return { superuserSecret: requireEnv(ENV.superuserSecret, env), replicationSecret: requireEnv(ENV.replicationSecret, env), databases, generated };
}

/** What one read of the Secrets found. */
export interface RefreshResult {
  /** Secrets whose password differs from the one known before (not on the first read). */
  changed: string[];
  /** Secrets created because they were missing (generated ones only). */
  created: string[];
  /** Secrets still missing or without a `password` key, with the reason. */
  missing: Array<{ secret: string; why: string; fix: string }>;
}

/** The current passwords; read them here, never keep a copy (a rotation replaces them). */
export class Credentials {
  private readonly passwords = new Map<string, string>();

  constructor(readonly sources: CredentialSources) {}

  get superuser(): string {
    return this.password(this.sources.superuserSecret);
  }

  get replication(): string {
    return this.password(this.sources.replicationSecret);
  }

  /** The password in the Secret of a database owner. */
  database(db: Pick<DatabaseSpec, 'secretName'>): string {
    return this.password(db.secretName);
  }

  /** Every Secret the instance reads, each once. */
  get secretNames(): string[] {
    return [...new Set([this.sources.superuserSecret, this.sources.replicationSecret, ...this.sources.databases.map(d => d.secretName)])];
  }

  /** Set a password directly (tests, and the first read). */
  set(secret: string, password: string): void {
    this.passwords.set(secret, password);
  }

  private password(secret: string): string {
    const p = this.passwords.get(secret);
    if (p === undefined)
      throw new AgentError(
        `the password in Secret ${secret} has not been read yet`,
        'Wait for the instance to read its Secrets (it says which one is missing).',
      );
    return p;
  }

  /**
   * Reads every credential Secret once; with `create`, creates the missing generated ones. Throws when the API
   * cannot be asked.
   */
  async refresh(kube: KubeClient, create = true): Promise<RefreshResult> {
    const result: RefreshResult = { changed: [], created: [], missing: [] };
    for (const name of this.secretNames) {
      let secret = await kube.getSecret(name);
      const spec = this.sources.generated.find(s => s.names.includes(name));
      if (!secret && spec && create) {
        const created = await ensureSecrets(kube, spec);
        if (created.length) {
          result.created.push(...created);
          log.warn(
            { secrets: created, user: spec.username },
            'a generated credential Secret was missing: created it with a new password (the primary applies it to the role)',
          );
        }
        secret = await kube.getSecret(name);
      }
      if (!secret) {
        result.missing.push({
          secret: name,
          why: `Secret ${name} does not exist`,
          fix: `Create Secret ${name} with the role's password under the key "password" (it is one you manage, so the agent does not generate it); the instance picks it up within ${CREDENTIALS_POLL_SECONDS} s, no restart.`,
        });
        continue;
      }
      let password: string;
      try {
        password = passwordOf(name, secret.data);
      } catch (e) {
        const err = e as AgentError;
        result.missing.push({ secret: name, why: err.message, fix: err.fix });
        continue;
      }
      const before = this.passwords.get(name);
      if (before !== undefined && before !== password) result.changed.push(name);
      this.passwords.set(name, password);
    }
    // The copies no password is read from (`<cluster>-app` beside `<cluster>-<db>-app`): recreated from their sibling.
    if (create) {
      for (const spec of this.sources.generated) {
        const copies = spec.names.filter(n => !this.secretNames.includes(n));
        if (!copies.length || (await Promise.all(copies.map(n => kube.getSecret(n)))).every(s => s)) continue;
        const created = await ensureSecrets(kube, spec);
        if (created.length)
          log.warn(
            { secrets: created, user: spec.username },
            "a generated credential Secret was missing: created it again with its role's current password",
          );
        result.created.push(...created);
      }
    }
    return result;
  }
}

/**
 * The first read, at start: every password must be known before anything runs. While a Secret is missing the
 * instance waits, alive and not ready (no CreateContainerConfigError, no restart loop), and says which Secret to
 * create; a missing generated Secret is created at once.
 */
export async function loadCredentials(
  kube: KubeClient,
  credentials: Credentials,
  pod: { cluster: string; podName: string; httpPort: number },
): Promise<void> {
  await waitNotReady(pod, async () => {
    try {
      const r = await credentials.refresh(kube);
      if (!r.missing.length) return undefined;
      return {
        why: `waiting for credentials: ${r.missing.map(m => m.why).join('; ')}`,
        fields: { fix: r.missing[0].fix, secrets: r.missing.map(m => m.secret) },
      };
    } catch (e) {
      return {
        why: `waiting for credentials: cannot read the Secrets: ${(e as Error).message}`,
        fields: { fix: "Check the Kubernetes API and that the Role of the manifests (get on the cluster's Secrets) is applied." },
      };
    }
  });
}

/**
 * Reads the Secrets every CREDENTIALS_POLL_SECONDS for as long as the agent runs, then calls `onRefresh` (the
 * instance rewrites the passfile and, as primary, applies changed passwords). Problems are logged once each.
 * Only while `canCreate()` are missing generated Secrets created: one instance (the primary), so that two instances
 * never generate two different passwords for the Secrets of one role at the same moment.
 */
export function pollCredentials(
  kube: KubeClient,
  credentials: Credentials,
  canCreate: () => boolean,
  onRefresh: (r: RefreshResult) => Promise<void>,
  intervalMs = CREDENTIALS_POLL_SECONDS * 1000,
): () => void {
  const once = new OnceEach();
  return pollSerially(intervalMs, async () => {
    try {
      const r = await credentials.refresh(kube, canCreate());
      const problem = r.missing.map(m => m.why).join('; ');
      once.say(problem, () =>
        log.error(
          { fix: r.missing[0].fix, secrets: r.missing.map(m => m.secret) },
          `credential Secret unusable, keeping the last known password: ${problem}`,
        ),
      );
      if (r.changed.length) log.info({ secrets: r.changed }, 'credential Secrets changed: rotating');
      await onRefresh(r);
    } catch (e) {
      const problem = `cannot read the credential Secrets: ${(e as Error).message}`;
      once.say(problem, () => log.warn({ fix: 'Check the Kubernetes API; the last known passwords stay in use.' }, problem));
    }
  });
}
