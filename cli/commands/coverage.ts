/**
 * `iommufd-spec coverage --errnos [--impl …]… [--profile P]… [--json] [PROGRAM…]`:
 * runs the corpus (default conformance/programs/corpus/) on each implementation
 * and prints, per command and profile, which errno clauses it reaches.
 * Kernel lanes (linux-<profile>) run only their own profile.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { CORPUS_DIR } from '../../conformance/programs/load.ts';
import { AdapterOpenError, jsonReplacer, runPrograms, type SessionResult } from '../../conformance/programs/session.ts';
import { errnoClauses, errnoCoverage, renderErrnoCoverage } from '../../conformance/programs/coverage.ts';
import { loadOrUsage } from './exec.ts';
import { machineColumns, machinesCoverage, renderMachinesCoverage } from './coverage-machines.ts';
import './implementations.ts';

interface CoverageOptions {
  errnos?: boolean;
  machines?: boolean;
  suiteRuns?: string;
  impl?: string[];
  profile?: string[];
  json?: boolean;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Profiles to run `impl` for: a kernel lane has one. */
function profilesFor(impl: string, asked: readonly Profile[]): Profile[] {
  const m = /^linux-(.+)$/.exec(impl);
  if (m && isProfile(m[1] as string)) return asked.includes(m[1] as Profile) ? [m[1] as Profile] : [];
  return [...asked];
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('coverage')
    .description('what the program corpus reaches: --errnos prints the errno clauses reached per command, profile and implementation; --machines the lifecycle machines’ states and transitions')
    .argument('[program...]', 'program files or directories (default: the corpus)')
    .option('--errnos', 'errno clauses reached per command and profile')
    .option('--machines', 'lifecycle machines: per machine its states and transitions, and which the corpus, the transition tour and the random suite reach')
    .option('--suite-runs <n>', 'with --machines: random-suite cases per profile on the first implementation (0: none)', '40')
    .option('--impl <name>', 'implementation (repeatable; default ref)', collect)
    .option('--profile <profile>', `profile (repeatable; default ${PROFILES.join(' and ')})`, collect)
    .option('--json', 'print as JSON')
    .action(async (paths: string[], opts: CoverageOptions) => {
      if (!opts.errnos && !opts.machines) throw new UsageError('coverage: say what to cover: --errnos or --machines');
      const profiles = opts.profile ?? [...PROFILES];
      for (const p of profiles) if (!isProfile(p)) throw new UsageError(`coverage: --profile: unknown profile '${p}' (expected ${PROFILES.join(' or ')})`);
      const programs = loadOrUsage(paths.length > 0 ? paths : [CORPUS_DIR]);
      if (opts.machines) {
        const impls = opts.impl ?? ['ref'];
        const suiteRuns = Number(opts.suiteRuns ?? '40');
        if (!Number.isInteger(suiteRuns) || suiteRuns < 0) throw new UsageError(`coverage: --suite-runs: '${opts.suiteRuns}' is not a whole number of cases`);
        const columns = await machineColumns(impls, profiles as Profile[], programs, (impl) => profilesFor(impl, profiles as Profile[]), { runs: suiteRuns });
        const report = machinesCoverage(columns, profiles as Profile[]);
        process.stdout.write(opts.json ? JSON.stringify(report, jsonReplacer, 1) + '\n' : renderMachinesCoverage(report));
        if (!opts.errnos) return setExit(0);
      }
      const sessions: SessionResult[] = [];
      for (const impl of opts.impl ?? ['ref']) {
        for (const profile of profilesFor(impl, profiles as Profile[])) {
          try {
            sessions.push(await runPrograms(impl, profile, programs));
          } catch (err) {
            if (err instanceof AdapterOpenError) throw new UsageError(err.message);
            throw err;
          }
        }
      }
      const cov = errnoCoverage(await errnoClauses(), sessions);
      if (opts.json) {
        const columns = cov.columns.map((c) => ({ ...c, reached: Object.fromEntries(c.reached), commands: Object.fromEntries(c.commands) }));
        process.stdout.write(JSON.stringify({ ...cov, columns }, jsonReplacer, 1) + '\n');
      } else {
        process.stdout.write(renderErrnoCoverage(cov));
      }
      setExit(0);
    });
};
