/**
 * Clause ABI.ONE_SOURCE: no uAPI value is typed outside spec/uapi (the scan is
 * spec/uapi/literals.ts). The allowlist is short and each entry says why; an
 * entry that no longer matches a finding fails too, so it cannot go stale.
 */
import { describe, expect } from 'vitest';
import { check } from '../clauses/check.ts';
import { REPO_ROOT } from '../clauses/registry.ts';
import { scanRepository, scanSource, type LiteralFinding, type LiteralRule } from './literals.ts';

const SCANNED = ['spec', 'model', 'impl', 'conformance', 'cli', 'scripts', 'bin'];

interface Allowed {
  readonly file: string;
  readonly rule: LiteralRule;
  /** The finding's text. */
  readonly text: string;
  readonly why: string;
}

const ALLOWED: readonly Allowed[] = [
  {
    file: 'conformance/adapter/fixtures/misbehaving-adapter.mjs',
    rule: 'errno',
    text: '25',
    why: 'a standalone JavaScript adapter (plain node, no TypeScript loader) that answers ENOTTY on the wire; it cannot import spec/uapi',
  },
];

const isAllowed = (f: LiteralFinding, a: Allowed): boolean => f.file === a.file && f.rule === a.rule && f.text === a.text;
const show = (f: LiteralFinding): string => `${f.file}:${f.line} [${f.rule}] ${f.text} — ${f.why}`;

describe('one source of truth for uAPI values (spec/uapi)', () => {
  check('abi.uapi.no-literals-outside-spec-uapi', () => {
    const findings = scanRepository(REPO_ROOT, SCANNED);
    const unexplained = findings.filter((f) => !ALLOWED.some((a) => isAllowed(f, a)));
    expect(unexplained.map(show)).toEqual([]);
    const stale = ALLOWED.filter((a) => !findings.some((f) => isAllowed(f, a)));
    expect(stale.map((a) => `${a.file} [${a.rule}] ${a.text}: allowlisted but no longer found; remove the entry`)).toEqual([]);
  });

  check('abi.uapi.literal-scan-finds-planted', () => {
    // Each planted line is found by its rule (a production file, so every rule applies) ...
    const planted: readonly [LiteralRule, string][] = [
      ['redeclared', 'export const IOMMU_OPTION_OP_GET = 1;'],
      ['redeclared', 'const EINVAL = 22;'],
      ['redeclared', 'const x = { MOCK_APERTURE_START: 1 << 24 };'],
      ['ioctl', 'issue(fd, 0x3b80, arg);'],
      ['ioctl', 'const nr = (0x3b << 8) | 0x80;'],
      ['errno', 'function f(): number { return -22; }'],
      ['errno', 'const r = { ret: -1, errno: 14 };'],
      ['errno', 'if (res.errno === 16) retry();'],
      ['errno', 'expect(call().errno).toBe(95);'],
      ['errno', 'expect(destroy(env, id)).toBe(16); // EBUSY'],
      ['errno', 'return err(12);'],
      ['field', "ioctl(env, 'IOMMU_IOAS_MAP', { flags: 6 });"],
      ['field', "testCmd({ op: 2, id });"],
      ['field', "cmd({ 'mock_domain_flags.dev_flags': 1 });"],
      ['field', "if (cmd.num('flags') & 2) return;"],
      ['offset', 'view.setUint32(16, total, true);'],
      ['offset', 'const rsv = layout.fields.get("x")!.offset + 1;'],
    ];
    for (const [rule, line] of planted) expect({ line, rules: scanSource('impl/iommufd/planted.ts', line).map((f) => f.rule) }).toEqual({ line, rules: [rule] });
    // ... and what is not a uAPI value in a uAPI context is not.
    const clean = [
      "import { IOMMU_OPTION_OP_GET } from '../../spec/uapi/constants.ts';",
      'const PAGE_SIZE = 4096;',
      'return -1;',
      'const r = { ret: -1, errno: 0 };',
      "ioctl(env, 'IOMMU_IOAS_MAP', { flags: 0x777 });", // bits no flag set has: a deliberately invalid value
      "testCmd({ op: 99, id });", // no such op
      'view.setUint32(0, magic, true);',
      'expect(list.length).toBe(16);',
    ];
    for (const line of clean) expect({ line, findings: scanSource('impl/iommufd/planted.ts', line).map(show) }).toEqual({ line, findings: [] });
    // Tests may write raw values into flags fields and struct bytes (to test the ABI on its own), not errnos or ioctl numbers.
    expect(scanSource('impl/iommufd/planted.test.ts', "ioctl(env, nr, { flags: 6 }); view.getUint32(16, true); expect(r.errno).toBe(22);").map((f) => f.rule)).toEqual(['errno']);
  });
});
