// Condition label values tenant_isolation_tenants always reports, 0 when none: alerts and dashboards
// read them by name. A module of its own (no prom-client) so the pure status code that counts them can
// import it; the namespace states are the API's own (NAMESPACE_STATES in src/api/schema.ts).
export const TENANT_CONDITIONS = ['all', 'Ready', 'Isolated', 'Gated', 'MembershipGuarded', 'Reconciling', 'Stalled'] as const;
