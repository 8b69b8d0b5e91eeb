import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import * as ts from 'typescript';
import { KubeObject, ROOT } from './manifests';

/**
 * The JSON schemas of the kinds the constructs render, generated at test time from what the repository has: the
 * typed classes the constructs are written against. cdk8s generates those classes from the very schemas
 * (json2jsii), keeping each field's type, whether it is required, its enum values and, in each `toJson_<Type>`
 * function, the field's name in the manifest; reading them back gives the schema again:
 * - Kubernetes 1.28: cdk8s-plus-28's `k8s` module (lib/imports/k8s.d.ts for the types, k8s.js for the names),
 *   generated from the Kubernetes 1.28 OpenAPI definitions;
 * - CiliumNetworkPolicy: the committed imports/cilium-cilium.io.ts (`cdk8s import` of the Cilium CRD);
 * - PodMonitor and PrometheusRule: imports/podmonitor-… and prometheusrule-monitoring.coreos.com.ts (prometheus-operator).
 * Validation is strict as kubeconform -strict (and kubectl's server-side field validation) are: every object
 * definition gets `additionalProperties: false`, so an unknown or misspelt field fails.
 */
const K8S_IMPORT = path.dirname(require.resolve('cdk8s-plus-28/lib/imports/k8s.js', { paths: [ROOT] }));
const SOURCES: Array<{ declarations: string; bodies: string }> = [
  { declarations: path.join(K8S_IMPORT, 'k8s.d.ts'), bodies: path.join(K8S_IMPORT, 'k8s.js') },
  { declarations: path.join(ROOT, 'imports', 'cilium-cilium.io.ts'), bodies: path.join(ROOT, 'imports', 'cilium-cilium.io.ts') },
  ...['podmonitor', 'prometheusrule']
    .map(k => path.join(ROOT, 'imports', `${k}-monitoring.coreos.com.ts`))
    .map(f => ({ declarations: f, bodies: f })),
];

type Schema = Record<string, any>;

/**
 * Constraints of the schemas that typed classes cannot carry, added back for the objects the constructs render: a
 * CiliumNetworkPolicy's spec selects either endpoints or nodes (the CRD's `oneOf` on `spec` and `specs[]`).
 */
const ONE_OF: Record<string, Schema> = Object.fromEntries(
  ['CiliumNetworkPolicySpec', 'CiliumNetworkPolicySpecs'].map(name => [
    name,
    { oneOf: [{ required: ['endpointSelector'] }, { required: ['nodeSelector'] }] },
  ]),
);
/** ajv $id of the first source's definitions (Kubernetes). */
const K8S_ID = 'src0';

interface Parsed {
  /** JSON schema of each interface (by its TypeScript name), its properties named as in the manifest. */
  definitions: Record<string, Schema>;
  /** apiVersion/kind of each top-level class (KubePod → v1 Pod), with the name of its props interface. */
  kinds: Array<{ apiVersion: string; kind: string; props: string }>;
}

const parse = (file: string) =>
  ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true, file.endsWith('.js') ? ts.ScriptKind.JS : ts.ScriptKind.TS);

/** toJson_<Type>'s `result` object: manifest key of each TypeScript property (`'x-kubernetes-foo': obj.xKubernetesFoo`). */
function keyNames(source: ts.SourceFile): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  const visit = (node: ts.Node) => {
    if (ts.isFunctionDeclaration(node) && node.name?.text.startsWith('toJson_') && node.body) {
      const keys = new Map<string, string>();
      const find = (n: ts.Node) => {
        if (
          ts.isVariableDeclaration(n) &&
          ts.isIdentifier(n.name) &&
          n.name.text === 'result' &&
          n.initializer &&
          ts.isObjectLiteralExpression(n.initializer)
        ) {
          for (const p of n.initializer.properties) {
            if (!ts.isPropertyAssignment(p) || !(ts.isStringLiteral(p.name) || ts.isIdentifier(p.name))) continue;
            let prop: string | undefined;
            const objAccess = (e: ts.Node) => {
              if (prop) return;
              if (ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'obj') prop = e.name.text;
              else ts.forEachChild(e, objAccess);
            };
            objAccess(p.initializer);
            if (prop) keys.set(prop, p.name.text);
          }
        }
        ts.forEachChild(n, find);
      };
      find(node.body);
      out.set(node.name.text.slice('toJson_'.length), keys);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** apiVersion and kind of `X.GVK = { apiVersion, kind }` (k8s.js) or `static readonly GVK = { … }` (a .ts import). */
function gvks(source: ts.SourceFile): Map<string, { apiVersion: string; kind: string }> {
  const out = new Map<string, { apiVersion: string; kind: string }>();
  const read = (o: ts.ObjectLiteralExpression) => {
    const v: Record<string, string> = {};
    for (const p of o.properties) if (ts.isPropertyAssignment(p) && ts.isStringLiteral(p.initializer)) v[p.name.getText()] = p.initializer.text;
    return v.apiVersion !== undefined && v.kind ? { apiVersion: v.apiVersion, kind: v.kind } : undefined;
  };
  const visit = (node: ts.Node) => {
    if (
      ts.isBinaryExpression(node) &&
      ts.isPropertyAccessExpression(node.left) &&
      node.left.name.text === 'GVK' &&
      ts.isObjectLiteralExpression(node.right)
    ) {
      const gvk = read(node.right);
      if (gvk) out.set(node.left.expression.getText(), gvk);
    }
    if (ts.isClassDeclaration(node) && node.name) {
      for (const m of node.members) {
        if (ts.isPropertyDeclaration(m) && m.name.getText() === 'GVK' && m.initializer && ts.isObjectLiteralExpression(m.initializer)) {
          const gvk = read(m.initializer);
          if (gvk) out.set(node.name.text, gvk);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function parseSources(declarationsFile: string, bodiesFile: string): Parsed {
  const decl = parse(declarationsFile);
  const bodies = declarationsFile === bodiesFile ? decl : parse(bodiesFile);
  const keys = keyNames(bodies);
  const enums = new Map<string, string[]>();
  const wrappers = new Set<string>(); // classes such as IntOrString and Quantity: a string or a number
  const interfaces: ts.InterfaceDeclaration[] = [];
  for (const s of decl.statements) {
    if (ts.isEnumDeclaration(s))
      enums.set(
        s.name.text,
        s.members.map(m => (m.initializer && ts.isStringLiteral(m.initializer) ? m.initializer.text : m.name.getText())),
      );
    else if (ts.isClassDeclaration(s) && s.name && s.members.some(m => m.name?.getText() === 'fromString' || m.name?.getText() === 'fromNumber'))
      wrappers.add(s.name.text);
    else if (ts.isInterfaceDeclaration(s)) interfaces.push(s);
  }
  const typeSchema = (t: ts.TypeNode): Schema => {
    switch (t.kind) {
      case ts.SyntaxKind.StringKeyword:
        return { type: 'string' };
      case ts.SyntaxKind.NumberKeyword:
        return { type: 'number' };
      case ts.SyntaxKind.BooleanKeyword:
        return { type: 'boolean' };
      case ts.SyntaxKind.AnyKeyword:
      case ts.SyntaxKind.UnknownKeyword:
        return {};
    }
    if (ts.isArrayTypeNode(t)) return { type: 'array', items: typeSchema(t.elementType) };
    if (ts.isParenthesizedTypeNode(t)) return typeSchema(t.type);
    if (ts.isUnionTypeNode(t)) return { anyOf: t.types.map(typeSchema) };
    if (ts.isTypeLiteralNode(t)) {
      const index = t.members.find(ts.isIndexSignatureDeclaration);
      if (index?.type) return { type: 'object', additionalProperties: typeSchema(index.type) };
      return { type: 'object' };
    }
    if (ts.isTypeReferenceNode(t)) {
      const name = t.typeName.getText();
      if (enums.has(name)) return { type: 'string', enum: enums.get(name) };
      if (wrappers.has(name)) return { type: ['string', 'number'] };
      if (name === 'Date') return { type: 'string' };
      if (name === 'Record' && t.typeArguments?.length === 2) return { type: 'object', additionalProperties: typeSchema(t.typeArguments[1]) };
      // An import's metadata is cdk8s's ApiObjectMetadata: Kubernetes' ObjectMeta (the first source's).
      if (name === 'ApiObjectMetadata') return { $ref: `${K8S_ID}#/definitions/ObjectMeta` };
      return { $ref: `#/definitions/${name}` };
    }
    throw new Error(`${declarationsFile}: no JSON schema for the type ${t.getText()}`);
  };
  const definitions: Record<string, Schema> = {};
  for (const i of interfaces) {
    const names = keys.get(i.name.text) ?? new Map<string, string>();
    const properties: Record<string, Schema> = {};
    const required: string[] = [];
    for (const m of i.members) {
      if (!ts.isPropertySignature(m) || !m.type) continue;
      const key = names.get(m.name.getText()) ?? m.name.getText();
      properties[key] = typeSchema(m.type);
      if (!m.questionToken) required.push(key);
    }
    definitions[i.name.text] = { type: 'object', properties, ...(required.length ? { required } : {}) };
  }
  const kinds: Parsed['kinds'] = [];
  for (const [cls, gvk] of gvks(bodies)) if (definitions[`${cls}Props`]) kinds.push({ ...gvk, props: `${cls}Props` });
  for (const [name, constraint] of Object.entries(ONE_OF)) if (definitions[name]) definitions[name] = { ...definitions[name], ...constraint };
  return { definitions, kinds };
}

/** Adds `additionalProperties: false` to every object definition with properties, as kubeconform -strict does. */
function strictify(node: any): any {
  if (Array.isArray(node)) return node.map(strictify);
  if (node && typeof node === 'object') {
    const out: any = {};
    for (const [k, v] of Object.entries(node))
      out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, strictify(pv)])) : strictify(v);
    if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
    return out;
  }
  return node;
}

export interface SchemaValidator {
  /** Returns the list of errors (empty when valid); throws when no schema knows the kind. */
  validate(obj: KubeObject): string[];
}

/** The generated schemas of one source, by apiVersion/kind: `{ definitions, kinds }` for tests that look inside. */
export function generatedSchemas(): Array<Parsed> {
  return SOURCES.map(s => parseSources(s.declarations, s.bodies));
}

/** Strict validator of core kinds (Kubernetes 1.28, cdk8s-plus-28) and of CiliumNetworkPolicy (imports/). */
export function loadValidator(): SchemaValidator {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const byGvk = new Map<string, ValidateFunction>();
  generatedSchemas().forEach(({ definitions, kinds }, n) => {
    const id = `src${n}`;
    ajv.addSchema({ $id: id, definitions: strictify(definitions) });
    for (const { apiVersion, kind, props } of kinds) {
      // The props interface has no apiVersion/kind (the class adds them): the object is the props plus those two.
      const top = strictify({
        ...definitions[props],
        properties: { apiVersion: { const: apiVersion }, kind: { const: kind }, ...definitions[props].properties },
      });
      byGvk.set(`${apiVersion}/${kind}`, ajv.compile(JSON.parse(JSON.stringify(top).replace(/"#\/definitions\//g, `"${id}#/definitions/`))));
    }
  });
  return {
    validate(obj: KubeObject): string[] {
      const fn = byGvk.get(`${obj.apiVersion}/${obj.kind}`);
      if (!fn) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
      const label = `${obj.kind}/${obj.metadata?.name}`;
      if (fn(obj)) return [];
      return (fn.errors ?? []).map(
        e =>
          `${label}${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? `: ${(e.params as any).additionalProperty}` : ''}`,
      );
    },
  };
}
