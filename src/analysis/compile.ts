// NetworkPolicy objects compiled once into the shape the analyzer evaluates: policyTypes defaulted,
// peers classified, ipBlocks parsed. Both the reference `decide` and the incremental analyzer use these
// functions, so they cannot disagree on semantics.
import type { IPBlock, LabelSelector, NetworkPort } from '../api/schema.ts';
import { parseCidr, parseIp, type ParsedCidr } from '../net/cidr.ts';
import { LABEL_NAMESPACE_NAME } from '../policy/labels.ts';
import { matchesSelector } from '../policy/selector.ts';
import type { NetworkPolicyPeer, NetworkPolicySpec } from '../policy/types.ts';
import type { PolicyInput } from './types.ts';

export type Labels = Readonly<Record<string, string>>;
export interface ParsedIp { family: 4 | 6; value: bigint }

export interface CompiledIpBlock {
  /** Stable id inside one registry (the analyzer keys pod classes on the blocks their IPs fall in). */
  id: number;
  key: string;
  /** Undefined for an unparsable CIDR: such a block matches nothing. */
  cidr: ParsedCidr | undefined;
  except: ParsedCidr[];
}

export type CompiledPeer =
  /** namespaceSelector and/or podSelector: without namespaceSelector, the policy's own namespace. */
  | { kind: 'selector'; namespaceSelector: LabelSelector | undefined; podSelector: LabelSelector | undefined; key: string }
  | { kind: 'ipBlock'; block: CompiledIpBlock }
  /** A peer with no field set (the apiserver refuses it): matches nothing. */
  | { kind: 'none' };

export interface CompiledRule {
  index: number;
  /** Undefined = `from`/`to` absent or empty: any peer, outside the cluster included. */
  peers: CompiledPeer[] | undefined;
  ports: readonly NetworkPort[] | undefined;
}

export interface CompiledPolicy {
  key: string;
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  ingressIsolates: boolean;
  egressIsolates: boolean;
  /** Only the rules of the directions in (defaulted) policyTypes; rules of other directions are ignored. */
  ingress: CompiledRule[];
  egress: CompiledRule[];
}

export const policyKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** policyTypes as the apiserver defaults them: omitted or empty = Ingress, plus Egress when egress rules exist. */
export function effectivePolicyTypes(spec: NetworkPolicySpec): { ingress: boolean; egress: boolean } {
  const types = spec.policyTypes as readonly string[] | null | undefined;
  if (!types || types.length === 0) return { ingress: true, egress: (spec.egress ?? []).length > 0 };
  return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
}

/** The labels a namespace is selected by: the apiserver's immutable name label is always present. */
export function namespaceLabels(name: string, labels: Labels | undefined): Labels {
  if (labels?.[LABEL_NAMESPACE_NAME] === name) return labels;
  return { ...labels, [LABEL_NAMESPACE_NAME]: name };
}

export function ipBlockKey(b: IPBlock): string {
  return `${b.cidr}|${[...(b.except ?? [])].sort().join(',')}`;
}

export function compileIpBlock(b: IPBlock, id: number): CompiledIpBlock {
  return {
    id, key: ipBlockKey(b), cidr: parseCidr(b.cidr),
    except: (b.except ?? []).map((e) => parseCidr(e)).filter((c): c is ParsedCidr => c !== undefined),
  };
}

export function parseIps(ips: readonly string[]): ParsedIp[] {
  return ips.map((ip) => parseIp(ip)).filter((p): p is ParsedIp => p !== undefined);
}

function inCidr(c: ParsedCidr, ip: ParsedIp): boolean {
  if (c.family !== ip.family) return false;
  const shift = BigInt((ip.family === 4 ? 32 : 128) - c.prefix);
  return (ip.value >> shift) === (c.base >> shift);
}

/** In the CIDR and in none of its exceptions. */
export function blockContains(b: CompiledIpBlock, ip: ParsedIp): boolean {
  return b.cidr !== undefined && inCidr(b.cidr, ip) && !b.except.some((e) => inCidr(e, ip));
}

/** A pod matches an ipBlock when any of its IPs does. */
export const blockMatchesAny = (b: CompiledIpBlock, ips: readonly ParsedIp[]): boolean => ips.some((ip) => blockContains(b, ip));

/**
 * Whether the block may hold a pod without an IP: it may have any address, so every valid block may,
 * whatever its excepts (the question is whether traffic could be allowed).
 */
export const mayHoldAnyPod = (b: CompiledIpBlock): boolean => b.cidr !== undefined;

/** A pod's IPs in a block; with no IP, whether the block may hold it when it may be anywhere (Snapshot). */
export const podInBlock = (b: CompiledIpBlock, ips: readonly ParsedIp[], withoutIpAnywhere: boolean): boolean =>
  (ips.length === 0 ? withoutIpAnywhere && mayHoldAnyPod(b) : blockMatchesAny(b, ips));

/** Hands out one CompiledIpBlock per distinct (cidr, except) pair. */
export class IpBlockRegistry {
  private readonly byKey = new Map<string, CompiledIpBlock>();
  private readonly list: CompiledIpBlock[] = [];
  /** Called with every block seen for the first time. */
  onNew: ((b: CompiledIpBlock) => void) | undefined;

  get(b: IPBlock): CompiledIpBlock {
    const key = ipBlockKey(b);
    let c = this.byKey.get(key);
    if (!c) {
      c = compileIpBlock(b, this.list.length);
      this.byKey.set(key, c);
      this.list.push(c);
      this.onNew?.(c);
    }
    return c;
  }

  all(): readonly CompiledIpBlock[] { return this.list; }
}

export function compilePeer(peer: NetworkPolicyPeer, blocks: IpBlockRegistry): CompiledPeer {
  // The apiserver refuses ipBlock next to a selector; if one comes anyway, the ipBlock wins.
  if (peer.ipBlock) return { kind: 'ipBlock', block: blocks.get(peer.ipBlock) };
  const { namespaceSelector, podSelector } = peer;
  if (!namespaceSelector && !podSelector) return { kind: 'none' };
  // "own" (no namespaceSelector: the policy's namespace) stays unresolved in the key, so the compiled
  // form of a spec does not depend on the namespace and equal specs can share it; users of the key
  // that cache by peer add the policy's namespace themselves.
  const key = `${namespaceSelector ? `ns=${JSON.stringify(namespaceSelector)}` : 'own'}|pod=${podSelector ? JSON.stringify(podSelector) : '*'}`;
  return { kind: 'selector', namespaceSelector, podSelector, key };
}

function compileRules(rules: readonly { peers: NetworkPolicyPeer[] | undefined; ports: readonly NetworkPort[] | undefined }[], blocks: IpBlockRegistry): CompiledRule[] {
  return rules.map((r, index) => ({
    index,
    peers: r.peers && r.peers.length > 0 ? r.peers.map((p) => compilePeer(p, blocks)) : undefined,
    ports: r.ports ?? undefined,
  }));
}

export function compilePolicy(p: PolicyInput, blocks: IpBlockRegistry): CompiledPolicy {
  const namespace = p.metadata.namespace;
  const spec = p.spec;
  const types = effectivePolicyTypes(spec);
  return {
    key: policyKey(namespace, p.metadata.name),
    namespace,
    name: p.metadata.name,
    podSelector: spec.podSelector ?? {},
    ingressIsolates: types.ingress,
    egressIsolates: types.egress,
    ingress: types.ingress ? compileRules((spec.ingress ?? []).map((r) => ({ peers: r.from ?? undefined, ports: r.ports ?? undefined })), blocks) : [],
    egress: types.egress ? compileRules((spec.egress ?? []).map((r) => ({ peers: r.to ?? undefined, ports: r.ports ?? undefined })), blocks) : [],
  };
}

/** What a peer is matched against when it is a pod. `inBlock`: whether any of its IPs is in a block, or one without an IP may be (podInBlock). */
export interface PodSubject {
  namespace: string;
  namespaceLabels: Labels;
  labels: Labels;
  inBlock(b: CompiledIpBlock): boolean;
}

export function selectorPeerMatches(namespaceSelector: LabelSelector | undefined, podSelector: LabelSelector | undefined, policyNamespace: string, s: PodSubject): boolean {
  if (namespaceSelector ? !matchesSelector(s.namespaceLabels, namespaceSelector) : s.namespace !== policyNamespace) return false;
  return podSelector === undefined || matchesSelector(s.labels, podSelector);
}

export function peerMatchesPod(peer: CompiledPeer, policyNamespace: string, s: PodSubject): boolean {
  switch (peer.kind) {
    case 'selector': return selectorPeerMatches(peer.namespaceSelector, peer.podSelector, policyNamespace, s);
    case 'ipBlock': return s.inBlock(peer.block);
    case 'none': return false;
  }
}

/** Only ipBlocks (and rules without peers) match an address outside the cluster. */
export function peerMatchesAddress(peer: CompiledPeer, ip: ParsedIp | undefined): boolean {
  return peer.kind === 'ipBlock' && ip !== undefined && blockContains(peer.block, ip);
}

export const selectsPod = (p: CompiledPolicy, namespace: string, labels: Labels): boolean => p.namespace === namespace && matchesSelector(labels, p.podSelector);

export function formatIp(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return groups.join(':');
}
