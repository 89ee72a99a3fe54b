// Reconciles one IsolationProfile's status: whether it is valid and which tenants inherit from it
// (fleet-status.ts, pure). What a profile changes in the tenants is the handlers' and the namespace
// controller's work; this controller only reports.
import type { Logger } from 'pino';
import { API_VERSION, PROFILE_KIND, PROFILE_PLURAL } from '../api/schema.ts';
import type { IsolationProfileObject } from '../api/profile.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { isNotFound, type RestClient } from '../kube/rest.ts';
import { FIELD_MANAGER } from '../policy/labels.ts';
import type { ReconcileResult } from '../queue/workqueue.ts';
import { fleetStatusDiffers, profileStatus, statusPatch } from './fleet-status.ts';
import type { ProfileIndex } from './profile-index.ts';

export interface ProfileReconcilerDeps {
  rest: RestClient;
  events: EventRecorder;
  profiles: ResilientInformer<IsolationProfileObject>;
  index: ProfileIndex;
}

export class ProfileReconciler {
  /** A burst of tenants joining a profile makes one status write per window. */
  static readonly STATUS_WINDOW_MS = 500;
  private readonly lastWrite = new Map<string, number>();
  private readonly d: ProfileReconcilerDeps;

  constructor(deps: ProfileReconcilerDeps) { this.d = deps; }

  async reconcile(name: string, log: Logger): Promise<ReconcileResult> {
    const obj = this.d.profiles.get(name);
    if (!obj || obj.metadata.deletionTimestamp) { this.lastWrite.delete(name); return; }
    const result = profileStatus(obj, this.d.index.tenantsOf(name), new Date());
    if (!fleetStatusDiffers(obj.status, result.status)) return;
    const since = Date.now() - (this.lastWrite.get(name) ?? 0);
    if (result.events.length === 0 && since < ProfileReconciler.STATUS_WINDOW_MS) return { requeueAfterMs: ProfileReconciler.STATUS_WINDOW_MS - since };
    this.lastWrite.set(name, Date.now());
    try {
      await this.d.rest.mergePatch(`/apis/${API_VERSION}/${PROFILE_PLURAL}/${name}/status`, { status: statusPatch(obj.status, result.status) }, FIELD_MANAGER);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const e of result.events) {
      log.warn({ profile: name, message: e.message }, 'invalid IsolationProfile; its tenants fail closed');
      this.d.events.record({ name, uid: obj.metadata.uid, kind: PROFILE_KIND }, e.type, e.reason, e.message);
    }
    return undefined;
  }
}
