/**
 * The JUnit report of a failing run validates against a published schema:
 * the Jenkins xunit plugin's junit-10.xsd (junit/ORIGIN.md), with
 * xmllint-wasm (libxml2 as WebAssembly).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateXML } from 'xmllint-wasm';

import { formatJunit } from './report.ts';
import { runSuite } from './runner.ts';

const XSD = new URL('./junit/junit-10.xsd', import.meta.url);

describe('JUnit report', () => {
  it('suite.junit.validates', async () => {
    const r = await runSuite({ impl: 'conformance/suite/fixtures/ignores-write-permission.ts', profile: '7.3', seed: 1, runs: 60, maxCommands: 60, oracle: 'invariants', blockSize: 60, shrinkTimeMs: 1_000 }); // any failing report will do: little shrinking
    expect(r.verdict).toBe('fail');
    const xml = formatJunit(r);
    expect(xml).toMatch(/<failure /);
    expect(xml).toMatch(/<skipped |<testcase /);
    const result = await validateXML({ xml: [{ fileName: 'report.xml', contents: xml }], schema: [{ fileName: 'junit-10.xsd', contents: readFileSync(XSD, 'utf8') }] });
    expect(result.errors, JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    // And a report the schema refuses is refused (the validation has teeth).
    const bad = await validateXML({ xml: [{ fileName: 'bad.xml', contents: xml.replace('<testsuite ', '<testsuite bogus="1" ') }], schema: [{ fileName: 'junit-10.xsd', contents: readFileSync(XSD, 'utf8') }] });
    expect(bad.valid).toBe(false);
  }, 300_000);
});
