import type { Command } from 'commander';

/**
 * A subcommand registers itself; `setExit` records the process exit code.
 * (Its own module, so that the commands and the list in index.ts do not import
 * each other.)
 */
export type RegisterCommand = (program: Command, setExit: (code: number) => void) => void;
