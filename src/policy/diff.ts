// Decides whether a stored policy already is what we want, so an unchanged tenant costs zero writes.
// Compares only what we own: our labels and annotation, the owner references, and the whole spec in a
// canonical form that erases the apiserver's equivalent spellings (omitted empty lists and maps).
import { createHash } from 'node:crypto';
import { BASELINE_KIND, GROUP, KIND } from '../api/schema.ts';
import { ANNOTATION_CONFLICT, LABEL_BASELINE, LABEL_MANAGED_BY, LABEL_TENANT, RESERVED_POLICY_PREFIX } from './labels.ts';
import type { NetworkPolicy, NetworkPolicySpec } from './types.ts';

/**
 * JSON text of `value` in canonical form: keys sorted; empty lists, empty matchLabels maps, null and
 * undefined dropped (the apiserver omits them, and they mean the same). Written directly rather than
 * through a sorted copy and JSON.stringify: every write and every cached policy event hashes one, and the
 * copies were a good part of a burst's garbage.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      out += `${i > 0 ? ',' : ''}${v === undefined || v === null || typeof v === 'function' || typeof v === 'symbol' ? 'null' : canonicalJson(v)}`;
    }
    return `${out}]`;
  }
  if (value !== null && typeof value === 'object') {
    let out = '{';
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined || v === null || typeof v === 'function' || typeof v === 'symbol') continue;
      if (Array.isArray(v) && v.length === 0) continue;
      if (k === 'matchLabels' && typeof v === 'object' && Object.keys(v).length === 0) continue;
      out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(v)}`;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}

/**
 * A policy as the controller caches it: identity, our labels, and the digest of what we own. Keeping the
 * digest instead of the spec is what keeps 30 000 policies small (docs/operations.md, Memory and sizing).
 */
export interface CachedPolicy {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Readonly<Record<string, string>> };
  /** The uid of its controller owner when that is a TenantIsolation or the IsolationBaseline: whose policy it is (see isOperatorPolicy). */
  owner?: string;
  ownedDigest: string;
  /** The spec, only where something reads it (the isolation proof); then shared between equal policies. */
  spec?: NetworkPolicySpec;
}

/** How the cache shares what many policies repeat (see src/kube/intern.ts); each is optional. */
export interface CacheSharing {
  /** One copy of each string kept. */
  string?: (s: string) => string;
  /** One frozen copy of each label set. */
  labels?: (l: Record<string, string>) => Record<string, string>;
  /** The spec is kept only when given (the isolation proof reads it); one copy of each. */
  spec?: (s: NetworkPolicySpec) => NetworkPolicySpec;
  /** The digest, when the caller already knows it for this very version (our own write coming back). */
  knownDigest?: (p: NetworkPolicy) => string | undefined;
  /** Whether anything will read this policy's digest (default: yes); when not, it is left empty. */
  needsDigest?: (p: NetworkPolicy) => boolean;
}

/** The CachedPolicy form of a stored policy (the spec goes unless `share.spec` keeps it). */
export function compactPolicy(p: NetworkPolicy | CachedPolicy, share: CacheSharing = {}): CachedPolicy {
  if ('ownedDigest' in p) return p; // already compact
  const str = share.string ?? ((s: string) => s);
  const m = p.metadata;
  let labels: Record<string, string> = {};
  for (const k of [LABEL_MANAGED_BY, LABEL_TENANT]) if (m.labels?.[k] !== undefined) labels[k] = str(m.labels[k]);
  if (share.labels) labels = share.labels(labels);
  const owner = m.ownerReferences?.find((r) => r.controller === true && (r.kind === KIND || r.kind === BASELINE_KIND) && r.apiVersion.startsWith(`${GROUP}/`))?.uid;
  // One literal with every field (absent ones undefined): a field added later would cost each of the
  // 30 000 cached policies a separate property array.
  return {
    metadata: { name: str(m.name), namespace: str(m.namespace), resourceVersion: m.resourceVersion, labels },
    owner: owner !== undefined ? str(owner) : undefined,
    ownedDigest: share.needsDigest?.(p) === false ? '' : str(share.knownDigest?.(p) ?? ownedDigest(p)),
    spec: share.spec && p.spec ? share.spec(p.spec) : undefined,
  };
}

/**
 * Whether a policy is the operator's, owned by the tenant of uid `owner`: only a reserved name with a
 * controller reference to a TenantIsolation the operator knows (or to the IsolationBaseline: `tenantOfUid`
 * names it BASELINE_OWNER). A label alone proves nothing (anyone could
 * set it before the admission gate existed); anything else is a user's policy, never changed or deleted.
 */
export function isOperatorPolicy(p: CachedPolicy, tenantOfUid: (uid: string) => string | undefined): boolean {
  return p.metadata.name.startsWith(RESERVED_POLICY_PREFIX) && p.owner !== undefined && tenantOfUid(p.owner) !== undefined;
}

/**
 * Whether `existing` (as the cache keeps it) needs a write to become `desired`: 'missing', 'content', or
 * undefined when it already is what we want. `desiredDigest` is ownedDigest(desired) when the caller has it.
 */
export function policyDrift(desired: NetworkPolicy, existing: CachedPolicy | undefined, desiredDigest?: string): 'missing' | 'content' | undefined {
  if (!existing) return 'missing';
  return (desiredDigest ?? ownedDigest(desired)) === existing.ownedDigest ? undefined : 'content';
}

/**
 * A digest of what we own in a policy: our two labels, the conflict annotation, the owner references
 * exactly (an extra owner someone adds could get our policy garbage-collected) and the spec in canonical
 * form. Equal digests mean no write is needed.
 */
export function ownedDigest(p: NetworkPolicy): string {
  const l = p.metadata.labels ?? {};
  // The exact text of what is hashed, in the object's own key order: JSON.stringify is native and several
  // times cheaper than canonicalJson + SHA-1. Equal text means equal canonical form, so a hit is exact
  // (a miss may still be an equal policy spelled in another order: it is hashed).
  const key = JSON.stringify([l[LABEL_MANAGED_BY], l[LABEL_TENANT], l[LABEL_BASELINE], p.metadata.annotations?.[ANNOTATION_CONFLICT], p.metadata.ownerReferences, p.spec]);
  const known = recentDigests.get(key);
  if (known !== undefined) { recentDigests.delete(key); recentDigests.set(key, known); return known; }
  const digest = hashOwned(p, l);
  if (key.length <= RECENT_DIGEST_MAX_KEY) {
    recentDigests.set(key, digest);
    if (recentDigests.size > RECENT_DIGESTS) recentDigests.delete(recentDigests.keys().next().value!);
  }
  return digest;
}

/**
 * Digests of the policies seen last, by the text they were computed from (least recently used first).
 * Every write's response and every watch event is digested, and a tenant's namespaces repeat the same
 * few policies: a burst of 400 namespaces hashed each one once per write and once per event. Bounded
 * in count and key size (a big tenant's peer list is hashed each time): at most ~1 MB.
 */
const recentDigests = new Map<string, string>();
const RECENT_DIGESTS = 512;
const RECENT_DIGEST_MAX_KEY = 2048;

function hashOwned(p: NetworkPolicy, l: Readonly<Record<string, string>>): string {
  const owned = {
    labels: [l[LABEL_MANAGED_BY], l[LABEL_TENANT]],
    // Only the baseline's policies carry it (tenants' digests stay as they were).
    ...(l[LABEL_BASELINE] !== undefined ? { baseline: l[LABEL_BASELINE] } : {}),
    conflict: p.metadata.annotations?.[ANNOTATION_CONFLICT],
    ownerReferences: p.metadata.ownerReferences ?? [],
    spec: p.spec,
  };
  return createHash('sha1').update(canonicalJson(owned)).digest('base64');
}

/** Whether two policy-name -> digest maps hold the same entries (what is stored against what is wanted). */
export function sameDigests(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
