/**
 * `iommufd-spec merge RESULT.json… [--reporter pretty|json|junit] [--out FILE]`:
 * put the JSON results of `run --shard I/N --reporter json` together into the
 * verdict one unsharded run gives. Exit 0 pass, 1 fail, 2 on unreadable or
 * incompatible results (or a missing shard).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { mergeResults, RESULT_FORMAT, type SuiteResult } from '../../conformance/suite/runner.ts';
import { formatJson, formatJunit, formatPretty } from '../../conformance/suite/report.ts';

export function readResult(file: string): SuiteResult {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`merge: ${file}: ${(err as Error).message}`);
  }
  if ((data as { format?: unknown }).format !== RESULT_FORMAT) throw new UsageError(`merge: ${file}: not a suite result (format must be ${RESULT_FORMAT}; write one with run --reporter json)`);
  return data as SuiteResult;
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('merge')
    .description('merge the JSON results of sharded runs (run --shard I/N --reporter json) into one verdict')
    .argument('<results...>', 'JSON result files')
    .option('--reporter <name>', 'pretty, json or junit', 'pretty')
    .option('--out <file>', 'write the report there instead of stdout')
    .action((files: string[], o: { reporter: string; out?: string }) => {
      if (!['pretty', 'json', 'junit'].includes(o.reporter)) throw new UsageError(`merge: --reporter: expected pretty, json or junit, got '${o.reporter}'`);
      let merged: SuiteResult;
      try {
        merged = mergeResults(files.map(readResult));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`merge: ${(err as Error).message}`);
      }
      const text = o.reporter === 'json' ? formatJson(merged) : o.reporter === 'junit' ? formatJunit(merged) : formatPretty(merged);
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
      setExit(merged.verdict === 'pass' ? 0 : 1);
    });
};
