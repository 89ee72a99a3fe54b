// The analyzer against real packets: random scenarios (namespaces, labelled pods with named ports,
// policies with every peer, port and ipBlock form) are written to the cluster, enforced by kube-router,
// probed, and compared with what the analyzer (`verify --pods`) says. Every disagreement must be one of
// kube-router's documented divergences from the API (test/harness/kube-router-model.ts, docs/dataplane.md);
// anything else fails the test with the seed that reproduces it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeconfig, rest } from '../harness/cluster.ts';
import { cli } from '../harness/run.ts';
import { Dataplane, dataplaneMissing, pair, titled, type DataplanePod } from '../harness/dataplane.ts';
import { SCENARIO_PORTS, accumulate, generateScenario, runScenario, slotIp, type ScenarioOutcome } from '../harness/differential.ts';

const missing = await dataplaneMissing();
const SCENARIOS = Number(process.env.TIO_DIFFERENTIAL_SCENARIOS ?? 40);
const SEED = Number(process.env.TIO_DIFFERENTIAL_SEED ?? 1);
const SLOTS = 6;

let dp: Dataplane;
const slots: DataplanePod[] = [];

describe.skipIf(missing)(titled('the analyzer against a real dataplane', missing), () => {
  beforeAll(async () => {
    dp = await Dataplane.start(kubeconfig());
    for (let i = 0; i < SLOTS; i++) slots.push(await dp.addSlot(SCENARIO_PORTS, slotIp(i)));
  }, 30 * 60_000);
  afterAll(async () => { await dp?.stop(); });

  it('the analyzer API the test uses says what `verify --pods -o json` says', async () => {
    let compared = 0;
    await runScenario(dp, await rest(), slots, generateScenario(SEED, `dfcli${SEED}`, SLOTS), async (byAnalyzer, pods) => {
      for (const [k, pairs] of Object.entries(byAnalyzer)) {
        const [protocol, port] = k.split('/');
        const r = await cli(['verify', '--kubeconfig', kubeconfig(), '--pods', '--port', port!, '--protocol', protocol!, '-o', 'json']);
        expect(r.code, r.stderr).toBeLessThan(2);
        const out = JSON.parse(r.stdout) as { pods: string[]; allowed: [string, string][] };
        const mine = new Set(pods);
        expect(pods.every((p) => out.pods.includes(p))).toBe(true);
        expect(out.allowed.filter(([s, d]) => mine.has(s) && mine.has(d)).map(([s, d]) => pair(s, d)).sort()).toEqual(pairs);
        compared += pairs.length;
      }
    });
    expect(compared).toBeGreaterThan(0);
  }, 120_000);

  it(`agrees with the packets on ${SCENARIOS} random scenarios, up to documented divergences`, async () => {
    const total: ScenarioOutcome = { probes: 0, agreements: 0, divergences: {}, unexplained: [], examples: {} };
    const r = await rest();
    for (let i = 0; i < SCENARIOS; i++) accumulate(total, await runScenario(dp, r, slots, generateScenario(SEED + i, `df${SEED + i}`, SLOTS)));
    const divergent = Object.values(total.divergences).reduce((a, b) => a + b, 0);
    console.log(`[differential] scenarios ${SCENARIOS} (seeds ${SEED}..${SEED + SCENARIOS - 1}), probes ${total.probes}, agreements ${total.agreements}, documented divergences ${divergent} ${JSON.stringify(total.divergences)}`);
    for (const [k, v] of Object.entries(total.examples)) console.log(`[differential] e.g. ${k}: ${v}`);
    expect(total.probes).toBeGreaterThan(0);
    expect(total.unexplained).toEqual([]);
    expect(total.agreements + divergent).toBe(total.probes);
  }, 10 * 60_000);
});
