// Bad input in bulk: property-based TenantIsolation specs and NetworkPolicies (fast-check), near-valid
// and garbage alike, thrown at the real apiserver and a running operator. Every spec is either refused
// by the CRD with a message naming a field, or accepted and ends Ready or InvalidSpec naming the field;
// every policy is refused by the apiserver or analysed without harm. The operator never crashes or
// hot-loops, and an existing tenant's isolation is untouched. TIO_FUZZ_RUNS sets the number of specs
// (default 100, a few seconds).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOperator } from '../../src/cli/run.ts';
import { ApiError } from '../../src/kube/rest.ts';
import {
  MANAGED_POLICIES, applyTenant, condition, createNamespace, deleteTenant, eventually, getTenant, isolatedWith, policies, rest, settled, startTestOperator, unique,
} from '../harness/cluster.ts';

const RUNS = Number(process.env.TIO_FUZZ_RUNS ?? 100);
const FUZZ_LABEL = 'fuzz.tenancy.dev/tenant';

// Mostly valid values, with invalid ones next to them now and then (one value in 25: a spec has dozens),
// so that a good share of specs passes the CRD and reaches the operator.
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ weight: 24, arbitrary: valid }, { weight: 1, arbitrary: invalid });
const labelKey = mostly(fc.constantFrom(FUZZ_LABEL, 'app', 'team', 'example.com/x', 'kubernetes.io/metadata.name'), fc.oneof(fc.constantFrom('-bad', 'x'.repeat(64), 'a b', ''), fc.string({ maxLength: 12 })));
const labelValue = mostly(fc.constantFrom('ok', 'web', 'a.b_c-d', ''), fc.oneof(fc.constantFrom('-bad', 'x'.repeat(64), 'ünï'), fc.string({ maxLength: 8 })));
// 'web--http' passes the CRD's pattern and fails the operator's validation: InvalidSpec.
const port = mostly(fc.oneof(fc.integer({ min: 1, max: 65_535 }), fc.constantFrom('http', 'dns-tcp', 'web--http')), fc.oneof(fc.constantFrom(0, -1, 70_000, 'x'.repeat(16), 'HTTP', '8080', ''), fc.string({ maxLength: 6 })));
const protocol = mostly(fc.constantFrom('TCP', 'UDP', 'SCTP'), fc.constantFrom('tcp', 'ICMP'));
const networkPort = mostly(
  fc.oneof(
    fc.record({ protocol, port }, { requiredKeys: [] }),
    fc.tuple(protocol, fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 0, max: 5_000 })).map(([protocol, port, span]) => ({ protocol, port, endPort: port + span }))),
  fc.record({ protocol, port, endPort: fc.integer({ min: -1, max: 70_000 }) }));
const cidr = mostly(fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '203.0.113.0/24', 'fd00::/8', '0.0.0.0/0'), fc.constantFrom('10.0.0.1', '300.0.0.0/8', '10.0.0.0/33', 'garbage'));
const requirement = mostly(
  fc.oneof(
    fc.record({ key: labelKey, operator: fc.constantFrom('In', 'NotIn'), values: fc.array(labelValue, { minLength: 1, maxLength: 3 }) }),
    fc.record({ key: labelKey, operator: fc.constantFrom('Exists', 'DoesNotExist') })),
  fc.record({ key: labelKey, operator: fc.constantFrom('In', 'Exists', 'Equals'), values: fc.array(labelValue, { maxLength: 2 }) }));
const selector = fc.record({ matchLabels: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }), matchExpressions: fc.array(requirement, { maxLength: 2 }) }, { requiredKeys: [] });
const ipBlock = fc.record({ cidr, except: fc.array(cidr, { maxLength: 1 }) }, { requiredKeys: ['cidr'] });
const peer = mostly(
  fc.oneof(fc.record({ namespaceSelector: selector }), fc.record({ podSelector: selector }), fc.record({ namespaceSelector: selector, podSelector: selector }), fc.record({ ipBlock })),
  fc.oneof(fc.constant({}), fc.record({ namespaceSelector: selector, ipBlock })));
const rule = fc.tuple(peer, fc.array(networkPort, { maxLength: 2 })).map(([p, ports]) => ({ ...p, ports }));
const spec = fc.record({
  // Any selector, ANDed with a label no namespace carries: generated tenants claim nothing real.
  namespaceSelector: selector.map((sel) => ({ ...sel, matchLabels: { ...sel.matchLabels, [FUZZ_LABEL]: 'nobody' } })),
  namespaces: fc.array(mostly(fc.constantFrom('fuzz-missing-a', 'fuzz-missing-b'), fc.constantFrom('UPPER', 'a'.repeat(64), '')), { maxLength: 2 }),
  mode: mostly(fc.constantFrom('Enforce', 'Audit'), fc.constantFrom('enforce', '')),
  defaultDeny: fc.record({ ingress: mostly(fc.boolean(), fc.constant('yes')), egress: fc.boolean() }, { requiredKeys: [] }),
  dns: fc.record({ enabled: fc.boolean(), namespace: mostly(fc.constantFrom('kube-system', 'dns'), fc.constantFrom('Kube_System', '')), ports: fc.array(networkPort, { minLength: 1, maxLength: 2 }), ipBlocks: fc.array(fc.record({ cidr }), { maxLength: 1 }) }, { requiredKeys: [] }),
  intraTenant: fc.record({ enabled: fc.boolean() }),
  allow: fc.record({ ingressFrom: fc.array(rule, { maxLength: 2 }), egressTo: fc.array(rule, { maxLength: 2 }) }, { requiredKeys: [] }),
}, { requiredKeys: [] });
// NetworkPolicies users write: the apiserver's validation decides, the analyzer must cope with the rest.
const userPolicy = fc.record({
  podSelector: selector,
  policyTypes: mostly(fc.subarray(['Ingress', 'Egress']), fc.constant(['Other'])),
  ingress: fc.array(fc.record({ from: fc.array(peer, { maxLength: 2 }), ports: fc.array(networkPort, { maxLength: 2 }) }, { requiredKeys: [] }), { maxLength: 2 }),
  egress: fc.array(fc.record({ to: fc.array(peer, { maxLength: 2 }), ports: fc.array(networkPort, { maxLength: 2 }) }, { requiredKeys: [] }), { maxLength: 2 }),
}, { requiredKeys: ['podSelector'] });

let op: RunningOperator;
beforeAll(async () => { op = await startTestOperator({ concurrency: 4 }); });
afterAll(async () => { await op.stop(); });

describe('bad input in bulk', () => {
  it('every generated spec is refused with a message or ends Ready or InvalidSpec naming the field; existing isolation is untouched', async () => {
    const r = await rest();
    // The tenant whose isolation must not move, with a namespace that takes the generated user policies.
    const sentinel = unique('t-sentinel');
    const members = [unique('fuzz-a'), unique('fuzz-b')];
    for (const n of members) await createNamespace(n, { tenant: sentinel });
    await applyTenant(sentinel, { namespaceSelector: { matchLabels: { tenant: sentinel } } });
    for (const n of members) await isolatedWith(n, MANAGED_POLICIES);
    await settled(op, { namespaces: members, tenants: [sentinel] });
    const managed = async () => JSON.stringify(await Promise.all(members.map(async (n) => (await policies(n))
      .filter((p) => p.metadata.name.startsWith('tenant-isolation-')).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`))));
    const before = await managed();

    const counts = { specs: 0, refusedByCrd: 0, ready: 0, invalidSpec: 0, policies: 0, policiesRefused: 0, policiesAccepted: 0 };
    const tenants: string[] = [];
    const refusedFields: Record<string, number> = {};
    try {
      await fc.assert(fc.asyncProperty(spec, userPolicy, async (s, np) => {
        counts.specs++;
        const name = unique('t-fuzz');
        try {
          await applyTenant(name, s);
        } catch (e) {
          expect(e).toBeInstanceOf(ApiError);
          const err = e as ApiError;
          // A value of the wrong type in an apply patch is answered 500 "failed to create typed patch
          // object" by the apiserver (kubernetes/kubernetes#139253, a 400 in the making); still with the field.
          if (err.status === 500) expect(err.message).toMatch(/failed to create typed patch object .*: \.spec\./);
          else expect([400, 422]).toContain(err.status);
          // The refusal names the field (a cause's field, or spec.* in the message).
          expect(err.causes.some((c) => c.field?.startsWith('spec')) || /spec\./.test(err.message)).toBe(true);
          counts.refusedByCrd++;
          const field = (err.causes[0]?.field ?? /(\.?spec[^:\s]*)/.exec(err.message)?.[1] ?? '?').replace(/\[\d+\]/g, '[]');
          refusedFields[field] = (refusedFields[field] ?? 0) + 1;
          return;
        }
        tenants.push(name);
        const ready = await eventually(async () => {
          const t = await getTenant(name);
          const c = t?.status?.conditions?.find((x) => x.type === 'Ready');
          return t?.status?.observedGeneration === t?.metadata.generation && c ? c : undefined;
        }, `${name} to report Ready for its generation`);
        if (ready.reason === 'InvalidSpec') {
          expect(ready.status).toBe('False');
          expect(ready.message).toMatch(/spec\./);
          expect((await condition(name, 'Stalled'))?.status).toBe('True');
          counts.invalidSpec++;
        } else {
          expect(ready.status, `${name}: ${ready.reason} ${ready.message}`).toBe('True');
          expect(['Isolated', 'AuditMode']).toContain(ready.reason);
          counts.ready++;
        }
        counts.policies++;
        await r.create(`/apis/networking.k8s.io/v1/namespaces/${members[0]}/networkpolicies`, {
          apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: unique('fuzz-user') }, spec: np,
        }, 'tests').then(() => { counts.policiesAccepted++; }, (e: unknown) => {
          expect((e as ApiError).status).toBe(422);
          counts.policiesRefused++;
        });
      }), { numRuns: RUNS, seed: Number(process.env.TIO_FUZZ_SEED ?? 42), endOnFailure: true });

      // Nothing hot-loops, nothing is left failing, and the sentinel's policies did not move.
      await settled(op, { namespaces: members, tenants: [sentinel, ...tenants] });
      for (const t of [sentinel, ...tenants]) {
        expect(op.manager.tenantController.queue.isScheduled(t), `${t} scheduled for a retry`).toBe(false);
        expect(op.manager.tenantController.queue.failures(t), `${t} failing`).toBe(0);
      }
      for (const n of members) expect(op.manager.namespaceController.queue.failures(n), `${n} failing`).toBe(0);
      expect(await managed()).toBe(before);
      // and the operator still works: a new member is isolated.
      const late = unique('fuzz-late');
      await createNamespace(late, { tenant: sentinel });
      await isolatedWith(late, MANAGED_POLICIES);
      console.log(JSON.stringify({ fuzz: counts, refusedFields }));
      expect(counts.refusedByCrd + counts.ready + counts.invalidSpec).toBe(counts.specs);
      // Not vacuous: specs reached the operator, some of them refused by it (InvalidSpec), not only by the CRD.
      // (4 of the default 100 specs end InvalidSpec; far fewer runs, or another seed, may draw none.)
      expect(counts.ready + counts.invalidSpec, 'no generated spec passed the CRD').toBeGreaterThan(0);
      expect(counts.invalidSpec, 'no generated spec ended InvalidSpec: raise TIO_FUZZ_RUNS or try another TIO_FUZZ_SEED').toBeGreaterThan(0);
    } finally {
      // While the operator runs, and until it has removed the finalizers: nothing is left for later files.
      for (const t of [...tenants, sentinel]) await deleteTenant(t).catch(() => undefined);
      for (const t of [...tenants, sentinel]) await eventually(async () => (await getTenant(t)) === undefined, `${t} to be deleted`, 60_000);
    }
  }, 600_000);
});
