// The CRD in crds/ is generated from src/api/schema.ts (hack/generate.ts). These checks fail the build
// when the committed files are stale, and check what the generator produces: the fields, the defaults the
// apiserver will apply, the names.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GROUP, KIND, PLURAL, VERSION, parseTenant, tenantIsolationSpecInput } from '../../src/api/schema.ts';
import { TENANT_ISOLATION, crdYaml } from '../../src/api/crd.ts';

const FILE = 'isolation.tenancy.dev_tenantisolations.yaml';
const root = fileURLToPath(new URL('../../', import.meta.url));
const crdPath = `${root}crds/${FILE}`;
const kustomizePath = `${root}config/crd/bases/${FILE}`;
const chartCrdPath = `${root}charts/tenant-isolation-operator/crds/${FILE}`;

type Schema = {
  type?: string;
  default?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
};

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; shortNames?: string[]; listKind?: string };
    versions: { name: string; served: boolean; storage: boolean; subresources?: { status?: object }; schema: { openAPIV3Schema: Schema } }[];
  };
}

const crd = load(readFileSync(crdPath, 'utf8')) as Crd;
const version = crd.spec.versions.find((v) => v.name === VERSION);
const crdSpec = version?.schema.openAPIV3Schema.properties?.spec;
const zodSpec = z.toJSONSchema(tenantIsolationSpecInput, { io: 'input', unrepresentable: 'any' }) as Schema;

/** Every property path in a JSON schema: `a.b` for properties, `a[]` for items, `a.*` for map values. */
function paths(s: Schema | undefined, prefix = ''): string[] {
  if (!s) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    out.push(p, ...paths(v, p));
  }
  if (s.items) out.push(`${prefix}[]`, ...paths(s.items, `${prefix}[]`));
  if (s.additionalProperties && typeof s.additionalProperties === 'object') out.push(`${prefix}.*`, ...paths(s.additionalProperties, `${prefix}.*`));
  for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) out.push(...paths(branch, prefix));
  return [...new Set(out)].sort();
}

/** The apiserver's structural defaulting: fill a missing field with its default, then default inside it. */
function applyDefaults(s: Schema, value: unknown): unknown {
  let v = value === undefined && s.default !== undefined ? structuredClone(s.default) : value;
  if (Array.isArray(v) && s.items) v = v.map((x: unknown) => applyDefaults(s.items!, x));
  else if (v !== null && typeof v === 'object' && s.properties) {
    const o = { ...(v as Record<string, unknown>) };
    for (const [k, sub] of Object.entries(s.properties)) {
      const d = applyDefaults(sub, o[k]);
      if (d !== undefined) o[k] = d;
    }
    v = o;
  }
  return v;
}

describe('the TenantIsolation CRD', () => {
  it('names the API exactly: isolation.tenancy.dev/v1alpha1 TenantIsolation, plural tenantisolations, short name ti, cluster-scoped', () => {
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${PLURAL}.${GROUP}`);
    expect(crd.spec.group).toBe('isolation.tenancy.dev');
    expect(GROUP).toBe('isolation.tenancy.dev');
    expect(crd.spec.names.kind).toBe('TenantIsolation');
    expect(KIND).toBe('TenantIsolation');
    expect(crd.spec.names.plural).toBe('tenantisolations');
    expect(PLURAL).toBe('tenantisolations');
    expect(crd.spec.names.shortNames).toEqual(['ti']);
    expect(crd.spec.scope).toBe('Cluster');
  });

  it('serves and stores exactly one version, v1alpha1, with the status subresource', () => {
    expect(crd.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
    expect(VERSION).toBe('v1alpha1');
    expect(version?.served).toBe(true);
    expect(version?.storage).toBe(true);
    expect(version?.subresources?.status).toEqual({});
  });

  it('describes exactly the spec fields the zod schema accepts', () => {
    const fromCrd = paths(crdSpec);
    const fromZod = paths(zodSpec);
    expect(fromCrd.length).toBeGreaterThan(20); // the walk found the schema at all
    expect(fromCrd.filter((p) => !fromZod.includes(p)), 'in the CRD, not in zod').toEqual([]);
    expect(fromZod.filter((p) => !fromCrd.includes(p)), 'in zod, not in the CRD').toEqual([]);
    expect(fromCrd).toEqual(fromZod);
  });

  it('the path walk sees fields in nested objects, lists and maps', () => {
    const p = paths(crdSpec);
    for (const expected of ['mode', 'dns.ports[].endPort', 'dns.ipBlocks[].except', 'namespaceSelector.matchLabels.*', 'allow.egressTo[].ipBlock.cidr', 'allow.ingressFrom[].podSelector.matchExpressions[].values']) {
      expect(p).toContain(expected);
    }
    expect(paths({ properties: { a: { properties: { b: {} } }, l: { items: { properties: { c: {} } } } } })).toEqual(['a', 'a.b', 'l', 'l[]', 'l[].c']);
  });

  describe('defaults: the apiserver fills none of the inheritable settings, so profiles can', () => {
    const minimal = { namespaces: ['a'] };
    const fromCrd = applyDefaults(crdSpec!, structuredClone(minimal)) as Record<string, unknown>;

    for (const field of ['mode', 'defaultDeny', 'dns', 'intraTenant', 'allow', 'profile']) {
      it(`leaves ${field} absent when not given`, () => {
        expect(fromCrd[field]).toBeUndefined();
      });
    }

    it('applies the same defaults as zod\'s stored-spec schema, for the whole spec and inside partly given objects', () => {
      expect(fromCrd).toEqual(tenantIsolationSpecInput.parse(structuredClone(minimal)));
      expect(applyDefaults(crdSpec!, { namespaceSelector: { matchLabels: { t: 'a' } } })).toEqual({ namespaceSelector: { matchLabels: { t: 'a' } }, namespaces: [] });
      const partial = {
        namespaceSelector: { matchLabels: { t: 'a' } },
        defaultDeny: { egress: false },
        dns: { ports: [{ port: 5353 }] },
        intraTenant: {},
        allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
      };
      expect(applyDefaults(crdSpec!, structuredClone(partial))).toEqual(tenantIsolationSpecInput.parse(structuredClone(partial)));
    });

    it('the effective spec of what the apiserver stores has the documented values: Enforce, deny both ways, DNS to kube-dns in kube-system on UDP and TCP 53, intra-tenant on', () => {
      const r = parseTenant({ metadata: { name: 't', uid: 'u' }, spec: fromCrd });
      expect(r.ok).toBe(true);
      const spec = r.ok ? r.tenant.spec : undefined;
      expect(spec?.mode).toBe('Enforce');
      expect(spec?.defaultDeny).toEqual({ ingress: true, egress: true });
      expect(spec?.dns).toEqual({
        enabled: true, namespace: 'kube-system', podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }], ipBlocks: [],
      });
      expect(spec?.intraTenant).toEqual({ enabled: true });
      expect(spec?.allow).toEqual({ ingressFrom: [], egressTo: [] });
    });
  });

  it('is exactly what hack/generate.ts generates from the zod schema (run it after changing src/api/schema.ts)', () => {
    expect(readFileSync(crdPath, 'utf8')).toBe(crdYaml(TENANT_ISOLATION));
  });

  it('has byte-identical copies in config/crd/bases/ for kustomize and in the Helm chart\'s crds/', () => {
    for (const copy of [kustomizePath, chartCrdPath]) {
      expect(existsSync(copy), `${copy} exists`).toBe(true);
      expect(readFileSync(copy).equals(readFileSync(crdPath)), `${copy} equals ${crdPath} (npm run generate writes all three)`).toBe(true);
    }
  });
});
