// Keeps the membership guard's one param, the ConfigMap tenant-isolation-membership-keys in the operator's
// namespace, listing every label key a TenantIsolation's namespaceSelector reads (src/admission/policies.ts
// membershipKeys). Written by server-side apply only when the key set changes: a no-op resync and a
// restart with the ConfigMap as wanted make no write. Run by the gate controller, before the bindings.
import type { Logger } from 'pino';
import { MEMBERSHIP_KEYS, MEMBERSHIP_KEYS_FIELD, membershipKeys, membershipKeysConfigMap, membershipKeysValue } from '../admission/policies.ts';
import type { TenantIsolationObject } from '../api/schema.ts';
import { AssumedWrites } from '../kube/assumed.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import type { RestClient } from '../kube/rest.ts';
import { FIELD_MANAGER } from '../policy/labels.ts';

/** The ConfigMap as the operator caches it: identity and the guarded keys (undefined: no labelKeys field). */
export interface CachedKeysConfigMap { metadata: { name: string; namespace?: string; resourceVersion?: string }; labelKeys: string | undefined }

export const compactKeysConfigMap = (c: { metadata: { name: string; namespace?: string; resourceVersion?: string }; data?: Record<string, string> }): CachedKeysConfigMap => ({
  metadata: { name: c.metadata.name, namespace: c.metadata.namespace, resourceVersion: c.metadata.resourceVersion },
  labelKeys: c.data?.[MEMBERSHIP_KEYS_FIELD],
});

/** The keys a stored labelKeys value guards. */
export const keysOf = (value: string | undefined): Set<string> => new Set((value ?? '').split(',').filter(Boolean));

export class MembershipKeys {
  private readonly rest: RestClient;
  private readonly informer: ResilientInformer<CachedKeysConfigMap & { data?: Record<string, string> }, CachedKeysConfigMap>;
  private readonly tenants: ResilientInformer<TenantIsolationObject>;
  readonly namespace: string;
  /** Our last write until the informer delivers it or anything newer (or a delete). */
  private readonly written = new AssumedWrites<CachedKeysConfigMap>();

  constructor(rest: RestClient, informer: MembershipKeys['informer'], tenants: ResilientInformer<TenantIsolationObject>, namespace: string) {
    this.rest = rest; this.informer = informer; this.tenants = tenants; this.namespace = namespace;
  }

  /** The ConfigMap as stored (the cache). */
  get stored(): CachedKeysConfigMap | undefined { return this.informer.get(MEMBERSHIP_KEYS, this.namespace); }

  /** The keys the apiserver guards now, as far as the cache tells. */
  guarded(): Set<string> { return keysOf(this.stored?.labelKeys); }

  /** An informer event: once our write comes back (or anything newer, or a delete), the cache is the truth again. */
  observed(c: CachedKeysConfigMap, deleted = false): void {
    this.written.observe(this.namespace, MEMBERSHIP_KEYS, c.metadata.resourceVersion, deleted);
  }

  /** Writes the ConfigMap when the keys differ from what is stored; whether it wrote. */
  async sync(log: Logger): Promise<boolean> {
    const keys = membershipKeys(this.tenants.list());
    const value = membershipKeysValue(keys);
    if (this.written.resolve(this.namespace, MEMBERSHIP_KEYS, this.stored)?.labelKeys === value) return false;
    const path = `/api/v1/namespaces/${this.namespace}/configmaps/${MEMBERSHIP_KEYS}`;
    // force: take data.labelKeys back from whoever else set it (only a cluster-admin can, past the guard).
    const out = await this.rest.apply<Parameters<typeof compactKeysConfigMap>[0]>(path, membershipKeysConfigMap(this.namespace, keys), FIELD_MANAGER, true);
    this.written.assume(compactKeysConfigMap(out));
    log.info({ configMap: `${this.namespace}/${MEMBERSHIP_KEYS}`, keys }, 'wrote the membership keys');
    return true;
  }
}
