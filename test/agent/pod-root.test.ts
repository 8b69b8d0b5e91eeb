/**
 * The pod root reads the manifests and agent/Dockerfile, not constants: a variant of a rendered StatefulSet changes
 * what it applies, and what it cannot apply faithfully fails the test that asked for it.
 */
import { findObject, loadDist, podSpecOf } from '../support/manifests';
import { imageLayout, podSecurity, volumeKind } from '../support/pod-root';
import { PATHS } from '../../lib/contract';

const statefulSet = () => structuredClone(findObject(loadDist('shared-apps.k8s.yaml'), 'StatefulSet', 'shared-pg'));

describe('pod root from the manifests', () => {
  test("the image layout is agent/Dockerfile's: the launcher at the manifests' command, the bundle and its natives", () => {
    expect(imageLayout()).toEqual({
      launcher: { path: PATHS.agentBinary, text: '#!/bin/sh\nexec node $PGC_NODE_FLAGS /opt/pg-agent/pg-agent.mjs "$@"\n' },
      bundleDir: '/opt/pg-agent',
      nodeModulesDir: '/opt/pg-agent/node_modules',
    });
  });

  test('the security context comes from the manifest (pod level, then container level)', () => {
    const sts = statefulSet();
    const spec = podSpecOf(sts);
    spec.securityContext = { ...spec.securityContext, runAsUser: 1234, supplementalGroups: [5] };
    spec.containers[0].securityContext = { ...spec.containers[0].securityContext, runAsGroup: 77, readOnlyRootFilesystem: false };
    expect(podSecurity(sts, 'postgres')).toEqual({
      uid: 1234,
      gid: 77,
      groups: [999, 5],
      fsGroup: 999,
      readOnlyRootFilesystem: false,
      noNewPrivs: true,
      dropCapabilities: ['ALL'],
    });
  });

  test('what a pod root cannot run as the kubelet would fails with the reason', () => {
    const root = statefulSet();
    podSpecOf(root).securityContext.runAsUser = 0;
    expect(() => podSecurity(root, 'postgres')).toThrow(/runAsNonRoot with runAsUser 0/);
    const unset = statefulSet();
    delete podSpecOf(unset).securityContext.runAsUser;
    expect(() => podSecurity(unset, 'postgres')).toThrow(/no runAsUser/);
    const hostPath = statefulSet();
    podSpecOf(hostPath).volumes.push({ name: 'host', hostPath: { path: '/srv' } });
    expect(() => volumeKind(hostPath, 'host')).toThrow(/volume host has a type the pod root does not support \(name, hostPath\)/);
    expect(() => volumeKind(hostPath, 'nowhere')).toThrow(/does not declare/);
  });

  test("volume kinds: the data claim template, emptyDirs on disk and in memory, the cluster's ConfigMap", () => {
    const sts = statefulSet();
    expect(['pgdata', 'run', 'tmp', 'shm', 'config'].map(v => volumeKind(sts, v))).toEqual(['claim', 'emptyDir', 'emptyDir', 'memory', 'configMap']);
  });
});
