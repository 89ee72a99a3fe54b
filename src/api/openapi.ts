// Kubernetes' OpenAPI extensions, carried on the zod schema as metadata (zod's `.meta()`), so the API has
// one source: zod validates what the operator reads, and hack/generate.ts turns the same schema, with
// these annotations, into the CRD (src/api/crd.ts). CEL rules say for the apiserver what zod's refinements
// say for the operator; each sits next to its refinement.

/** A CEL validation rule (x-kubernetes-validations). */
export interface CelRule { rule: string; message: string; fieldPath?: string }

export const cel = (rule: string, message: string, fieldPath?: string): CelRule => ({ rule, message, ...(fieldPath ? { fieldPath } : {}) });

/** What `.meta()` may carry for the CRD, besides what zod derives itself (types, bounds, patterns, enums, defaults). */
export type CrdMeta = {
  description?: string;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'map' | 'set';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  /** The field takes a number or a string (a port): the CRD says so the Kubernetes way. */
  'x-kubernetes-int-or-string'?: true;
  /** The CRD bounds maps for CEL's cost estimate; the operator does not need the bound. */
  maxProperties?: number;
  /** For int-or-string fields, whose string bound zod keeps in a branch the CRD cannot carry. */
  maxLength?: number;
  format?: string;
};

export const atomicList = (description: string, extra: CrdMeta = {}): CrdMeta => ({ description, 'x-kubernetes-list-type': 'atomic', ...extra });

// Kubernetes name and label syntax (apimachinery validation), as regular expressions both zod and the CRD use.
/** A qualified name: `[prefix/]name`, the prefix a DNS subdomain; the prefix's 253-character limit is a separate rule. */
export const QUALIFIED_NAME = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
/** A label value: empty, or up to 63 alphanumerics, -, _ or . beginning and ending alphanumeric. */
export const LABEL_VALUE = '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$';
/** A DNS-1123 label: a namespace name. */
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
