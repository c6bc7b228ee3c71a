/**
 * Reports of a suite run: a human summary (properties × pass/fail/skip with
 * reasons, the shrunk counterexample), the JSON result (what `merge` reads),
 * and JUnit XML for CI (validated against the Jenkins xunit plugin's
 * junit-10.xsd, vendored in junit/).
 */
import { create } from 'xmlbuilder2';
import type { PropertyRow, SuiteResult } from './runner.ts';

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

const MARK: Record<PropertyRow['status'], string> = { pass: 'pass', fail: 'FAIL', skip: 'skip', unavailable: 'n/a', 'not-exercised': 'FAIL' };

export function formatPretty(r: SuiteResult, extra: { replayFile?: string; expectationsFile?: string } = {}): string {
  const lines: string[] = [];
  const cases = r.blocks.reduce((n, b) => n + b.cases, 0);
  const commands = r.blocks.reduce((n, b) => n + b.commands, 0);
  const seconds = r.blocks.reduce((n, b) => n + b.ms, 0) / 1000;
  lines.push(`iommufd-spec run: ${r.implementation} (${r.implementationInfo.name} ${r.implementationInfo.version}) [${r.profile}], oracles: ${r.oracle}`);
  lines.push(`seed ${r.seed}, ${cases} case(s) of up to ${r.maxCommands} commands, ${commands} commands checked in ${seconds.toFixed(1)} s${r.shard ? `, shard ${r.shard.index}/${r.shard.count}` : ''}`);
  lines.push('');
  lines.push(`  ${pad('property', 30)} ${pad('result', 7)} ${pad('checks', 8)} note`);
  for (const p of r.properties) {
    const note = p.status === 'not-exercised' ? `not exercised: ${p.reason ?? ''}` : (p.reason ?? '');
    lines.push(`  ${pad(p.property, 30)} ${pad(MARK[p.status], 7)} ${pad(String(p.checks), 8)} ${note}`);
  }
  const known = r.blocks.flatMap((b) => b.known);
  if (known.length > 0) {
    lines.push('');
    lines.push(`Known divergences (expectations${extra.expectationsFile ? ` in ${extra.expectationsFile}` : ''}): ${known.length}`);
    const seen = new Set<string>();
    for (const k of known) {
      const key = `${k.property} ${k.signature.command} ${k.signature.expected} ${k.signature.observed}`;
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push(`  ${key} — ${k.reason}`);
    }
  }
  for (const b of r.blocks) if (b.error) lines.push('', `Block ${b.block}: ${b.error}`);
  if (r.failure) {
    const f = r.failure;
    lines.push('');
    lines.push(`Counterexample (block ${f.block}, seed ${f.seed}, path ${f.path}${f.replayPath ? `, replayPath ${f.replayPath}` : ''}), shrunk to ${f.shrunkLength} step(s) (${f.shrunkIoctls} ioctl(s)) in ${f.numShrinks} shrink(s); found after ${(f.timeToKillMs / 1000).toFixed(2)} s; objected by: ${f.killedBy.join(', ')}`);
    if (f.adapterFailure) lines.push(`The implementation failed: ${f.adapterFailure}`);
    lines.push(f.text);
    if (extra.replayFile) lines.push('', `Replay file: ${extra.replayFile}   (iommufd-spec replay ${extra.replayFile} --impl ${r.implementation})`);
  }
  lines.push('');
  lines.push(`Verdict: ${r.verdict.toUpperCase()}`);
  return `${lines.join('\n')}\n`;
}

export function formatJson(r: SuiteResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** JUnit XML: one <testsuite> for the run, one <testcase> per property. */
export function formatJunit(r: SuiteResult): string {
  const seconds = r.blocks.reduce((n, b) => n + b.ms, 0) / 1000;
  const failures = r.properties.filter((p) => p.status === 'fail' || p.status === 'not-exercised').length;
  const skipped = r.properties.filter((p) => p.status === 'skip' || p.status === 'unavailable').length;
  const errors = r.blocks.filter((b) => b.error).length;
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele('testsuites', {
    name: 'iommufd-spec conformance',
    tests: String(r.properties.length),
    failures: String(failures),
    errors: String(errors),
    time: seconds.toFixed(3),
  });
  const suite = root.ele('testsuite', {
    name: `${r.implementation} [${r.profile}] oracles=${r.oracle}`,
    tests: String(r.properties.length),
    failures: String(failures),
    errors: String(errors),
    skipped: String(skipped),
    time: seconds.toFixed(3),
    timestamp: new Date().toISOString().replace(/\.\d+Z$/, ''),
  });
  const props = suite.ele('properties');
  for (const [name, value] of Object.entries({
    implementation: r.implementation,
    'implementation.version': `${r.implementationInfo.name} ${r.implementationInfo.version}`,
    profile: r.profile,
    seed: String(r.seed),
    runs: String(r.runs),
    'max-commands': String(r.maxCommands),
    shard: r.shard ? `${r.shard.index}/${r.shard.count}` : 'all',
  })) {
    props.ele('property', { name, value });
  }
  const failed = r.failure;
  for (const p of r.properties) {
    const tc = suite.ele('testcase', { classname: `iommufd-spec.${p.oracle}`, name: p.property, assertions: String(p.checks) });
    if (p.status === 'skip' || p.status === 'unavailable') tc.ele('skipped', { message: p.reason ?? p.status });
    else if (p.status === 'not-exercised') tc.ele('failure', { type: 'not-exercised', message: `no case reached a check of ${p.property}` });
    else if (p.status === 'fail') {
      const o = failed?.objections.find((x) => x.property === p.property);
      tc.ele('failure', { type: o?.oracle ?? 'failure', message: o ? `step ${o.step}: ${o.message}` : `${p.property} failed` }).txt(failed?.text ?? '');
    }
  }
  for (const b of r.blocks.filter((x) => x.error)) suite.ele('testcase', { classname: 'iommufd-spec.suite', name: `block ${b.block}` }).ele('error', { message: (b.error ?? '').split('\n')[0] ?? '' }).txt(b.error ?? '');
  return `${root.end({ prettyPrint: true })}\n`;
}
