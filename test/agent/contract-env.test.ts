/**
 * The agent reads the environment the synthesized manifests write, and fails closed on a variable they always
 * write: no silent default (it could differ from what the constructs chose), one error naming the variable and
 * saying the manifest is out of date. The environments are the containers' own, taken from dist/.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  BACKUP_DEFAULTS,
  BACKUP_ENV,
  CLUSTER_CONFIG,
  DEFAULT_FAILOVER_MAX_LAG_BYTES,
  ENV,
  LEASE,
  SHUTDOWN_ENV,
  shutdownTimeoutSeconds,
} from '../../lib/contract';
import { readBackupConfig } from '../../agent/src/basebackup/config';
import { AgentError } from '../../agent/src/common/errors';
import { readInstanceConfig } from '../../agent/src/instance/config';
import { readStoreConfig } from '../../agent/src/store/config';
import { writeConfigMapVolume } from '../support/config-map-volume';
import { findObject, loadDist, podSpecOf } from '../support/manifests';

const objects = loadDist('keycloak.k8s.yaml');
const CLUSTER = 'keycloak-pg-cluster';

/** A container's env as the kubelet resolves it: values as written, downward API and Secret refs filled in. */
function resolvedEnv(container: any, podName: string, configDir?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = 'testsetup';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = 'from-a-secret';
  }
  if (configDir) env[ENV.configDir] = configDir;
  return env;
}

function instanceEnv(): NodeJS.ProcessEnv {
  const sts = findObject(objects, 'StatefulSet', CLUSTER);
  const configMap = findObject(objects, 'ConfigMap', `${CLUSTER}-config`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-contract-env-'));
  writeConfigMapVolume(dir, configMap.data);
  expect(resolvedEnv(sts.spec.template.spec.containers[0], `${CLUSTER}-0`)[ENV.configDir]).toBe(CLUSTER_CONFIG.mountPath);
  return resolvedEnv(sts.spec.template.spec.containers[0], `${CLUSTER}-0`, dir);
}

function backupJobEnv(): NodeJS.ProcessEnv {
  const cron = findObject(objects, 'CronJob', `${CLUSTER}-backup`);
  return resolvedEnv(podSpecOf(cron).containers[0], `${CLUSTER}-backup-1`);
}

/** The error `read` throws, which must be an AgentError. */
function errorOf(read: () => unknown): AgentError {
  try {
    read();
  } catch (e) {
    expect(e).toBeInstanceOf(AgentError);
    return e as AgentError;
  }
  throw new Error('no error thrown');
}

const without = (env: NodeJS.ProcessEnv, name: string) => Object.fromEntries(Object.entries(env).filter(([k]) => k !== name));

describe("the instance reads its manifest's environment", () => {
  test('the rendered defaults arrive as the contract spells them', () => {
    const cfg = readInstanceConfig(instanceEnv());
    expect(cfg.leaseDurationSeconds).toBe(LEASE.defaultDurationSeconds);
    expect(cfg.failoverMaxLagBytes).toBe(DEFAULT_FAILOVER_MAX_LAG_BYTES);
    expect(cfg.shutdownTimeoutSeconds).toBe(shutdownTimeoutSeconds(60));
    expect(cfg.archiving).toMatchObject({ ...BACKUP_DEFAULTS, prefix: '' });
  });

  const alwaysWritten = [
    SHUTDOWN_ENV,
    ENV.leaseDuration,
    ENV.failoverMaxLagBytes,
    BACKUP_ENV.compression,
    BACKUP_ENV.walCompression,
    BACKUP_ENV.walMaxParallel,
    BACKUP_ENV.forcePathStyle,
    BACKUP_ENV.prefix,
  ];
  test.each(alwaysWritten)('without %s it refuses to start, naming it and the out-of-date manifest', name => {
    const env = instanceEnv();
    expect(env[name]).toBeDefined();
    const e = errorOf(() => readInstanceConfig(without(env, name)));
    expect(e.message).toBe(`environment variable ${name} is missing`);
    expect(e.fix).toMatch(/manifest is out of date/);
    expect(e.fields).toEqual({ variable: name });
  });

  test.each([
    [ENV.leaseDuration, String(LEASE.minDurationSeconds - 1), /not a whole number in 5\.\.300/],
    [ENV.failoverMaxLagBytes, '-1', /not a whole number of at least 0/],
    [BACKUP_ENV.walMaxParallel, '33', /not a whole number in 1\.\.32/],
    [BACKUP_ENV.walCompression, 'bzip2', /not a compression/],
    [BACKUP_ENV.forcePathStyle, 'yes', /not true or false/],
    [ENV.synchronous, '{"number":1,"dataDurability":"always"}', /dataDurability: required \| preferred/],
  ])('%s=%s is refused: %s', (name, value, why) => {
    const e = errorOf(() => readInstanceConfig({ ...instanceEnv(), [name]: value }));
    expect(e.message).toContain(name);
    expect(e.message).toMatch(why);
  });
});

describe("the backup Job reads its manifest's environment once", () => {
  test('store, source and retention are resolved before the backup starts', () => {
    const cfg = readBackupConfig(backupJobEnv());
    expect(cfg.fromStandby).toBe(false);
    expect(cfg.retention).toEqual({ recoveryWindow: '14d', monthly: 6, yearly: 2 });
    expect(cfg.store).toEqual(readStoreConfig(backupJobEnv()));
  });

  test('a missing from-standby flag or a policy that keeps nothing fails the start', () => {
    const missing = errorOf(() => readBackupConfig(without(backupJobEnv(), BACKUP_ENV.fromStandby)));
    expect(missing.message).toBe(`environment variable ${BACKUP_ENV.fromStandby} is missing`);
    const keepsNothing = errorOf(() => readBackupConfig({ ...backupJobEnv(), [BACKUP_ENV.retention]: '{"daily":0}' }));
    expect(keepsNothing.message).toMatch(/^retention policy: PGC_RETENTION: keeps nothing/);
  });
});
