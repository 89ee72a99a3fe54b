// `verify -o dot` (and -o svg through Graphviz): tenants as boxes around their namespaces, namespaces
// of no tenant outside, and one edge per ordered namespace pair with the pod pairs allowed on the port;
// edges that carry a breach are red.
import { spawn } from 'node:child_process';
import { formatPortSet, range } from '../analysis/ports.ts';
import type { VerifyReport } from './report.ts';
import { compareStrings } from '../policy/order.ts';

/** A DOT quoted ID. */
const id = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

export function renderDot(r: VerifyReport): string {
  const ports = formatPortSet(range(r.protocol, r.port, r.port));
  const out: string[] = [
    'digraph isolation {',
    `  label=${id(`Allowed pod pairs between namespaces on ${ports} (${r.breaches.length} breach${r.breaches.length === 1 ? '' : 'es'} in total)`)};`,
    '  labelloc=t; rankdir=LR; fontname="Helvetica"; compound=true;',
    '  node [shape=box, style="rounded,filled", fillcolor="#f9fafb", color="#9ca3af", fontname="Helvetica"];',
    '  edge [color="#6b7280", fontname="Helvetica", fontsize=10];',
  ];
  const node = (n: { name: string; pods: number }): string => `${id(`ns/${n.name}`)} [label=${id(`${n.name}\n${n.pods} pod${n.pods === 1 ? '' : 's'}`)}];`;
  const byTenant = new Map<string, { name: string; pods: number }[]>();
  for (const n of r.namespaces) {
    // A namespace two tenants claim belongs to neither (the operator fails it closed): drawn outside.
    const t = n.tenants.length === 1 ? n.tenants[0]! : '';
    byTenant.set(t, [...(byTenant.get(t) ?? []), n]);
  }
  let i = 0;
  for (const [tenant, nss] of [...byTenant].sort(([a], [b]) => compareStrings(a, b))) {
    if (tenant === '') { for (const n of nss) out.push(`  ${node(n)}`); continue; }
    out.push(`  subgraph ${id(`cluster_${i++}`)} {`, `    label=${id(`tenant ${tenant}`)}; style="rounded,filled"; fillcolor="#ecfdf5"; color="#10b981";`);
    for (const n of nss) out.push(`    ${node(n)}`);
    out.push('  }');
  }
  for (const e of r.edges) {
    const style = e.breach ? ', color="#dc2626", fontcolor="#dc2626", penwidth=2' : '';
    out.push(`  ${id(`ns/${e.from}`)} -> ${id(`ns/${e.to}`)} [label=${id(String(e.pairs))}${style}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Renders DOT to SVG with Graphviz's `dot`; a clear error when it is not installed. */
export function dotToSvg(dot: string, binary = 'dot'): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(binary, ['-Tsvg'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
    p.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
    p.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT'
      ? new Error('-o svg: Graphviz is not installed (no `dot` on PATH); install it (Debian: apt-get install graphviz) or use -o dot')
      : e));
    p.on('close', (code) => { if (code === 0) resolve(out); else reject(new Error(`-o svg: dot exited with ${code}: ${err.trim()}`)); });
    p.stdin.on('error', () => undefined); // a missing binary closes stdin first; the 'error' above says why
    p.stdin.end(dot);
  });
}
