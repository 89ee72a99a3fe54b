// Prints where a profile of the operator goes, as text: the top functions by their own share and by
// everything they call (inclusive), the latter only for the operator's own files. Reads both a CPU profile
// (node --cpu-prof, ms) and a sampling heap profile (bench/heap-sampling.ts, MB allocated).
//   node bench/profile-summary.ts FILE [--top 25] [--during PATTERN [--max-window S]]
// A CPU profile's share can be limited to the windows where a function was running (for example the
// namespace reconciler during the bursts): --during 'namespace-reconciler' keeps only the samples taken
// while a stack frame from a file matching it was within 1.5 s; --max-window S drops windows longer than S
// seconds (a benchmark's setup).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface CpuNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: CpuNode[]; samples: number[]; timeDeltas: number[]; startTime: number }
interface HeapNode { callFrame: CallFrame; selfSize: number; children: HeapNode[] }

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, during: { type: 'string' }, 'max-window': { type: 'string', default: 'Infinity' } } });
const file = positionals[0];
if (!file) { console.error('usage: node bench/profile-summary.ts FILE [--top 25] [--during PATTERN [--max-window S]]'); process.exit(2); }
const TOP = Number(values.top);
/** A frame of the operator's own code: its folder under src/ (or dist/) and file. */
const OURS = / (analysis|api|admission|cli|controller|kube|metrics|policy|queue|report|runtime)\/[^ /]+:\d+$/;
const name = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const add = (m: Map<string, number>, k: string, v: number): void => { m.set(k, (m.get(k) ?? 0) + v); };
let unit: string;
let scale: number;

const raw = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile | { head: HeapNode };
if ('head' in raw) {
  unit = 'MB allocated'; scale = 2 ** 20;
  const walk = (n: HeapNode, stack: string[]): void => {
    const k = name(n.callFrame);
    add(self, k, n.selfSize);
    const inStack = [...stack, k];
    for (const s of new Set(inStack)) add(inclusive, s, n.selfSize);
    for (const c of n.children) walk(c, inStack);
  };
  walk(raw.head, []);
} else {
  unit = 'ms'; scale = 1000;
  const byId = new Map(raw.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of raw.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number): string[] => { const out: string[] = []; for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) out.push(name(byId.get(x)!.callFrame)); return out; };
  let t = raw.startTime;
  const samples = raw.samples.map((id, i) => { t += raw.timeDeltas[i] ?? 0; return { id, at: t, dt: raw.timeDeltas[i] ?? 0, stack: stackOf(id) }; });
  let keep = (_at: number): boolean => true;
  if (values.during) {
    const pattern = new RegExp(values.during);
    const windows: [number, number][] = [];
    for (const s of samples) {
      if (!s.stack.some((f) => pattern.test(f))) continue;
      const last = windows.at(-1);
      if (last && s.at - last[1] < 1.5e6) last[1] = s.at; else windows.push([s.at, s.at]);
    }
    const longest = Number(values['max-window']) * 1e6;
    windows.splice(0, windows.length, ...windows.filter(([a, b]) => b - a <= longest));
    console.log(`windows: ${windows.map(([a, b]) => `${((b - a) / 1e6).toFixed(2)} s`).join(', ')}`);
    keep = (at) => windows.some(([a, b]) => at >= a && at <= b);
  }
  for (const s of samples) {
    if (!keep(s.at)) continue;
    add(self, s.stack[0]!, s.dt);
    for (const f of new Set(s.stack)) add(inclusive, f, s.dt);
  }
}

const top = (m: Map<string, number>, filter: (k: string) => boolean): [string, number][] => [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, TOP);
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(`total: ${(total / scale).toFixed(1)} ${unit}`);
console.log(`\nself (${unit}):`);
for (const [k, v] of top(self, () => true)) console.log(`${(v / scale).toFixed(1).padStart(9)}  ${k}`);
console.log(`\ninclusive, the operator's own code (${unit}):`);
for (const [k, v] of top(inclusive, (k) => OURS.test(k))) console.log(`${(v / scale).toFixed(1).padStart(9)}  ${k}`);
