// What `verify -f` refuses as bad input (exit 2): the fields the apiserver's NetworkPolicy and Pod
// validation would refuse, each named in the message.
import { describe, expect, it } from 'vitest';
import { shapeError } from '../../src/manifests/shapes.ts';

const NP = 'networking.k8s.io/v1/NetworkPolicy';
const policy = (spec: unknown) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'n' }, spec });
const egressPorts = (...ports: unknown[]) => policy({ podSelector: {}, egress: [{ ports }] });
const egressTo = (...to: unknown[]) => policy({ podSelector: {}, egress: [{ to }] });

describe('NetworkPolicy manifests', () => {
  it('a port name must be an IANA service name (IsValidPortName)', () => {
    for (const name of ['53', 'a--b', '-dns', 'dns-', 'DNS', 'd_ns', 'a-very-long-port', '']) {
      expect(shapeError(NP, egressPorts({ port: name })), name).toMatch(/^spec\.egress\[0\]\.ports\[0\]\.port: must be 1-65535 or a port name/);
    }
    for (const name of ['dns', 'dns-tcp', 'h2c', 'a1', 'x'.repeat(15)]) expect(shapeError(NP, egressPorts({ port: name })), name).toBeUndefined();
  });

  it('endPort only with a numeric port, and not below it', () => {
    expect(shapeError(NP, egressPorts({ port: 'http', endPort: 90 }))).toBe('spec.egress[0].ports[0].endPort: may not be specified when port is non-numeric');
    expect(shapeError(NP, egressPorts({ protocol: 'UDP', endPort: 90 }))).toBe('spec.egress[0].ports[0].endPort: may not be specified when port is not specified');
    expect(shapeError(NP, egressPorts({ port: 100, endPort: 90 }))).toBe('spec.egress[0].ports[0].endPort: must be greater than or equal to port (100)');
    expect(shapeError(NP, egressPorts({ port: 100, endPort: 100 }))).toBeUndefined();
  });

  it('a peer names something, and an ipBlock stands alone (ValidateNetworkPolicyPeer)', () => {
    expect(shapeError(NP, egressTo({}))).toBe('spec.egress[0].to[0]: must specify a peer: podSelector, namespaceSelector or ipBlock');
    expect(shapeError(NP, policy({ podSelector: {}, ingress: [{ from: [{ podSelector: {} }, {}] }] }))).toMatch(/^spec\.ingress\[0\]\.from\[1\]: must specify a peer/);
    expect(shapeError(NP, egressTo({ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }))).toMatch(/^spec\.egress\[0\]\.to\[0\]: may not specify both ipBlock and another peer/);
    expect(shapeError(NP, egressTo({ ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: {} }))).toMatch(/^spec\.egress\[0\]\.to\[0\]: may not specify both ipBlock and another peer/);
    expect(shapeError(NP, egressTo({ namespaceSelector: {}, podSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8' } }))).toBeUndefined();
  });

  it('an except is a strict subset of its cidr (ValidateIPBlock)', () => {
    for (const except of ['11.0.0.0/8', '10.0.0.0/8', '0.0.0.0/0', 'fd00::/8']) {
      expect(shapeError(NP, egressTo({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', except] } })), except).toBe('spec.egress[0].to[0].ipBlock.except[1]: must be a strict subset of cidr 10.0.0.0/8');
    }
    expect(shapeError(NP, egressTo({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.255.255.255/32'] } }))).toBeUndefined();
  });
});

describe('Pod manifests', () => {
  it('init containers\' ports are checked like the containers\' (the analysis reads both)', () => {
    expect(shapeError('v1/Pod', { metadata: {}, spec: { containers: [{}], initContainers: [{ ports: [{ name: 'metrics', containerPort: 0 }] }] } })).toMatch(/^spec\.initContainers\[0\]\.ports\[0\]\.containerPort: /);
    expect(shapeError('v1/Pod', { metadata: {}, spec: { containers: [{}], initContainers: [{ ports: [{ name: 'metrics', containerPort: 9090 }] }] } })).toBeUndefined();
  });
});
