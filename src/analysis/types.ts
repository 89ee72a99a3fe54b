// Inputs and outputs of the reachability analyzer: plain data, no client types, so the CLI, the
// controller and tests can all build a snapshot from whatever they read.
import type { NetworkPolicySpec } from '../policy/types.ts';

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type Protocol = typeof PROTOCOLS[number];

export interface NamespaceInfo {
  name: string;
  /** As read. `kubernetes.io/metadata.name=<name>` is added when missing (the apiserver always sets it). */
  labels?: Readonly<Record<string, string>>;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  /** Omitted = TCP, as the apiserver defaults it. */
  protocol?: Protocol;
}

export interface PodInfo {
  namespace: string;
  name: string;
  labels?: Readonly<Record<string, string>>;
  /** status.podIPs (or status.podIP); may be empty for a pod not yet scheduled. */
  ips: readonly string[];
  containerPorts: readonly ContainerPort[];
  hostNetwork?: boolean;
}

/** What the analyzer reads of a NetworkPolicy: where it lives and its spec (a full object will do). */
export interface PolicyInput { metadata: { name: string; namespace: string }; spec: NetworkPolicySpec }

export interface Snapshot {
  namespaces: readonly NamespaceInfo[];
  pods: readonly PodInfo[];
  policies: readonly PolicyInput[];
  /** Pods without an IP may be at any address (manifests); else they are in no ipBlock (AnalyzerOptions). */
  podsWithoutIpAnywhere?: boolean;
}

/** An address outside the cluster: subject only to the pod side's policies. */
export interface ExternalEndpoint { external: string }
export type Endpoint = PodInfo | ExternalEndpoint;

export const isExternal = (e: Endpoint): e is ExternalEndpoint => typeof (e as Partial<ExternalEndpoint>).external === 'string';

export interface DirectionVerdict {
  /** Whether this side lets the connection through. */
  allowed: boolean;
  /** Whether some policy isolates this side's pod for the direction. */
  isolated: boolean;
  /** "ns/name" of every policy that isolates the pod for the direction, sorted. */
  isolatingPolicies: string[];
  /** The first rule (policies sorted by "ns/name", rules in order) that admits the connection. */
  allowedBy?: { policy: string; rule: number };
  reason: string;
}

export interface Decision {
  allowed: boolean;
  /** The source's side. */
  egress: DirectionVerdict;
  /** The destination's side. */
  ingress: DirectionVerdict;
}

export const HOST_NETWORK_REASON = 'hostNetwork: undefined by the API, treated as unrestricted';
export const EXTERNAL_REASON = 'external address: outside the cluster, not subject to NetworkPolicy';
