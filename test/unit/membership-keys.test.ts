// The operator's own ConfigMap write, remembered until the informer delivers it: whichever comes first (the
// watch event or the write's response), a cluster-admin's later edit or delete is repaired, and a stored
// ConfigMap as wanted is never written again.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MEMBERSHIP_KEYS } from '../../src/admission/policies.ts';
import type { TenantIsolationObject } from '../../src/api/schema.ts';
import { MembershipKeys, type CachedKeysConfigMap } from '../../src/controller/membership-keys.ts';
import type { ResilientInformer } from '../../src/kube/informer.ts';
import type { RestClient } from '../../src/kube/rest.ts';

const log = pino({ level: 'silent' });
const tenant = { metadata: { name: 'acme' }, spec: { namespaceSelector: { matchLabels: { 'example.com/team': 'a' } } } } as unknown as TenantIsolationObject;

/** A cluster of one ConfigMap: `deliver` plays the watch event; `echoFirst` delivers a write's event before its response. */
function cluster(echoFirst: boolean) {
  let stored: CachedKeysConfigMap | undefined;
  let rv = 100;
  let writes = 0;
  const informer = { get: (name: string) => (name === MEMBERSHIP_KEYS ? stored : undefined) } as unknown as ConstructorParameters<typeof MembershipKeys>[1];
  const tenants = { list: () => [tenant] } as unknown as ResilientInformer<TenantIsolationObject>;
  const box: { keys?: MembershipKeys } = {};
  const deliver = (labelKeys: string | undefined): void => {
    stored = labelKeys === undefined ? undefined : { metadata: { name: MEMBERSHIP_KEYS, namespace: 'ops', resourceVersion: String(++rv) }, labelKeys };
    box.keys!.observed(stored ?? { metadata: { name: MEMBERSHIP_KEYS, namespace: 'ops', resourceVersion: String(++rv) }, labelKeys: undefined }, labelKeys === undefined);
  };
  let pending: (() => void) | undefined;
  const rest = {
    apply: (_path: string, body: { data: { labelKeys: string } }) => {
      writes++;
      const out = { metadata: { name: MEMBERSHIP_KEYS, namespace: 'ops', resourceVersion: String(rv + 1) }, data: body.data };
      if (echoFirst) deliver(body.data.labelKeys); else pending = () => deliver(body.data.labelKeys);
      return Promise.resolve(out);
    },
  } as unknown as RestClient;
  const keys = new MembershipKeys(rest, informer, tenants, 'ops');
  box.keys = keys;
  return { keys, deliver, flush: () => { pending?.(); pending = undefined; }, writes: () => writes };
}

describe('MembershipKeys.sync', () => {
  for (const echoFirst of [true, false]) {
    it(`repairs an edit and a delete after its own write (the echo ${echoFirst ? 'before' : 'after'} the response)`, async () => {
      const c = cluster(echoFirst);
      expect(await c.keys.sync(log)).toBe(true);
      expect(await c.keys.sync(log)).toBe(false); // written, whether or not seen yet
      c.flush();
      expect(await c.keys.sync(log)).toBe(false);
      expect(c.writes()).toBe(1);
      c.deliver('tenant'); // a cluster-admin's edit
      expect(await c.keys.sync(log)).toBe(true);
      c.flush();
      expect(c.keys.guarded()).toEqual(new Set(['example.com/team']));
      c.deliver(undefined); // a cluster-admin's delete
      expect(await c.keys.sync(log)).toBe(true);
      c.flush();
      expect(await c.keys.sync(log)).toBe(false);
      expect(c.writes()).toBe(3);
    });
  }
});
