// `verify -o html`: one self-contained page (inline CSS and script, a Content-Security-Policy that
// forbids every network fetch) with the tenant x tenant matrix as a colour grid, the breaches with the
// policy that admits each, the pods no policy selects, and the pod x pod matrix built on request.
import { NON_TENANT } from '../analysis/analyzer.ts';
import { formatPortSet, range } from '../analysis/ports.ts';
import { POD_MATRIX_LIMIT, type VerifyReport } from './report.ts';

const esc = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON inside <script>: "<" escaped so no value can close the element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px 32px;color:#1f2937;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#6b7280;margin:0 0 16px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.badge.ok{background:#d1fae5;color:#065f46}.badge.bad{background:#fee2e2;color:#991b1b}
table{border-collapse:collapse}
table.matrix td,table.matrix th{border:1px solid #e5e7eb;padding:6px 10px;text-align:center;min-width:56px}
table.matrix th{background:#f9fafb;font-weight:600}
table.matrix th.corner{font-weight:400;color:#6b7280;font-size:12px}
td.cell{font-variant-numeric:tabular-nums;font-weight:600}
td.none{background:#f3f4f6;color:#9ca3af;font-weight:400}
td.intra{background:#d1fae5;color:#065f46}
td.cross{background:#fef3c7;color:#92400e}
td.breach{background:#fecaca;color:#991b1b;outline:2px solid #dc2626;outline-offset:-2px}
td.self{background:#e5e7eb;color:#9ca3af}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;border:1px solid #d1d5db}
table.list td,table.list th{border-bottom:1px solid #e5e7eb;padding:5px 10px;text-align:left;vertical-align:top}
table.list th{background:#f9fafb}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
button{font:inherit;padding:5px 12px;border:1px solid #9ca3af;border-radius:6px;background:#f9fafb;cursor:pointer}
#pod-matrix{margin-top:10px;overflow:auto;max-height:70vh}
#pod-matrix th.col{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:400;font-size:12px}
#pod-matrix td{width:18px;height:18px;padding:0}
#pod-matrix td.y{background:#f59e0b}#pod-matrix td.n{background:#f3f4f6}#pod-matrix td.s{background:#e5e7eb}
#pod-matrix th.row{text-align:right;font-weight:400;font-size:12px;padding-right:6px;white-space:nowrap}
`;

// Builds the pod matrix from the embedded data with DOM calls only (names never become markup).
const SCRIPT = `
(function(){
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var button = document.getElementById('show-pods');
  button.addEventListener('click', function(){
    var box = document.getElementById('pod-matrix');
    if (box.firstChild) { box.hidden = !box.hidden; button.textContent = box.hidden ? button.dataset.show : button.dataset.hide; return; }
    var allowed = new Set(data.allowed.map(function(p){ return p[0] + '\\n' + p[1]; }));
    var table = document.createElement('table'); table.className = 'pods';
    var head = table.insertRow(); var corner = document.createElement('th'); corner.textContent = 'from \\\\ to'; head.appendChild(corner);
    data.pods.forEach(function(p){ var th = document.createElement('th'); th.className = 'col'; th.textContent = p; head.appendChild(th); });
    data.pods.forEach(function(src){
      var row = table.insertRow(); var th = document.createElement('th'); th.className = 'row'; th.textContent = src; row.appendChild(th);
      data.pods.forEach(function(dst){
        var td = row.insertCell(); var yes = allowed.has(src + '\\n' + dst);
        td.className = src === dst ? 's' : yes ? 'y' : 'n';
        td.title = src + ' -> ' + dst + ': ' + (src === dst ? 'same pod' : yes ? 'allowed' : 'denied');
      });
    });
    box.appendChild(table); box.hidden = false; button.textContent = button.dataset.hide;
  });
})();
`;

function cellClass(r: VerifyReport, breach: Set<string>, row: string, col: string): string {
  const n = r.matrix[row]?.[col] ?? 0;
  if (breach.has(`${row}\n${col}`)) return 'breach';
  if (n === 0) return 'none';
  return row === col && row !== NON_TENANT ? 'intra' : 'cross';
}

export function renderHtml(r: VerifyReport): string {
  const ports = formatPortSet(range(r.protocol, r.port, r.port));
  const breach = new Set(r.breachCells.map(([a, b]) => `${a}\n${b}`));
  const matrix = [
    `<table class="matrix" id="tenant-matrix"><tr><th class="corner">from \\ to</th>${r.tenants.map((t) => `<th scope="col">${esc(t)}</th>`).join('')}</tr>`,
    ...r.tenants.map((row) => `<tr><th scope="row">${esc(row)}</th>${r.tenants.map((col) => {
      const n = r.matrix[row]?.[col] ?? 0;
      const cls = cellClass(r, breach, row, col);
      const title = `${row} -> ${col}: ${n} allowed pod pair${n === 1 ? '' : 's'} on ${ports}${cls === 'breach' ? ' (includes a breach)' : ''}`;
      return `<td class="cell ${cls}" data-from="${esc(row)}" data-to="${esc(col)}" title="${esc(title)}">${n}</td>`;
    }).join('')}</tr>`),
    '</table>',
  ].join('\n');
  const breaches = r.breaches.length === 0
    ? '<p>None. Every tenant is isolated: only declared allows, DNS and intra-tenant traffic.</p>'
    : `<table class="list" id="breaches"><tr><th>tenant</th><th>direction</th><th>tenant pods</th><th>peer</th><th>ports</th><th>admitted by</th></tr>${r.breaches.map((b) => `<tr><td>${esc(b.tenant)}</td><td>${esc(b.direction)}</td><td>${b.pods.map((p) => `<code>${esc(p)}</code>`).join('<br>')}</td><td><code>${esc(b.peer)}</code></td><td>${esc(formatPortSet(range(b.protocol, b.port, b.endPort ?? b.port)))}</td><td>${b.policy ? `<code>${esc(b.policy)}</code>` : 'no policy: the pod is not isolated'}</td></tr>`).join('')}</table>`;
  const unselected = r.podsSelectedByNoPolicy.length === 0
    ? '<p>None.</p>'
    : `<ul id="unselected">${r.podsSelectedByNoPolicy.map((p) => `<li><code>${esc(p)}</code>: admitted by no policy: not isolated, every peer may connect</li>`).join('')}</ul>`;
  const podMatrix = r.allowed
    ? `<button id="show-pods" data-show="Show the pod matrix (${r.pods.length} pods)" data-hide="Hide the pod matrix">Show the pod matrix (${r.pods.length} pods)</button>
<div id="pod-matrix" hidden></div>
<script type="application/json" id="report-data">${scriptJson({ pods: r.pods, allowed: r.allowed })}</script>
<script>${SCRIPT}</script>`
    : `<p id="pod-matrix-too-large">${r.pods.length} pods are more than a matrix can show (${POD_MATRIX_LIMIT} at most): <code>tenant-isolation verify --pods --port ${r.port} --protocol ${r.protocol} -o json</code> lists every allowed pair.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tenant isolation on ${esc(ports)}</title>
<style>${STYLE}</style></head>
<body>
<h1>Tenant isolation</h1>
<p class="meta">${esc(r.source)} &middot; ${r.tenants.length - 1} tenant${r.tenants.length === 2 ? '' : 's'}, ${r.namespaces.length} namespaces, ${r.pods.length} pods &middot; <span class="badge ${r.breaches.length ? 'bad' : 'ok'}" id="verdict">${r.breaches.length ? `${r.breaches.length} breach${r.breaches.length === 1 ? '' : 'es'}` : 'no breach'}</span></p>
<h2>Allowed pod pairs between tenants on ${esc(ports)}</h2>
<p class="meta">Row = source, column = destination; "${esc(NON_TENANT)}" = namespaces of no tenant. Breaches cover every port; the matrix shows one.</p>
${matrix}
<p class="legend"><span><i style="background:#d1fae5"></i>inside a tenant</span><span><i style="background:#fef3c7"></i>across tenants, declared or not tenant-owned</span><span><i style="background:#fecaca;border-color:#dc2626"></i>includes a breach</span><span><i style="background:#f3f4f6"></i>nothing allowed</span></p>
<h2>Breaches (${r.breaches.length})</h2>
${breaches}
<h2>Pods no NetworkPolicy selects for ingress (${r.podsSelectedByNoPolicy.length})</h2>
${unselected}
<h2>Pod &times; pod on ${esc(ports)}</h2>
${podMatrix}
</body></html>
`;
}
