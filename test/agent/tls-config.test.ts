/**
 * What the instance writes for TLS (agent/src/instance/config-files.ts, tls.ts), without a server: pg_hba.conf has
 * only `hostssl` TCP rules (the local socket rules unchanged), postgresql.conf turns ssl on with the files in the
 * socket directory, and the replica's primary_conninfo verifies the primary, or falls back to `prefer` only while the
 * primary offers no TLS (the rollout from a version without TLS). Manifests without TLS keep the old rules.
 */
import { TlsSpec } from '../../lib/contract';
import { PG_HBA, agentParameters, pgHba } from '../../agent/src/instance/config-files';
import { InstanceConfig } from '../../agent/src/instance/config';
import { primaryTlsEnv } from '../../agent/src/instance/tls';

const tls: TlsSpec = { mode: 'secret', serverSecret: 'pg-tls', caSecret: 'pg-ca' };
const cfg = (over: Partial<InstanceConfig> = {}) =>
  ({
    cluster: 'pg',
    podName: 'pg-1',
    ordinal: 1,
    instances: 2,
    pgdata: '/nonexistent/pgdata',
    port: 5432,
    socketDir: '/run/postgresql',
    primary: { host: 'pg-rw', port: 5432 },
    parameters: {},
    ...over,
  }) as unknown as InstanceConfig;

describe('TLS in the configuration the instance writes', () => {
  test('pg_hba: every TCP rule hostssl, the socket rules as they were', () => {
    const hba = pgHba(cfg({ tls }));
    const rules = hba.split('\n').filter(l => l && !l.startsWith('#'));
    expect(rules.filter(l => /^host/.test(l)).map(l => l.split(/\s+/)[0])).toEqual(['hostssl', 'hostssl']);
    expect(rules.filter(l => l.startsWith('local'))).toEqual(PG_HBA.split('\n').filter(l => l.startsWith('local')));
    expect(pgHba(cfg())).toBe(PG_HBA);
  });

  test('postgresql.conf: ssl on, certificate and key in the socket directory', () => {
    expect(agentParameters(cfg({ tls }), 'primary')).toMatchObject({
      ssl: 'on',
      ssl_cert_file: '/run/postgresql/tls/server.crt',
      ssl_key_file: '/run/postgresql/tls/server.key',
    });
    expect(agentParameters(cfg(), 'primary').ssl).toBeUndefined();
  });

  test.each([
    ['TLS, primary offers it', { tls, replicationSslMode: 'verify-full' as const }, 'sslmode=verify-full sslrootcert=/run/postgresql/tls/ca.crt'],
    ['TLS, not probed yet: verify-full', { tls }, 'sslmode=verify-full sslrootcert=/run/postgresql/tls/ca.crt'],
    ['TLS, the old primary offers none (mid-rollout)', { tls, replicationSslMode: 'prefer' as const }, 'sslmode=prefer'],
    ['manifests without TLS', {}, 'sslmode=prefer'],
  ])('primary_conninfo of a replica: %s', (_why, over, expected) => {
    const conninfo = agentParameters(cfg(over), 'replica').primary_conninfo;
    expect(conninfo).toContain(expected);
    expect(conninfo.match(/sslmode=/g)).toHaveLength(1);
  });

  test('pg_basebackup and pg_rewind get the same as libpq variables', () => {
    expect(primaryTlsEnv(cfg({ tls }))).toEqual({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/run/postgresql/tls/ca.crt' });
    expect(primaryTlsEnv(cfg({ tls, replicationSslMode: 'prefer' }))).toEqual({ PGSSLMODE: 'prefer' });
  });
});
