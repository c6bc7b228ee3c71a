/**
 * The `iommufd-spec` command line. Each subcommand lives in cli/commands/<name>.ts
 * and registers itself on the program; this file only assembles them.
 * Exit codes: 0 success, 1 a check or conformance failure, 2 usage error or an
 * implementation that could not be started.
 */
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.ts';
import { UsageError } from './usage.ts';

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('iommufd-spec')
    .description('Executable specification and conformance suite for the Linux iommufd user API (/dev/iommu)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  let exitCode = 0;
  for (const register of commands) {
    register(program, (code) => {
      exitCode = code;
    });
  }
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 1 → 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`iommufd-spec: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return exitCode;
}
