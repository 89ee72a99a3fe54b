// `tenant-isolation verify diff`: what a change does to reachability, the pull-request gate. Compares
// two sources (two manifest sets, or the cluster and a manifest set) and exits 1 when the new one adds
// a breach.
import { parseArgs } from 'node:util';
import { diffReachability, sharedExternalSamples, type ConnectionChanges, type ReachabilityState } from '../analysis/connectivity-diff.ts';
import { analyzerOf, fromCluster, fromManifests, type Inputs } from './verify-inputs.ts';

export const DIFF_HELP = `Usage: tenant-isolation verify diff -f OLD -f NEW [-t TENANT ...] [-o text|json]
       tenant-isolation verify diff [--kubeconfig PATH] -f NEW

Compares the reachability of two sources: the connections NEW allows that OLD did not (added) and the
reverse (removed), per tenant pair and per pod pair with their exact ports, and the breaches NEW adds or
removes. With one -f, OLD is the cluster (--kubeconfig, else $KUBECONFIG, in-cluster, ~/.kube/config).
Each -f is a file or directory, or several joined by commas (-f config/samples,policies.yaml).
  -t, --tenant T    only these tenants' breaches count (repeatable)
  -o json           {"added": {"tenantPairs": [...], "podPairs": [...]}, "removed": {...},
                     "breaches": {"added": [...], "removed": [...]}}
Exit status: 0 no breach added, 1 NEW adds a breach, 2 bad input.`;

function state(i: Inputs, only: readonly string[] | undefined, externalSamples: readonly string[]): ReachabilityState {
  // NEW is always manifests: pods without an IP may be anywhere on both sides, or a cluster's pending pod
  // would show up as a breach added.
  const a = analyzerOf(i, { externalSamples, podsWithoutIpAnywhere: true });
  return {
    connections: a.connections(),
    tenantsOf: (ns) => a.tenantsOf(ns),
    breaches: [...a.allBreaches()].filter(([t]) => !only || only.includes(t)).flatMap(([, b]) => b),
  };
}

/**
 * NEW's pods without an IP that OLD holds with one (the cluster's running pods, exported without status)
 * keep OLD's addresses: the same pod is compared at the same address, not as 'anywhere' against where it is.
 */
export function withAddressesOf(old: Inputs, next: Inputs): Inputs {
  const ips = new Map(old.snapshot.pods.filter((p) => p.ips.length > 0).map((p) => [`${p.namespace}/${p.name}`, p.ips]));
  if (ips.size === 0) return next;
  const pods = next.snapshot.pods.map((p) => (p.ips.length === 0 && ips.has(`${p.namespace}/${p.name}`) ? { ...p, ips: ips.get(`${p.namespace}/${p.name}`)! } : p));
  return { ...next, snapshot: { ...next.snapshot, pods } };
}

function section(title: string, c: ConnectionChanges): string[] {
  if (c.podPairs.length === 0) return [`${title}: none.`];
  const out = [`${title} (${c.podPairs.length} pod pair${c.podPairs.length === 1 ? '' : 's'}):`, '  by tenant pair:'];
  for (const t of c.tenantPairs) out.push(`    ${t.from} -> ${t.to}: ${t.podPairs} pod pair${t.podPairs === 1 ? '' : 's'}`);
  out.push('  by pod pair:');
  for (const p of c.podPairs) out.push(`    ${p.from} -> ${p.to}: ${p.ports}`);
  return out;
}

export async function diffCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    kubeconfig: { type: 'string' }, filename: { type: 'string', short: 'f', multiple: true },
    output: { type: 'string', short: 'o', default: 'text' }, tenant: { type: 'string', short: 't', multiple: true },
    help: { type: 'boolean', short: 'h' },
  } });
  if (values.help) { process.stdout.write(`${DIFF_HELP}\n`); return 0; }
  if (positionals.length > 0) throw new Error(`verify diff: unexpected argument '${positionals[0]}'; name sources with -f OLD -f NEW`);
  if (values.output !== 'text' && values.output !== 'json') throw new Error(`-o: must be text or json, not ${values.output}`);
  const sources = (values.filename ?? []).map((f) => f.split(',').filter(Boolean));
  if (sources.length === 0 || sources.length > 2) throw new Error(`-f: give -f OLD -f NEW, or one -f NEW to compare with the cluster (got ${sources.length})`);
  if (sources.length === 2 && values.kubeconfig) throw new Error('--kubeconfig: not used when two -f sources are given');
  // OLD may hold nothing yet (a first pull request adding the directory): every breach of NEW is then added.
  const oldInputs = sources.length === 2 ? fromManifests(sources[0]!, { allowEmpty: true }) : await fromCluster(values.kubeconfig);
  const newInputs = withAddressesOf(oldInputs, fromManifests(sources[sources.length - 1]!));
  const only = values.tenant;
  for (const t of only ?? []) {
    if (!oldInputs.tenants.some((x) => x.name === t) && !newInputs.tenants.some((x) => x.name === t)) throw new Error(`--tenant: no TenantIsolation named ${t} in either source`);
  }
  const keep = (i: Inputs): string[] | undefined => only?.filter((t) => i.tenants.some((x) => x.name === t));
  // Both sides at the same outside addresses: external breaches compare region by region.
  const samples = sharedExternalSamples([oldInputs, newInputs]);
  const d = diffReachability(state(oldInputs, keep(oldInputs), samples), state(newInputs, keep(newInputs), samples));
  const code = d.breaches.added.length > 0 ? 1 : 0;
  if (values.output === 'json') { process.stdout.write(`${JSON.stringify(d)}\n`); return code; }
  const out = [
    `Reachability from ${sources.length === 2 ? sources[0]!.join(',') : 'the cluster'} to ${sources[sources.length - 1]!.join(',')}:`,
    ...section('Connections added', d.added),
    ...section('Connections removed', d.removed),
    d.breaches.added.length === 0 ? 'Breaches added: none.' : `Breaches added (${d.breaches.added.length}):`,
    ...d.breaches.added.map((b) => `  [${b.tenant}] ${b.message}`),
    d.breaches.removed.length === 0 ? 'Breaches removed: none.' : `Breaches removed (${d.breaches.removed.length}):`,
    ...d.breaches.removed.map((b) => `  [${b.tenant}] ${b.message}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  return code;
}
