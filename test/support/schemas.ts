import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { KubeObject, ROOT } from './manifests';

/** ../shared holds the public schema data we may read but not commit. */
const SHARED = path.resolve(ROOT, '..', 'shared');
const K8S_DEFINITIONS = path.join(SHARED, 'schemas', 'k8s-1.28.0-definitions.json');
const CRDS = path.join(SHARED, 'crds');

/** Branches of combinators only add constraints (e.g. "endpointSelector or nodeSelector"): left as they are. */
const COMBINATORS = new Set(['oneOf', 'anyOf', 'allOf', 'not']);

/** Adds `additionalProperties: false` to every object definition, as kubeconform -strict does. */
function strictify(node: any): any {
  if (Array.isArray(node)) return node.map(strictify);
  if (node && typeof node === 'object') {
    const out: any = {};
    for (const [k, v] of Object.entries(node)) out[k] = COMBINATORS.has(k) ? v : k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, strictify(pv)])) : strictify(v);
    if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
    return out;
  }
  return node;
}

export interface SchemaValidator {
  /** Returns the list of errors (empty when valid); throws when no schema knows the kind. */
  validate(obj: KubeObject): string[];
}

/** Strict validator of core kinds (Kubernetes 1.28) and of the CRDs in ../shared/crds. */
export function loadValidator(): SchemaValidator {
  const raw = JSON.parse(fs.readFileSync(K8S_DEFINITIONS, 'utf8'));
  const definitions = strictify(raw.definitions);
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'k8s', definitions });
  const byGvk = new Map<string, ValidateFunction>();
  for (const [name, def] of Object.entries<any>(definitions)) {
    for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
      byGvk.set(`${apiVersion}/${gvk.kind}`, ajv.compile({ $ref: `k8s#/definitions/${name}` }));
    }
  }
  for (const file of fs.readdirSync(CRDS).filter(f => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(CRDS, file), 'utf8'))) {
      const crd = doc.toJS();
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const v of crd.spec.versions) {
        // Strict as with kubectl's server-side field validation: unknown fields fail instead of being pruned.
        const schema = strictify(v.schema.openAPIV3Schema);
        byGvk.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, ajv.compile(schema));
      }
    }
  }
  return {
    validate(obj: KubeObject): string[] {
      const fn = byGvk.get(`${obj.apiVersion}/${obj.kind}`);
      if (!fn) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
      const label = `${obj.kind}/${obj.metadata?.name}`;
      if (fn(obj)) return [];
      return (fn.errors ?? []).map(e => `${label}${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? `: ${(e.params as any).additionalProperty}` : ''}`);
    },
  };
}
