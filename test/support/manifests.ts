import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DIST = path.join(ROOT, 'dist');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

/** Every object of one dist/ file, or of all of them. */
export function loadDist(file?: string): KubeObject[] {
  const files = file
    ? [file]
    : fs
        .readdirSync(DIST)
        .filter(f => f.endsWith('.yaml'))
        .sort();
  return files.flatMap(f =>
    parseAllDocuments(fs.readFileSync(path.join(DIST, f), 'utf8'))
      .map(d => d.toJS() as KubeObject)
      .filter(Boolean),
  );
}

export function findObject(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find(o => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map(o => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** The pod spec inside a StatefulSet, Deployment, Job or CronJob. */
export function podSpecOf(obj: KubeObject): any {
  if (obj.kind === 'CronJob') return obj.spec.jobTemplate.spec.template.spec;
  return obj.spec.template.spec;
}

export function podLabelsOf(obj: KubeObject): Record<string, string> {
  if (obj.kind === 'CronJob') return obj.spec.jobTemplate.spec.template.metadata?.labels ?? {};
  return obj.spec.template.metadata?.labels ?? {};
}
