// The CLI's entry chooses V8's compiler tier for `run` before loading anything else.
import { describe, expect, it } from 'vitest';
import { requestedCompiler } from '../../src/runtime/compiler-tier.ts';

describe('the compiler tier `run` is asked for', () => {
  it('is the last --optimizing-compiler on the command line, in either form, else TIO_OPTIMIZING_COMPILER', () => {
    expect(requestedCompiler([], {})).toBeUndefined();
    expect(requestedCompiler(['--concurrency', '8'], {})).toBeUndefined();
    expect(requestedCompiler(['--optimizing-compiler=turbofan'], {})).toBe('turbofan');
    expect(requestedCompiler(['--optimizing-compiler', 'turbofan', '--log-level', 'debug'], {})).toBe('turbofan');
    expect(requestedCompiler(['--optimizing-compiler=turbofan', '--optimizing-compiler', 'maglev'], {})).toBe('maglev');
    expect(requestedCompiler([], { TIO_OPTIMIZING_COMPILER: 'turbofan' })).toBe('turbofan');
    expect(requestedCompiler(['--optimizing-compiler=maglev'], { TIO_OPTIMIZING_COMPILER: 'turbofan' })).toBe('maglev');
  });
});
