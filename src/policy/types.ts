// The JSON shape of networking.k8s.io/v1 NetworkPolicy, as much of it as we generate and compare.
// Plain data (no client types) so the pure code and the CLI share it.
import type { LabelSelector, NetworkPort, IPBlock } from '../api/schema.ts';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface NetworkPolicyPeer {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyIngressRule { from?: NetworkPolicyPeer[]; ports?: NetworkPort[] }
export interface NetworkPolicyEgressRule { to?: NetworkPolicyPeer[]; ports?: NetworkPort[] }

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes?: ('Ingress' | 'Egress')[];
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    resourceVersion?: string;
    uid?: string;
    deletionTimestamp?: string;
    creationTimestamp?: string;
    generation?: number;
    managedFields?: unknown[];
  };
  spec: NetworkPolicySpec;
}

export interface NamespaceObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    resourceVersion?: string;
  };
  status?: { phase?: string };
}
