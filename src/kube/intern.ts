// Deduplication for what the caches keep. JSON.parse makes a fresh copy of every string and object in
// every event, so at 10 000 namespaces the same namespace name sits in a dozen places and 10 000 policies
// carry 10 000 identical specs. Interning keeps one copy of each (docs/operations.md, Memory and sizing).

/**
 * Strings: one copy per distinct value. Two generations, so values nobody uses any more (deleted
 * namespaces) are forgotten: when the current generation grows past twice what survived the last
 * rotation, it becomes the previous one and the old previous one is dropped. Lookups promote.
 */
export class StringInterner {
  private current = new Map<string, string>();
  private previous = new Map<string, string>();
  private limit: number;
  private readonly minLimit: number;
  /** Values of the previous generation asked for again in this one: the part still in use. */
  private promoted = 0;

  constructor(minLimit = 4096) { this.minLimit = minLimit; this.limit = minLimit; }

  intern(s: string): string {
    const hit = this.current.get(s);
    if (hit !== undefined) return hit;
    const old = this.previous.get(s);
    if (old !== undefined) this.promoted++;
    const value = old ?? s;
    this.current.set(value, value);
    if (this.current.size > this.limit) {
      // The next limit follows what is still in use (promoted), not this generation's size: sizing it on
      // the size it reached would double it at every rotation and keep everything for ever.
      this.limit = Math.max(this.minLimit, this.promoted * 2);
      this.previous = this.current;
      this.current = new Map();
      this.promoted = 0;
    }
    return value;
  }

  get size(): number { return this.current.size + this.previous.size; }
}

/** The process-wide string table the informer transforms use. */
export const strings = new StringInterner();

/** A copy of a string map (labels, matchLabels) whose keys and values come from the string table. */
export function internLabels(m: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (!m) return m;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[strings.intern(k)] = strings.intern(v);
  return out;
}

/**
 * Replaces, in place, every string in parsed JSON with the string table's copy, and returns it. For
 * objects kept whole (TenantIsolations with their status): every tenant's status repeats the same
 * states, messages and reasons, and names its namespaces, whose names the caches already hold.
 */
export function internStrings<T>(v: T): T {
  if (Array.isArray(v)) {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) { const x = a[i]; a[i] = typeof x === 'string' ? strings.intern(x) : internStrings(x); }
  } else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k in o) { const x = o[k]; o[k] = typeof x === 'string' ? strings.intern(x) : internStrings(x); }
  }
  return v;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * Values by structure: equal JSON (the apiserver serialises fields in a fixed order) gives the very
 * same frozen object. Entries go away with the last object that uses them (weak references).
 */
export class ValueInterner<T extends object> {
  private readonly byJson = new Map<string, WeakRef<T>>();
  private readonly cleanup = new FinalizationRegistry<string>((json) => {
    if (this.byJson.get(json)?.deref() === undefined) this.byJson.delete(json);
  });

  intern(v: T): T {
    const json = JSON.stringify(v);
    const hit = this.byJson.get(json)?.deref();
    if (hit) return hit;
    const frozen = deepFreeze(v);
    this.byJson.set(json, new WeakRef(frozen));
    this.cleanup.register(frozen, json);
    return frozen;
  }

  get size(): number { return this.byJson.size; }
}

/** The process-wide label-set table: the caches keep one frozen copy of each distinct label set. */
export const labelSets = new ValueInterner<Record<string, string>>();
