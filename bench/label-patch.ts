// Benchmark (not a test): what the membership guard (tenant-isolation-membership) costs a namespace UPDATE
// as the number of tenants grows. Prints one JSON document.
//   node bench/label-patch.ts [--tenants 0,200,1000] [--patches 300] [--rounds 2]
// For each tenant count (tenants are added, never removed; all select by one label key, bench-tenant, the
// common shape), round trips of a merge patch changing an unguarded label on one namespace:
//   asUser     a ServiceAccount that may patch namespaces but holds no membership grant: the operator's own
//              label writes and a namespace admin's take this path (the guard evaluates its CEL)
//   asAdmin    cluster-admin (the guard's matchCondition lets a membership editor through)
//   noGuard    as asUser, with the guard's binding matching nothing: the floor, measured in the same run
// Rounds alternate guard on / off (off: the guard's binding matches nothing). Every phase starts at quiescence (bench/lib.ts quiescent). The operator
// runs throughout (it keeps what the guard reads).
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../src/kube/config.ts';
import { RestClient } from '../src/kube/rest.ts';
import { applyTenant, cluster, pool, quiescent, round, startOperatorProcess, stats } from './lib.ts';

const { values } = parseArgs({ options: {
  tenants: { type: 'string', default: '0,200,1000' }, patches: { type: 'string', default: '300' }, rounds: { type: 'string', default: '2' },
} });
const COUNTS = values.tenants.split(',').map(Number);
const PATCHES = Number(values.patches);
const ROUNDS = Number(values.rounds);
if (COUNTS.some((n, i) => !Number.isInteger(n) || n < 0 || (i > 0 && n < COUNTS[i - 1]!))) throw new Error('--tenants: ascending whole numbers, e.g. 0,200,1000');
const run = Date.now().toString(36);

const c = await cluster();
const kubectl = (...args: string[]): string => execFileSync(c.kubectl, ['--kubeconfig', c.kubeconfig, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
// Off: the binding matches no namespace (an objectSelector nothing carries). Deleting it instead would stop
// kube-apiserver's ConfigMap param informer for good (kubernetes#130887) and freeze the guard's param.
const bindingSelector = (sel: object | null): void => { kubectl('patch', 'validatingadmissionpolicybinding', 'tenant-isolation-membership', '--type', 'merge', '-p', JSON.stringify({ spec: { matchResources: { objectSelector: sel } } })); };
const guardOff = (): void => { bindingSelector({ matchLabels: { 'bench-never': 'x' } }); };
const guardOn = (): void => { bindingSelector(null); };

// A user who may patch namespaces and nothing about membership.
const ns = `b${run}-patched`;
kubectl('create', 'namespace', ns);
kubectl('create', 'serviceaccount', 'patcher', '-n', ns);
kubectl('create', 'clusterrole', `b${run}-patcher`, '--verb=get,patch', '--resource=namespaces');
kubectl('create', 'clusterrolebinding', `b${run}-patcher`, `--clusterrole=b${run}-patcher`, `--serviceaccount=${ns}:patcher`);
const token = kubectl('create', 'token', 'patcher', '-n', ns, '--duration=6h').trim();
const admin = loadKubeConfig(c.kubeconfig);
const user = await RestClient.create({ source: 'bench patcher', server: admin.server, tls: { ca: admin.tls.ca, rejectUnauthorized: admin.tls.rejectUnauthorized }, authorization: () => Promise.resolve(`Bearer ${token}`) });

let k = 0;
async function patches(client: RestClient): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < PATCHES; i++) {
    const t0 = performance.now();
    await client.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { 'bench-color': `c${k++}` } } }, 'bench');
    xs.push(performance.now() - t0);
  }
  return xs;
}
/** Barrier: the apiserver evaluates the guard (on) or not (off): a guarded key change by the user is refused exactly while it is on. */
async function guardInForce(on: boolean): Promise<void> {
  for (;;) {
    const refused = await user.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { 'bench-tenant': `probe-${k++}` } } }, 'bench').then(() => false, () => true);
    if (refused === on) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0']);
const out: Record<string, unknown> = { patchesPerSample: PATCHES, rounds: ROUNDS, results: [] as unknown[] };
try {
  // One tenant selecting by bench-tenant exists from the start (it makes the key guarded); it counts as one.
  let made = 0;
  const make = async (n: number): Promise<void> => {
    const names = Array.from({ length: n - made }, (_, i) => `b${run}-t${made + i}`);
    await pool(names, 8, (name) => applyTenant(c.rest, name, 'bench-tenant'));
    made = n;
  };
  for (const n of COUNTS) {
    await make(n);
    guardOn();
    process.stderr.write(`${n} tenants made\n`);
    const quiescenceMs = await quiescent(c.rest, op, { quietMs: 2000 });
    process.stderr.write(`quiescent after ${quiescenceMs} ms\n`);
    const lat = { asUser: [] as number[], asAdmin: [] as number[], noGuard: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const on of r % 2 === 0 ? [true, false] : [false, true]) {
        if (on) guardOn(); else guardOff();
        // With no tenant no key is guarded: the probe cannot tell, and the apiserver takes up to a second
        // to load a changed binding, so wait that long instead.
        if (n > 0) await guardInForce(on); else await new Promise((r2) => setTimeout(r2, 2000));
        if (on) { lat.asUser.push(...await patches(user)); lat.asAdmin.push(...await patches(c.rest)); } else lat.noGuard.push(...await patches(user));
      }
    }
    guardOn();
    const s = { asUser: stats(lat.asUser), asAdmin: stats(lat.asAdmin), noGuard: stats(lat.noGuard) };
    (out.results as unknown[]).push({ tenants: n, quiescenceMs, patchMs: s, guardAddsP50Ms: round(s.asUser.p50 - s.noGuard.p50), ratioToNoGuardP50: round(s.asUser.p50 / s.noGuard.p50) });
    process.stderr.write(`${n} tenants: asUser p50 ${s.asUser.p50} p99 ${s.asUser.p99}, noGuard p50 ${s.noGuard.p50}\n`);
  }
} finally {
  guardOn();
  await op.stop();
  user.close();
  c.stop();
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
