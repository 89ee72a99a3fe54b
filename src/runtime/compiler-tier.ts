// V8's top compiler tier for `run`, chosen by the CLI's entry before it loads any other module.
//
// Without TurboFan, V8 optimizes hot code with Maglev only and never pages TurboFan's own machine code in
// from the node binary: about 5.5 MB less resident memory (file-backed pages 46.8 MB instead of 52.1 MB;
// 125 MB instead of 131 MB at 10 000 namespaces), while the operator's CPU did not grow in any benchmark
// (docs/operations.md). It must happen first: loading the CLI's module graph runs Node's module loader
// hot enough for TurboFan to compile parts of it within milliseconds, and once TurboFan has run, its pages
// stay resident (set after the imports, the flag saved nothing). NODE_OPTIONS refuses V8's compiler
// flags, so this is where it is set. flags.ts validates --optimizing-compiler like any other flag.
import { setFlagsFromString } from 'node:v8';

/** The tier `run` was asked for: the last --optimizing-compiler on the command line, else TIO_OPTIMIZING_COMPILER. */
export function requestedCompiler(args: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  let value = env.TIO_OPTIMIZING_COMPILER;
  args.forEach((a, i) => {
    if (a.startsWith('--optimizing-compiler=')) value = a.slice('--optimizing-compiler='.length);
    else if (a === '--optimizing-compiler') value = args[i + 1];
  });
  return value;
}

/** Turns TurboFan off for `run` unless it was asked for; returns the tier in use ('maglev' or 'turbofan'). */
export function chooseCompilerTier(argv: readonly string[], env: NodeJS.ProcessEnv): 'maglev' | 'turbofan' {
  if (argv[0] !== 'run' || requestedCompiler(argv.slice(1), env) === 'turbofan') return 'turbofan';
  setFlagsFromString('--no-turbofan');
  return 'maglev';
}
