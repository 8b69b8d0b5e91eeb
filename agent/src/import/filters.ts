/**
 * Pure rewrites of what the import reads from the source: the roles script of `pg_dumpall --roles-only` and the
 * table of contents of a dump (`pg_restore -l`), so that unit tests can pin them down.
 */
import { REPLICATION_USER, SUPERUSER } from '../../../lib/contract';

/**
 * Splits an SQL script into statements at `;` outside quotes and comments ('…' with '' and E'…' escapes, "…"
 * identifiers, -- comments); psql meta-command lines between statements are dropped. A comment text with a line
 * that looks like SQL stays inside its statement.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    // psql meta-commands (pg_dump's `\restrict <key>` / `\unrestrict <key>`) take the rest of their line.
    if (ch === '\\' && cur.trim() === '') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      cur += ' ';
      continue;
    }
    if (ch === "'" || ch === '"') {
      const escapes = ch === "'" && /[eE]$/.test(cur) && !/[A-Za-z0-9_][eE]$/.test(cur);
      let j = i + 1;
      for (; j < sql.length; j++) {
        if (escapes && sql[j] === '\\') {
          j++;
          continue;
        }
        if (sql[j] === ch) {
          if (sql[j + 1] === ch) {
            j++;
            continue;
          }
          break;
        }
      }
      cur += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      i++;
      continue;
    }
    cur += ch;
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const IDENT = String.raw`("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
const unquote = (id: string) => (id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id.toLowerCase());

/** Roles the import never creates nor alters: this cluster's own and PostgreSQL's predefined ones. */
export function isOwnRole(name: string): boolean {
  return name === SUPERUSER || name === REPLICATION_USER || name.startsWith('pg_');
}

export interface RoleScript {
  /** The statements to run, in order. */
  statements: string[];
  /** The roles the script creates. */
  roles: string[];
  /** Statements left out, with why (logged). */
  skipped: Array<{ statement: string; why: string }>;
}

/**
 * The roles script filtered for this cluster: no statement about its own roles (superuser, replication, pg_*), no
 * SUPERUSER or REPLICATION attribute (NOSUPERUSER, NOREPLICATION instead), memberships without GRANTED BY, and
 * nothing but CREATE ROLE, ALTER ROLE, COMMENT ON ROLE and GRANT <role> TO <role>.
 */
export function filterRoleScript(sql: string): RoleScript {
  const statements: string[] = [];
  const roles: string[] = [];
  const skipped: RoleScript['skipped'] = [];
  const skip = (statement: string, why: string) => skipped.push({ statement: statement.replace(/PASSWORD\s+'[^']*'/gi, "PASSWORD '…'"), why });
  for (const st of splitStatements(sql)) {
    if (/^SET\s/i.test(st)) continue; // the dump's session settings; the import's session has its own
    let m = new RegExp(`^CREATE ROLE ${IDENT}$`, 'i').exec(st);
    if (m) {
      const role = unquote(m[1]);
      if (isOwnRole(role)) skip(st, "this cluster's own role");
      else {
        statements.push(st);
        roles.push(role);
      }
      continue;
    }
    m = new RegExp(`^(ALTER ROLE|COMMENT ON ROLE) ${IDENT}(\\s[\\s\\S]*)$`, 'i').exec(st);
    if (m) {
      const role = unquote(m[2]);
      if (isOwnRole(role)) {
        skip(st, "this cluster's own role");
        continue;
      }
      if (/^ALTER ROLE$/i.test(m[1]) && /^\s+IN DATABASE\s/i.test(m[3])) {
        skip(st, 'a per-database setting (set it again after the import if needed)');
        continue;
      }
      if (/^ALTER ROLE$/i.test(m[1]) && /^\s+WITH\s/i.test(m[3])) {
        // Attributes are words before the first literal (PASSWORD '…', VALID UNTIL '…').
        const attrs = m[3];
        const q = attrs.indexOf("'");
        const words = (q < 0 ? attrs : attrs.slice(0, q)).replace(/\bSUPERUSER\b/gi, 'NOSUPERUSER').replace(/\bREPLICATION\b/gi, 'NOREPLICATION');
        statements.push(`${m[1]} ${m[2]}${words}${q < 0 ? '' : attrs.slice(q)}`);
        continue;
      }
      statements.push(st);
      continue;
    }
    m = new RegExp(`^GRANT ${IDENT} TO ${IDENT}((?:\\s+WITH\\s+[A-Z ]+?(?:OPTION|TRUE|FALSE))*)(?:\\s+GRANTED BY ${IDENT})?$`, 'i').exec(st);
    if (m) {
      const granted = unquote(m[1]);
      const member = unquote(m[2]);
      if (isOwnRole(member) || granted === SUPERUSER || granted === REPLICATION_USER) skip(st, "a membership of this cluster's own role");
      else statements.push(`GRANT ${m[1]} TO ${m[2]}${m[3] ?? ''}`);
      continue;
    }
    skip(st, 'not a role statement the import carries over');
  }
  return { statements, roles, skipped };
}

/**
 * The table of contents pg_restore should follow: the extensions (and their comments) are left out, created
 * beforehand by the superuser; so are the schemas created beforehand for them (`preCreatedSchemas`).
 */
export function filterTableOfContents(toc: string, preCreatedSchemas: string[] = []): { list: string; left: string[] } {
  const left: string[] = [];
  const lines = toc.split('\n').map(l => {
    const m = /^\d+;\s+\d+\s+\d+\s+(.*)$/.exec(l);
    if (!m) return l;
    const what = m[1];
    const schema = /^SCHEMA - (\S+)/.exec(what)?.[1];
    if (/^EXTENSION - /.test(what) || /^COMMENT - EXTENSION /.test(what) || (schema && preCreatedSchemas.includes(schema))) {
      left.push(what);
      return `;${l}`;
    }
    return l;
  });
  return { list: lines.join('\n'), left };
}
