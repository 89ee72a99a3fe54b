// Reconciles one TenantIsolation: finalizer, fan-out to its namespaces when its spec or membership
// changed, and a truthful status built from the namespaces' last reconcile outcomes.
import { FINALIZER, PLURAL, API_VERSION, parseTenant, type Condition, type NamespaceStatus, type TenantIsolationObject, type TenantIsolationStatus } from '../api/schema.ts';
import { FIELD_MANAGER } from '../policy/labels.ts';
import { canonical } from '../policy/diff.ts';
import { isConflict, isNotFound } from '../kube/rest.ts';
import type { ReconcileResult } from '../queue/workqueue.ts';
import { sameConditions, setCondition } from './conditions.ts';
import type { ControllerContext } from './context.ts';

const tenantPath = (name: string): string => `/apis/${API_VERSION}/${PLURAL}/${name}`;

export class TenantReconciler {
  private readonly lastFanout = new Map<string, string>();
  private readonly announcedInvalid = new Map<string, number>();
  /** When each tenant's status was last written: a burst of joins makes one status write per window. */
  private readonly lastStatusWrite = new Map<string, number>();
  static readonly STATUS_WINDOW_MS = 250;
  private readonly ctx: ControllerContext;
  constructor(ctx: ControllerContext) { this.ctx = ctx; }

  forget(name: string): void { this.lastFanout.delete(name); this.announcedInvalid.delete(name); this.lastStatusWrite.delete(name); }

  async reconcile(name: string): Promise<ReconcileResult> {
    const ctx = this.ctx;
    const obj = ctx.tenants.get(name);
    if (!obj) { this.forget(name); return; }
    const withPolicies = [...(ctx.policyNamespacesByTenant.get(name)?.keys() ?? [])];

    if (obj.metadata.deletionTimestamp) {
      if (!obj.metadata.finalizers?.includes(FINALIZER)) return;
      if (withPolicies.length > 0) {
        // The index no longer counts this tenant, so these namespaces now plan without it.
        withPolicies.forEach((ns) => ctx.enqueueNamespace(ns));
        return { requeueAfterMs: 2_000 }; // policy delete events bring us back sooner
      }
      await this.patchFinalizers(obj, (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
      ctx.log.info({ tenant: name }, 'removed all managed policies; released finalizer');
      return;
    }
    if (!obj.metadata.finalizers?.includes(FINALIZER)) {
      await this.patchFinalizers(obj, [...(obj.metadata.finalizers ?? []), FINALIZER]);
    }

    const parsed = parseTenant(obj);
    if (!parsed.ok) {
      if (this.announcedInvalid.get(name) !== parsed.generation) {
        this.announcedInvalid.set(name, parsed.generation);
        ctx.log.warn({ tenant: name, generation: parsed.generation, error: parsed.error }, 'invalid TenantIsolation spec; existing isolation left as it is');
        ctx.events.record({ name, uid: obj.metadata.uid }, 'Warning', 'InvalidSpec', parsed.error);
      }
      await this.writeStatus(obj, invalidStatus(obj, parsed.error));
      return;
    }
    this.announcedInvalid.delete(name);

    const claimed = ctx.index.claimedBy(name);
    const signature = `${obj.metadata.uid}/${parsed.tenant.generation}/${ctx.index.version(name)}`;
    if (this.lastFanout.get(name) !== signature) {
      this.lastFanout.set(name, signature);
      for (const ns of new Set([...claimed, ...withPolicies])) ctx.enqueueNamespace(ns);
    }
    // A namespace without an outcome is queued and will bring us back: writing now would flap
    // the status through Pending (e.g. on every operator start).
    if (claimed.some((ns) => !ctx.outcomes.has(ns))) return;
    const status = this.status(obj, claimed, parsed.tenant.spec.namespaces);
    if (!statusDiffers(obj.status ?? {}, status)) return;
    // Coalesce: within the window after a write, come back once when it ends (the latest state lands).
    // A condition changing status (Ready or Isolated flipping) is written at once; routine updates wait.
    const since = Date.now() - (this.lastStatusWrite.get(name) ?? 0);
    const flipped = (status.conditions ?? []).some((c) => obj.status?.conditions?.find((x) => x.type === c.type)?.status !== c.status);
    if (!flipped && since < TenantReconciler.STATUS_WINDOW_MS) return { requeueAfterMs: TenantReconciler.STATUS_WINDOW_MS - since };
    this.lastStatusWrite.set(name, Date.now());
    await this.writeStatus(obj, status);
    return;
  }

  private status(obj: TenantIsolationObject, claimed: readonly string[], explicit: readonly string[]): TenantIsolationStatus {
    const ctx = this.ctx;
    const gen = obj.metadata.generation ?? 0;
    const namespaces: NamespaceStatus[] = claimed.map((ns) => {
      const o = ctx.outcomes.get(ns);
      if (o?.state === 'Conflict') {
        const others = o.tenants.filter((t) => t !== obj.metadata.name);
        return { name: ns, state: 'Conflict', message: `also claimed by TenantIsolation ${others.join(', ')}; failed closed (default-deny only)` };
      }
      return o ? { name: ns, state: o.state, message: o.message } : { name: ns, state: 'Pending', message: 'waiting for reconcile' };
    });
    for (const ns of explicit) {
      if (!ctx.index.hasNamespace(ns)) namespaces.push({ name: ns, state: 'Pending', message: 'namespace does not exist yet; it is isolated when created' });
    }
    namespaces.sort((a, b) => a.name.localeCompare(b.name));
    const count = (s: string): number => namespaces.filter((n) => n.state === s).length;
    const conflicts = namespaces.filter((n) => n.state === 'Conflict');
    const pending = namespaces.filter((n) => n.state === 'Pending' && ctx.index.hasNamespace(n.name));
    const audit = count('WouldIsolate');
    const now = new Date();
    let conditions: Condition[] = obj.status?.conditions ?? [];
    const set = (type: string, status: Condition['status'], reason: string, message: string): void => {
      conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: gen }, now);
    };
    if (conflicts.length > 0) {
      const first = conflicts[0]!;
      const other = ctx.outcomes.get(first.name)?.tenants.filter((t) => t !== obj.metadata.name).join(', ') ?? '';
      set('Ready', 'False', 'NamespaceConflict', `${conflicts.length} namespace(s) also claimed by another tenant, e.g. ${first.name} by TenantIsolation ${other}; they fail closed`);
    } else if (pending.length > 0) {
      set('Ready', 'False', 'Pending', `${pending.length} of ${namespaces.length} namespace(s) not yet isolated: ${pending.slice(0, 5).map((n) => `${n.name} (${n.message ?? ''})`).join(', ')}`);
    } else if (audit > 0) {
      set('Ready', 'True', 'AuditMode', `Audit mode: ${audit} namespace(s) would be isolated; no policies written`);
    } else {
      set('Ready', 'True', 'Isolated', `${count('Isolated')} namespace(s) isolated`);
    }
    set('Reconciling', pending.length > 0 ? 'True' : 'False', pending.length > 0 ? 'Progressing' : 'Reconciled', pending.length > 0 ? `${pending.length} namespace(s) pending` : 'up to date');
    set('Stalled', 'False', 'Reconciled', 'spec is valid');
    if (ctx.proof) {
      const breaches = ctx.proof.breaches(obj.metadata.name);
      const prev = conditions.find((c) => c.type === 'Isolated');
      if (breaches.length === 0) {
        set('Isolated', 'True', 'NoBreach', 'no undeclared path into or out of the tenant\'s pods: only declared allows, DNS and intra-tenant traffic');
        if (prev?.status === 'False') ctx.events.record({ name: obj.metadata.name, uid: obj.metadata.uid }, 'Normal', 'IsolationRestored', 'No undeclared path into or out of the tenant remains');
      } else {
        const b = breaches[0]!;
        const message = `${b.message}${breaches.length > 1 ? ` (and ${breaches.length - 1} more)` : ''}`;
        set('Isolated', 'False', 'BreachedBy', message.slice(0, 1000));
        if (prev?.status !== 'False') {
          ctx.log.warn({ tenant: obj.metadata.name, breaches: breaches.length, policy: b.policy, peer: b.peer }, 'isolation breached');
          ctx.events.record({ name: obj.metadata.name, uid: obj.metadata.uid }, 'Warning', 'IsolationBreached', message);
        }
      }
    }
    return { observedGeneration: gen, summary: summarize(namespaces), conditions, namespaces };
  }

  private async writeStatus(obj: TenantIsolationObject, next: TenantIsolationStatus): Promise<void> {
    if (!statusDiffers(obj.status ?? {}, next)) return;
    try {
      await this.ctx.rest.mergePatch(`${tenantPath(obj.metadata.name)}/status`, { status: next }, FIELD_MANAGER);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  private async patchFinalizers(obj: TenantIsolationObject, finalizers: string[]): Promise<void> {
    try {
      // resourceVersion makes the merge patch conditional: never clobber someone else's finalizer edit.
      await this.ctx.rest.mergePatch(tenantPath(obj.metadata.name), { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } }, FIELD_MANAGER);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) throw new Error(`TenantIsolation ${obj.metadata.name} changed while updating finalizers; retrying`, { cause: err });
      throw err;
    }
  }
}

/** Equal status (ignoring lastTransitionTime) costs no write. */
function statusDiffers(cur: TenantIsolationStatus, next: TenantIsolationStatus): boolean {
  return !(cur.observedGeneration === next.observedGeneration && cur.summary === next.summary && sameConditions(cur.conditions, next.conditions)
    && JSON.stringify(canonical(cur.namespaces ?? [])) === JSON.stringify(canonical(next.namespaces ?? [])));
}

/** "3/3 isolated", "2/3 isolated, 1 conflict", "2 would isolate (Audit)". */
export function summarize(namespaces: readonly NamespaceStatus[]): string {
  const n = (s: string): number => namespaces.filter((x) => x.state === s).length;
  const audit = n('WouldIsolate');
  if (audit > 0 && audit === namespaces.length) return `${audit} would isolate (Audit)`;
  const extra = [['Pending', 'pending'], ['Conflict', 'conflict'], ['Terminating', 'terminating']]
    .map(([state, word]) => [n(state!), word] as const).filter(([k]) => k > 0).map(([k, word]) => `${k} ${word}`);
  return [`${n('Isolated')}/${namespaces.length} isolated`, ...extra].join(', ');
}

function invalidStatus(obj: TenantIsolationObject, error: string): TenantIsolationStatus {
  const gen = obj.metadata.generation ?? 0;
  const now = new Date();
  let c = obj.status?.conditions ?? [];
  const message = `${error}. Existing isolation is left as it was until the spec is fixed.`;
  c = setCondition(c, { type: 'Ready', status: 'False', reason: 'InvalidSpec', message, observedGeneration: gen }, now);
  c = setCondition(c, { type: 'Reconciling', status: 'False', reason: 'InvalidSpec', message: 'waiting for a valid spec', observedGeneration: gen }, now);
  c = setCondition(c, { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message, observedGeneration: gen }, now);
  return { observedGeneration: gen, summary: 'invalid spec', conditions: c, namespaces: obj.status?.namespaces ?? [] };
}
