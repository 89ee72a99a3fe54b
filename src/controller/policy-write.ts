// How the namespace controller writes one of its policies (a create, or a replace guarded by the
// resourceVersion it was read at), apart from the reconciler so its retry and clash rules are testable.
//
// Why not server-side apply for the update: the create leaves an Update-operation entry in managedFields,
// so every later apply made the apiserver merge two managers' field sets (a profile edit of 1 000
// policies cost it 3.3-4.1 CPU-seconds by apply, 1.8-2.2 by replace: docs/benchmarks.md), and an apply
// keeps fields other managers own (an ingress rule added to our default-deny with kubectl edit), which then
// took a second write to remove. The operator owns these objects whole: one replace says exactly what
// they hold, and leaves one managedFields entry.
import { strings } from '../kube/intern.ts';
import { isAlreadyExists, isConflict, isNotFound, type RestClient } from '../kube/rest.ts';
import { compactPolicy, type CachedPolicy } from '../policy/diff.ts';
import { FIELD_MANAGER } from '../policy/labels.ts';
import type { NetworkPolicy } from '../policy/types.ts';

export const policyPath = (namespace: string, name?: string): string =>
  `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies${name ? `/${name}` : ''}`;

export type PolicyWrite = { outcome: 'written'; stored: CachedPolicy } | { outcome: 'clash' };

const share = { string: (s: string) => strings.intern(s) };

/**
 * Writes `desired`: a create when the operator knows no policy of that name (`current` undefined), so that
 * a name someone else's policy holds fails (AlreadyExists) instead of being taken over; else a replace of
 * `current`. A replace that meets someone else's write in between (Conflict, or NotFound) reads the policy
 * once more and tries again. A name held by a policy that is not the operator's (`isOurs`) is a clash:
 * never overwritten.
 */
export async function writePolicy(rest: Pick<RestClient, 'create' | 'get' | 'update'>, isOurs: (p: CachedPolicy) => boolean,
  desired: NetworkPolicy, current: CachedPolicy | undefined): Promise<PolicyWrite> {
  const path = policyPath(desired.metadata.namespace, desired.metadata.name);
  let resourceVersion = current?.metadata.resourceVersion;
  for (let attempt = 0; ; attempt++) {
    if (resourceVersion === undefined) {
      try {
        return { outcome: 'written', stored: compactPolicy(await rest.create<NetworkPolicy>(policyPath(desired.metadata.namespace), desired, FIELD_MANAGER), share) };
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      // The name is taken: by the operator's own policy the cache has not shown yet, or by someone else's.
      const found = compactPolicy(await rest.get<NetworkPolicy>(path), share);
      if (!isOurs(found)) return { outcome: 'clash' };
      resourceVersion = found.metadata.resourceVersion;
    }
    try {
      const body = { ...desired, metadata: { ...desired.metadata, resourceVersion } };
      return { outcome: 'written', stored: compactPolicy(await rest.update<NetworkPolicy>(path, body, FIELD_MANAGER), share) };
    } catch (err) {
      if (attempt > 0 || !(isConflict(err) || isNotFound(err))) throw err;
    }
    // Changed or deleted since it was read: read it again, once.
    try {
      const live = compactPolicy(await rest.get<NetworkPolicy>(path), share);
      if (!isOurs(live)) return { outcome: 'clash' };
      resourceVersion = live.metadata.resourceVersion;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      resourceVersion = undefined;
    }
  }
}

/**
 * Runs a namespace's writes together and ends only once every one has: with the first failure thrown
 * (as Promise.all would), but not before the others have settled. Promise.all rejects at the first failure
 * while its siblings still run (one may sleep through a 429 and retry for seconds), the queue then lets the
 * namespace's retry start, and a leftover write of the older plan could land after the retry's and
 * restore a policy the retry had removed.
 */
export async function allWritten<T>(writes: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(writes);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
