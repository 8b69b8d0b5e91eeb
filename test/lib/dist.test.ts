import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DIST, ROOT, loadDist } from '../support/manifests';
import { tempDir } from '../support/pod-runner';
import { loadValidator } from '../support/schemas';

describe('dist/', () => {
  test('synth regenerates dist/ byte-identically and writes only manifests', () => {
    const out = tempDir('synth');
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'cdk8s'), ['synth', '--no-check-upgrade', '--output', out], { cwd: ROOT, stdio: 'pipe' });
    const fresh = fs.readdirSync(out).sort();
    expect(fresh.every(f => f.endsWith('.k8s.yaml'))).toBe(true);
    expect(fresh).toEqual(fs.readdirSync(DIST).sort());
    for (const f of fresh) {
      expect({ f, same: fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(DIST, f))) }).toEqual({ f, same: true });
    }
    fs.rmSync(out, { recursive: true, force: true });
  }, 120000);

  test('no password, key or token is committed', () => {
    for (const obj of loadDist()) {
      expect(obj.kind).not.toBe('Secret');
      const text = JSON.stringify(obj);
      expect(text).not.toMatch(/"(password|secretAccessKey|AccessKey|SecretKey|token)"\s*:\s*"[^"]{8,}"/);
    }
  });

  describe('schema validation', () => {
    const validator = loadValidator();
    const objects = loadDist();

    test.each(objects.map(o => [`${o.kind}/${o.metadata.name}`, o]))('%s is valid against Kubernetes 1.28 / its CRD (strict)', (_name, obj) => {
      expect(validator.validate(obj as any)).toEqual([]);
    });

    test('a misspelt field, a wrong type and an unknown kind are rejected', () => {
      const sts = structuredClone(objects.find(o => o.kind === 'StatefulSet')!);
      sts.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
      expect(validator.validate(sts).join()).toMatch(/imagePullPolicyy/);
      const svc = structuredClone(objects.find(o => o.kind === 'Service')!);
      svc.spec.ports[0].port = 'five-four-three-two';
      expect(validator.validate(svc).length).toBeGreaterThan(0);
      const cnp = structuredClone(objects.find(o => o.kind === 'CiliumNetworkPolicy')!);
      cnp.spec.ingress[0].fromEndpointz = [];
      expect(validator.validate(cnp).join()).toMatch(/fromEndpointz/);
      const unselected = structuredClone(objects.find(o => o.kind === 'CiliumNetworkPolicy')!);
      delete unselected.spec.endpointSelector;
      expect(validator.validate(unselected).join()).toMatch(/endpointSelector/);
      expect(() => validator.validate({ apiVersion: 'v1', kind: 'Nonsense', metadata: { name: 'x' } })).toThrow(/no schema/);
    });
  });
});
