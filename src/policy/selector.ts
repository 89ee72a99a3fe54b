// metav1.LabelSelector evaluation (labels.SelectorFromSet + requirements): all terms ANDed, an empty
// selector matches everything, and a requirement on a missing key matches only NotIn/DoesNotExist.
import type { LabelSelector } from '../api/schema.ts';

export function matchesSelector(labels: Readonly<Record<string, string>> | undefined, selector: LabelSelector): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (l[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, req.key);
    const value = l[req.key];
    switch (req.operator) {
      case 'In': if (!has || !(req.values ?? []).includes(value!)) return false; break;
      case 'NotIn': if (has && (req.values ?? []).includes(value!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}
