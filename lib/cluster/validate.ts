import { isAgentOwned, AGENT_OWNED_PARAMETERS, LABEL_PREFIX, NAME_SUFFIX_BUDGET, reservedRoleReason } from '../contract';
import { PriorityClass } from '../scheduling/priority-class';
import { ValidationError, checkDnsLabel, checkLabels } from '../validation';
import { PostgresClusterProps } from './props';
import { validateResources } from '../pod/resources';
import { validateStorage } from './volumes';
import { DATA_DURABILITIES, LEASE, SHUTDOWN } from '../contract/defaults';
import { checkParameterName } from './parameter-names';
import { validateTlsProps } from '../tls/cluster-tls';

/** Longest cluster name: CronJob names must stay within 52 characters with `-backup-initial` and the like added. */
export const MAX_CLUSTER_NAME = 52 - NAME_SUFFIX_BUDGET;
const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
/** Majors the image workflow builds (.github/workflows/agent-image.yml). */
const SUPPORTED_VERSIONS = [15, 16, 17];

/** Checks the props of a PostgresCluster; throws a ValidationError naming the prop and the fix. */
export function validateClusterProps(props: PostgresClusterProps): void {
  if (typeof props.name !== 'string') throw new ValidationError('name', 'is missing', 'Give the cluster a name such as "keycloak-pg-cluster".');
  checkDnsLabel('name', props.name, MAX_CLUSTER_NAME);

  const instances = props.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1) {
    throw new ValidationError('instances', `${instances} is not a whole number of at least 1`, 'Use 1 for a single primary, 2 or more for replicas.');
  }
  if (instances > 9)
    throw new ValidationError('instances', `${instances} is more than 9`, 'Use at most 9 instances (one primary and eight replicas).');

  const version = props.postgresVersion ?? 15;
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new ValidationError('postgresVersion', `${version} is not a supported major`, `Use one of ${SUPPORTED_VERSIONS.join(', ')}.`);
  }
  if (props.image !== undefined && !/^[^\s]+(:[\w.-]+|@sha256:[a-f0-9]{64})$/.test(props.image)) {
    throw new ValidationError('image', `"${props.image}" has no tag or digest`, 'Pin the image, e.g. "ghcr.io/cdk8s-postgres/agent:15".');
  }

  validateDatabases(props);
  validateTlsProps(props.tls);
  validateStorage(props.storage);
  if (props.hibernate !== undefined && typeof props.hibernate !== 'boolean')
    throw new ValidationError(
      'hibernate',
      `${JSON.stringify(props.hibernate)} is not true or false`,
      'Set hibernate: true to stop the pods (volumes kept), false or nothing to run them.',
    );
  validateResources('resources', props.resources);
  validateParameters(props.parameters, version);
  if (props.labels) {
    checkLabels('labels', props.labels);
    checkOwnLabels('labels', Object.keys(props.labels));
  }

  if (props.priorityClass !== undefined && !(props.priorityClass instanceof PriorityClass)) {
    if (typeof props.priorityClass !== 'string' || props.priorityClass === '') {
      throw new ValidationError('priorityClass', 'is empty', 'Pass a PriorityClass construct or the name of an existing class.');
    }
    checkDnsLabel('priorityClass', props.priorityClass, 253);
  }
  if (props.antiAffinity !== undefined && !['preferred', 'required', 'none'].includes(props.antiAffinity)) {
    throw new ValidationError('antiAffinity', `"${props.antiAffinity}" is not known`, 'Use "preferred", "required" or "none".');
  }
  if (props.superuserSecret !== undefined) checkDnsLabel('superuserSecret', props.superuserSecret, 253);
  if (props.clusterDomain !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(props.clusterDomain)) {
    throw new ValidationError(
      'clusterDomain',
      `"${props.clusterDomain}" is not a DNS domain`,
      'Use the cluster domain your kubelets use, usually "cluster.local".',
    );
  }
  const lease = props.failover?.leaseDurationSeconds;
  if (lease !== undefined && (!Number.isInteger(lease) || lease < LEASE.minDurationSeconds || lease > LEASE.maxDurationSeconds)) {
    throw new ValidationError(
      'failover.leaseDurationSeconds',
      `${lease} is outside ${LEASE.minDurationSeconds}..${LEASE.maxDurationSeconds}`,
      'Use about 15 seconds: shorter fails over on API hiccups, longer leaves the cluster without a primary longer.',
    );
  }
  const maxLag = props.failover?.maxLagBytes;
  if (maxLag !== undefined && (!Number.isInteger(maxLag) || maxLag < 0)) {
    throw new ValidationError(
      'failover.maxLagBytes',
      `${maxLag} is not a number of bytes`,
      'Give a whole number of bytes, e.g. 16777216 (one WAL segment).',
    );
  }
  if (props.synchronous) {
    const n = props.synchronous.number;
    if (!Number.isInteger(n) || n < 1 || n > instances - 1) {
      throw new ValidationError(
        'synchronous.number',
        `${n} is not between 1 and the number of replicas (${instances - 1})`,
        'Wait for at most instances - 1 replicas, e.g. 1 with instances: 2.',
      );
    }
    if (props.synchronous.dataDurability !== undefined && !DATA_DURABILITIES.includes(props.synchronous.dataDurability)) {
      throw new ValidationError(
        'synchronous.dataDurability',
        `"${props.synchronous.dataDurability}" is not known`,
        `Use ${DATA_DURABILITIES.map(d => `"${d}"`).join(' or ')}.`,
      );
    }
  }
  const grace = props.terminationGracePeriodSeconds;
  if (grace !== undefined && (!Number.isInteger(grace) || grace < SHUTDOWN.minGracePeriodSeconds)) {
    throw new ValidationError(
      'terminationGracePeriodSeconds',
      `${grace} is below ${SHUTDOWN.minGracePeriodSeconds} seconds`,
      `Give PostgreSQL at least ${SHUTDOWN.minGracePeriodSeconds} seconds to checkpoint and stop.`,
    );
  }
}

function validateDatabases(props: PostgresClusterProps): void {
  const dbs = props.databases ?? [{ name: 'app', owner: 'app' }];
  if (dbs.length === 0)
    throw new ValidationError('databases', 'is empty', 'Declare at least one database, or leave the prop out for the default "app".');
  const seen = new Set<string>();
  dbs.forEach((db, i) => {
    const prop = `databases[${i}]`;
    if (!db.name || !IDENTIFIER.test(db.name)) {
      throw new ValidationError(
        `${prop}.name`,
        `"${db.name ?? ''}" is not a valid database name`,
        'Use lowercase letters, digits and "_", starting with a letter, at most 63 characters.',
      );
    }
    if (['postgres', 'template0', 'template1'].includes(db.name)) {
      throw new ValidationError(`${prop}.name`, `"${db.name}" is a system database`, 'Choose an application name such as "keycloak".');
    }
    if (db.owner === undefined || db.owner === '') {
      throw new ValidationError(
        `${prop}.owner`,
        `is missing for database "${db.name}"`,
        `Name the role that owns it, e.g. { name: "${db.name}", owner: "${db.name}" }.`,
      );
    }
    if (!IDENTIFIER.test(db.owner)) {
      throw new ValidationError(
        `${prop}.owner`,
        `"${db.owner}" is not a valid role name`,
        'Use lowercase letters, digits and "_", starting with a letter.',
      );
    }
    const reserved = reservedRoleReason(db.owner);
    if (reserved) {
      throw new ValidationError(
        `${prop}.owner`,
        `"${db.owner}" is reserved for the agent or PostgreSQL (${reserved})`,
        `Use an application role such as the database name, e.g. { name: "${db.name}", owner: "${db.name}" }.`,
      );
    }
    if (seen.has(db.name)) throw new ValidationError(`${prop}.name`, `"${db.name}" is declared twice`, 'Declare each database once.');
    seen.add(db.name);
    // `<cluster>-<db>-app` stays far below 253 characters: both parts are length-checked above.
    if (db.existingSecret !== undefined) checkDnsLabel(`${prop}.existingSecret`, db.existingSecret, 253);
  });
}

function validateParameters(parameters: Record<string, string> | undefined, major: number): void {
  for (const [key, value] of Object.entries(parameters ?? {})) {
    if (isAgentOwned(key)) {
      throw new ValidationError(
        `parameters.${key}`,
        `is owned by the agent (${AGENT_OWNED_PARAMETERS[key.toLowerCase()]})`,
        'Remove it from parameters.',
      );
    }
    if (!/^[a-z_][a-z0-9_.]*$/.test(key))
      throw new ValidationError(`parameters.${key}`, 'is not a PostgreSQL parameter name', 'Use lowercase names such as "shared_buffers".');
    checkParameterName(key, major);
    if (typeof value !== 'string') {
      throw new ValidationError(
        `parameters.${key}`,
        `has a ${typeof value} value`,
        `Write the value as a string, e.g. "${String(value)}", as postgresql.conf does.`,
      );
    }
    if (/[\n\r\0]/.test(value)) throw new ValidationError(`parameters.${key}`, 'contains a line break', 'Give a single-line value.');
  }
}

/** Label keys under our own prefix are set by the constructs and the agent only. */
export function checkOwnLabels(prop: string, keys: string[]): void {
  for (const key of keys) {
    if (key.startsWith(LABEL_PREFIX)) {
      throw new ValidationError(
        `${prop}["${key}"]`,
        `is under ${LABEL_PREFIX}, which cdk8s-postgres owns (the Services and network policies select on these labels, the agent sets the role label)`,
        'Use a key under your own prefix, e.g. "homelab/part-of".',
      );
    }
  }
}
