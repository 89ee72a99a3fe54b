#!/usr/bin/env node
// tenant-isolation: the operator and its command-line tools (commands.ts).
// Before anything else is loaded, `run` chooses V8's compiler tier (src/runtime/compiler-tier.ts says why
// it must come first); everything else is imported after that choice.
import { chooseCompilerTier } from '../runtime/compiler-tier.ts';

chooseCompilerTier(process.argv.slice(2), process.env);
await import('./commands.ts');
