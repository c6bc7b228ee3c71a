import type { RegisterCommand } from './register.ts';
import { register as spec } from './spec.ts';
import { register as serve } from './serve.ts';
import { register as bench } from './bench.ts';
import { register as conformance } from './conformance.ts';
import { register as exec } from './exec.ts';
import { register as kernel } from './kernel.ts';
import { register as diff } from './diff.ts';
import { register as coverage } from './coverage.ts';
import { register as run } from './run.ts';
import { register as replay } from './replay.ts';
import { register as merge } from './merge.ts';

export type { RegisterCommand };

export const commands: readonly RegisterCommand[] = [spec, serve, bench, conformance, exec, diff, coverage, kernel, run, replay, merge];
