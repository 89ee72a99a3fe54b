import { describe, expect, it } from 'vitest';
import { formatIssues, parseTenant, tenantIsolationSpec } from '../../src/api/schema.ts';
import { specError } from './fixtures.ts';

const SEL = { matchLabels: { tenant: 'acme' } };
const withSpec = (extra: Record<string, unknown>) => ({ namespaceSelector: SEL, ...extra });

/** Asserts the spec is rejected and the message names `path`. */
function rejectedAt(spec: unknown, path: string, message?: RegExp): void {
  const err = specError(spec);
  expect(err, `spec should be rejected at ${path}`).toBeDefined();
  expect(err).toContain(`${path}:`);
  if (message) expect(err).toMatch(message);
}

describe('tenantIsolationSpec defaults', () => {
  it('a spec with only a selector gets every documented default', () => {
    const r = parseTenant({ metadata: { name: 'acme', uid: 'u1', generation: 3 }, spec: { namespaceSelector: SEL } });
    expect(r).toEqual({
      ok: true,
      tenant: {
        name: 'acme', uid: 'u1', generation: 3,
        spec: {
          namespaceSelector: SEL,
          namespaces: [],
          mode: 'Enforce',
          defaultDeny: { ingress: true, egress: true },
          dns: {
            enabled: true,
            namespace: 'kube-system',
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
            ipBlocks: [],
          },
          intraTenant: { enabled: true },
          allow: { ingressFrom: [], egressTo: [] },
        },
      },
    });
  });

  it('fills defaults inside partly given objects and keeps what was given', () => {
    const r = tenantIsolationSpec.parse({ namespaces: ['a'], defaultDeny: { egress: false }, dns: { namespace: 'dns' }, allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 443 }] }] } });
    expect(r.defaultDeny).toEqual({ ingress: true, egress: false });
    expect(r.dns).toEqual({
      enabled: true, namespace: 'dns', podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }], ipBlocks: [],
    });
    expect(r.allow).toEqual({ ingressFrom: [], egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ protocol: 'TCP', port: 443 }] }] });
  });

  it('generation defaults to 0 when the object has none', () => {
    const r = parseTenant({ metadata: { name: 'acme', uid: 'u1' }, spec: { namespaces: ['a'] } });
    expect(r.ok && r.tenant.generation).toBe(0);
  });
});

describe('tenantIsolationSpec accepts', () => {
  it('explicit namespaces without a selector', () => {
    expect(specError({ namespaces: ['team-a', 'team-b'] })).toBeUndefined();
  });

  it('a named port and a numeric port range', () => {
    expect(specError(withSpec({ dns: { ports: [{ protocol: 'UDP', port: 'dns' }] } }))).toBeUndefined();
    expect(specError(withSpec({ allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 8000, endPort: 8080 }] }] } }))).toBeUndefined();
    expect(specError(withSpec({ allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 8000, endPort: 8000 }] }] } }))).toBeUndefined();
  });

  it('an ipBlock with except ranges inside its cidr, IPv4 and IPv6', () => {
    expect(specError(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }, { cidr: 'fd00::/8', except: ['fd00:1::/32'] }] } }))).toBeUndefined();
  });

  it('allow rules with a namespaceSelector, a podSelector, both, or an everything-selector {}', () => {
    expect(specError(withSpec({
      allow: {
        ingressFrom: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress' } } },
          { podSelector: { matchLabels: { app: 'web' } } },
          { namespaceSelector: { matchLabels: { team: 'mon' } }, podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } },
          { namespaceSelector: {} },
        ],
      },
    }))).toBeUndefined();
  });

  it('prefixed label keys and empty label values', () => {
    expect(specError({ namespaceSelector: { matchLabels: { 'tenancy.example.com/tenant': '' } } })).toBeUndefined();
  });
});

describe('tenantIsolationSpec rejects, naming the field', () => {
  it('a missing spec', () => {
    const r = parseTenant({ metadata: { name: 'acme', uid: 'u1', generation: 2 } });
    expect(r).toEqual({ ok: false, name: 'acme', uid: 'u1', generation: 2, error: 'spec: is required', reason: 'InvalidSpec' });
  });

  it('a spec with neither namespaceSelector nor namespaces', () => {
    rejectedAt({}, 'spec.namespaceSelector', /namespaceSelector or namespaces/);
    rejectedAt({ namespaces: [] }, 'spec.namespaceSelector');
  });

  it('an empty namespaceSelector {}, which would select every namespace, even alongside namespaces', () => {
    rejectedAt({ namespaceSelector: {} }, 'spec.namespaceSelector', /must not be empty/);
    rejectedAt({ namespaceSelector: { matchLabels: {}, matchExpressions: [] }, namespaces: ['a'] }, 'spec.namespaceSelector', /must not be empty/);
  });

  it('an unknown field at any level (strict objects)', () => {
    rejectedAt(withSpec({ namespaceSelecter: SEL }), 'spec', /namespaceSelecter/);
    rejectedAt(withSpec({ dns: { enable: false } }), 'spec.dns', /enable/);
    rejectedAt(withSpec({ allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8', expect: [] } }] } }), 'spec.allow.egressTo[0].ipBlock', /expect/);
  });

  it('a bad mode', () => {
    rejectedAt(withSpec({ mode: 'enforce' }), 'spec.mode');
  });

  it('a DNS port out of range, with the index in the path', () => {
    rejectedAt(withSpec({ dns: { ports: [{ protocol: 'UDP', port: 53 }, { port: 0 }] } }), 'spec.dns.ports[1].port');
    rejectedAt(withSpec({ dns: { ports: [{ port: 65536 }] } }), 'spec.dns.ports[0].port');
    rejectedAt(withSpec({ dns: { ports: [{ port: 53.5 }] } }), 'spec.dns.ports[0].port');
    rejectedAt(withSpec({ dns: { ports: [{ protocol: 'ICMP', port: 53 }] } }), 'spec.dns.ports[0].protocol');
  });

  it('an empty DNS port list', () => {
    rejectedAt(withSpec({ dns: { ports: [] } }), 'spec.dns.ports');
  });

  it('a port name that is not an IANA service name', () => {
    for (const name of ['DNS', 'a-very-long-port-name', '53', '-dns', 'dns-', 'd_ns']) {
      rejectedAt(withSpec({ dns: { ports: [{ port: name }] } }), 'spec.dns.ports[0].port');
    }
  });

  it('a port name with consecutive hyphens, which the apiserver refuses in a NetworkPolicy (IsValidPortName)', () => {
    rejectedAt(withSpec({ dns: { ports: [{ port: 'dns--tcp' }] } }), 'spec.dns.ports[0].port');
  });

  it('an endPort below port', () => {
    rejectedAt(withSpec({ allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 8080, endPort: 8000 }] }] } }), 'spec.allow.egressTo[0].ports[0].endPort', /must be >= port \(8080\)/);
  });

  it('an endPort with a named port or with no port', () => {
    rejectedAt(withSpec({ dns: { ports: [{ port: 'dns', endPort: 60 }] } }), 'spec.dns.ports[0].endPort', /numeric port/);
    rejectedAt(withSpec({ dns: { ports: [{ endPort: 60 }] } }), 'spec.dns.ports[0].endPort', /numeric port/);
  });

  it('a bad CIDR', () => {
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/33' }] } }), 'spec.dns.ipBlocks[0].cidr', /must be a CIDR/);
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.1' }] } }), 'spec.dns.ipBlocks[0].cidr');
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/8', except: ['nope'] }] } }), 'spec.dns.ipBlocks[0].except[0]');
  });

  it('an except range outside its cidr, or of the other family', () => {
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/16', except: ['10.0.1.0/24', '10.1.0.0/24'] }] } }), 'spec.dns.ipBlocks[0].except[1]', /must be a strict subset of cidr 10\.0\.0\.0\/16/);
    expect(specError(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/16', except: ['10.0.1.0/24', '10.1.0.0/24'] }] } }))).not.toContain('except[0]');
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/8', except: ['10.0.0.0/7'] }] } }), 'spec.dns.ipBlocks[0].except[0]');
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '::/0', except: ['10.0.0.0/8'] }] } }), 'spec.dns.ipBlocks[0].except[0]');
  });

  it('an except range equal to its cidr, because the apiserver requires a strict subset', () => {
    // networking validation: "must be a strict subset of `cidr`"; accepting it here means the operator
    // later fails to write the NetworkPolicy that carries the ipBlock.
    rejectedAt(withSpec({ dns: { ipBlocks: [{ cidr: '10.0.0.0/24', except: ['10.0.0.0/24'] }] } }), 'spec.dns.ipBlocks[0].except[0]');
  });

  it('a bad label key or value in a selector', () => {
    // A bad key is reported at the key itself.
    rejectedAt({ namespaceSelector: { matchLabels: { 'bad key': 'x' } } }, 'spec.namespaceSelector.matchLabels.bad key');
    rejectedAt({ namespaceSelector: { matchLabels: { 'Example.com/x': 'x' } } }, 'spec.namespaceSelector.matchLabels.Example.com/x');
    rejectedAt({ namespaceSelector: { matchLabels: { '/x': 'x' } } }, 'spec.namespaceSelector.matchLabels./x');
    rejectedAt({ namespaceSelector: { matchLabels: { [`${'a'.repeat(64)}`]: 'x' } } }, `spec.namespaceSelector.matchLabels.${'a'.repeat(64)}`);
    expect(specError({ namespaceSelector: { matchLabels: { [`${'a'.repeat(63)}`]: 'x' } } })).toBeUndefined();
    rejectedAt({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b c'] }] } }, 'spec.namespaceSelector.matchExpressions[0].values[1]', /label value/);
    rejectedAt({ namespaceSelector: { matchLabels: { team: 'not valid!' } } }, 'spec.namespaceSelector.matchLabels.team', /label value/);
    rejectedAt({ namespaceSelector: { matchExpressions: [{ key: '-bad', operator: 'Exists' }] } }, 'spec.namespaceSelector.matchExpressions[0].key');
  });

  it('In or NotIn with no values, and Exists or DoesNotExist with values', () => {
    rejectedAt({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } }, 'spec.namespaceSelector.matchExpressions[0].values', /non-empty when operator is In/);
    rejectedAt({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'NotIn', values: [] }] } }, 'spec.namespaceSelector.matchExpressions[0].values', /NotIn/);
    rejectedAt({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists', values: ['a'] }] } }, 'spec.namespaceSelector.matchExpressions[0].values', /empty when operator is Exists/);
    rejectedAt({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Equals', values: ['a'] }] } }, 'spec.namespaceSelector.matchExpressions[0].operator');
  });

  it('an allow rule combining ipBlock with a namespaceSelector or podSelector', () => {
    rejectedAt(withSpec({ allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: SEL }] } }), 'spec.allow.egressTo[0].ipBlock', /cannot be combined/);
    rejectedAt(withSpec({ allow: { ingressFrom: [{ podSelector: SEL }, { ipBlock: { cidr: '10.0.0.0/8' }, podSelector: SEL }] } }), 'spec.allow.ingressFrom[1].ipBlock', /cannot be combined/);
  });

  it('an allow rule with no peer, which would allow everything', () => {
    rejectedAt(withSpec({ allow: { ingressFrom: [{ ports: [{ port: 80 }] }] } }), 'spec.allow.ingressFrom[0]', /needs one of namespaceSelector, podSelector or ipBlock/);
  });

  it('a namespace name that is not a DNS-1123 label', () => {
    rejectedAt({ namespaces: ['ok', 'Not_OK'] }, 'spec.namespaces[1]');
    rejectedAt(withSpec({ dns: { namespace: 'Kube-System' } }), 'spec.dns.namespace');
  });

  it('reports every problem, separated by "; "', () => {
    const err = specError({ namespaces: ['BAD'], mode: 'x' });
    expect(err).toContain('spec.namespaces[0]:');
    expect(err).toContain('; ');
    expect(err).toContain('spec.mode:');
  });
});

describe('formatIssues', () => {
  it('renders paths with dots for keys and brackets for indexes under the given root', () => {
    const r = tenantIsolationSpec.safeParse(withSpec({ dns: { ports: [{ port: 0 }] } }));
    expect(r.success).toBe(false);
    if (!r.success) expect(formatIssues(r.error, 'x')).toMatch(/^x\.dns\.ports\[0\]\.port: /);
  });
});
