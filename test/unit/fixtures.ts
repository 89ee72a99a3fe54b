// Shared builders for unit tests: tenants go through the real parser, so every test sees the same
// defaults the operator applies to objects it reads from the API server.
import { parseTenant, type ValidTenant } from '../../src/api/schema.ts';

export function tenant(name: string, spec: Record<string, unknown>, generation = 1): ValidTenant {
  const r = parseTenant({ metadata: { name, uid: `uid-${name}`, generation }, spec });
  if (!r.ok) throw new Error(`fixture tenant ${name} is invalid: ${r.error}`);
  return r.tenant;
}

/** The validation error for a spec, or undefined when it is valid. */
export function specError(spec: unknown): string | undefined {
  const r = parseTenant({ metadata: { name: 't', uid: 'u', generation: 1 }, spec });
  return r.ok ? undefined : r.error;
}
