// The commands of tenant-isolation, loaded by main.ts once it has chosen V8's compiler tier.
// Each command loads its own modules only: the running operator does not carry verify's reports.
import { parseRunFlags, RUN_HELP } from './flags.ts';

const USAGE = `Usage: tenant-isolation <command> [flags]

Commands:
  run       run the operator (see: tenant-isolation run --help)
  render    print the NetworkPolicies the operator would apply for given manifests
  verify    prove isolation of a cluster or of manifests: matrix, breaches, unselected pods (-o html|dot|svg draws them);
            verify diff compares two sources, verify explain SRC DST --port P explains one connection
`;

// A reader that went away (`verify -o html | head`) ends the output, not the command with a stack trace:
// the exit status stays the verdict.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': {
      const flags = parseRunFlags(rest);
      if (flags === 'help') { process.stdout.write(`${RUN_HELP}\n`); return 0; }
      const { runCommand } = await import('./run.ts');
      try {
        await runCommand(flags);
      } catch (err) {
        // A failed start exits at once, so the kubelet restarts it: a listener or a watch opened before the
        // failure would otherwise keep the process alive, up and doing nothing.
        process.stderr.write(`tenant-isolation: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      }
      return -1; // keeps running until a signal
    }
    case 'render': return (await import('./render.ts')).renderCommand(rest);
    case 'verify': return (await import('./verify.ts')).verifyCommand(rest);
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
