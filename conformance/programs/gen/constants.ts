/**
 * Extracts the named integer constants that programs may use (enum members
 * and simple #defines) from a profile's kernel headers: include/uapi/linux/
 * iommufd.h, include/uapi/linux/vfio.h and drivers/iommu/iommufd/iommufd_test.h.
 *
 *   npx tsx conformance/programs/gen/constants.ts   (needs scripts/kernel/source.sh)
 *
 * writes conformance/programs/constants.json, committed so nothing else needs
 * the kernel trees.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..', '..');
const HEADERS = ['include/uapi/linux/iommufd.h', 'include/uapi/linux/vfio.h', 'drivers/iommu/iommufd/iommufd_test.h'];

/** Evaluates the C integer expressions found in these headers: literals with
 * U/L suffixes, names already known, parentheses, << >> | & + - * ~. Returns
 * undefined for anything else (casts, function-like macros). */
export function evalCExpr(text: string, known: ReadonlyMap<string, bigint>): bigint | undefined {
  const tokens = text.match(/0x[0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|>>|[()|&+\-*~]/g);
  if (!tokens || tokens.join('').replace(/\s/g, '') !== text.replace(/\s/g, '')) return undefined;
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const primary = (): bigint | undefined => {
    const t = tokens[i++];
    if (t === undefined) return undefined;
    if (t === '(') {
      const v = binary(0);
      if (tokens[i++] !== ')') return undefined;
      return v;
    }
    if (t === '-') {
      const v = primary();
      return v === undefined ? undefined : -v;
    }
    if (t === '~') {
      const v = primary();
      return v === undefined ? undefined : ~v;
    }
    if (/^\d|^0x/.test(t)) return BigInt(t.replace(/[uUlL]+$/, ''));
    return known.get(t);
  };
  const PREC: Record<string, number> = { '|': 1, '&': 2, '<<': 3, '>>': 3, '+': 4, '-': 4, '*': 5 };
  const binary = (min: number): bigint | undefined => {
    let left = primary();
    for (;;) {
      const op = peek();
      const p = op === undefined ? undefined : PREC[op];
      if (left === undefined || op === undefined || p === undefined || p < min) return left;
      i++;
      const right = binary(p + 1);
      if (right === undefined) return undefined;
      left = apply(op, left, right);
    }
  };
  const v = binary(0);
  return i === tokens.length ? v : undefined;
}

function apply(op: string, a: bigint, b: bigint): bigint {
  switch (op) {
    case '|': return a | b;
    case '&': return a & b;
    case '<<': return a << b;
    case '>>': return a >> b;
    case '+': return a + b;
    case '-': return a - b;
    default: return a * b;
  }
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** Enum members (with implicit increments) and object-like #defines. */
export function extractConstants(text: string, known: Map<string, bigint>): void {
  const src = stripComments(text);
  for (const m of src.matchAll(/enum\s*\w*\s*\{([^}]*)\}/g)) {
    let next = 0n;
    for (const raw of (m[1] as string).split(',')) {
      const item = raw.trim();
      if (!item) continue;
      const eq = item.indexOf('=');
      const name = (eq < 0 ? item : item.slice(0, eq)).trim();
      if (!/^[A-Za-z_]\w*$/.test(name)) continue;
      const value = eq < 0 ? next : evalCExpr(item.slice(eq + 1).trim(), known);
      if (value === undefined) continue;
      known.set(name, value);
      next = value + 1n;
    }
  }
  for (const m of src.matchAll(/^#define\s+([A-Za-z_]\w*)\s+(.+)$/gm)) {
    const v = evalCExpr((m[2] as string).trim(), known);
    if (v !== undefined) known.set(m[1] as string, v);
  }
}

export function constantsOfTree(tree: string): Record<string, number | string> {
  const known = new Map<string, bigint>();
  for (const h of HEADERS) extractConstants(readFileSync(join(tree, h), 'utf8'), known);
  const out: Record<string, number | string> = {};
  for (const [k, v] of [...known].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (k.startsWith('_')) continue; // include guards
    out[k] = v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result: Record<string, Record<string, number | string>> = {};
  for (const profile of ['6.12', '7.3']) {
    const tree = execFileSync('bash', [join(REPO, 'scripts/kernel/source.sh'), profile], { encoding: 'utf8' }).trim().split('\n').pop() as string;
    result[profile] = constantsOfTree(tree);
  }
  writeFileSync(join(HERE, '..', 'constants.json'), JSON.stringify(result, null, 1) + '\n');
  process.stderr.write(`constants.json: ${Object.keys(result['6.12'] ?? {}).length} / ${Object.keys(result['7.3'] ?? {}).length} names\n`);
}
