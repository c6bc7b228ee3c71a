import type { Command } from 'commander';

/** A subcommand registers itself; `setExit` records the process exit code. */
export type RegisterCommand = (program: Command, setExit: (code: number) => void) => void;

import { register as spec } from './spec.ts';
import { register as serve } from './serve.ts';
import { register as bench } from './bench.ts';
import { register as conformance } from './conformance.ts';
import { register as exec } from './exec.ts';
import { register as kernel } from './kernel.ts';
import { register as diff } from './diff.ts';
import { register as coverage } from './coverage.ts';
import { register as tour } from './tour.ts';

export const commands: readonly RegisterCommand[] = [spec, serve, bench, conformance, exec, diff, coverage, kernel, tour];
