/**
 * `iommufd-spec replay FILE --impl <…> [--profile P] [--oracle full|invariants] [--json] [--emit-c OUT.c]`:
 * run a replay file (or any program) again under the suite's oracles. Exit 1
 * when an oracle objects (the failure reproduces), 0 when it does not, 2 on a
 * bad file or options, or an implementation that could not be started.
 * `--emit-c OUT.c` writes the program as a standalone C reproducer against
 * /dev/iommu and the mock driver's test ops (conformance/suite/repro-c.ts);
 * without `--impl` that is all it does.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { isAdapterSpec } from '../../conformance/adapter/open.ts';
import { loadProgram, ProgramError } from '../../conformance/programs/load.ts';
import { replayProgram, ReplayError } from '../../conformance/suite/replay.ts';
import { emitC, EmitCError } from '../../conformance/suite/repro-c.ts';
import { writeFileSync } from 'node:fs';
import { SuiteStartError } from '../../conformance/suite/runner.ts';
import './implementations.ts';

interface ReplayCliOptions {
  impl?: string;
  profile?: string;
  oracle?: string;
  json?: boolean;
  timeout?: string;
  emitC?: string;
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('replay')
    .description('run a replay file (a counterexample program the suite saved) again under the oracles')
    .argument('<file>', 'the replay file (a program in conformance/programs/FORMAT.md)')
    .option('--impl <name>', 'implementation: ref, linux-6.12, linux-7.3, a module path, or cmd:"<command line>"')
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')})`)
    .option('--oracle <set>', 'full or invariants', 'full')
    .option('--timeout <ms>', 'per-command timeout', '30000')
    .option('--json', 'print the objections as JSON')
    .option('--emit-c <file>', 'write the program as a standalone C reproducer (/dev/iommu + the mock test ops); alone, without --impl, only that')
    .action(async (file: string, o: ReplayCliOptions) => {
      if (!o.impl && !o.emitC) throw new UsageError("replay: option '--impl <name>' is required (or --emit-c <file> alone)");
      if (o.impl !== undefined && !isAdapterSpec(o.impl)) throw new UsageError(`replay: --impl: unknown implementation '${o.impl}'`);
      if (o.profile !== undefined && !isProfile(o.profile)) throw new UsageError(`replay: --profile: unknown profile '${o.profile}' (expected ${PROFILES.join(' or ')})`);
      if (o.oracle !== 'full' && o.oracle !== 'invariants') throw new UsageError(`replay: --oracle: expected full or invariants, got '${o.oracle}'`);
      const timeoutMs = Number(o.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`replay: --timeout: expected a positive integer, got '${o.timeout}'`);
      let loaded;
      try {
        loaded = loadProgram(file);
      } catch (err) {
        if (err instanceof ProgramError) throw new UsageError(`replay: ${err.message}`);
        throw err;
      }
      if (o.emitC) {
        let c: string;
        try {
          c = emitC(loaded.program, { ...(o.profile && { profile: o.profile as Profile }), source: file });
        } catch (err) {
          if (err instanceof EmitCError) throw new UsageError(`replay: --emit-c: ${file}: ${err.message}`);
          throw err;
        }
        writeFileSync(o.emitC, c);
        process.stderr.write(`replay: wrote ${o.emitC} (gcc -static -I<kernel>/include; see its header)\n`);
        if (!o.impl) return;
      }
      let r;
      try {
        r = await replayProgram(loaded.program, { impl: o.impl as string, ...(o.profile && { profile: o.profile as Profile }), oracle: o.oracle, timeoutMs });
      } catch (err) {
        if (err instanceof SuiteStartError || err instanceof ReplayError) throw new UsageError(`replay: ${err.message}`);
        throw err;
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ implementation: r.implementation, profile: r.profile, recorded: r.recorded, reproduced: r.reproduced, objections: r.objections.map(({ probe: _p, ...x }) => x) }, null, 2)}\n`);
      } else {
        process.stdout.write(`${file} on ${r.implementation} [${r.profile}]\n${r.text}\n`);
        if (r.objections.length === 0) process.stdout.write('No oracle objects: the failure does not reproduce.\n');
        else process.stdout.write(`Reproduced${r.recorded ? ` (${r.recorded}${r.reproduced ? '' : ' recorded; a different property objects now'})` : ''}.\n`);
      }
      setExit(r.objections.length > 0 ? 1 : 0);
    });
};
