/**
 * The data volume's usage (issue 13): an instance of a synthesized cluster runs on a small filesystem of its own
 * (a 320 MiB tmpfs mounted as its volume, as a PVC would be), /metrics reports that filesystem, and filling it past
 * 80 % logs one warning with the fix, again only after it went below and filled up once more.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ClusterHarness, eventually, sleep } from '../support/cluster-harness';
import { synthCluster } from '../support/failover-probes';

jest.setTimeout(300000);

const CLUSTER = 'disk-pg';
const SIZE_MIB = 320;
const WARNING = /^the data volume is (\d+\.\d) % full \(above 80 %\)$/;
// Mounting a filesystem needs root, as the test suite runs (README: tests run PostgreSQL as `postgres` from root).
const asRoot = process.getuid?.() === 0;

(asRoot ? describe : describe.skip)('data volume usage on a 320 MiB volume', () => {
  const h = new ClusterHarness(synthCluster(CLUSTER, { instances: 1 }), CLUSTER);
  let mounted = '';
  const filler = () => path.join(h.pods[0].dataDir, 'filler');
  const warnings = () => (h.pods[0].process?.logs() ?? []).filter(l => WARNING.test(l.msg ?? ''));
  /** Writes a file on the volume (beside PGDATA) so that `ratio` of it is in use. */
  const fillTo = (ratio: number) => {
    const s = fs.statfsSync(h.pods[0].dataDir);
    const used = (s.blocks - s.bfree) * s.bsize;
    const need = Math.ceil(ratio * (used + s.bavail * s.bsize)) - used;
    fs.writeFileSync(filler(), Buffer.alloc(Math.max(0, need)));
  };

  beforeAll(async () => {
    await h.start();
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(secrets.lines.join('\n'));
    mounted = h.pods[0].dataDir;
    const owner = h.user ? `,uid=${h.user.uid},gid=${h.user.gid}` : '';
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MIB}m,mode=0750${owner}`, `pgc-${CLUSTER}`, mounted]);
    h.startInstance(0);
    await h.waitReady(0, 120000);
  });
  afterAll(async () => {
    await h.stop().catch(() => undefined);
    if (mounted) execFileSync('umount', ['-l', mounted]);
    fs.rmSync(mounted, { recursive: true, force: true });
  });

  test("/metrics reports the volume's size, used and available bytes", async () => {
    const metrics = await eventually(async () => {
      const body = (await h.httpGet(0, '/metrics')).body;
      if (!body.includes('pgc_volume_size_bytes')) throw new Error('no volume metrics yet');
      return body;
    }, 20000);
    const value = (name: string) => Number(new RegExp(`^${name}\\{cluster="${CLUSTER}",pod="${CLUSTER}-0"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    // eslint-disable-next-line no-console
    console.log(
      `[disk] ${SIZE_MIB} MiB volume: size ${value('pgc_volume_size_bytes')} B, used ${value('pgc_volume_used_bytes')} B, available ${value('pgc_volume_available_bytes')} B`,
    );
    expect(value('pgc_volume_size_bytes')).toBe(SIZE_MIB * 1024 * 1024);
    // initdb's files and the first WAL segments: more than 16 MiB in use, the rest available (tmpfs reserves nothing).
    expect(value('pgc_volume_used_bytes')).toBeGreaterThan(16 * 1024 * 1024);
    expect(value('pgc_volume_used_bytes') + value('pgc_volume_available_bytes')).toBe(SIZE_MIB * 1024 * 1024);
    expect(warnings()).toEqual([]);
  });

  test('above 80 %: one warning line with the fix, once per crossing', async () => {
    fillTo(0.85);
    const first = await eventually(async () => {
      const w = warnings();
      if (!w.length) throw new Error('no warning yet');
      return w[0];
    }, 20000);
    // eslint-disable-next-line no-console
    console.log(`[disk] warning: ${first.msg} (fix: ${first.fix})`);
    expect(first.level).toBe('warn');
    expect(Number(WARNING.exec(first.msg)![1])).toBeGreaterThan(80);
    expect(first.fix).toMatch(/^Raise storage\.size/);
    expect(first.sizeBytes).toBe(SIZE_MIB * 1024 * 1024);
    // Still full 12 s later (two more reads): no second line.
    await sleep(12000);
    expect(warnings()).toHaveLength(1);
    // Below again, then full again: a second line.
    fs.rmSync(filler());
    await sleep(7000);
    expect(warnings()).toHaveLength(1);
    fillTo(0.9);
    await eventually(async () => {
      if (warnings().length < 2) throw new Error('no second warning yet');
    }, 20000);
    expect(warnings()).toHaveLength(2);
    fs.rmSync(filler());
  });
});
