import { describe, expect, it } from 'vitest';
import { resourceOf } from '../../src/kube/rest.ts';

describe('resourceOf (the resource label of tenant_isolation_api_writes_total)', () => {
  it('names the resource of namespaced and cluster-scoped paths, items and collections, and subresources', () => {
    expect(resourceOf('/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/x')).toBe('networkpolicies');
    expect(resourceOf('/apis/networking.k8s.io/v1/namespaces/a/networkpolicies')).toBe('networkpolicies');
    expect(resourceOf('/api/v1/namespaces/default/events/e1')).toBe('events');
    expect(resourceOf('/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/t/status')).toBe('tenantisolations/status');
    expect(resourceOf('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/b?fieldManager=x')).toBe('validatingadmissionpolicybindings');
    expect(resourceOf('/api/v1/namespaces/ns')).toBe('namespaces');
  });
});
