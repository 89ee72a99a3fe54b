// The shapes `verify` reads from manifests, checked the way the apiserver would check them before it stored
// the objects: a manifest the cluster would refuse must fail the gate with the field it gets wrong, not
// crash the analysis or be read as something else (an ipBlock that is not a CIDR matching nothing).
// Only the fields the analysis reads are checked; anything else is left as it is.
import { z } from 'zod';
import { IANA_SVC_NAME, refineExcepts } from '../api/schema.ts';
import { isValidCidr, parseIp } from '../net/cidr.ts';

const labels = z.record(z.string(), z.string());
const metadata = z.object({ labels: labels.optional() });
const selector = z.object({
  matchLabels: labels.optional(),
  matchExpressions: z.array(z.object({
    key: z.string().min(1),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string()).optional(),
  })).optional(),
});
const portNumber = z.int().min(1).max(65535);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);
const cidr = z.string().refine(isValidCidr, { error: 'must be a CIDR such as 10.0.0.0/8' });
// ValidateIPBlock: each except a strict subset of the cidr (the same rule as a tenant's ipBlock).
const ipBlock = z.object({ cidr, except: z.array(cidr).optional() }).superRefine(refineExcepts);
// ValidateNetworkPolicyPeer: at least one field, and an ipBlock alone.
const peer = z.object({
  podSelector: selector.optional(),
  namespaceSelector: selector.optional(),
  ipBlock: ipBlock.optional(),
}).superRefine((p, ctx) => {
  if (!p.podSelector && !p.namespaceSelector && !p.ipBlock) ctx.addIssue({ code: 'custom', message: 'must specify a peer: podSelector, namespaceSelector or ipBlock' });
  else if (p.ipBlock && (p.podSelector || p.namespaceSelector)) ctx.addIssue({ code: 'custom', message: 'may not specify both ipBlock and another peer (podSelector or namespaceSelector)' });
});
// ValidateNetworkPolicyPort: a number, or a container port's name (IsValidPortName: IANA_SVC_NAME);
// endPort only with a numeric port, and not below it.
const ports = z.array(z.object({
  protocol: protocol.optional(),
  port: z.union([portNumber, z.string().regex(IANA_SVC_NAME, 'must be 1-65535 or a port name: 1-15 lowercase alphanumerics and -, a letter, no leading, trailing or double -')]).optional(),
  endPort: portNumber.optional(),
}).superRefine((p, ctx) => {
  if (p.endPort === undefined) return;
  if (p.port === undefined) ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'may not be specified when port is not specified' });
  else if (typeof p.port === 'string') ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'may not be specified when port is non-numeric' });
  else if (p.endPort < p.port) ctx.addIssue({ code: 'custom', path: ['endPort'], message: `must be greater than or equal to port (${p.port})` });
})).nullish();

const networkPolicy = z.object({
  metadata,
  spec: z.object({
    podSelector: selector.optional(),
    policyTypes: z.array(z.enum(['Ingress', 'Egress'])).optional(),
    ingress: z.array(z.object({ from: z.array(peer).nullish(), ports })).nullish(),
    egress: z.array(z.object({ to: z.array(peer).nullish(), ports })).nullish(),
  }),
});

const ip = z.string().refine((s) => parseIp(s) !== undefined, { error: 'must be an IP address' });
const containers = z.array(z.object({
  ports: z.array(z.object({ name: z.string().optional(), containerPort: portNumber, protocol: protocol.optional() })).nullish(),
})).optional();
const pod = z.object({
  metadata,
  spec: z.object({
    hostNetwork: z.boolean().optional(),
    containers,
    initContainers: containers,
  }).optional(),
  status: z.object({ podIP: ip.optional(), podIPs: z.array(z.object({ ip })).optional() }).optional(),
});

const namespace = z.object({ metadata });

const SHAPES: Readonly<Record<string, z.ZodType>> = {
  'v1/Namespace': namespace,
  'v1/Pod': pod,
  'networking.k8s.io/v1/NetworkPolicy': networkPolicy,
};

/** Why the object is not a valid `kind` ("spec.ingress[0].ports[0].port: ..."), or undefined when it is. */
export function shapeError(kind: string, object: unknown): string | undefined {
  const shape = SHAPES[kind];
  if (!shape) return undefined;
  const r = shape.safeParse(object);
  if (r.success) return undefined;
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
  return `${path || '(object)'}: ${issue.message}`;
}
