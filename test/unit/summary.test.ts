import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/controller/tenant-status.ts';

describe('status.summary (the Namespaces printer column)', () => {
  it('counts isolated namespaces out of all, then names what is not isolated', () => {
    expect(summarize([])).toBe('0/0 isolated');
    expect(summarize([{ name: 'a', state: 'Isolated' }, { name: 'b', state: 'Isolated' }])).toBe('2/2 isolated');
    expect(summarize([{ name: 'a', state: 'Isolated' }, { name: 'b', state: 'Conflict' }, { name: 'c', state: 'Pending' }]))
      .toBe('1/3 isolated, 1 pending, 1 conflict');
    expect(summarize([{ name: 'a', state: 'Terminating' }])).toBe('0/1 isolated, 1 terminating');
  });

  it('says Audit when every namespace only would be isolated', () => {
    expect(summarize([{ name: 'a', state: 'WouldIsolate' }, { name: 'b', state: 'WouldIsolate' }])).toBe('2 would isolate (Audit)');
  });
});
