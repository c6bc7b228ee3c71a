/**
 * Finds uAPI values written as literals outside spec/uapi: the check behind
 * clause ABI.ONE_SOURCE (spec/uapi/literals.test.ts). spec/uapi is the one
 * place a uAPI number is typed, and the layout probe checks it against the
 * kernel headers; a number typed anywhere else escapes that check.
 *
 * It reads TypeScript sources with the compiler's parser and reports, per
 * file and line, a literal in a uAPI context:
 *
 *   redeclared  a const/let/property/enum member named like a uAPI name
 *               (cValues of either profile, or an errno) whose initializer is
 *               only numbers and operators: `const IOMMU_OPTION_OP_GET = 1`
 *   ioctl       a number equal to an ioctl request (every request of the
 *               data), or the ioctl type 0x3b written in hex
 *   errno       an errno number (2..133) where an errno goes: `return -22`,
 *               `errno: 14`, `x.errno === 16`, `toBe(16)` / `toBe(-16)` on an
 *               errno, err(22) / sysRet(-22), or any number whose line's
 *               comment names the errno with that value (`toBe(1); // EPERM`)
 *   field       a non-zero number given to a struct field the data types as
 *               flags or an enum (`flags: 6`, `op: 1`, `data_type: 0xdead`,
 *               `'mock_domain_flags.dev_flags': 1`), by field name
 *   offset      a DataView access at a literal non-zero byte offset
 *               (`getUint32(16, true)`), or `.offset + 4`: struct bytes read
 *               or written by position instead of through the codec
 *
 * Hardware constants that are not uAPI (PTE bits, register layouts) are
 * outside these contexts or allowlisted with a reason (literals.test.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { COMMANDS } from './commands.ts';
import { ERRNO, ERRNO_ALIASES } from './errno.ts';
import { cValues } from './names.ts';
import { PROFILES } from './profiles.ts';
import { STRUCTS } from './structs.ts';
import type { FieldDef } from './types.ts';
import { ENUMS } from './enums.ts';

export type LiteralRule = 'redeclared' | 'ioctl' | 'errno' | 'field' | 'offset';

export interface LiteralFinding {
  /** Path relative to the scanned root, with '/' separators. */
  readonly file: string;
  readonly line: number;
  readonly rule: LiteralRule;
  /** The offending source text (the literal or the declaration). */
  readonly text: string;
  /** What it should be instead. */
  readonly why: string;
}

// ---- what counts as a uAPI value ------------------------------------------------------

const UAPI_NAMES = new Set<string>([...PROFILES.flatMap((p) => Object.keys(cValues(p))), ...Object.keys(ERRNO), ...Object.keys(ERRNO_ALIASES)]);
const IOCTL_REQUESTS = new Set<number>(COMMANDS.map((c) => c.request));
const IOCTL_TYPE = 0x3b;
const ERRNO_BY_NUMBER = new Map<number, string[]>();
for (const [name, n] of Object.entries(ERRNO)) ERRNO_BY_NUMBER.set(n, [...(ERRNO_BY_NUMBER.get(n) ?? []), name]);
for (const [alias, name] of Object.entries(ERRNO_ALIASES)) {
  const n = ERRNO[name as keyof typeof ERRNO];
  ERRNO_BY_NUMBER.set(n, [...(ERRNO_BY_NUMBER.get(n) ?? []), alias]);
}
/** Errno numbers checked in errno contexts: 1 (EPERM) is too common a number (ret -1, counts) to judge by context alone. */
const isErrnoNumber = (n: number): boolean => n >= 2 && ERRNO_BY_NUMBER.has(n);

/**
 * Struct fields the data types as flags or an enum, by C member name, with
 * a test of whether a number is a uAPI value there: a combination of the
 * flags' bits, or a member's value. A deliberately invalid value (bits no
 * enum has, an op that does not exist) is not a uAPI value and passes.
 */
const TYPED_FIELDS = new Map<string, { readonly enums: Set<string>; isValue(n: number): boolean }>();
function enumTest(name: string): (n: number) => boolean {
  const e = ENUMS.find((x) => x.name === name);
  if (!e) return () => false;
  const values = new Set(e.members.map((m) => m.value));
  const mask = e.members.reduce((a, m) => (a | m.value) >>> 0, 0);
  return e.kind === 'flags' ? (n) => n > 0 && (n & ~mask) >>> 0 === 0 : (n) => values.has(n);
}
function addTypedField(field: string, enumName: string): void {
  const cur = TYPED_FIELDS.get(field);
  const test = enumTest(enumName);
  if (!cur) TYPED_FIELDS.set(field, { enums: new Set([enumName]), isValue: test });
  else if (!cur.enums.has(enumName)) {
    const prev = cur.isValue;
    cur.enums.add(enumName);
    cur.isValue = (n) => prev(n) || test(n);
  }
}
function collectFields(fields: readonly FieldDef[]): void {
  for (const f of fields) {
    const what = f.flags ?? f.enum;
    if (what && f.name) addTypedField(f.name, what);
    if (f.type.kind === 'inline') collectFields(f.type.fields);
  }
}
for (const s of STRUCTS) collectFields(s.fields);
// IOMMU_TEST_CMD's `op` selects the union member: its values are the test ops.
addTypedField('op', 'iommu_test_op');

// ---- the scan ----------------------------------------------------------------------------

const DATAVIEW_ACCESS = /^(get|set)(Uint8|Int8|Uint16|Int16|Uint32|Int32|BigUint64|BigInt64|Float32|Float64)$/;

/** A number literal's value (bigint literals as numbers), or undefined. */
function numberOf(node: ts.Node): number | undefined {
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (ts.isBigIntLiteral(node)) return Number(BigInt(node.text.slice(0, -1)));
  if (ts.isParenthesizedExpression(node)) return numberOf(node.expression);
  return undefined;
}

/** -N or N */
function signedNumberOf(node: ts.Node): number | undefined {
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken) {
    const n = numberOf(node.operand);
    return n === undefined ? undefined : -n;
  }
  return numberOf(node);
}

/** An expression of literals and operators only (1 << 3, 2 ** 31 - 1, BigInt(4)). */
function isPureNumeric(node: ts.Node): boolean {
  if (numberOf(node) !== undefined) return true;
  if (ts.isPrefixUnaryExpression(node)) return isPureNumeric(node.operand);
  if (ts.isParenthesizedExpression(node)) return isPureNumeric(node.expression);
  if (ts.isBinaryExpression(node)) return isPureNumeric(node.left) && isPureNumeric(node.right);
  if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'BigInt' && node.arguments.length === 1) return isPureNumeric(node.arguments[0]!);
  if (ts.isAsExpression(node)) return isPureNumeric(node.expression);
  return false;
}

function propertyName(name: ts.PropertyName | ts.BindingName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  return undefined;
}

/**
 * The rules that apply to a file. Tests, test support and the program
 * generator check every rule but `field` and `offset`: they write raw struct
 * bytes and deliberately invalid field values on purpose (to test the ABI
 * independently of our codec, and to make the kernel refuse them), so there a
 * number in a flags field or at a byte offset is data, not a re-typed constant.
 */
export function rulesFor(file: string): ReadonlySet<LiteralRule> {
  const all: LiteralRule[] = ['redeclared', 'ioctl', 'errno', 'field', 'offset'];
  if (/(\.test\.ts$|\.test-support\.ts$|^impl\/testing\/|\/testdata\/|^conformance\/programs\/gen\/)/.test(file)) return new Set(all.filter((r) => r !== 'field' && r !== 'offset'));
  return new Set(all);
}

/** Scan one source text. `file` names it in the findings and decides the rules (rulesFor). */
export function scanSource(file: string, text: string, rules: ReadonlySet<LiteralRule> = rulesFor(file)): LiteralFinding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const lines = text.split('\n');
  const out: LiteralFinding[] = [];
  const seen = new Set<string>();
  const add = (node: ts.Node, rule: LiteralRule, why: string): void => {
    if (!rules.has(rule)) return;
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    const key = `${line}:${rule}:${node.getStart(sf)}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ file, line, rule, text: node.getText(sf).slice(0, 120), why });
  };
  const lineComment = (node: ts.Node): string => {
    const line = lines[sf.getLineAndCharacterOfPosition(node.getStart(sf)).line] ?? '';
    const i = line.search(/\/\/|\/\*/);
    return i < 0 ? '' : line.slice(i);
  };
  const errnoText = (node: ts.Node): boolean => /errno/i.test(node.getText(sf));

  const visit = (node: ts.Node): void => {
    // redeclared uAPI names
    if ((ts.isVariableDeclaration(node) || ts.isPropertyAssignment(node) || ts.isPropertyDeclaration(node) || ts.isEnumMember(node)) && node.initializer) {
      const name = propertyName(node.name);
      if (name && UAPI_NAMES.has(name) && isPureNumeric(node.initializer)) add(node, 'redeclared', `${name} is spec/uapi's: import it from spec/uapi/constants.ts (or errno.ts), do not type its value`);
    }

    const n = numberOf(node);
    if (n !== undefined) {
      // ioctl numbers
      if (IOCTL_REQUESTS.has(n)) add(node, 'ioctl', `${node.getText(sf)} is an ioctl request number: use the command's name (spec/uapi/constants.ts)`);
      else if (n === IOCTL_TYPE && /^0x/i.test(node.getText(sf))) add(node, 'ioctl', '0x3b is the ioctl type (IOMMUFD_TYPE / VFIO_TYPE): use the constant');

      const parent = node.parent;
      const signed = ts.isPrefixUnaryExpression(parent) && parent.operator === ts.SyntaxKind.MinusToken ? parent : node;
      const value = signedNumberOf(signed)!;
      const around = signed.parent;

      // errno numbers
      if (isErrnoNumber(Math.abs(value))) {
        const names = ERRNO_BY_NUMBER.get(Math.abs(value))!;
        const named = `${names.join('/')} (${Math.abs(value)})`;
        const comment = lineComment(signed);
        if (value < 0 && ts.isReturnStatement(around)) add(signed, 'errno', `return -${names[0]}, not a number`);
        else if (ts.isPropertyAssignment(around) && /errno/i.test(around.name.getText(sf))) add(signed, 'errno', `${named} written as a number: use the name`);
        else if (ts.isBinaryExpression(around) && /^(===|!==|==|!=)$/.test(around.operatorToken.getText(sf)) && errnoText(around.left === signed ? around.right : around.left))
          add(signed, 'errno', `${named} compared as a number: use the name`);
        else if (ts.isCallExpression(around) && ts.isIdentifier(around.expression) && /^(err|sysRet|sysErr)$/.test(around.expression.text)) add(signed, 'errno', `${named} passed as a number: use the name`);
        else if (
          ts.isCallExpression(around) &&
          ts.isPropertyAccessExpression(around.expression) &&
          /^(toBe|toEqual|toStrictEqual)$/.test(around.expression.name.text) &&
          ts.isCallExpression(around.expression.expression) &&
          around.expression.expression.arguments.some((a) => errnoText(a))
        )
          add(signed, 'errno', `${named} expected as a number: use the name`);
        else if (names.some((name) => new RegExp(`\\b${name}\\b`).test(comment))) add(signed, 'errno', `${named}, named in the comment: use the name instead of the number`);
      }

      // flags / enum fields: `flags: 6`, and `flags & 2` / `x.num('flags') | 4`
      if (value !== 0 && ts.isPropertyAssignment(around) && around.initializer === signed) {
        const key = propertyName(around.name);
        const field = key?.split('.').pop();
        const typed = field ? TYPED_FIELDS.get(field) : undefined;
        if (typed?.isValue(value)) add(signed, 'field', `${value} is a ${[...typed.enums].join(' / ')} value in ${key}: write it by name (the constants, or "A|B" in a program)`);
      }
      if (value > 0 && ts.isBinaryExpression(around) && /^(&|\||===|!==)$/.test(around.operatorToken.getText(sf))) {
        const other = (around.left === signed ? around.right : around.left).getText(sf);
        const field = /\b(\w*flags|op|data_type|option_id)\b/.exec(other)?.[1];
        const typed = field ? TYPED_FIELDS.get(field) : undefined;
        if (typed?.isValue(value)) add(signed, 'field', `${value} is a ${[...typed.enums].join(' / ')} value tested against ${field}: write it by name`);
      }

      // struct offsets
      if (
        ts.isCallExpression(around) &&
        around.arguments[0] === signed &&
        value !== 0 &&
        ts.isPropertyAccessExpression(around.expression) &&
        DATAVIEW_ACCESS.test(around.expression.name.text)
      )
        add(signed, 'offset', `byte offset ${value} into a struct: read and write fields through the codec (spec/abi) or the layout, not by position`);
      if (ts.isBinaryExpression(around) && around.operatorToken.kind === ts.SyntaxKind.PlusToken && /\.offset\b/.test((around.left === signed ? around.right : around.left).getText(sf)))
        add(signed, 'offset', 'arithmetic on a field offset: address the field itself through the layout');
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const SKIP_DIRS = new Set(['node_modules', '.git', '.cache', 'coverage']);

function* sourceFiles(root: string, dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) yield* sourceFiles(root, p);
    } else if (entry.name.endsWith('.ts') || entry.name.endsWith('.mjs')) yield p;
  }
}

/** Scan every TypeScript source under `dirs` (relative to root), except spec/uapi itself. */
export function scanRepository(root: string, dirs: readonly string[]): LiteralFinding[] {
  const out: LiteralFinding[] = [];
  for (const d of dirs) {
    for (const path of sourceFiles(root, join(root, d))) {
      const rel = relative(root, path).split('\\').join('/');
      if (rel.startsWith('spec/uapi/')) continue;
      out.push(...scanSource(rel, readFileSync(path, 'utf8')));
    }
  }
  return out;
}
