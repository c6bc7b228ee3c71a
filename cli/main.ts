/**
 * The `iommufd-spec` command line. Each subcommand lives in cli/commands/<name>.ts
 * and registers itself on the program; this file only assembles them.
 * Exit codes: 0 success, 1 a check or conformance failure, 2 usage error or an
 * implementation that could not be started.
 */
import { Command, CommanderError } from 'commander';
import { COMMANDS, type CommandEntry, type RegisterCommand } from './commands/index.ts';
import { UsageError } from './usage.ts';

/**
 * The command the arguments name (`help X` names X), if it is one of ours.
 * There are no top-level options taking a value, so the first word that is not
 * an option is the command.
 */
function namedCommand(argv: readonly string[]): CommandEntry | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === name);
}

/**
 * What to register: the named command's module alone, or (top-level help, no or
 * an unknown command) every command — as a listing entry only, since none will run.
 */
export async function commandsFor(argv: readonly string[]): Promise<readonly RegisterCommand[]> {
  const named = namedCommand(argv);
  if (named) return [await named.load()];
  return COMMANDS.map((c) => (program: Command) => {
    program.command(c.name).description(c.summary);
  });
}

/** The top-level listing shows a stub's term from the table (a loaded command's is commander's own). */
function listingTerm(cmd: Command, own: (cmd: Command) => string): string {
  const entry = COMMANDS.find((c) => c.name === cmd.name());
  return entry && cmd.options.length === 0 && cmd.registeredArguments.length === 0 ? entry.term : own(cmd);
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('iommufd-spec')
    .description('Executable specification and conformance suite for the Linux iommufd user API (/dev/iommu)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const help = program.createHelp();
  program.configureHelp({ subcommandTerm: (cmd) => listingTerm(cmd, (c) => help.subcommandTerm(c)) });
  let exitCode = 0;
  for (const register of await commandsFor(argv)) {
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
