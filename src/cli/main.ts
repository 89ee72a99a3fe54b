#!/usr/bin/env node
// tenant-isolation: the operator and its command-line tools.
import { parseRunFlags, RUN_HELP } from './flags.ts';
import { runCommand } from './run.ts';
import { renderCommand } from './render.ts';
import { verifyCommand } from './verify.ts';

const USAGE = `Usage: tenant-isolation <command> [flags]

Commands:
  run       run the operator (see: tenant-isolation run --help)
  render    print the NetworkPolicies the operator would apply for given manifests
  verify    prove isolation of a cluster or of manifests: matrix, breaches, unselected pods (-o html|dot|svg draws them);
            verify diff compares two sources, verify explain SRC DST --port P explains one connection
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': {
      const flags = parseRunFlags(rest);
      if (flags === 'help') { process.stdout.write(`${RUN_HELP}\n`); return 0; }
      await runCommand(flags);
      return -1; // keeps running until a signal
    }
    case 'render': return renderCommand(rest);
    case 'verify': return verifyCommand(rest);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE); return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`tenant-isolation: unknown command '${command}'\n${USAGE}`); return 2;
  }
}

main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`tenant-isolation: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
