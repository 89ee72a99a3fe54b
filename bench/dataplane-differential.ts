// Benchmark-sized run of the analyzer-vs-dataplane differential (test/integration/dataplane-differential.test.ts
// runs a bounded number inside `npm test`). Needs root and what `bash hack/dataplane.sh check` asks for.
// Prints one JSON document: scenarios, probes, agreements, documented divergences by kind, and every
// unexplained disagreement (exit status 1 when there is one).
//   node bench/dataplane-differential.ts [--scenarios 300] [--seed 1]
import { parseArgs } from 'node:util';
import { Dataplane, type DataplanePod } from '../test/harness/dataplane.ts';
import { SCENARIO_PORTS, accumulate, generateScenario, runScenario, slotIp, type ScenarioOutcome } from '../test/harness/differential.ts';
import { cluster, percentile, round } from './lib.ts';

const { values } = parseArgs({ options: { scenarios: { type: 'string', default: '300' }, seed: { type: 'string', default: '1' } } });
const scenarios = Number(values.scenarios);
const seed = Number(values.seed);
const SLOTS = 6;

const c = await cluster();
const dp = await Dataplane.start(c.kubeconfig);
try {
  const slots: DataplanePod[] = [];
  for (let i = 0; i < SLOTS; i++) slots.push(await dp.addSlot(SCENARIO_PORTS, slotIp(i)));
  const total: ScenarioOutcome = { probes: 0, agreements: 0, divergences: {}, unexplained: [], examples: {} };
  const durations: number[] = [];
  const started = performance.now();
  for (let i = 0; i < scenarios; i++) {
    const t = performance.now();
    accumulate(total, await runScenario(dp, c.rest, slots, generateScenario(seed + i, `dfb${seed + i}`, SLOTS)));
    durations.push(performance.now() - t);
  }
  const divergent = Object.values(total.divergences).reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify({
    kubeRouter: 'v2.1.0', scenarios, seeds: [seed, seed + scenarios - 1], ports: SCENARIO_PORTS.map((p) => `${p.protocol}/${p.port}`),
    probes: total.probes, agreements: total.agreements, agreementRate: round(total.agreements / total.probes, 4),
    documentedDivergences: divergent, byDivergence: total.divergences, unexplained: total.unexplained.length,
    unexplainedExamples: total.unexplained.slice(0, 20), examples: total.examples,
    scenarioMs: { p50: round(percentile(durations, 50)), p99: round(percentile(durations, 99)) }, totalS: round((performance.now() - started) / 1000, 1),
  }, null, 2)}\n`);
  process.exitCode = total.unexplained.length > 0 ? 1 : 0;
} finally {
  await dp.stop();
  c.stop();
}
