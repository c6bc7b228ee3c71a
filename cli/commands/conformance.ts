/**
 * `iommufd-spec conformance` (what `npm run conformance` runs): every check
 * that spec clauses name (the vitest tests declared with `check(...)`), with
 * progress and a per-clause summary, then the random suite against the
 * reference at its default budget (`iommufd-spec run --impl ref`).
 * Property tests run with the `large` budget (spec/testing/property-budget.ts):
 * ten times `npm test`'s runs, with a fresh seed it prints. The corpus checks
 * among them judge every program's verdict (conformance/programs/verdict.ts),
 * so a step that does not run and is not listed unsupported fails here too.
 */
import { SingleBar, Presets } from 'cli-progress';
import { relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import type { TestCase } from 'vitest/node';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { clauseCoverage, REPO_ROOT } from '../../spec/clauses/registry.ts';
import { findDeclaredChecks } from '../../spec/clauses/checks.ts';
import { CHECK_TITLE_PREFIX } from '../../spec/clauses/check.ts';
import { budgetFromEnv, BudgetError, type PropertyBudget } from '../../spec/testing/property-budget.ts';
import { UsageError } from '../usage.ts';
import { parseRunOptions, runFromCli } from './run.ts';
import './implementations.ts';

type Outcome = 'passed' | 'failed' | 'skipped';

interface ConformanceOptions {
  json?: boolean;
}

/**
 * The property budget of this run: `large` (ten times `npm test`'s runs) with
 * a fresh seed unless IOMMUFD_SPEC_BUDGET / IOMMUFD_SPEC_SEED say otherwise.
 * Set in the environment before vitest starts, so the setup file of every
 * worker thread (spec/testing/vitest.setup.ts) installs the same budget.
 */
function chooseBudget(env: NodeJS.ProcessEnv): PropertyBudget {
  env['IOMMUFD_SPEC_BUDGET'] ??= 'large';
  env['IOMMUFD_SPEC_SEED'] ??= String((Math.random() * 0x7fffffff) | 0);
  try {
    return budgetFromEnv(env);
  } catch (err) {
    if (err instanceof BudgetError) throw new UsageError(`conformance: ${err.message}`);
    throw err;
  }
}

/** Why a check failed: its file and the first lines of each error (vitest's message, the
 * property's seed and counterexample included), so a CI log says what to repeat. */
interface Failure {
  readonly file: string;
  readonly errors: readonly string[];
}

/** The first MAX_ERROR_LINES lines of an error: enough for fast-check's seed, path and counterexample. */
const MAX_ERROR_LINES = 40;

function errorText(e: { readonly message?: string; readonly name?: string; readonly diff?: string }): string {
  // The diff names what an assertion found (the message alone says "expected [ Array(1) ] to deeply equal []").
  const text = `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? String(e)}${e.diff ? `\n${stripVTControlCharacters(e.diff)}` : ''}`;
  const lines = text.split('\n');
  return lines.length > MAX_ERROR_LINES ? [...lines.slice(0, MAX_ERROR_LINES), `… (${lines.length - MAX_ERROR_LINES} more lines)`].join('\n') : text;
}

async function runChecks(onResult: (name: string, outcome: Outcome, failure?: Failure) => void): Promise<void> {
  const { startVitest } = await import('vitest/node');
  const reporter = {
    onTestCaseResult(testCase: TestCase) {
      if (!testCase.name.startsWith(CHECK_TITLE_PREFIX)) return;
      const result = testCase.result();
      const outcome: Outcome = result.state === 'passed' ? 'passed' : result.state === 'failed' ? 'failed' : 'skipped';
      const failure = outcome === 'failed' ? { file: relative(REPO_ROOT, testCase.module.moduleId), errors: (result.errors ?? []).map(errorText) } : undefined;
      onResult(testCase.name.slice(CHECK_TITLE_PREFIX.length), outcome, failure);
    },
  };
  const vitest = await startVitest('test', [], {
    root: REPO_ROOT,
    watch: false,
    // Matched against the full name, describe titles included: no anchor.
    testNamePattern: CHECK_TITLE_PREFIX,
    reporters: [reporter],
    passWithNoTests: true,
  });
  await vitest.close();
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('conformance')
    .description('run the conformance checks against the reference implementation, with progress and a summary')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: ConformanceOptions) => {
      const budget = chooseBudget(process.env);
      const budgetLine = `property budget: ${budget.name} (${budget.numRuns} runs per property of weight 1), seed ${budget.seed} — repeat with IOMMUFD_SPEC_BUDGET=${budget.name} IOMMUFD_SPEC_SEED=${budget.seed}`;
      if (!opts.json) process.stderr.write(`${budgetLine}\n`);
      const declared = findDeclaredChecks(REPO_ROOT);
      const results = new Map<string, Outcome[]>();
      const tty = process.stderr.isTTY && !opts.json;
      const bar = tty ? new SingleBar({ format: 'checks {bar} {value}/{total} {name}', hideCursor: true }, Presets.shades_classic) : null;
      bar?.start(declared.size, 0, { name: '' });
      if (!tty && !opts.json) process.stderr.write(`running ${declared.size} named checks…\n`);
      let done = 0;
      const failures = new Map<string, Failure>();
      await runChecks((name, outcome, failure) => {
        results.set(name, [...(results.get(name) ?? []), outcome]);
        if (failure && !failures.has(name)) failures.set(name, failure);
        done += 1;
        bar?.update(Math.min(done, declared.size), { name });
      });
      bar?.stop();

      const outcomeOf = (name: string): Outcome | 'not-run' => {
        const r = results.get(name);
        if (!r) return 'not-run';
        if (r.includes('failed')) return 'failed';
        return r.includes('passed') ? 'passed' : 'skipped';
      };
      const coverage = await clauseCoverage();
      const rows = coverage.map(({ clause }) => {
        const outcomes = clause.checks.map(outcomeOf);
        const verdict =
          clause.checks.length === 0 ? 'uncovered'
          : outcomes.includes('failed') ? 'fail'
          : outcomes.every((o) => o === 'passed') ? 'pass'
          : 'incomplete';
        return { id: clause.id, verdict, checks: Object.fromEntries(clause.checks.map((c, i) => [c, outcomes[i]])) };
      });
      const count = (v: string) => rows.filter((r) => r.verdict === v).length;
      const failedChecks = [...results.entries()].filter(([, o]) => o.includes('failed')).map(([n]) => n);
      const notRun = [...declared.keys()].filter((n) => !results.has(n));
      // The random suite against the reference at its default budget (iommufd-spec run --impl ref).
      let suiteText = '';
      const suiteExit = await runFromCli(parseRunOptions({ impl: 'ref', reporter: opts.json ? 'json' : 'pretty' }), (t) => {
        suiteText += t;
      });
      const summary = {
        budget,
        checks: { declared: declared.size, run: results.size, failed: failedChecks, failures: Object.fromEntries(failures), notRun },
        clauses: { total: rows.length, pass: count('pass'), fail: count('fail'), incomplete: count('incomplete'), uncovered: count('uncovered') },
        suite: opts.json ? (JSON.parse(suiteText) as unknown) : suiteExit === 0 ? 'pass' : 'fail',
        pending: ['the transition tour of the lifecycle machines: iommufd-spec tour --impl <impl> (not part of this run)'],
        rows,
      };
      if (opts.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      } else {
        const lines = rows.filter((r) => r.verdict !== 'pass').map((r) => `  ${r.verdict.padEnd(10)} ${r.id}  ${JSON.stringify(r.checks)}`);
        process.stdout.write(
          [
            budgetLine,
            `Named checks: ${results.size} ran, ${failedChecks.length} failed${failedChecks.length ? ': ' + failedChecks.join(', ') : ''}.`,
            ...[...failures].flatMap(([name, f]) => [
              `  ${name} (${f.file}) failed — repeat with IOMMUFD_SPEC_BUDGET=${budget.name} IOMMUFD_SPEC_SEED=${budget.seed} npx vitest run ${f.file}:`,
              ...f.errors.flatMap((e) => e.split('\n').map((l) => `    ${l}`)),
            ]),
            ...(notRun.length ? [`Declared but not run: ${notRun.join(', ')}`] : []),
            `Clauses: ${rows.length} — ${summary.clauses.pass} pass, ${summary.clauses.fail} fail, ${summary.clauses.incomplete} incomplete, ${summary.clauses.uncovered} uncovered.`,
            '',
            suiteText.trimEnd(),
            '',
            ...(lines.length ? ['Clauses not passing:', ...lines] : []),
            'Not yet part of this run (pending, not faked):',
            ...summary.pending.map((p) => `  - ${p}`),
          ].join('\n') + '\n',
        );
      }
      setExit(failedChecks.length > 0 || notRun.length > 0 || summary.clauses.fail > 0 || suiteExit !== 0 ? 1 : 0);
    });
};
