// Namespaces by name and by label, so a selector finds the namespaces it matches without scanning them
// all. The membership index and the reachability analyzer each keep one.
import type { LabelSelector } from '../api/schema.ts';
import { LABEL_NAMESPACE_NAME } from './labels.ts';
import { matchesSelector } from './selector.ts';

type Labels = Readonly<Record<string, string>>;

/**
 * Every namespace carries its own name as this label (the apiserver sets it): indexed by name already, it
 * is left out of the label index, which otherwise held one single-name Set per namespace (about 390 bytes
 * each, in two indexes). Only a value other than the name (an offline input) is indexed.
 */
const isOwnName = (name: string, k: string, v: string): boolean => k === LABEL_NAMESPACE_NAME && v === name;

export class NamespaceLabelIndex {
  private readonly byName = new Map<string, Labels>();
  private readonly byLabel = new Map<string, Map<string, Set<string>>>();

  get size(): number { return this.byName.size; }
  has(name: string): boolean { return this.byName.has(name); }
  get(name: string): Labels | undefined { return this.byName.get(name); }
  names(): IterableIterator<string> { return this.byName.keys(); }
  entries(): IterableIterator<[string, Labels]> { return this.byName.entries(); }

  /** Adds or replaces a namespace's labels. */
  set(name: string, labels: Labels): void {
    const cur = this.byName.get(name);
    if (cur) this.unindex(name, cur);
    this.byName.set(name, labels);
    for (const [k, v] of Object.entries(labels)) {
      if (isOwnName(name, k, v)) continue;
      let byValue = this.byLabel.get(k);
      if (!byValue) { byValue = new Map(); this.byLabel.set(k, byValue); }
      let set = byValue.get(v);
      if (!set) { set = new Set(); byValue.set(v, set); }
      set.add(name);
    }
  }

  delete(name: string): void {
    const cur = this.byName.get(name);
    if (!cur) return;
    this.unindex(name, cur);
    this.byName.delete(name);
  }

  /** Namespaces the selector matches, narrowed through the index when it names a key's values. */
  select(sel: LabelSelector): string[] {
    let candidates: Iterable<string> | undefined;
    const ml = Object.entries(sel.matchLabels ?? {});
    if (ml.length > 0) candidates = this.withLabel(ml[0]![0], ml[0]![1]);
    else {
      const inReq = (sel.matchExpressions ?? []).find((r) => r.operator === 'In');
      if (inReq) candidates = new Set((inReq.values ?? []).flatMap((v) => [...this.withLabel(inReq.key, v)]));
    }
    const out: string[] = [];
    for (const n of candidates ?? this.byName.keys()) {
      const labels = this.byName.get(n);
      if (labels && matchesSelector(labels, sel)) out.push(n);
    }
    return out;
  }

  /** Namespaces that may carry label k=v (a superset: select() checks every term). */
  private withLabel(k: string, v: string): Iterable<string> {
    const indexed = this.byLabel.get(k)?.get(v);
    if (k !== LABEL_NAMESPACE_NAME || !this.byName.has(v)) return indexed ?? [];
    return indexed ? [...indexed, v] : [v];
  }

  private unindex(name: string, labels: Labels): void {
    for (const [k, v] of Object.entries(labels)) {
      if (isOwnName(name, k, v)) continue;
      const byValue = this.byLabel.get(k);
      const set = byValue?.get(v);
      set?.delete(name);
      if (set?.size === 0) byValue!.delete(v);
      if (byValue?.size === 0) this.byLabel.delete(k);
    }
  }
}
