// `verify -o html` in a real headless browser (Debian's chromium, driven by playwright-core): the page
// loads from a file with no console error and no request beyond itself, shows the tenant matrix with a
// breach cell, lists the breach with its policy, builds the pod matrix on request, and is photographed.
// `-o dot` and `-o svg` (Graphviz) are checked here too.
import { accessSync, constants, copyFileSync, cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, repo } from '../harness/run.ts';
import { tempDirs } from '../harness/tmp.ts';

const tmp = tempDirs();
const CHROMIUM = process.env.TIO_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);

/** The executable `name` a child process finds on PATH (as `verify -o svg` runs `dot`), or undefined. */
function onPath(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    const p = join(d, name);
    try { accessSync(p, constants.X_OK); if (statSync(p).isFile()) return p; } catch { /* not here */ }
  }
  return undefined;
}
const DOT = onPath('dot');
const dir = tmp.make('tio-html-');
const samples = join(repo, 'config/samples');
const policies = join(dir, 'policies.yaml');
const allowAll = join(dir, 'allow-all.yaml');

beforeAll(async () => {
  cpSync(samples, join(dir, 'samples'), { recursive: true });
  writeFileSync(policies, (await cli(['render', samples])).stdout);
  writeFileSync(allowAll, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: globex-app}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{}]\n');
});

describe.skipIf(!HAS_CHROMIUM)(`verify -o html in headless Chromium (${CHROMIUM}${HAS_CHROMIUM ? '' : ': skipped, chromium not found at that path; .ci/run installs Debian\'s chromium, TIO_CHROMIUM names another'})`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      // As root on a machine without a network: no sandbox, and none of Chromium's own background traffic.
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  }, 60_000);
  afterAll(async () => { await browser?.close(); });

  it('loads offline without a console error, shows the colour grid, the breach and its policy, and the pod matrix on request', async () => {
    // Run where the files are, so the page names them as a user would see them.
    const r = await cli(['verify', '-f', 'samples', '-f', 'policies.yaml', '-f', 'allow-all.yaml', '--port', '8080', '-o', 'html'], { cwd: dir });
    expect(r.code).toBe(1); // the allow-all is a breach
    const file = join(dir, 'report.html');
    writeFileSync(file, r.stdout);

    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (q) => requests.push(q.url()));
    await page.goto(`file://${file}`);

    expect(await page.title()).toBe('Tenant isolation on TCP/8080');
    expect(await page.locator('p.meta').first().textContent()).toMatch(/^samples, policies\.yaml, allow-all\.yaml · 2 tenants, 6 namespaces, 4 pods · 15 breaches$/);
    const cells = page.locator('#tenant-matrix td.cell');
    expect(await cells.count()).toBe(9); // acme, globex, (no tenant) squared
    const cell = (from: string, to: string) => page.locator(`#tenant-matrix td[data-from="${from}"][data-to="${to}"]`);
    expect(await cell('acme', 'acme').textContent()).toBe('2');
    expect(await cell('acme', 'acme').getAttribute('class')).toBe('cell intra');
    expect(await cell('(no tenant)', 'acme').getAttribute('class')).toBe('cell cross'); // declared ingress
    expect(await cell('(no tenant)', 'globex').getAttribute('class')).toBe('cell breach');
    expect(await cell('globex', 'acme').getAttribute('class')).toBe('cell none');
    // Colours are real, computed by the browser: a breach is red, an empty cell grey.
    // (The function runs in the page; the cast stands in for the DOM typings this Node project does not load.)
    const background = (e: unknown): string => (globalThis as unknown as { getComputedStyle(el: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor;
    expect(await cell('(no tenant)', 'globex').evaluate(background)).toBe('rgb(254, 202, 202)');
    expect(await cell('globex', 'acme').evaluate(background)).toBe('rgb(243, 244, 246)');
    expect(await page.locator('#verdict').textContent()).toMatch(/^\d+ breaches$/);
    expect(await page.locator('#breaches').textContent()).toContain('globex-app/allow-all');
    expect(await page.locator('#unselected').textContent()).toContain('shared-services/ingress');

    expect(await page.locator('#pod-matrix table').count()).toBe(0); // built only on request
    await page.click('#show-pods');
    expect(await page.locator('#pod-matrix tr').count()).toBe(5); // header + 4 pods
    expect(await page.locator('#pod-matrix td.y').count()).toBe(5); // intra-acme both ways, ingress to both acme pods, the allow-all
    expect(await page.locator('#pod-matrix td[title="shared-services/ingress -> globex-app/app: allowed"]').count()).toBe(1);

    const png = await page.screenshot({ fullPage: true });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(10_000);
    writeFileSync(join(dir, 'report.png'), png);
    // `TIO_REPORT_SCREENSHOT=docs/verify-report.png` refreshes the README's picture from this very page.
    if (process.env.TIO_REPORT_SCREENSHOT) copyFileSync(join(dir, 'report.png'), join(repo, process.env.TIO_REPORT_SCREENSHOT));

    expect(problems).toEqual([]);
    expect(requests).toEqual([`file://${file}`]);
    await page.close();
  });

  it('escapes names: a hostile pod name stays text', async () => {
    const evil = join(dir, 'evil.yaml');
    writeFileSync(evil, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: evil}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: "x</script><img src=x onerror=alert(1)>", namespace: evil}\nspec: {containers: [{name: c, image: x}]}\n');
    const r = await cli(['verify', '-f', evil, '-o', 'html']);
    const file = join(dir, 'evil.html');
    writeFileSync(file, r.stdout);
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    await page.goto(`file://${file}`);
    await page.click('#show-pods');
    expect(await page.locator('#unselected').textContent()).toContain('evil/x</script><img src=x onerror=alert(1)>');
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    await page.close();
  });
});

describe('verify -o dot and -o svg', () => {
  it('dot groups namespaces by tenant and draws the breaching edge in red', async () => {
    const r = await cli(['verify', '-f', samples, '-f', policies, '-f', allowAll, '--port', '8080', '-o', 'dot']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^digraph isolation \{/);
    expect(r.stdout).toMatch(/subgraph "cluster_0" \{\n {4}label="tenant acme";[^\n]*\n {4}"ns\/acme-billing"/);
    expect(r.stdout).toContain('"ns/shared-services" -> "ns/globex-app" [label="1", color="#dc2626"');
    expect(r.stdout).toContain('"ns/shared-services" -> "ns/acme-web" [label="1"];');
    expect(r.stdout).not.toContain('"ns/globex-app" -> "ns/acme-web"');
  });

  it.skipIf(!DOT)(`svg through Graphviz when dot is installed (${DOT ?? 'skipped: dot not found on PATH; Graphviz installs it'})`, async () => {
    const r = await cli(['verify', '-f', samples, '-f', policies, '--port', '8080', '-o', 'svg']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('<svg');
    expect(r.stdout).toContain('tenant acme');
  });

  it('svg without Graphviz says how to get it, exit 2', async () => {
    const r = await cli(['verify', '-f', samples, '-o', 'svg'], { env: { PATH: '/nonexistent' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('-o svg: Graphviz is not installed (no `dot` on PATH)');
  });

  it('the existing outputs are unchanged and --pods refuses the picture formats', async () => {
    const bad = await cli(['verify', '-f', samples, '-o', 'yaml']);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('-o: must be one of text, json, html, dot, svg, not yaml') as unknown });
    expect((await cli(['verify', '-f', samples, '--pods', '-o', 'html'])).stderr).toContain('--pods: only with -o text or json');
    expect(readFileSync(policies, 'utf8')).toContain('tenant-isolation-default-deny');
  });
});
