// The floor the benchmarks compare the operator with: a plain client that watches namespaces and, the
// moment it sees one labelled `<label-key>=<tenant>`, creates the policies the operator would write there
// for that tenant (the same objects, from the same pure function), all at once, then patches the
// namespace's labels once, as the operator marks a namespace isolated and a member (lib.ts
// floorNamespaceLabels). Nothing else: no queue, no status, no events. It runs as a process of its own,
// as the operator does, and prints "ready" once its caches are synced.
//   node bench/floor-client.ts --kubeconfig PATH --label-key KEY [--tenant-prefix P] [--peers MembershipLabel|NamespaceNames]
// Its tenants are ClusterRoles labelled `bench-floor-owner` (no rules) whose name starts with the prefix: each owns its tenant's policies as a
// TenantIsolation owns the operator's (an owner reference of about the same size), while the operator,
// which counts as its own only policies owned by a TenantIsolation, leaves them alone. Its policies carry
// app.kubernetes.io/managed-by=bench-floor, and names outside the operator's reserved prefix (lib.ts floorPolicyName).
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { tenantIsolationSpec, type PeerMode, type ValidTenant } from '../src/api/schema.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { RestClient } from '../src/kube/rest.ts';
import { inNamespace, memberTemplates } from '../src/policy/desired.ts';
import { LABEL_MANAGED_BY } from '../src/policy/labels.ts';
import { floorPolicyName } from './lib.ts';
import type { NamespaceObject } from '../src/policy/types.ts';
import { FLOOR_MANAGER, FLOOR_OWNER_LABEL, floorNamespaceLabels } from './lib.ts';

const { values } = parseArgs({ options: {
  kubeconfig: { type: 'string' }, 'label-key': { type: 'string' }, peers: { type: 'string', default: 'MembershipLabel' }, 'tenant-prefix': { type: 'string', default: '' },
} });
if (!values.kubeconfig) throw new Error('--kubeconfig: required');
const key = values['label-key'];
if (!key) throw new Error('--label-key: required (the namespace label whose value names the floor\'s tenant)');
if (values.peers !== 'MembershipLabel' && values.peers !== 'NamespaceNames') throw new Error('--peers: MembershipLabel or NamespaceNames');
const peers: PeerMode = values.peers;

const log = pino({ level: 'warn' });
const rest = await RestClient.create(loadKubeConfig(values.kubeconfig));
const tenants = new Map<string, ValidTenant>();
const members = new Map<string, string[]>();
interface Owner { metadata: { name: string; uid: string; resourceVersion?: string } }
const spec = (name: string) => tenantIsolationSpec.parse({ namespaceSelector: { matchLabels: { [key]: name } } });
const tenantWatch = new ResilientInformer<Owner>(rest, '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
  add: (o) => {
    if (o.metadata.name.startsWith(values['tenant-prefix'])) tenants.set(o.metadata.name, { name: o.metadata.name, uid: o.metadata.uid, generation: 1, spec: spec(o.metadata.name) });
  },
}, log, { labelSelector: FLOOR_OWNER_LABEL });

async function isolate(ns: string, tenant: ValidTenant): Promise<void> {
  const list = members.get(tenant.name) ?? [];
  list.push(ns);
  members.set(tenant.name, list);
  const owner = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: tenant.name, uid: tenant.uid, controller: true, blockOwnerDeletion: true };
  const policies = memberTemplates(tenant, list, peers).map((t) => inNamespace(t, ns));
  await Promise.all(policies.map((p) => rest.create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
    { ...p, metadata: { ...p.metadata, name: floorPolicyName(p.metadata.name), labels: { ...p.metadata.labels, [LABEL_MANAGED_BY]: FLOOR_MANAGER }, ownerReferences: [owner] } }, FLOOR_MANAGER)));
  await rest.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: floorNamespaceLabels(tenant.name) } }, FLOOR_MANAGER);
}

const seen = new Set<string>();
const namespaceWatch = new ResilientInformer<NamespaceObject>(rest, '/api/v1/namespaces', {
  add: (ns) => {
    const t = tenants.get(ns.metadata.labels?.[key] ?? '');
    if (!t || seen.has(ns.metadata.name)) return;
    seen.add(ns.metadata.name);
    isolate(ns.metadata.name, t).catch((e: unknown) => { process.stderr.write(`floor: ${ns.metadata.name}: ${String(e)}\n`); });
  },
}, log);
await tenantWatch.start();
await tenantWatch.waitForSync();
await namespaceWatch.start();
await namespaceWatch.waitForSync();
process.stdout.write('ready\n');
process.once('SIGTERM', () => { void Promise.all([tenantWatch.stop(), namespaceWatch.stop()]).finally(() => { rest.close(); process.exit(0); }); });
