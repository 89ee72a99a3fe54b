// What the reconcilers share: read-only caches and indexes fed by informers, and the ways to act.
import type { Logger } from 'pino';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject } from '../policy/types.ts';
import type { CachedPolicy } from '../policy/diff.ts';
import type { TenantIsolationObject, NamespaceState } from '../api/schema.ts';
import type { RestClient } from '../kube/rest.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { AssumedWrites } from '../kube/assumed.ts';
import type { IsolationProof } from './isolation-proof.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';

export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/** The last result of reconciling a namespace: what a tenant's status reports for it. */
export interface NamespaceOutcome {
  state: NamespaceState;
  message: string;
  /** Tenants that claimed the namespace when it was reconciled (their status shows it). */
  tenants: readonly string[];
}

export interface ControllerContext {
  log: Logger;
  rest: RestClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  index: MembershipIndex;
  namespaces: Cache<NamespaceObject>;
  tenants: Cache<TenantIsolationObject>;
  policies: Cache<CachedPolicy>;
  /** Our writes the policy informer has not delivered yet. */
  assumed: AssumedWrites<CachedPolicy>;
  /** Digest of what we last applied, by namespace then policy name: tells someone's tampering from a declared change. */
  lastApplied: Map<string, Map<string, string>>;
  /** Tenants whose spec is invalid: their namespaces are frozen as they are. */
  invalidTenants: Map<string, string>;
  /** tenant -> namespaces holding a managed policy labelled with it. */
  policyNamespacesByTenant: Map<string, Map<string, number>>;
  outcomes: Map<string, NamespaceOutcome>;
  /** The reachability proof (undefined with --isolation-proof=false). */
  proof: IsolationProof | undefined;
  /** When each namespace became a member and is not yet isolated (time-to-isolation). */
  memberSince: Map<string, number>;
  enqueueNamespace(name: string, priority?: boolean): void;
  enqueueTenant(name: string): void;
}

export const nsKey = (name: string): string => `ns/${name}`;
export const tenantKey = (name: string): string => `ti/${name}`;

export const isTerminating = (ns: NamespaceObject): boolean =>
  ns.metadata.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating';

export const policyPath = (namespace: string, name?: string): string =>
  `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies${name ? `/${name}` : ''}`;
