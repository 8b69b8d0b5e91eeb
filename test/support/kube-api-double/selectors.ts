// labelSelector and fieldSelector query parameters of LIST, with the grammar of k8s.io/apimachinery/pkg/labels:
// `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-separated and all required.

import { badRequest } from './status';

export type Predicate = (get: (key: string) => string | undefined) => boolean;

/** Splits on the commas that separate requirements, not those inside `in (a,b)`. */
function requirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map(p => p.trim()).filter(p => p !== '');
}

function requirement(text: string, allowSets: boolean): Predicate {
  let m: RegExpMatchArray | null;
  if (allowSets && (m = text.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
    const [, key, op, list] = m;
    const values = list.split(',').map(v => v.trim());
    return op === 'in' ? get => values.includes(get(key) ?? '\0') : get => !values.includes(get(key) ?? '\0');
  }
  if ((m = text.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
    const [, key, op, value] = m;
    return op === '!=' ? get => get(key) !== value : get => get(key) === value;
  }
  if (allowSets && (m = text.match(/^!\s*([^\s!=(),]+)$/))) {
    const key = m[1];
    return get => get(key) === undefined;
  }
  if (allowSets && (m = text.match(/^([^\s!=(),]+)$/))) {
    const key = m[1];
    return get => get(key) !== undefined;
  }
  throw badRequest(`unable to parse requirement: found '${text}', expected: in, notin, =, ==, !=, gt, lt`);
}

export function parseLabelSelector(selector: string | null): Predicate {
  const preds = requirements(selector ?? '').map(r => requirement(r, true));
  return get => preds.every(p => p(get));
}

/**
 * fieldSelector: only `=`, `==`, `!=`, and only on the fields the resource supports
 * (metadata.name and metadata.namespace everywhere, plus `supported`).
 */
export function parseFieldSelector(selector: string | null, supported: string[]): Predicate {
  const preds = requirements(selector ?? '').map(r => {
    const key = r.split(/!?=/)[0].trim();
    if (!['metadata.name', 'metadata.namespace', ...supported].includes(key)) {
      throw badRequest(
        `"${key}" is not a known field selector: only "metadata.name", "metadata.namespace"${supported.map(s => `, "${s}"`).join('')}`,
      );
    }
    return requirement(r, false);
  });
  return get => preds.every(p => p(get));
}
