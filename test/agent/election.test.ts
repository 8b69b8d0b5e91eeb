/**
 * The Lease rules of agent/src/instance/election.ts on their own, against a minimal in-memory Lease store with the
 * API's optimistic concurrency (409 on a stale resourceVersion) and a configurable answer delay. Short leases
 * (0.3 s, so the fence deadline is 200 ms) keep it fast; the e2e tests run the same rules with the real agent.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { Election } from '../../agent/src/instance/election';
import { KubeClient, KubeError } from '../../agent/src/k8s/client';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

function leaseStore() {
  let stored: V1Lease | undefined;
  let version = 0;
  const store = {
    delayMs: 0,
    get: () => stored,
    client: {
      namespace: 'ns',
      getLease: async () => {
        await sleep(store.delayMs);
        return stored && JSON.parse(JSON.stringify(stored));
      },
      createLease: async (l: V1Lease) => {
        await sleep(store.delayMs);
        if (stored) throw new KubeError(409, 'already exists');
        stored = { ...l, metadata: { ...l.metadata, resourceVersion: String(++version) } };
        return JSON.parse(JSON.stringify(stored));
      },
      replaceLease: async (l: V1Lease) => {
        await sleep(store.delayMs);
        if (l.metadata?.resourceVersion !== stored?.metadata?.resourceVersion) throw new KubeError(409, 'conflict');
        stored = { ...l, metadata: { ...l.metadata, resourceVersion: String(++version) } };
        return JSON.parse(JSON.stringify(stored));
      },
      microTime: (d: Date) => d,
    } as unknown as KubeClient,
  };
  return store;
}

describe('Election', () => {
  test('one of two racing candidates wins (409 for the other)', async () => {
    const s = leaseStore();
    const a = new Election(s.client, 'pg-primary', 'pg-0', 0.3);
    const b = new Election(s.client, 'pg-primary', 'pg-1', 0.3);
    await a.observe();
    await b.observe();
    const won = await Promise.all([a.acquire(), b.acquire()]);
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(s.get()?.spec?.holderIdentity).toBe(won[0] ? 'pg-0' : 'pg-1');
  });

  test('the fence deadline counts from when the renewal was sent, not from a slow answer', async () => {
    const s = leaseStore();
    const e = new Election(s.client, 'pg-primary', 'pg-0', 0.3);
    await e.observe();
    s.delayMs = 150;
    expect(await e.acquire()).toBe(true);
    // The answer took 150 ms; an observer may have seen the new version that long ago already.
    expect(e.msSinceRenewal()).toBeGreaterThanOrEqual(140);
    expect(e.mustFence()).toBe(false);
    await sleep(80);
    expect(e.mustFence()).toBe(true);
  });

  test('an observer judges expiry by how long it has seen the lease unchanged, on its own clock', async () => {
    const s = leaseStore();
    const holder = new Election(s.client, 'pg-primary', 'pg-0', 0.3);
    const replica = new Election(s.client, 'pg-primary', 'pg-1', 0.3);
    await holder.observe();
    // The holder writes renewTime with a clock 10 s behind: the observer never reads it.
    s.client.microTime = (d: Date) => new Date(d.getTime() - 10000);
    expect(await holder.acquire()).toBe(true);
    await replica.observe();
    expect(replica.expired()).toBe(false);
    for (let i = 0; i < 4; i++) {
      await sleep(100);
      expect(await holder.renew()).toBe(true);
      await replica.observe();
      expect(replica.expired()).toBe(false);
    }
    await sleep(320);
    await replica.observe();
    expect(replica.expired()).toBe(true);
  });
});
