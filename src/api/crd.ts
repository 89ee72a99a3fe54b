// The CRDs, generated from the zod schemas (src/api/schema.ts) with the Kubernetes extensions they carry
// as metadata (src/api/openapi.ts). `node hack/generate.ts` writes crds/ and config/crd/bases/;
// test/unit/crd-schema.test.ts fails when the committed files differ from what this produces.
import { dump } from 'js-yaml';
import { z } from 'zod';
import { BASELINE_KIND, BASELINE_NAME, BASELINE_PLURAL, GROUP, KIND, PLURAL, PROFILE_KIND, PROFILE_PLURAL, VERSION, tenantIsolationSpecInput, tenantIsolationStatus } from './schema.ts';
import { isolationProfileSpec, isolationProfileStatus } from './profile.ts';
import { isolationBaselineSpec, isolationBaselineStatus } from './baseline.ts';
import { cel, type CelRule } from './openapi.ts';

export interface PrinterColumn { name: string; type: 'string' | 'date' | 'integer'; jsonPath: string; description?: string; priority?: number }

export interface CrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /** metadata.name is used as a label value: at most 63 characters. */
  nameMaxLength?: number;
  /** Rules on the whole object (they may read metadata.name). */
  rootValidations?: CelRule[];
}

export const TENANT_ISOLATION: CrdDefinition = {
  kind: KIND, plural: PLURAL, singular: 'tenantisolation', shortNames: ['ti'],
  description: 'TenantIsolation declares a tenant (a set of namespaces) and the network isolation the operator keeps in place around it.',
  spec: tenantIsolationSpecInput, status: tenantIsolationStatus, nameMaxLength: 63,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Namespaces', type: 'string', description: 'How many of the tenant\'s namespaces are isolated (status.summary).', jsonPath: '.status.summary' },
    { name: 'Mode', type: 'string', description: 'The effective mode (status.mode): the tenant\'s, else its profile\'s.', jsonPath: '.status.mode' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'Profile', type: 'string', description: 'The IsolationProfile it inherits from (status.profile).', jsonPath: '.status.profile', priority: 1 },
  ],
};

export const ISOLATION_PROFILE: CrdDefinition = {
  kind: PROFILE_KIND, plural: PROFILE_PLURAL, singular: 'isolationprofile', shortNames: ['isoprofile'],
  description: 'IsolationProfile holds isolation settings that TenantIsolations inherit (spec.profile; the profile named default applies to tenants that name none).',
  spec: isolationProfileSpec, status: isolationProfileStatus, nameMaxLength: 63,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Tenants', type: 'integer', description: 'How many TenantIsolations inherit from it.', jsonPath: '.status.tenantCount' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};

export const ISOLATION_BASELINE: CrdDefinition = {
  kind: BASELINE_KIND, plural: BASELINE_PLURAL, singular: 'isolationbaseline', shortNames: ['isobaseline'],
  description: `IsolationBaseline (one object, named ${BASELINE_NAME}) isolates every namespace that no tenant isolates and that is not exempt: default-deny both ways, DNS, traffic inside the namespace.`,
  spec: isolationBaselineSpec, status: isolationBaselineStatus, nameMaxLength: 63,
  rootValidations: [cel(`self.metadata.name == '${BASELINE_NAME}'`, `the baseline is a singleton: metadata.name must be ${BASELINE_NAME}`)],
  printerColumns: [
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Namespaces', type: 'string', description: 'What the baseline isolates (status.summary).', jsonPath: '.status.summary' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};

export const CRDS: readonly CrdDefinition[] = [TENANT_ISOLATION, ISOLATION_PROFILE, ISOLATION_BASELINE];

export const crdFileName = (d: CrdDefinition): string => `${GROUP}_${d.plural}.yaml`;

type Node = Record<string, unknown>;

/** Key order in the output: what a reader looks for first. */
const ORDER = ['description', 'type', 'format', 'required', 'properties', 'additionalProperties', 'items', 'anyOf', 'enum', 'minimum', 'maximum',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'maxProperties', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations', 'default'];
const rank = (k: string): number => { const i = ORDER.indexOf(k); return i < 0 ? ORDER.length : i; };

/**
 * A JSON Schema node from zod as a structural OpenAPI v3 schema: no `additionalProperties: false` (the
 * apiserver prunes unknown fields instead), no `propertyNames` (map keys are checked by CEL), and
 * int-or-string fields in the one form Kubernetes accepts.
 */
function structural(node: Node): Node {
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema' || k === 'propertyNames' || (k === 'additionalProperties' && v === false)) continue;
    // z.number().int() bounds itself to JavaScript's safe integers: no bound worth writing down.
    if ((k === 'maximum' || k === 'minimum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    // RegExp.source escapes '/', which RE2 does not need.
    if (k === 'pattern') { out[k] = (v as string).replaceAll('\\/', '/'); continue; }
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as Record<string, Node>).map(([p, s]) => [p, structural(s)]));
    else if ((k === 'items' || k === 'additionalProperties') && typeof v === 'object') out[k] = structural(v as Node);
    else if (k === 'anyOf') out[k] = node['x-kubernetes-int-or-string'] ? [{ type: 'integer' }, { type: 'string' }] : (v as Node[]).map(structural);
    else out[k] = v;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => rank(a) - rank(b)));
}

const schemaOf = (s: z.ZodType): Node => structural(z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }));

export function crdObject(d: CrdDefinition): Node {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${d.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'tenant-isolation-operator', 'app.kubernetes.io/part-of': 'tenant-isolation-operator' },
    },
    spec: {
      group: GROUP,
      names: { kind: d.kind, listKind: `${d.kind}List`, plural: d.plural, singular: d.singular, shortNames: d.shortNames, categories: ['tenancy'] },
      scope: 'Cluster',
      versions: [{
        name: VERSION, served: true, storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: d.printerColumns,
        schema: {
          openAPIV3Schema: {
            description: d.description,
            type: 'object',
            required: ['spec'],
            ...(d.rootValidations ? { 'x-kubernetes-validations': d.rootValidations } : {}),
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object', properties: { name: { type: 'string', ...(d.nameMaxLength ? { maxLength: d.nameMaxLength } : {}) } } },
              spec: schemaOf(d.spec),
              status: schemaOf(d.status),
            },
          },
        },
      }],
    },
  };
}

export function crdYaml(d: CrdDefinition): string {
  const header = [
    `# ${d.kind} CRD, generated from src/api/ by hack/generate.ts: do not edit by hand.`,
    '# CEL rules cover what OpenAPI cannot say; maxItems/maxLength bound their cost.',
  ].join('\n');
  return `${header}\n${dump(crdObject(d), { noRefs: true, lineWidth: -1 })}`;
}
