/**
 * Issue 13 (password rotation) and issue 15 (no secret in PostgreSQL's environment), on a 2-instance cluster with a
 * BackupStore synthesized by the construct, run as processes with the manifests' exact command and env:
 * - no password is an environment variable of the pod, and neither passwords nor S3 keys are in the environment of
 *   postgres or its children (`COPY … FROM PROGRAM 'env'`, /proc/self/environ of a backend on both instances);
 *   restore_command still reaches the store (its keys come from a 0600 file);
 * - rotating the app, replication and superuser passwords in their Secrets reaches the roles without a restart:
 *   a real client connects with the new password, the old one is refused, the replica keeps streaming (and
 *   reconnects with the new replication password), the agents stay ready, and a failover's rewind works with the
 *   new superuser password;
 * - a deleted generated Secret is recreated with a new password that the role gets; a pod started while one is
 *   missing does not get stuck.
 * Figures (seconds from the Secret's change to the first successful login) are printed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClientConfig } from 'pg';
import { CREDENTIALS_POLL_SECONDS, LABELS, appSecretData } from '../../lib/contract';
import { eventually, query, sleep } from '../support/cluster-harness';
import { removeScripts } from '../support/backup';
import { Drill, ackWriter, idsOn, missing, podGone, say, synthBackedUp } from '../support/safety-drills';

jest.setTimeout(900000);

const NAME = 'rotate';
/** The issue's bound for a rotation to reach the role. */
const ROTATION_BOUND_S = 90;

describe("password rotation without restarts; no secret in PostgreSQL's environment", () => {
  const d = new Drill(NAME, synthBackedUp(NAME));
  const h = d.h;
  const role = (i: number) => h.podLabels(`${NAME}-${i}`)[LABELS.role];
  const figures: string[] = [];
  beforeAll(() => d.start(2));
  afterAll(async () => {
    say(`[password-rotation] ${figures.join('; ')}`);
    await d.stop();
    removeScripts();
  });

  /** What `kubectl apply` of an edited Secret does: same name, new content. */
  const putSecret = (name: string, data: Record<string, string>) => h.seedSecret(name, data);
  /** An app Secret with a new password, every key consistent (what a user regenerating it writes). */
  const appData = (password: string) =>
    appSecretData({ username: 'app', dbname: 'app', host: `${NAME}-rw`, port: 5432, clusterDomain: 'cluster.local' }, password, h.namespace);
  const newPassword = (what: string) => `${what}-rotated-${Math.random().toString(36).slice(2, 12)}`;
  const direct = (ordinal: number, user: string, password: string, database = 'postgres'): ClientConfig => ({
    ...h.direct(ordinal, user, password, database),
    connectionTimeoutMillis: 2000,
  });

  /** Seconds until a login with `conn` succeeds. */
  async function secondsUntilLogin(conn: () => ClientConfig, since: number): Promise<number> {
    await eventually(() => query(conn(), 'SELECT 1'), (ROTATION_BOUND_S + 10) * 1000, 200);
    return (Date.now() - since) / 1000;
  }
  const refused = (conn: ClientConfig) => expect(query(conn, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  /** Ready as the kubelet sees it, on both pods. */
  const bothReady = () =>
    eventually(async () => {
      for (const i of [0, 1]) {
        const r = await h.httpGet(i, '/readyz');
        if (r.status !== 200) throw new Error(`pod ${i} not ready: ${r.status} ${r.body}`);
      }
    }, 5000);

  test("no password in the pod's environment; none and no S3 key in postgres' or its children's; restore_command still reaches the store", async () => {
    const container = h.statefulSet.spec.template.spec.containers[0];
    const fromSecrets = container.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name);
    // Only the S3 keys of the BackupStore (the agent's own uploads need them); no password at all.
    expect(fromSecrets.sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    expect(container.env.filter((e: any) => /PASSWORD/.test(e.name))).toEqual([]);

    const secrets = [
      d.su,
      h.secretData(`${NAME}-replication`)!.password,
      h.secretData(`${NAME}-app`)!.password,
      d.ep.accessKeyId,
      d.ep.secretAccessKey,
    ];
    await query(d.direct(0), 'CREATE TABLE IF NOT EXISTS env_dump (line text)');
    await query(d.direct(0), "COPY env_dump FROM PROGRAM 'env'");
    const childEnv = (await query(d.direct(0), 'SELECT line FROM env_dump')).map(r => r.line as string);
    // The postmaster's own environment (every backend, the archiver and restore_command are its children);
    // /proc/self/environ of a backend is overwritten by its process title.
    const postmasterEnv = async (i: number) =>
      (
        (
          await query(
            d.direct(i),
            "SELECT encode(pg_read_binary_file('/proc/' || split_part(pg_read_file('postmaster.pid'), E'\\n', 1) || '/environ'), 'escape') AS e",
          )
        )[0].e as string
      )
        .split('\\000')
        .join('\n');
    const environments = {
      'COPY FROM PROGRAM env on the primary': childEnv.join('\n'),
      "the primary's postmaster": await postmasterEnv(0),
      "the replica's postmaster": await postmasterEnv(1),
    };
    for (const [where, text] of Object.entries(environments)) {
      expect({ where, leaked: secrets.filter(s => text.includes(s)).length }).toEqual({ where, leaked: 0 });
      expect({ where, variables: text.split('\n').filter(l => /PASSWORD|SECRET_ACCESS|ACCESS_KEY/.test(l.split('=')[0])) }).toEqual({
        where,
        variables: [],
      });
      expect(text).toMatch(/^PGC_SECRET_FILE=/m);
    }
    const secretFile = childEnv.find(l => l.startsWith('PGC_SECRET_FILE='))!.split('=')[1];
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);

    // The replica's restore_command, run as PostgreSQL runs it (a child with the scrubbed environment), fetches an
    // archived segment: its S3 keys come from the file.
    const segment = await d.archiveNow(0);
    const [{ restore_command: restoreCommand }] = await query(d.direct(1), 'SHOW restore_command');
    const command = restoreCommand.replace('%f', segment).replace('%p', 'rotation-fetched-segment');
    // On the replica (read-only): COPY TO PROGRAM, the result written to a file read back with pg_read_file.
    await query(
      d.direct(1),
      `COPY (SELECT 1) TO PROGRAM ${quoteLiteral(`${command} >/dev/null 2>&1; echo "exit=$?" > rotation-fetch.out; stat -c %s rotation-fetched-segment >> rotation-fetch.out`)}`,
    );
    const out = ((await query(d.direct(1), "SELECT pg_read_file('rotation-fetch.out') AS t"))[0].t as string).trim().split('\n');
    expect(out).toEqual(['exit=0', String(16 * 1024 * 1024)]);
    for (const f of ['rotation-fetched-segment', 'rotation-fetch.out']) fs.rmSync(path.join(h.pods[1].dataDir, 'pgdata', f), { force: true });
    await query(d.direct(0), 'DROP TABLE env_dump');
    figures.push(
      `environments checked: ${Object.keys(environments).length}, leaked secrets: 0; restore_command from a scrubbed environment: ${out[0]}`,
    );
  });

  test('app password: the new one logs in through -rw within the bound, the old one is refused, no restart', async () => {
    const old = h.secretData(`${NAME}-app`)!.password;
    const pw = newPassword('app');
    const pids = await postmasterPids();
    const t0 = Date.now();
    putSecret(`${NAME}-app-app`, appData(pw));
    putSecret(`${NAME}-app`, appData(pw));
    const s = await secondsUntilLogin(() => h.connectionFromUri(h.secretData(`${NAME}-app`)!.uri), t0);
    figures.push(`app password: ${s.toFixed(1)} s to the first login with the new one`);
    expect(s).toBeLessThan(ROTATION_BOUND_S);
    await refused({ ...d.rw(), password: old });
    // The replica has the role's new verifier too (replicated), and the old one is refused there as well.
    await eventually(() => query(direct(1, 'app', pw, 'app'), 'SELECT 1'), 10000);
    await refused(direct(1, 'app', old, 'app'));
    expect(await postmasterPids()).toEqual(pids);
    await bothReady();
  });

  test('replication password: rotated on the primary, the replica reconnects with the new one and keeps streaming', async () => {
    const old = h.secretData(`${NAME}-replication`)!.password;
    const pw = newPassword('replication');
    const pids = await postmasterPids();
    const t0 = Date.now();
    putSecret(`${NAME}-replication`, { ...h.secretData(`${NAME}-replication`)!, password: pw });
    const s = await secondsUntilLogin(() => direct(0, 'streaming_replica', pw), t0);
    figures.push(`replication password: ${s.toFixed(1)} s`);
    expect(s).toBeLessThan(ROTATION_BOUND_S);
    await refused(direct(0, 'streaming_replica', old));
    // The replica's passfile has the new password (written on its own poll), then its next connection uses it:
    // break the stream and watch it come back.
    const passfile = path.join(h.pods[1].runDir, '.pgpass-replication');
    await eventually(
      async () => {
        if (!fs.readFileSync(passfile, 'utf8').includes(pw)) throw new Error('passfile not rewritten yet');
      },
      (CREDENTIALS_POLL_SECONDS + 5) * 1000,
    );
    const cut = Date.now();
    await query(d.direct(0), "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'rotate-1'");
    await eventually(
      async () => {
        const r = await query(
          d.direct(0),
          "SELECT state FROM pg_stat_replication WHERE application_name = 'rotate-1' AND backend_start > now() - interval '1 minute'",
        );
        if (r[0]?.state !== 'streaming') throw new Error(`replica not streaming again: ${JSON.stringify(r)}`);
      },
      60000,
      200,
    );
    figures.push(`replica streaming again ${((Date.now() - cut) / 1000).toFixed(1)} s after its connection was cut`);
    const [{ id }] = await query(
      d.rw(),
      'INSERT INTO events (id) VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint) RETURNING id::text',
    );
    await eventually(async () => {
      if (!(await idsOn(d.direct(1))).has(Number(id))) throw new Error('row not on the replica yet');
    }, 20000);
    expect(await postmasterPids()).toEqual(pids);
    await bothReady();
  });

  test('replication password, the other order: a replica holding a password the primary does not have (yet) retries, then streams', async () => {
    const pw = h.secretData(`${NAME}-replication`)!.password;
    // The primary's agent stalls (its postgres serves on), below its fence deadline (2/3 of the 15 s lease), and the
    // role gets another password by hand: the replica now holds a password the primary refuses, as when it read a
    // rotated Secret before the primary applied it. Its connection is cut, so it reconnects at once.
    const primaryAgent = h.pods[0].process!.child.pid!;
    const replica = h.pods[1].process!;
    const stalled = Date.now();
    process.kill(primaryAgent, 'SIGSTOP');
    let refusedLine;
    try {
      await query(d.direct(0), "ALTER ROLE streaming_replica PASSWORD 'changed-by-hand'");
      await query(d.direct(0), "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'rotate-1'");
      refusedLine = await replica.waitForLog(
        l => l.source === 'postgres' && /password authentication failed for user "streaming_replica"/.test(l.msg ?? ''),
        6500,
      );
    } finally {
      process.kill(primaryAgent, 'SIGCONT');
    }
    figures.push(`replica refused ${((Date.now() - stalled) / 1000).toFixed(1)} s into the primary's stall`);
    expect(refusedLine.msg).toMatch(/could not connect to the primary server/);
    // The primary puts the Secret's password back (its stored verifier does not match the Secret), the replica's
    // next try (PostgreSQL retries every 5 s) streams.
    await h.pods[0].process!.waitForLog(
      l => l.msg === "password rotated: the role has its Secret's password now" && l.role === 'streaming_replica' && Date.parse(l.time) > stalled,
      30000,
    );
    await eventually(
      async () => {
        const r = await query(d.direct(0), "SELECT state FROM pg_stat_replication WHERE application_name = 'rotate-1'");
        if (r[0]?.state !== 'streaming') throw new Error('not streaming yet');
      },
      30000,
      200,
    );
    figures.push(`streaming again ${((Date.now() - stalled) / 1000).toFixed(1)} s after the stall began`);
    expect(replica.child.exitCode).toBeNull();
    expect(replica.logs().filter(l => l.source !== 'postgres' && Date.parse(l.time) > stalled && /rewind|clon|rejoin/.test(l.msg ?? ''))).toEqual([]);
    await query(direct(0, 'streaming_replica', pw), 'SELECT 1');
    await bothReady();
  });

  test("superuser password: new login works, the old is refused, the agents keep working; a failover's rewind uses the new one", async () => {
    const old = d.su;
    const pw = newPassword('superuser');
    const pids = await postmasterPids();
    const t0 = Date.now();
    putSecret(`${NAME}-superuser`, { ...h.secretData(`${NAME}-superuser`)!, password: pw });
    const s = await secondsUntilLogin(() => direct(0, 'postgres', pw), t0);
    figures.push(`superuser password: ${s.toFixed(1)} s`);
    expect(s).toBeLessThan(ROTATION_BOUND_S);
    await refused(direct(0, 'postgres', old));
    d.su = pw;
    // The agents log in by peer on their own socket: still ready and reporting after another poll.
    await sleep((CREDENTIALS_POLL_SECONDS + 2) * 1000);
    await bothReady();
    expect(await postmasterPids()).toEqual(pids);
    expect((await h.httpGet(0, '/metrics')).body).toMatch(/pgc_up\{[^}]*\} 1/);

    // Failover, then the old primary rejoins with pg_rewind, which logs in to the new primary as the superuser.
    expect(role(0)).toBe('primary');
    const w = ackWriter(() => d.rw());
    await sleep(2000);
    await w.stop();
    await eventually(async () => {
      const n = (await idsOn(d.direct(1))).size;
      const all = (await idsOn(d.direct(0))).size;
      if (n < all) throw new Error(`replica has ${n} of ${all}`);
    }, 30000);
    h.pods[0].process!.killPod();
    await podGone(h.pods[0].process!);
    await eventually(
      async () => {
        if (role(1) !== 'primary') throw new Error('not promoted yet');
      },
      90000,
      250,
    );
    const w2 = ackWriter(() => d.rw());
    await sleep(2000);
    await w2.stop();
    const back = h.startInstance(0);
    await h.waitReady(0, 180000);
    expect(role(0)).toBe('replica');
    expect(back.logs().some(l => /^rewound the former primary/.test(l.msg ?? ''))).toBe(true);
    const lost = missing([...w.acknowledged, ...w2.acknowledged], await idsOn(d.rw()));
    figures.push(
      `rewind after the superuser rotation: rewound, rows acknowledged ${w.acknowledged.length + w2.acknowledged.length}, lost ${lost.length}`,
    );
    expect(lost).toEqual([]);
  });

  test('a deleted generated Secret is recreated with a new password that the role gets; a pod starting meanwhile is not stuck', async () => {
    const old = h.secretData(`${NAME}-app`)!.password;
    const t0 = Date.now();
    h.api.remove('secrets', h.namespace, `${NAME}-app-app`);
    h.api.remove('secrets', h.namespace, `${NAME}-app`);
    const recreated = await eventually(
      async () => {
        const a = h.secretData(`${NAME}-app-app`);
        const b = h.secretData(`${NAME}-app`);
        if (!a || !b) throw new Error('not recreated yet');
        return { a, b };
      },
      (CREDENTIALS_POLL_SECONDS + 10) * 1000,
      200,
    );
    expect(recreated.a.password).toBe(recreated.b.password);
    expect(recreated.a.password).not.toBe(old);
    expect(recreated.a.password).toMatch(/^[A-Za-z0-9]{48}$/);
    const s = await secondsUntilLogin(() => h.connectionFromUri(h.secretData(`${NAME}-app`)!.uri), t0);
    figures.push(`deleted app Secret: recreated and applied, first login after ${s.toFixed(1)} s`);
    expect(s).toBeLessThan(ROTATION_BOUND_S);
    await refused({ ...d.rw(), password: old });

    // The replica (pod 0 now) stops; its replication Secret is deleted; it starts again: no CreateContainerConfigError,
    // the Secret is recreated, the primary applies it, the replica clones nothing and streams again.
    const replica = h.pods[0].process!;
    replica.kill('SIGTERM');
    await replica.exited;
    const oldReplication = h.secretData(`${NAME}-replication`)!.password;
    h.api.remove('secrets', h.namespace, `${NAME}-replication`);
    const started = Date.now();
    const p = h.startInstance(0);
    await h.waitReady(0, 120000);
    const newReplication = h.secretData(`${NAME}-replication`)!.password;
    expect(newReplication).not.toBe(oldReplication);
    await eventually(() => query(direct(1, 'streaming_replica', newReplication), 'SELECT 1'), 30000);
    await refused(direct(1, 'streaming_replica', oldReplication));
    expect(p.logs().some(l => /clon/.test(l.msg ?? '') && !/^start plan/.test(l.msg ?? ''))).toBe(false);
    figures.push(`replica started without its replication Secret: ready and streaming after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  /** The postmaster PIDs of both instances (unchanged: nothing restarted). */
  async function postmasterPids(): Promise<string[]> {
    return Promise.all([0, 1].map(async i => fs.readFileSync(path.join(h.pods[i].dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]));
  }
});

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
