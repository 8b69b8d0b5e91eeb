/**
 * Issue 12 item 5: `pg-agent verify --scratch DIR` must never delete what it did not make. README says verify may be
 * run in any pod; run in an instance pod of dist/keycloak (`kubectl exec … -- pg-agent verify --scratch …`, the
 * container's own environment) with the scratch on the data volume, it is refused with one line and the live
 * instance keeps serving every row. The RestoreDrill's pod refuses a non-empty scratch it did not make.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClusterHarness, query } from '../support/cluster-harness';
import { createBucket, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { listPrefix } from '../../agent/src/s3/objects';
import { storeEnvRewrite } from '../support/backup';
import { tempDir } from '../support/pod-runner';
import { PATHS } from '../../lib/contract';

jest.setTimeout(300000);

const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak';
const DRILL_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-restore-drill';

describe('verify never deletes a directory it did not make (dist/keycloak)', () => {
  const h = new ClusterHarness('keycloak.k8s.yaml', 'keycloak-pg-cluster');
  const ROWS = 250;
  const bucket = uniqueBucketName('scratch');

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    // The drill's own (read-only in the homelab) store user: here the same keys.
    h.seedSecret(DRILL_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    h.startInstance(0);
    await h.waitReady(0, 90000);
    const rw = h.connectionFromUri(h.secretData('keycloak-pg-cluster-app')!.uri);
    await query(rw, 'CREATE TABLE events (id int PRIMARY KEY, payload text)');
    await query(rw, `INSERT INTO events SELECT g, repeat('x', 100) FROM generate_series(1, ${ROWS}) g`);
  });
  afterAll(() => h.stop());

  /** The live instance still has its data directory and serves every row on a new connection (new backend). */
  async function liveDataIntact(): Promise<void> {
    expect(fs.existsSync(path.join(h.pods[0].dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
    expect(fs.existsSync(path.join(h.pods[0].dataDir, 'pgdata', 'global', 'pg_control'))).toBe(true);
    const rw = h.connectionFromUri(h.secretData('keycloak-pg-cluster-app')!.uri);
    expect((await query(rw, 'SELECT count(*)::int AS n FROM events'))[0].n).toBe(ROWS);
    expect((await h.httpGet(0, '/readyz')).status).toBe(200);
  }

  test.each([
    ["the data volume's mount (PGDATA is inside it)", PATHS.dataMount],
    ['PGDATA itself', PATHS.pgdata],
    ['a directory inside PGDATA', `${PATHS.pgdata}/base`],
    ['a new directory on the data volume', `${PATHS.dataMount}/verify-scratch`],
  ])('kubectl exec <instance pod> -- pg-agent verify --scratch <%s>: refused with one line, the live data intact', async (_what, scratch) => {
    const p = await h.execInPod(0, ['verify', '--scratch', scratch]);
    const code = await p.exited;
    const errors = p.logs().filter(l => l.level === 'error' || l.level === 'fatal');
    await liveDataIntact();
    expect(code).not.toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toMatch(/^verify refuses the scratch directory /);
    expect(errors[0].msg).toContain(
      scratch.startsWith(PATHS.dataMount) ? path.join(h.pods[0].dataDir, scratch.slice(PATHS.dataMount.length)).replace(/\/$/, '') : scratch,
    );
    expect(errors[0].fix).toMatch(/--scratch/);
    expect(errors[0].invariant).toBe('I2 verify before destroy');
    // Nothing made on the data volume either.
    expect(fs.existsSync(path.join(h.pods[0].dataDir, 'verify-scratch'))).toBe(false);
  });

  test('the RestoreDrill pod refuses a non-empty scratch that verify did not make, and deletes nothing', async () => {
    const scratch = tempDir('foreign-scratch', h.user);
    fs.mkdirSync(path.join(scratch, 'pgdata'));
    fs.writeFileSync(path.join(scratch, 'pgdata', 'someone-elses-file'), 'keep me');
    if (h.user)
      for (const f of [path.join(scratch, 'pgdata'), path.join(scratch, 'pgdata', 'someone-elses-file')]) fs.chownSync(f, h.user.uid, h.user.gid);
    const p = await h.runJob('keycloak-pg-cluster-restore-drill', undefined, { extraEnv: { PGC_VERIFY_SCRATCH: scratch } });
    const code = await p.exited;
    expect(fs.readFileSync(path.join(scratch, 'pgdata', 'someone-elses-file'), 'utf8')).toBe('keep me');
    expect(code).not.toBe(0);
    // Nothing was restored, so nothing is recorded about the backups (no restore-drill.json for the drill alert).
    const s3 = await s3For(bucket);
    expect((await listPrefix(s3, '').finally(() => s3.destroy())).filter(o => o.key.endsWith('restore-drill.json'))).toEqual([]);
    const errors = p.logs().filter(l => l.level === 'error' || l.level === 'fatal');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toMatch(
      new RegExp(`^verify refuses the scratch directory ${scratch}: it is not empty and has no .pg-agent-verify-scratch marker`),
    );
    fs.rmSync(scratch, { recursive: true, force: true });
  });
});
