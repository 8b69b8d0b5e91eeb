/**
 * Least privilege for the restore drill: the RestoreDrill of dist/keycloak has its own S3 credentials Secret, and
 * with a real read-only RGW user there (a subuser with `--access=read`, which cannot put) the drill restores the
 * newest backup, replays the archive and passes; the store holds exactly the same objects before and after.
 */
import { ClusterHarness, query } from '../support/cluster-harness';
import { createBucket, createReadOnlySubuser, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { storeEnvRewrite } from '../support/backup';
import { listPrefix, putObject } from '../../agent/src/s3/objects';

jest.setTimeout(240000);

const CLUSTER = 'keycloak-pg-cluster';
const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak';
const DRILL_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-restore-drill';

describe('the restore drill with a read-only S3 user (dist/keycloak, Ceph RGW)', () => {
  const h = new ClusterHarness('keycloak.k8s.yaml', CLUSTER);
  const bucket = uniqueBucketName('drill-ro');
  const USERS = 40;

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    h.startInstance(0);
    await h.waitReady(0, 90000);
    const rw = h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
    await query(rw, 'CREATE TABLE user_entity (id int PRIMARY KEY, username text)');
    await query(rw, `INSERT INTO user_entity SELECT g, 'user' || g FROM generate_series(1, ${USERS / 2}) g`);
    expect(await (await h.runJob(`${CLUSTER}-backup-initial`)).exited).toBe(0);
    await query(rw, `INSERT INTO user_entity SELECT g, 'user' || g FROM generate_series(${USERS / 2 + 1}, ${USERS}) g`);
    // A clean stop archives the last segment: the archive then ends where the cluster did, and nothing writes to
    // the store while the drill runs.
    const instance = h.pods[0].process!;
    instance.kill('SIGTERM');
    expect(await instance.exited).toBe(0);
  });
  afterAll(() => h.stop());

  test('the read-only user cannot write; the drill passes with it and leaves the store as it was', async () => {
    const ro = await createReadOnlySubuser('restore-drill');
    const s3ro = await s3For(bucket, ro);
    try {
      await expect(putObject(s3ro, 'probe', Buffer.from('x'))).rejects.toThrow(/AccessDenied|Access Denied/);
      const objects = async () => (await listPrefix(s3ro, '')).map(o => `${o.key} ${o.size}`).sort();
      const before = await objects();
      expect(before.some(k => k.includes('/base/'))).toBe(true);
      expect(before.some(k => k.includes('/wals/'))).toBe(true);

      h.seedSecret(DRILL_SECRET, { AccessKey: ro.accessKeyId, SecretKey: ro.secretAccessKey });
      const p = await h.runJob(`${CLUSTER}-restore-drill`);
      const code = await p.exited;
      const reportLine = p.lines.find(l => l.startsWith('{"ok"'));
      expect({
        code,
        errors: p
          .logs()
          .filter(l => l.level === 'error')
          .map(l => l.msg),
      }).toEqual({ code: 0, errors: [] });
      expect(JSON.parse(reportLine!)).toMatchObject({
        ok: true,
        replay: { mode: 'latest' },
        tables: [{ database: 'keycloak', table: 'user_entity', rows: USERS, ok: true }],
      });
      expect(await objects()).toEqual(before);
    } finally {
      s3ro.destroy();
    }
  });
});
