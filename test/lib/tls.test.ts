/**
 * The `tls` prop (issue 15): what each mode renders (TLS env of the instances and the secrets Job, RBAC, the CA for
 * the backup Jobs and the canary, a cert-manager Certificate), and wrong values refused at synth with the prop and
 * the fix. No certificate or key is ever in the manifests.
 */
import { Chart, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster } from '../../lib';
import { CA_MOUNT, TLS_ENV, TlsSpec } from '../../lib/contract';
import { baseProps, byKind, envOf, synthCluster } from './helpers';

const tlsOf = (objects: any[]): TlsSpec => JSON.parse(envOf(byKind(objects, 'StatefulSet').spec.template.spec.containers[0])[TLS_ENV]);

describe('tls', () => {
  test('by default: generated in-cluster (secrets Job and instances get the same spec), no certificate in the manifests', () => {
    const { objects } = synthCluster({ name: 'pg', instances: 2 });
    const spec = tlsOf(objects);
    expect(spec).toMatchObject({
      mode: 'generated',
      serverSecret: 'pg-server',
      caSecret: 'pg-ca',
      generate: { caKeySecret: 'pg-ca-key', clusterDomain: 'cluster.local', extraSans: [], serverCertificateDays: 90 },
    });
    expect(JSON.parse(envOf(byKind(objects, 'Job', 'pg-secrets').spec.template.spec.containers[0])[TLS_ENV])).toEqual(spec);
    const yaml = JSON.stringify(objects);
    expect(yaml).not.toMatch(/BEGIN (CERTIFICATE|PRIVATE KEY)/);
    expect(objects.filter(o => o.kind === 'Certificate')).toEqual([]);
  });

  test('backup Jobs verify the instances against <cluster>-ca (libpq and node)', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
    const store = new BackupStore(chart, 'store', { endpoint: 'http://rgw:80', bucket: 'backup-pg', credentials: { secretName: 's3' } });
    new PostgresCluster(chart, 'cluster', { ...baseProps, name: 'pg2', backup: { store, schedule: '0 0 * * *' } });
    const withBackup = Testing.synth(chart);
    const cron = byKind(withBackup, 'CronJob', 'pg2-backup');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(envOf(pod.containers[0])).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: CA_MOUNT.file });
    expect(pod.volumes).toContainEqual({ name: CA_MOUNT.volumeName, secret: { secretName: 'pg2-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: CA_MOUNT.volumeName, mountPath: CA_MOUNT.mountPath, readOnly: true });
  });

  test("mode secret: the user's Secret, read and never renewed by the agent", () => {
    const { objects } = synthCluster({ name: 'pg', tls: { mode: 'secret', secretName: 'my-pg-tls' } });
    expect(tlsOf(objects)).toEqual({ mode: 'secret', serverSecret: 'my-pg-tls', caSecret: 'pg-ca' });
    const rules = byKind(objects, 'Role', 'pg').rules.filter((r: any) => r.verbs.includes('update') && r.resources.includes('secrets'));
    expect(rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['update'], resourceNames: ['pg-ca'] }]);
  });

  test('mode certManager: a Certificate for the Services and pods, renewed by cert-manager at 2/3 of its life', () => {
    const { objects } = synthCluster({
      name: 'pg',
      tls: { mode: 'certManager', issuerRef: { name: 'homelab-ca', kind: 'ClusterIssuer' }, extraSans: ['pg.example.org'] },
    });
    const cert = byKind(objects, 'Certificate', 'pg-server');
    expect(cert.apiVersion).toBe('cert-manager.io/v1');
    expect(cert.spec).toMatchObject({
      secretName: 'pg-server',
      duration: '2160h',
      renewBefore: '720h',
      issuerRef: { name: 'homelab-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    });
    expect(cert.spec.dnsNames).toEqual(
      expect.arrayContaining(['pg-rw', 'pg-rw.ns.svc.cluster.local', 'pg-ro', 'pg-r', 'pg-0', 'pg-0.pg-pods.ns.svc.cluster.local', 'pg.example.org']),
    );
    expect(tlsOf(objects)).toEqual({ mode: 'certManager', serverSecret: 'pg-server', caSecret: 'pg-ca' });
  });

  test.each([
    [{ mode: 'self-signed' }, /^tls\.mode: "self-signed" is not a TLS mode\. Use one of generated, secret, certManager/],
    [{ mode: 'secret' }, /^tls\.secretName: is missing for mode "secret"\. Name the Secret with tls\.crt, tls\.key and ca\.crt/],
    [{ secretName: 'x' }, /^tls\.secretName: is set with mode "generated"\. Leave it out/],
    [{ mode: 'secret', secretName: 'Bad_Name' }, /^tls\.secretName: /],
    [{ mode: 'certManager' }, /^tls\.issuerRef: is missing for mode "certManager"\. Give the Issuer or ClusterIssuer/],
    [{ mode: 'certManager', issuerRef: { name: 'ca', kind: 'Authority' } }, /^tls\.issuerRef\.kind: "Authority" is not Issuer or ClusterIssuer/],
    [{ issuerRef: { name: 'ca' } }, /^tls\.issuerRef: is set with mode "generated"\. Use mode "certManager"/],
    [{ serverCertificateDays: 1 }, /^tls\.serverCertificateDays: 1 is not a whole number of days from 2 to 397\. Use e\.g\. 90/],
    [{ serverCertificateDays: 30.5 }, /^tls\.serverCertificateDays: 30\.5 is not a whole number/],
    [{ mode: 'secret', secretName: 'x', serverCertificateDays: 30 }, /^tls\.serverCertificateDays: is set with mode "secret"/],
    [{ extraSans: ['ok.example.org', 'Not A Name'] }, /^tls\.extraSans\[1\]: "Not A Name" is not a DNS name or IP address/],
    [{ mode: 'secret', secretName: 'x', extraSans: ['a.b'] }, /^tls\.extraSans: is set with mode "secret"/],
  ])('refused at synth: %j', (tls, message) => {
    expect(() => synthCluster({ tls: tls as any })).toThrow(message);
  });
});
