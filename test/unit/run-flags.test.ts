// `run` flags for the API client: defaults as documented, bad values named.
import { describe, expect, it } from 'vitest';
import { parseRunFlags } from '../../src/cli/flags.ts';

const parse = (...argv: string[]) => parseRunFlags(argv, {});

describe('run flags for the API client', () => {
  it('default to no client-side rate limit (as controller-runtime), burst 10, a 180 s watch silence limit', () => {
    expect(parse()).toMatchObject({ 'kube-api-qps': -1, 'kube-api-burst': 10, 'watch-silence-limit': 180 });
  });

  it('take values from flags and from TIO_ environment variables', () => {
    expect(parse('--kube-api-qps', '50', '--kube-api-burst', '100', '--watch-silence-limit', '300'))
      .toMatchObject({ 'kube-api-qps': 50, 'kube-api-burst': 100, 'watch-silence-limit': 300 });
    expect(parseRunFlags([], { TIO_KUBE_API_QPS: '20.5' })).toMatchObject({ 'kube-api-qps': 20.5 });
  });

  it('lease timings default to kube-controller-manager\'s (15 s, 10 s, 2 s) and unsafe ones are refused', () => {
    expect(parse()).toMatchObject({ 'leader-elect-lease-duration': 15, 'leader-elect-renew-deadline': 10, 'leader-elect-retry-period': 2 });
    expect(parse('--leader-elect-lease-duration', '8', '--leader-elect-renew-deadline', '5', '--leader-elect-retry-period', '1'))
      .toMatchObject({ 'leader-elect-lease-duration': 8, 'leader-elect-renew-deadline': 5, 'leader-elect-retry-period': 1 });
    expect(() => parse('--leader-elect-renew-deadline', '15')).toThrow(/^--leader-elect-lease-duration, --leader-elect-renew-deadline, --leader-elect-retry-period: lease timings: the renew deadline \(15000 ms\) must be shorter than the lease duration/);
    expect(() => parse('--leader-elect-retry-period', '9')).toThrow(/must exceed 1.2 x the retry period/);
  });

  it('optimize with Maglev only unless --optimizing-compiler=turbofan asks for V8\'s default', () => {
    expect(parse()).toMatchObject({ 'optimizing-compiler': 'maglev' });
    expect(parse('--optimizing-compiler', 'turbofan')).toMatchObject({ 'optimizing-compiler': 'turbofan' });
    expect(parseRunFlags([], { TIO_OPTIMIZING_COMPILER: 'turbofan' })).toMatchObject({ 'optimizing-compiler': 'turbofan' });
    expect(() => parse('--optimizing-compiler', 'sparkplug')).toThrow(/^--optimizing-compiler: /);
  });

  it('refuse bad values, naming the flag', () => {
    expect(() => parse('--kube-api-qps', 'fast')).toThrow(/^--kube-api-qps: /);
    expect(() => parse('--kube-api-burst', '0')).toThrow(/^--kube-api-burst: /);
    expect(() => parse('--watch-silence-limit', '30')).toThrow(/^--watch-silence-limit: must be at least 60 \(seconds\)/);
  });

  it('take boolean TIO_ variables as true or false only, refusing anything else', () => {
    expect(parseRunFlags([], { TIO_LEADER_ELECT: 'true' })).toMatchObject({ 'leader-elect': true });
    expect(parseRunFlags([], { TIO_LEADER_ELECT: 'false' })).toMatchObject({ 'leader-elect': false });
    for (const v of ['1', 'TRUE', 'yes', ''])
      expect(() => parseRunFlags([], { TIO_LEADER_ELECT: v })).toThrow(`TIO_LEADER_ELECT (--leader-elect): must be true or false, not ${v}`);
  });
});
