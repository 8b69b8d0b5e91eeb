/**
 * Managed roles, per-database extensions and schemas, and extra pg_hba rules: the props, their validation at synth,
 * and what they render into the cluster's ConfigMap (lib/contract/managed.ts) for the agents to reconcile
 * (agent/src/instance/managed-objects.ts).
 */
import * as net from 'node:net';
import {
  GRANTABLE_PREDEFINED_ROLES,
  ManagedObjectsSpec,
  ManagedRoleSpec,
  REFUSED_PREDEFINED_ROLES,
  REPLICATION_USER,
  SUPERUSER,
  SecretSpec,
  names,
  reservedRoleReason,
} from '../contract';
import { ValidationError, checkDnsLabel } from '../validation';

/** A role the primary's agent creates, alters and (when declared `absent`) drops. */
export interface RoleProps {
  /** Role name: lowercase letters, digits and `_`, starting with a letter. Not a database owner, not `pg_*`, not the agent's. */
  readonly name: string;
  /**
   * `absent` drops the role, but only when it owns nothing and holds no privileges in any database (the agent
   * refuses, naming the databases, rather than running DROP OWNED or REASSIGN OWNED for you).
   * @default 'present'
   */
  readonly ensure?: 'present' | 'absent';
  /**
   * May log in. A login role gets a password (from `passwordSecret` or generated) and a CloudNativePG-format Secret.
   * @default true
   */
  readonly login?: boolean;
  /**
   * Roles it is a member of (and inherits the privileges of): predefined roles such as `pg_read_all_data`,
   * `pg_write_all_data`, `pg_monitor`, a database owner, or another role declared here. Memberships not listed are
   * revoked.
   * @default []
   */
  readonly inRoles?: string[];
  /**
   * Concurrent connections allowed; -1 for no limit.
   * @default -1
   */
  readonly connectionLimit?: number;
  /**
   * When the password stops working: an ISO 8601 time with a zone, a Date, or `infinity`.
   * @default 'infinity'
   */
  readonly validUntil?: string | Date;
  /**
   * Databases of this cluster it may connect to (every database is closed to everyone but its owner); the first
   * is the `dbname` of its Secret.
   * @default - the cluster's first database
   */
  readonly databases?: string[];
  /**
   * A Secret you manage with the password under `password`; followed like the app Secrets (rotation without a
   * restart).
   * @default - generated into the Secret `<cluster>-<name>-role` (`_` becomes `-`) by the secrets Job
   */
  readonly passwordSecret?: string;
}

/** An extension created in a database (when the image has it). Never dropped: removing it from the list leaves it. */
export interface ExtensionProps {
  /** Extension name, as in `CREATE EXTENSION`, e.g. `postgis`, `vector`, `pg_trgm`, `uuid-ossp`. */
  readonly name: string;
  /**
   * Version to install or update to.
   * @default - the image's default version (an installed extension is left at its version)
   */
  readonly version?: string;
  /**
   * Schema for its objects.
   * @default - the extension's own choice (usually `public`)
   */
  readonly schema?: string;
}

/** A schema created in a database. Never dropped. */
export interface SchemaProps {
  /** Schema name: lowercase letters, digits and `_`, starting with a letter; not `public`, `pg_*` or `information_schema`. */
  readonly name: string;
  /**
   * Owner: the database's owner or a role declared in `roles`.
   * @default - the database's owner
   */
  readonly owner?: string;
}

/** One extra pg_hba.conf rule for a special case. Placed after the agent's own rules, before the final catch-all. */
export interface PgHbaRuleProps {
  /**
   * Connection type; only `hostssl` (a plaintext connection is never accepted).
   * @default 'hostssl'
   */
  readonly type?: 'hostssl';
  /**
   * `all` or database names of this cluster (`replication` is the agents').
   * @default 'all'
   */
  readonly databases?: string[] | 'all';
  /**
   * `all`, role names, or `+role` for the members of a role (not the agent's `postgres` and `streaming_replica`).
   * @default 'all'
   */
  readonly users?: string[] | 'all';
  /** Client addresses as a CIDR, e.g. `10.42.0.0/16` or `fd00::/8`. */
  readonly address: string;
  /** `scram-sha-256` (a password), `cert` (a client certificate) or `reject`. */
  readonly method: 'scram-sha-256' | 'cert' | 'reject';
}

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const EXTENSION_NAME = /^[a-z0-9_][a-z0-9_-]{0,62}$/;
const EXTENSION_VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const PG_HBA_METHODS = ['scram-sha-256', 'cert', 'reject'] as const;
/** Why a pg_hba method is refused (the rest are not PostgreSQL methods for TCP at all). */
const REFUSED_METHODS: Record<string, string> = {
  trust: 'trust lets anyone in without a password',
  password: 'password sends the password in clear text to the server',
  md5: 'md5 is a weak hash PostgreSQL deprecates; the roles have SCRAM verifiers',
  peer: 'peer works only for local socket connections',
  ident: 'ident trusts an ident server on the client host',
};
const AGENT_ROLES = [SUPERUSER, REPLICATION_USER];

/** What a cluster's managed objects need from the rest of its props. */
export interface ManagedContext {
  readonly cluster: string;
  readonly postgresVersion: number;
  /** The cluster's databases (name, owner), in order. */
  readonly databases: ReadonlyArray<{ name: string; owner: string; extensions?: ExtensionProps[]; schemas?: SchemaProps[] }>;
  /** For the generated Secrets: host, port, cluster domain, labels. */
  readonly secretBase: Omit<SecretSpec, 'names' | 'username' | 'dbname'>;
}

export interface ResolvedManagedObjects {
  /** The ConfigMap's JSON, or undefined when nothing is declared (the ConfigMap stays as it was). */
  readonly spec?: ManagedObjectsSpec;
  /** The Secrets the secrets Job generates for login roles without `passwordSecret`. */
  readonly generated: SecretSpec[];
  /** Every Secret the instances read for the roles (generated or the user's). */
  readonly secretNames: string[];
}

/** Checks `roles`, `pgHba` and each database's `extensions`/`schemas`, and renders them; throws a ValidationError. */
export function resolveManagedObjects(
  ctx: ManagedContext,
  roles: RoleProps[] | undefined,
  pgHba: PgHbaRuleProps[] | undefined,
): ResolvedManagedObjects {
  const roleSpecs = validateRoles(ctx, roles ?? []);
  const dbObjects = ctx.databases.map((db, i) => validateDatabaseObjects(`databases[${i}]`, db, roleSpecs));
  const hba = (pgHba ?? []).map((rule, i) => renderHbaRule(`pgHba[${i}]`, rule, ctx));
  const generated = roleSpecs.flatMap(r => (r.generated ? [r.generated] : []));
  const secretNames = roleSpecs.flatMap(r => (r.passwordSecret ? [r.passwordSecret] : []));
  const databases = dbObjects.filter(d => d.schemas.length || d.extensions.length);
  const spec = roleSpecs.length || databases.length || hba.length ? { roles: roleSpecs, databases, pgHba: hba } : undefined;
  return { spec, generated, secretNames };
}

function validateRoles(ctx: ManagedContext, roles: RoleProps[]): ManagedRoleSpec[] {
  const owners = new Map(ctx.databases.map(d => [d.owner, d.name]));
  const declared = new Map<string, number>();
  roles.forEach((r, i) => {
    const prop = `roles[${i}].name`;
    if (typeof r.name !== 'string' || !IDENTIFIER.test(r.name)) {
      throw new ValidationError(
        prop,
        `"${r.name ?? ''}" is not a valid role name`,
        'Use lowercase letters, digits and "_", starting with a letter, e.g. "reporting".',
      );
    }
    const reserved = reservedRoleReason(r.name);
    if (reserved)
      throw new ValidationError(prop, `"${r.name}" is reserved for the agent or PostgreSQL (${reserved})`, 'Choose another name, e.g. "reporting".');
    if (owners.has(r.name)) {
      throw new ValidationError(
        prop,
        `"${r.name}" owns database "${owners.get(r.name)}", which makes it the database's role (managed through databases, with its app Secret)`,
        'Choose another name; to give the owner more, grant it in SQL, or make the new role a member of it with inRoles.',
      );
    }
    if (declared.has(r.name))
      throw new ValidationError(prop, `"${r.name}" is declared twice (roles[${declared.get(r.name)}])`, 'Declare each role once.');
    declared.set(r.name, i);
    if (r.ensure !== undefined && r.ensure !== 'present' && r.ensure !== 'absent') {
      throw new ValidationError(
        `roles[${i}].ensure`,
        `"${r.ensure}" is not known`,
        'Use "present" (created and kept as declared) or "absent" (dropped).',
      );
    }
  });
  const present = new Set(roles.filter(r => r.ensure !== 'absent').map(r => r.name));
  const absent = new Set(roles.filter(r => r.ensure === 'absent').map(r => r.name));
  const dbNames = ctx.databases.map(d => d.name);
  return roles.map((r, i) => {
    const at = (field: string) => `roles[${i}].${field}`;
    const ensure = r.ensure ?? 'present';
    const login = r.login ?? true;
    if (typeof login !== 'boolean')
      throw new ValidationError(at('login'), `${JSON.stringify(r.login)} is not true or false`, 'Use true for a user, false for a group role.');
    const inRoles = r.inRoles ?? [];
    if (!Array.isArray(inRoles)) throw new ValidationError(at('inRoles'), 'is not a list', 'Give a list of role names, e.g. ["pg_read_all_data"].');
    inRoles.forEach((m, j) => {
      const p = `${at('inRoles')}[${j}]`;
      if (m === r.name) throw new ValidationError(p, `"${m}" is the role itself`, 'Remove it: a role cannot be a member of itself.');
      if (Object.prototype.hasOwnProperty.call(REFUSED_PREDEFINED_ROLES, m)) {
        throw new ValidationError(
          p,
          `"${m}" is refused: ${REFUSED_PREDEFINED_ROLES[m]}`,
          'Use a narrower role such as "pg_read_all_data" or "pg_monitor".',
        );
      }
      const since = Object.prototype.hasOwnProperty.call(GRANTABLE_PREDEFINED_ROLES, m) ? GRANTABLE_PREDEFINED_ROLES[m] : undefined;
      if (since !== undefined) {
        if (since > ctx.postgresVersion) {
          throw new ValidationError(
            p,
            `"${m}" exists from PostgreSQL ${since} on, this cluster runs ${ctx.postgresVersion}`,
            'Remove it or raise postgresVersion.',
          );
        }
        return;
      }
      if (owners.has(m) || present.has(m)) return;
      const hint = absent.has(m) ? ` ("${m}" is declared absent)` : '';
      const known = Object.keys(GRANTABLE_PREDEFINED_ROLES).filter(
        k => GRANTABLE_PREDEFINED_ROLES[k] <= ctx.postgresVersion && !(k in REFUSED_PREDEFINED_ROLES),
      );
      throw new ValidationError(
        p,
        `"${m}" is not a role this cluster knows${hint}`,
        `Use a predefined role (${known.join(', ')}), a database owner (${[...owners.keys()].join(', ')}) or a role declared present in roles.`,
      );
    });
    const limit = r.connectionLimit ?? -1;
    if (!Number.isInteger(limit) || limit < -1) {
      throw new ValidationError(
        at('connectionLimit'),
        `${String(r.connectionLimit)} is not a whole number of at least -1`,
        'Give the number of connections allowed, or -1 (the default) for no limit.',
      );
    }
    const validUntil = normalizeValidUntil(at('validUntil'), r.validUntil);
    const databases = r.databases ?? [dbNames[0]];
    if (!Array.isArray(databases))
      throw new ValidationError(at('databases'), 'is not a list', `Give database names of this cluster, e.g. ["${dbNames[0]}"].`);
    databases.forEach((d, j) => {
      if (!dbNames.includes(d)) {
        throw new ValidationError(
          `${at('databases')}[${j}]`,
          `"${d}" is not a database of this cluster`,
          `Use one of ${dbNames.join(', ')}, or declare it in databases.`,
        );
      }
    });
    if (r.passwordSecret !== undefined) {
      if (!login)
        throw new ValidationError(
          at('passwordSecret'),
          'is set for a role that cannot log in (login: false)',
          'Remove passwordSecret, or set login: true.',
        );
      checkDnsLabel(at('passwordSecret'), r.passwordSecret, 253);
    }
    const spec: ManagedRoleSpec = {
      name: r.name,
      ensure,
      login,
      inRoles: [...inRoles],
      connectionLimit: limit,
      validUntil,
      databases: [...databases],
    };
    if (ensure === 'absent' || !login) return spec;
    if (r.passwordSecret) return { ...spec, passwordSecret: r.passwordSecret };
    const secret = names.roleSecret(ctx.cluster, r.name);
    return {
      ...spec,
      passwordSecret: secret,
      generated: { ...ctx.secretBase, names: [secret], username: r.name, dbname: databases[0] ?? dbNames[0] },
    };
  });
}

function normalizeValidUntil(prop: string, value: string | Date | undefined): string {
  if (value === undefined || value === 'infinity') return 'infinity';
  const fix = 'Give an ISO 8601 time with a zone such as "2027-01-31T00:00:00Z", a Date, or "infinity".';
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ValidationError(prop, 'is an invalid Date', fix);
    return value.toISOString();
  }
  if (
    typeof value !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value) ||
    Number.isNaN(Date.parse(value))
  ) {
    throw new ValidationError(prop, `"${String(value)}" is not a time`, fix);
  }
  // A date alone would be read in the server's time zone: make it UTC midnight, explicitly.
  return new Date(value.length === 10 ? `${value}T00:00:00Z` : value).toISOString();
}

function validateDatabaseObjects(
  prop: string,
  db: ManagedContext['databases'][number],
  roles: ManagedRoleSpec[],
): { name: string; schemas: Array<{ name: string; owner: string }>; extensions: Array<{ name: string; version?: string; schema?: string }> } {
  const owners = new Set([db.owner, ...roles.filter(r => r.ensure === 'present').map(r => r.name)]);
  const schemas = (db.schemas ?? []).map((s, i) => {
    const at = `${prop}.schemas[${i}]`;
    if (typeof s.name !== 'string' || !IDENTIFIER.test(s.name)) {
      throw new ValidationError(
        `${at}.name`,
        `"${s.name ?? ''}" is not a valid schema name`,
        'Use lowercase letters, digits and "_", starting with a letter.',
      );
    }
    if (s.name === 'public' || s.name === 'information_schema' || s.name.startsWith('pg_')) {
      throw new ValidationError(
        `${at}.name`,
        `"${s.name}" is a schema PostgreSQL makes or reserves`,
        'Choose an application schema name such as "reporting".',
      );
    }
    if ((db.schemas ?? []).findIndex(x => x.name === s.name) !== i)
      throw new ValidationError(`${at}.name`, `"${s.name}" is declared twice`, 'Declare each schema once.');
    const owner = s.owner ?? db.owner;
    if (!owners.has(owner)) {
      throw new ValidationError(
        `${at}.owner`,
        `"${owner}" is neither the owner of database "${db.name}" nor a role declared present in roles`,
        `Use "${db.owner}" or declare the role in roles.`,
      );
    }
    return { name: s.name, owner };
  });
  const extensions = (db.extensions ?? []).map((e, i) => {
    const at = `${prop}.extensions[${i}]`;
    if (typeof e.name !== 'string' || !EXTENSION_NAME.test(e.name)) {
      throw new ValidationError(
        `${at}.name`,
        `"${e.name ?? ''}" is not an extension name`,
        'Use the name CREATE EXTENSION takes, e.g. "postgis", "vector" or "pg_trgm".',
      );
    }
    if ((db.extensions ?? []).findIndex(x => x.name === e.name) !== i)
      throw new ValidationError(`${at}.name`, `"${e.name}" is declared twice`, 'Declare each extension once per database.');
    if (e.version !== undefined && (typeof e.version !== 'string' || !EXTENSION_VERSION.test(e.version))) {
      throw new ValidationError(
        `${at}.version`,
        `"${String(e.version)}" is not an extension version`,
        'Give a version as the extension names it, e.g. "3.4.2", or leave it out for the default.',
      );
    }
    if (e.schema !== undefined && (typeof e.schema !== 'string' || !IDENTIFIER.test(e.schema))) {
      throw new ValidationError(
        `${at}.schema`,
        `"${String(e.schema)}" is not a valid schema name`,
        'Use lowercase letters, digits and "_", e.g. "public" or a schema declared in schemas.',
      );
    }
    return { name: e.name, ...(e.version ? { version: e.version } : {}), ...(e.schema ? { schema: e.schema } : {}) };
  });
  return { name: db.name, schemas, extensions };
}

/** One rule as a pg_hba.conf line; throws a ValidationError naming the field. */
export function renderHbaRule(prop: string, rule: PgHbaRuleProps, ctx: Pick<ManagedContext, 'databases'>): string {
  const type = rule.type ?? 'hostssl';
  if (type !== 'hostssl') {
    throw new ValidationError(
      `${prop}.type`,
      `"${String(type)}" is refused: only hostssl rules are accepted (a plaintext or local connection must never be let in by an extra rule)`,
      'Use type: "hostssl" (the default).',
    );
  }
  const method = String(rule.method);
  if (!(PG_HBA_METHODS as readonly string[]).includes(method)) {
    const why = REFUSED_METHODS[method] ?? 'it is not a method accepted here';
    throw new ValidationError(`${prop}.method`, `"${method}" is refused: ${why}`, `Use one of ${PG_HBA_METHODS.join(', ')}.`);
  }
  const address = checkCidr(`${prop}.address`, rule.address);
  const dbNames = ctx.databases.map(d => d.name);
  const databases = listField(`${prop}.databases`, rule.databases, (d, p) => {
    if (d === 'replication')
      throw new ValidationError(p, '"replication" is refused: replication connections are the agents\' own', 'Name application databases, or "all".');
    if (d !== 'postgres' && !dbNames.includes(d))
      throw new ValidationError(p, `"${d}" is not a database of this cluster`, `Use one of ${dbNames.join(', ')}, or "all".`);
  });
  const users = listField(`${prop}.users`, rule.users, (u, p) => {
    const name = u.startsWith('+') ? u.slice(1) : u;
    if (!IDENTIFIER.test(name)) throw new ValidationError(p, `"${u}" is not a role name`, 'Use role names, "+role" for its members, or "all".');
    if (AGENT_ROLES.includes(name)) {
      throw new ValidationError(
        p,
        `"${u}" is refused: the agents log in as ${name} and their own rules decide how`,
        "Leave the agent's roles out of pgHba rules.",
      );
    }
  });
  return ['hostssl', databases, users, address, method].join(' ');
}

function listField(prop: string, value: string[] | 'all' | undefined, check: (item: string, prop: string) => void): string {
  if (value === undefined || value === 'all') return 'all';
  if (!Array.isArray(value) || value.length === 0)
    throw new ValidationError(prop, 'is neither "all" nor a non-empty list', 'Give "all" or a list of names.');
  value.forEach((v, i) => {
    if (typeof v !== 'string' || v === 'all')
      throw new ValidationError(`${prop}[${i}]`, `${JSON.stringify(v)} is not a name`, 'Give "all" alone (not in a list), or names.');
    check(v, `${prop}[${i}]`);
  });
  return value.join(',');
}

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) with a prefix that fits the address family; host bits must be zero. */
export function checkCidr(prop: string, value: unknown): string {
  const fix = 'Give a network in CIDR notation, e.g. "10.42.0.0/16" or "fd00::/8" (a single host: "10.0.0.7/32").';
  if (typeof value !== 'string') throw new ValidationError(prop, 'is missing', fix);
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(value);
  const family = m ? net.isIP(m[1]) : 0;
  if (!m || family === 0) throw new ValidationError(prop, `"${value}" is not an address in CIDR notation`, fix);
  const bits = Number(m[2]);
  const max = family === 4 ? 32 : 128;
  if (bits > max) throw new ValidationError(prop, `"${value}" has a prefix longer than ${max} bits`, fix);
  if (!hostBitsZero(m[1], family, bits)) {
    throw new ValidationError(
      prop,
      `"${value}" has bits set after the /${bits} prefix (PostgreSQL would match a different network than it reads)`,
      `Write the network address, e.g. "${networkAddress(m[1], family, bits)}/${bits}".`,
    );
  }
  return value;
}

function addressBytes(addr: string, family: number): number[] {
  if (family === 4) return addr.split('.').map(Number);
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const part = (s: string | undefined) => (s ? s.split(':') : []);
  const expand = (groups: string[]) =>
    groups.flatMap(g => {
      if (g.includes('.')) return addressBytes(g, 4);
      const n = parseInt(g, 16);
      return [n >> 8, n & 255];
    });
  const h = expand(part(head));
  const t = expand(part(tail));
  return [...h, ...new Array(16 - h.length - t.length).fill(0), ...t];
}

function hostBitsZero(addr: string, family: number, bits: number): boolean {
  return addressBytes(addr, family).every((b, i) => (b & ~prefixMask(bits, i)) === 0);
}

function prefixMask(bits: number, byteIndex: number): number {
  const left = bits - byteIndex * 8;
  if (left >= 8) return 255;
  if (left <= 0) return 0;
  return (0xff << (8 - left)) & 0xff;
}

function networkAddress(addr: string, family: number, bits: number): string {
  const bytes = addressBytes(addr, family).map((b, i) => b & prefixMask(bits, i));
  if (family === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(':');
}
