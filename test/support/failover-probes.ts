/**
 * Probes for the failover tests: a writer that records which rows PostgreSQL acknowledged, a watch that checks
 * continuously which instances accept writes (never two at once), and a view of the primary Lease in the API double.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClientConfig } from 'pg';
import { Chart, Size, Testing } from 'cdk8s';
import { PostgresCluster, PostgresClusterProps } from '../../lib';
import { names } from '../../lib/contract';
import { ClusterHarness, query, sleep } from './cluster-harness';
import { KubeObject } from './manifests';

/** A 2-instance cluster synthesized by the test with the construct (variants the homelab in dist/ does not render). */
export function synthCluster(name: string, props: Partial<PostgresClusterProps>): KubeObject[] {
  const chart = new Chart(Testing.app(), name, { namespace: 'databases' });
  new PostgresCluster(chart, name, {
    name,
    instances: 2,
    databases: [{ name: 'app', owner: 'app' }],
    storage: { size: Size.gibibytes(1) },
    ...props,
  });
  return Testing.synth(chart) as KubeObject[];
}

/** The store credentials dist/shared-apps' pods reference: the failover tests archive nothing, but the Secret must exist. */
export const SHARED_PG_SECRETS = { 'rook-ceph-object-user-rgw-bulk-cnpg-backup-shared': { AccessKey: 'unused-here', SecretKey: 'unused-here' } };

/**
 * Seeds the user's Secrets, runs the secrets Job, starts instance 0 and then 1 (each with `env(ordinal)` on top of
 * the manifest's) until both are ready. Returns the superuser's password.
 */
export async function startCluster(
  h: ClusterHarness,
  opts: { secrets?: Record<string, Record<string, string>>; env?: (ordinal: number) => Record<string, string> } = {},
): Promise<string> {
  await h.start();
  for (const [name, data] of Object.entries(opts.secrets ?? {})) h.seedSecret(name, data);
  const secrets = await h.runSecretsJob();
  if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.join('\n')}`);
  for (const ordinal of [0, 1]) {
    h.startInstance(ordinal, opts.env?.(ordinal) ?? {});
    await h.waitReady(ordinal, 120000);
  }
  return h.secretData(`${h.cluster}-superuser`)!.password;
}

/**
 * Inserts rows into `table (id bigint primary key)` through `conn` (the -rw Service) as fast as it can. Only rows
 * whose INSERT returned are acknowledged; a statement that does not answer within `timeoutMs` is given up (its row
 * is not counted: the client never saw the commit).
 */
export function writer(conn: () => ClientConfig, table = 'events', timeoutMs = 3000) {
  const acknowledged: number[] = [];
  /** When each acknowledged INSERT returned (ms), for the write gaps. */
  const ackedAt: number[] = [];
  let failures = 0;
  let stop = false;
  let next = Date.now() * 1000;
  const done = (async () => {
    while (!stop) {
      const id = next++;
      try {
        await query({ ...conn(), connectionTimeoutMillis: 1000, query_timeout: timeoutMs }, `INSERT INTO ${table} (id) VALUES ($1)`, [id]);
        acknowledged.push(id);
        ackedAt.push(Date.now());
      } catch {
        failures++;
        await sleep(100);
      }
    }
  })();
  return {
    acknowledged,
    ackedAt,
    get failures() {
      return failures;
    },
    stop: async () => {
      stop = true;
      await done;
    },
    /** The longest time without an acknowledged write (ms). */
    longestGapMs: () => ackedAt.reduce((max, t, i) => (i ? Math.max(max, t - ackedAt[i - 1]) : max), 0),
  };
}

/** Rows of `acknowledged` that are missing from the table on `conn`. */
export async function lostRows(conn: ClientConfig, acknowledged: number[], table = 'events'): Promise<number[]> {
  const present = new Set((await query(conn, `SELECT id::text FROM ${table}`)).map(r => Number(r.id)));
  return acknowledged.filter(id => !present.has(id));
}

/**
 * Every `intervalMs`, tries a write (a temp table) on each instance directly, as an app connected to it would:
 * `samples` records which ordinals accepted it. Two at once would be a split brain.
 */
export function watchWritable(h: ClusterHarness, superuserPassword: string, database: string, intervalMs = 200) {
  const samples: Array<{ at: number; pods: number[] }> = [];
  let watching = true;
  const done = (async () => {
    while (watching) {
      const at = Date.now();
      const pods = (
        await Promise.all(
          h.pods.map(async p => {
            try {
              await query(
                { ...h.direct(p.ordinal, 'postgres', superuserPassword, database), connectionTimeoutMillis: 500, query_timeout: 1000 },
                // synchronous_commit=local: a primary whose commits wait for a replica still accepts writes.
                'SET synchronous_commit = local; CREATE TEMP TABLE probe (x int); INSERT INTO probe VALUES (1)',
              );
              return p.ordinal;
            } catch {
              return -1;
            }
          }),
        )
      ).filter(o => o >= 0);
      samples.push({ at, pods });
      await sleep(intervalMs);
    }
  })();
  return {
    samples,
    /** Samples where more than one instance accepted writes. */
    splitBrain: () => samples.filter(s => s.pods.length > 1),
    stop: async () => {
      watching = false;
      await done;
    },
  };
}

/** The primary Lease as stored in the API double. */
export function leaseOf(h: ClusterHarness): {
  holder?: string;
  transitions: number;
  renewTime?: string;
  acquireTime?: string;
  resourceVersion?: string;
  annotations: Record<string, string>;
} {
  const l = h.api.get('leases', h.namespace, names.lease(h.cluster)) as any;
  return {
    holder: l?.spec?.holderIdentity,
    transitions: l?.spec?.leaseTransitions ?? 0,
    renewTime: l?.spec?.renewTime,
    acquireTime: l?.spec?.acquireTime,
    resourceVersion: l?.metadata?.resourceVersion,
    annotations: l?.metadata?.annotations ?? {},
  };
}

/**
 * What each pod says, for a failure message: readiness, the agent's last lines, postgres's last lines. The current
 * agent process's whole output is written to a file in the OS temp dir, named in the message.
 */
export async function diagnose(h: ClusterHarness): Promise<string> {
  const parts: string[] = [];
  for (const p of h.pods) {
    const lines = p.process?.lines ?? [];
    const file = path.join(os.tmpdir(), `pgc-diagnose-${p.name}-${Date.now()}.log`);
    fs.writeFileSync(file, lines.join('\n'));
    parts.push(
      `--- ${p.name} (label ${h.podLabels(p.name)['postgres.cdk8s.io/role']}) readyz: ${JSON.stringify(await h.httpGet(p.ordinal, '/readyz'))}, full log: ${file}`,
      ...lines.filter(l => !l.includes('"source":"postgres"')).slice(-30),
      '  postgres:',
      ...lines.filter(l => l.includes('"source":"postgres"')).slice(-10),
    );
  }
  return parts.join('\n');
}

/** The agent's log line when a primary fences itself. */
export const FENCED = /^primary lease not renewed in time: fencing/;

/** The agent's log line when a replica has taken the lease and promotes itself (failover or switchover). */
export const PROMOTING = /holds the primary lease; promoting/;

/** Log entries of one agent whose message matches. */
export function logsMatching(h: ClusterHarness, ordinal: number, re: RegExp): any[] {
  return (h.pods[ordinal].process?.logs() ?? []).filter(l => re.test(l.msg ?? ''));
}
