// Small builders for analyzer tests: namespaces, pods and NetworkPolicies as plain JSON.
import type { NetworkPolicy, NetworkPolicySpec } from '../../../src/policy/types.ts';
import type { ContainerPort, NamespaceInfo, PodInfo, Snapshot } from '../../../src/analysis/types.ts';

export const ns = (name: string, labels: Record<string, string> = {}): NamespaceInfo => ({ name, labels });

export interface PodOptions { ips?: string[]; ports?: ContainerPort[]; hostNetwork?: boolean }

export function pod(namespace: string, name: string, labels: Record<string, string> = {}, o: PodOptions = {}): PodInfo {
  return { namespace, name, labels, ips: o.ips ?? [], containerPorts: o.ports ?? [], ...(o.hostNetwork ? { hostNetwork: true } : {}) };
}

/** A policy; `podSelector` defaults to {} (every pod of the namespace). */
export function np(namespace: string, name: string, spec: Partial<NetworkPolicySpec> = {}): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec: { podSelector: {}, ...spec } };
}

export const snapshot = (namespaces: NamespaceInfo[], pods: PodInfo[], policies: NetworkPolicy[]): Snapshot => ({ namespaces, pods, policies });

export const ext = (ip: string): { external: string } => ({ external: ip });
