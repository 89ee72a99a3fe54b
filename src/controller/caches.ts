// The informer caches both controllers read. Each keeps only what reconcile reads (typed transforms, as
// controller-runtime's cache transforms do), with one copy of each repeated string, label set and spec
// (src/kube/intern.ts). With the isolation proof on, one policy informer holds every policy (the proof
// reads users' too) and reconcilers see the managed ones through `policies`.
import type { Logger } from 'pino';
import { API_VERSION, BASELINE_PLURAL, PLURAL, PROFILE_PLURAL, type TenantIsolationObject } from '../api/schema.ts';
import type { IsolationProfileObject } from '../api/profile.ts';
import type { IsolationBaselineObject } from '../api/baseline.ts';
import { AssumedWrites } from '../kube/assumed.ts';
import { ResilientInformer } from '../kube/informer.ts';
import { ValueInterner, internLabels, internStrings, labelSets, strings } from '../kube/intern.ts';
import type { RestClient } from '../kube/rest.ts';
import { compactPolicy, isOperatorPolicy, type CachedPolicy } from '../policy/diff.ts';
import { LABEL_MANAGED_BY, MANAGED_POLICY_NAMES, MANAGED_SELECTOR, OPERATOR_NAME, RESERVED_POLICY_PREFIX } from '../policy/labels.ts';
import type { NamespaceObject, NetworkPolicy, NetworkPolicySpec } from '../policy/types.ts';
import { compactPod, type CachedPod, type PodObject } from './isolation-proof.ts';
import { MEMBERSHIP_KEYS, compactBinding, type AdmissionBinding, type CachedBinding } from '../admission/policies.ts';
import { compactKeysConfigMap, type CachedKeysConfigMap } from './membership-keys.ts';

/** What the manager needs of any informer: lifecycle and health. */
export interface CacheLifecycle {
  readonly name: string;
  readonly hasSynced: boolean;
  readonly lastEventAgeSeconds: number;
  onRestart: (reason: 'error' | 'silence') => void;
  start(): Promise<void>;
  waitForSync(): Promise<void>;
  stop(): Promise<void>;
}

/** Carries the operator's managed-by label (whoever wrote it): the cache keeps a digest only for these. */
export const carriesOurLabel = (p: { metadata: { labels?: Readonly<Record<string, string>> } }): boolean => p.metadata.labels?.[LABEL_MANAGED_BY] === OPERATOR_NAME;
/** Events on these concern the operator: its own policies, and users' that take a reserved name or forge its label. */
export const concernsOperator = (p: CachedPolicy): boolean => carriesOurLabel(p) || p.metadata.name.startsWith(RESERVED_POLICY_PREFIX);

/**
 * The operator's policies as the reconcilers must see them: the cache, corrected by our writes it has not
 * delivered yet, keeping only what isOperatorPolicy accepts (a reserved name owned by a known tenant).
 */
export class ManagedPolicies {
  private readonly informer: ResilientInformer<NetworkPolicy, CachedPolicy>;
  /** Our writes the policy informer has not delivered yet. */
  readonly assumed = new AssumedWrites<CachedPolicy>();
  /** The name of the TenantIsolation with this uid, if the operator knows one. */
  readonly tenantOfUid: (uid: string) => string | undefined;

  constructor(informer: ResilientInformer<NetworkPolicy, CachedPolicy>, tenantOfUid: (uid: string) => string | undefined) {
    this.informer = informer; this.tenantOfUid = tenantOfUid;
  }

  private ours = (p: CachedPolicy | undefined): CachedPolicy | undefined => (p && isOperatorPolicy(p, this.tenantOfUid) ? p : undefined);

  /** The operator's policy `name` in `namespace`, as of our latest write or the cache, whichever is newer. */
  get(namespace: string, name: string): CachedPolicy | undefined {
    return this.ours(this.assumed.resolve(namespace, name, this.informer.get(name, namespace)));
  }

  /** A cached policy that holds a name the operator wants but is not the operator's (a user's, or a forgery). */
  squatter(namespace: string, name: string): CachedPolicy | undefined {
    const p = this.informer.get(name, namespace);
    return p && !isOperatorPolicy(p, this.tenantOfUid) && this.assumed.resolve(namespace, name, p) === p ? p : undefined;
  }

  /** Every operator policy in the namespace (the usual names are looked up even when not cached yet). */
  in(namespace: string): Map<string, CachedPolicy> {
    const names = new Set<string>(MANAGED_POLICY_NAMES);
    for (const p of this.informer.list(namespace)) if (p.metadata.name.startsWith(RESERVED_POLICY_PREFIX)) names.add(p.metadata.name);
    const out = new Map<string, CachedPolicy>();
    for (const n of names) {
      const p = this.get(namespace, n);
      if (p) out.set(n, p);
    }
    return out;
  }
}

/** An admission policy: only whether it exists matters (the gate is installed). */
export interface CachedAdmissionPolicy { metadata: { name: string; uid?: string; resourceVersion?: string } }

export interface ClusterCaches {
  namespaces: ResilientInformer<NamespaceObject>;
  tenants: ResilientInformer<TenantIsolationObject>;
  profiles: ResilientInformer<IsolationProfileObject>;
  /** The cluster baseline (one object, named cluster; others are refused by the CRD). */
  baselines: ResilientInformer<IsolationBaselineObject>;
  /** Every policy with the proof on, else only managed ones. */
  policies: ResilientInformer<NetworkPolicy, CachedPolicy>;
  /** Only with the proof on. */
  pods: ResilientInformer<PodObject, CachedPod> | undefined;
  managed: ManagedPolicies;
  /** Admission policy bindings: the pod-gate ones the operator writes for tenants, and the static ones. */
  bindings: ResilientInformer<AdmissionBinding, CachedBinding>;
  /** ValidatingAdmissionPolicies, to know whether the gate is installed. */
  admissionPolicies: ResilientInformer<CachedAdmissionPolicy>;
  /** The membership guard's param: one ConfigMap in the operator's namespace (field-selected by name). */
  membershipKeys: ResilientInformer<CachedKeysConfigMap & { data?: Record<string, string> }, CachedKeysConfigMap>;
  /** All of them, with the resource name metrics use. */
  all: { resource: string; informer: CacheLifecycle }[];
}

export function buildCaches(rest: RestClient, log: Logger, o: { withProof: boolean; tenantOfUid: (uid: string) => string | undefined; operatorNamespace: string }): ClusterCaches {
  const namespaces = new ResilientInformer<NamespaceObject>(rest, '/api/v1/namespaces', {}, log);
  namespaces.transform = cachedNamespace;
  // TenantIsolations keep spec and status whole (the status is compared), with one copy of each string.
  const tenants = new ResilientInformer<TenantIsolationObject>(rest, `/apis/${API_VERSION}/${PLURAL}`, {}, log);
  tenants.transform = cachedTenant;
  // Profiles and the baseline stay whole too (few objects; their status is compared).
  const profiles = new ResilientInformer<IsolationProfileObject>(rest, `/apis/${API_VERSION}/${PROFILE_PLURAL}`, {}, log);
  const baselines = new ResilientInformer<IsolationBaselineObject>(rest, `/apis/${API_VERSION}/${BASELINE_PLURAL}`, {}, log);
  const policies = new ResilientInformer<NetworkPolicy, CachedPolicy>(rest, '/apis/networking.k8s.io/v1/networkpolicies', {}, log,
    { labelSelector: o.withProof ? undefined : MANAGED_SELECTOR });
  const managed = new ManagedPolicies(policies, o.tenantOfUid);
  const specs = new ValueInterner<NetworkPolicySpec>();
  // Our own writes come back as events of the version we already hashed: reuse that digest.
  const knownDigest = (p: NetworkPolicy): string | undefined => {
    const mine = managed.assumed.peek(p.metadata.namespace, p.metadata.name);
    return mine && mine.metadata.resourceVersion === p.metadata.resourceVersion ? mine.ownedDigest : undefined;
  };
  policies.transform = (p) => compactPolicy(p, {
    string: (s) => strings.intern(s), labels: (l) => labelSets.intern(l), spec: o.withProof ? (s) => specs.intern(s) : undefined, knownDigest,
    // Users' policies (cached for the proof) are never compared with what we want: no digest for them.
    needsDigest: carriesOurLabel,
  });
  const admission = '/apis/admissionregistration.k8s.io/v1';
  const bindings = new ResilientInformer<AdmissionBinding, CachedBinding>(rest, `${admission}/validatingadmissionpolicybindings`, {}, log);
  bindings.transform = compactBinding;
  const admissionPolicies = new ResilientInformer<CachedAdmissionPolicy>(rest, `${admission}/validatingadmissionpolicies`, {}, log);
  admissionPolicies.transform = (p) => ({ metadata: { name: p.metadata.name, uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion } });
  const membershipKeys = new ResilientInformer<CachedKeysConfigMap & { data?: Record<string, string> }, CachedKeysConfigMap>(rest,
    `/api/v1/namespaces/${o.operatorNamespace}/configmaps`, {}, log, { fieldSelector: `metadata.name=${MEMBERSHIP_KEYS}` });
  membershipKeys.transform = compactKeysConfigMap;
  const all: ClusterCaches['all'] = [
    { resource: 'namespaces', informer: namespaces },
    { resource: 'tenantisolations', informer: tenants },
    { resource: PROFILE_PLURAL, informer: profiles },
    { resource: BASELINE_PLURAL, informer: baselines },
    { resource: 'networkpolicies', informer: policies },
    { resource: 'validatingadmissionpolicybindings', informer: bindings },
    { resource: 'validatingadmissionpolicies', informer: admissionPolicies },
    { resource: 'configmaps', informer: membershipKeys },
  ];
  let pods: ResilientInformer<PodObject, CachedPod> | undefined;
  if (o.withProof) {
    // The proof reads every pod too, reduced to the fields analysis needs.
    pods = new ResilientInformer<PodObject, CachedPod>(rest, '/api/v1/pods', {}, log);
    pods.transform = compactPod;
    all.push({ resource: 'pods', informer: pods });
  }
  return { namespaces, tenants, profiles, baselines, policies, pods, managed, bindings, admissionPolicies, membershipKeys, all };
}

const statuses = new ValueInterner<NonNullable<NamespaceObject['status']>>();

/**
 * A TenantIsolation as cached: the metadata the operator reads (annotations go: `kubectl apply` keeps the
 * whole object in one there, a copy per tenant that nothing reads), spec and status with one copy of each string.
 */
function cachedTenant(raw: TenantIsolationObject): TenantIsolationObject {
  const m = raw.metadata;
  return internStrings({
    apiVersion: raw.apiVersion, kind: raw.kind,
    metadata: { name: m.name, uid: m.uid, generation: m.generation, resourceVersion: m.resourceVersion, deletionTimestamp: m.deletionTimestamp, finalizers: m.finalizers, labels: m.labels },
    spec: raw.spec, status: raw.status,
  });
}

/**
 * A namespace as reconcile reads it: name, labels, deletion state and resourceVersion. Built as one
 * literal holding every field (absent ones undefined): a field added to an object after it was made goes
 * to a separate property array, two of them per namespace.
 */
function cachedNamespace(raw: NamespaceObject): NamespaceObject {
  const m = raw.metadata;
  return {
    metadata: { name: strings.intern(m.name), labels: internLabels(m.labels), deletionTimestamp: m.deletionTimestamp, resourceVersion: m.resourceVersion },
    status: raw.status ? statuses.intern({ ...(raw.status.phase !== undefined ? { phase: raw.status.phase } : {}) }) : undefined,
  };
}
