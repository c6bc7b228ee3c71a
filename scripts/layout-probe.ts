/**
 * Layout probe: compiles the real uAPI headers of each kernel profile with gcc
 * and writes the byte layout of every struct the spec names to
 * spec/uapi/layouts/linux-<profile>.json (committed; spec/uapi/layouts.test.ts
 * compares the spec's computed layouts with it).
 *
 *   npx tsx scripts/layout-probe.ts [--profile 6.12|7.3]...
 *
 * Per profile:
 *  1. scripts/kernel/source.sh <profile> gives the unpacked Debian source tree;
 *  2. `make ARCH=x86 O=<cache> headers_install INSTALL_HDR_PATH=<cache>` exports
 *     the uAPI headers (works on the unconfigured tree: it only builds unifdef);
 *  3. a C file generated from the spec data prints sizeof/_Alignof of every
 *     struct and offsetof/sizeof of every member path the spec declares, and is
 *     compiled against the exported headers plus the tree's
 *     drivers/iommu/iommufd/iommufd_test.h;
 *  4. the same object is compiled with -g and its DWARF (readelf) gives every
 *     member path and offset gcc knows, independent of the spec, so a member the
 *     spec forgot shows up in the table;
 *  5. the probe also prints the value of every C name the spec records (ioctl
 *     numbers, enum members, constants, errnos), and the kernel's C sources are
 *     scanned for the sizing facts the headers do not carry (main.c IOCTL_OP
 *     table, the VFIO handlers' minsz/xend, copy_struct_from_user users, the
 *     compat switch).
 * Work files live under .cache/layout-probe/ (git-ignored).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROFILES, isProfile, type Profile } from '../spec/uapi/profiles.ts';
import { structLayout, structNames, type StructLayout } from '../spec/uapi/layout.ts';
import { cValues, namesOnlyElsewhere } from '../spec/uapi/names.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, '.cache', 'layout-probe');

export interface ProbedField {
  readonly offset: number;
  readonly size: number;
  readonly elemSize?: number;
}

export interface ProbedStruct {
  readonly size: number;
  readonly align: number;
  /** offsetof/sizeof of every member path the spec declares, from the compiled probe. */
  readonly fields: { readonly [path: string]: ProbedField };
  /** Every member path gcc's DWARF lists for the struct, with its offset. */
  readonly dwarf: { readonly [path: string]: number };
}

/** Values of the C names (ioctl numbers, enum members, #defines, errnos) the spec uses, as gcc sees them. */
export type ProbedConstants = { readonly [name: string]: number };

/** What the kernel's C sources say about sizing, scanned from the tree (not the headers). */
export interface KernelSources {
  /** main.c iommufd_ioctl_ops[]: IOCTL_OP(ioctl, handler, struct, last). */
  readonly ioctlOps: readonly { readonly ioctl: string; readonly handler: string; readonly struct: string; readonly last: string }[];
  /** VFIO handlers (device_cdev.c, vfio_compat.c): `minsz = offsetofend(struct S, f)` → S: f. */
  readonly vfioMinsz: { readonly [struct: string]: string };
  /** VFIO handlers: `xend = offsetofend(struct S, f)` (flag-gated tails) → S: f. */
  readonly vfioXend: { readonly [struct: string]: string };
  /** VFIO structs the cdev handlers read with copy_struct_from_user (E2BIG on a non-zero tail). */
  readonly vfioCopyStruct: readonly string[];
  /** `case` labels of vfio_compat.c iommufd_vfio_ioctl (the compat commands it knows). */
  readonly compatCases: readonly string[];
  /** selftest.c iommufd_test(): each op → the iommu_test_cmd union members its case (or the function it calls with cmd) uses. */
  readonly testOpMembers: { readonly [op: string]: readonly string[] };
}

export interface LayoutTable {
  readonly profile: Profile;
  /** Kernel version of the tree (Makefile VERSION.PATCHLEVEL.SUBLEVEL). */
  readonly kernel: string;
  readonly source: string;
  readonly compiler: string;
  readonly generatedBy: string;
  readonly headers: readonly string[];
  readonly constants: ProbedConstants;
  /** Names the spec gives another profile only, confirmed undeclared in this profile's headers. */
  readonly absent: { readonly names: readonly string[]; readonly structs: readonly string[] };
  readonly sources: KernelSources;
  readonly structs: { readonly [name: string]: ProbedStruct };
}

function log(msg: string): void {
  process.stderr.write(`[layout-probe] ${msg}\n`);
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd ?? ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

function kernelTree(profile: Profile): string {
  return run('bash', [join(ROOT, 'scripts/kernel/source.sh'), profile]).trim();
}

function kernelVersion(tree: string): string {
  const mk = readFileSync(join(tree, 'Makefile'), 'utf8');
  const get = (k: string): string => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(mk)?.[1] ?? '';
  const extra = get('EXTRAVERSION');
  return `${get('VERSION')}.${get('PATCHLEVEL')}.${get('SUBLEVEL')}${extra}`;
}

/** make headers_install into the cache; reused while the tree's version is the same. */
function installHeaders(profile: Profile, tree: string, kernel: string): string {
  const dest = join(CACHE, `hdr-${profile}-${kernel}`);
  if (existsSync(join(dest, 'include/linux/iommufd.h'))) return join(dest, 'include');
  log(`${profile}: make headers_install (ARCH=x86)`);
  run('make', ['-s', 'ARCH=x86', `O=${join(CACHE, `build-${profile}-${kernel}`)}`, 'headers_install', `INSTALL_HDR_PATH=${dest}`], { cwd: tree });
  return join(dest, 'include');
}

/** C expression naming a member of a null struct pointer. */
function member(struct: string, path: string): string {
  return `((struct ${struct} *)0)->${path}`;
}

/** Every C name whose value the spec records for the profile. */
export function constantNames(profile: Profile): string[] {
  return Object.keys(cValues(profile));
}

/** Names and structs the spec records for other profiles but not this one. */
export function otherProfileOnly(profile: Profile): { names: string[]; structs: string[] } {
  const names = namesOnlyElsewhere(profile);
  const hereStructs = new Set(structNames(profile));
  const structs = new Set<string>();
  for (const p of PROFILES) if (p !== profile) for (const n of structNames(p)) if (!hereStructs.has(n)) structs.add(n);
  return { names, structs: [...structs] };
}

/**
 * Compiles a use of each name and struct and keeps those gcc reports as
 * undeclared / incomplete: the spec's claim that the profile lacks them.
 */
function probeAbsent(profile: Profile, flags: readonly string[], work: string): { names: string[]; structs: string[] } {
  const want = otherProfileOnly(profile);
  const src = join(work, 'absent.c');
  const lines = ['#include <linux/types.h>', '#include <linux/iommufd.h>', '#include <linux/vfio.h>', '#include "iommufd_test.h"', '#include <asm-generic/errno.h>'];
  want.names.forEach((n, i) => lines.push(`long long absent_name_${i}(void) { return (long long)(${n}); }`));
  want.structs.forEach((n, i) => lines.push(`unsigned long absent_struct_${i}(void) { return sizeof(struct ${n}); }`));
  writeFileSync(src, `${lines.join('\n')}\n`);
  let errors = '';
  try {
    execFileSync('gcc', [...flags.filter((f) => f !== '-Werror'), '-fsyntax-only', src], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  } catch (e) {
    errors = String((e as { stderr?: string }).stderr ?? '');
  }
  const undeclared = new Set([...errors.matchAll(/error: '(\w+)' undeclared/g)].map((m) => m[1] ?? ''));
  const incomplete = new Set([...errors.matchAll(/incomplete type 'struct (\w+)'/g)].map((m) => m[1] ?? ''));
  return { names: want.names.filter((n) => undeclared.has(n)), structs: want.structs.filter((n) => incomplete.has(n)) };
}

function probeSource(layouts: readonly StructLayout[], constants: readonly string[]): string {
  const lines: string[] = [
    '/* generated by scripts/layout-probe.ts */',
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <linux/types.h>',
    '#include <linux/iommufd.h>',
    '#include <linux/vfio.h>',
    '#include "iommufd_test.h"',
    '#include <asm-generic/errno.h>',
    '',
  ];
  // Objects of each type so -g emits their DWARF.
  for (const l of layouts) lines.push(`struct ${l.name} probe_${l.name};`);
  lines.push('', 'int main(void)', '{', '\tprintf("{\\"__structs__\\": {\\n");');
  layouts.forEach((l, i) => {
    lines.push(`\tprintf("\\"${l.name}\\": {\\"size\\": %zu, \\"align\\": %zu, \\"fields\\": {", sizeof(struct ${l.name}), _Alignof(struct ${l.name}));`);
    l.rows.forEach((r, j) => {
      const sep = j === 0 ? '' : ', ';
      if (r.elemSize !== undefined && r.size === 0) {
        // Flexible array member: sizeof(member) is not defined, its element's is.
        lines.push(
          `\tprintf("${sep}\\"${r.path}\\": {\\"offset\\": %zu, \\"size\\": 0, \\"elemSize\\": %zu}", offsetof(struct ${l.name}, ${r.path}), sizeof(${member(l.name, r.path)}[0]));`,
        );
      } else if (r.elemSize !== undefined) {
        lines.push(
          `\tprintf("${sep}\\"${r.path}\\": {\\"offset\\": %zu, \\"size\\": %zu, \\"elemSize\\": %zu}", offsetof(struct ${l.name}, ${r.path}), sizeof(${member(l.name, r.path)}), sizeof(${member(l.name, r.path)}[0]));`,
        );
      } else {
        lines.push(`\tprintf("${sep}\\"${r.path}\\": {\\"offset\\": %zu, \\"size\\": %zu}", offsetof(struct ${l.name}, ${r.path}), sizeof(${member(l.name, r.path)}));`);
      }
    });
    lines.push(`\tprintf("}}${i === layouts.length - 1 ? '' : ','}\\n");`);
  });
  lines.push('\tprintf("},\\n\\"__constants__\\": {");');
  constants.forEach((n, i) => lines.push(`\tprintf("${i === 0 ? '' : ', '}\\"${n}\\": %lld", (long long)(${n}));`));
  lines.push('\tprintf("}\\n}\\n");', '\treturn 0;', '}', '');
  return lines.join('\n');
}

// ------------------------------------------------------------ DWARF reading
interface Die {
  readonly tag: string;
  readonly attrs: Map<string, string>;
  readonly children: Die[];
}

/** Parses `readelf --debug-dump=info` into a DIE tree, indexed by offset. */
function parseDwarf(text: string): Map<number, Die> {
  const byOffset = new Map<number, Die>();
  const stack: Die[] = [];
  let current: Die | undefined;
  const dieRe = /^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: \d+ \((DW_TAG_\w+)\)/;
  const attrRe = /^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*:\s*(.*)$/;
  for (const line of text.split('\n')) {
    const d = dieRe.exec(line);
    if (d) {
      const depth = Number(d[1]);
      const die: Die = { tag: d[3] ?? '', attrs: new Map(), children: [] };
      byOffset.set(parseInt(d[2] ?? '0', 16), die);
      stack.length = depth;
      stack[depth - 1]?.children.push(die);
      stack[depth] = die;
      current = die;
      continue;
    }
    const a = attrRe.exec(line);
    if (a && current) current.attrs.set(a[1] ?? '', (a[2] ?? '').trim());
  }
  return byOffset;
}

function dieName(die: Die): string | undefined {
  const v = die.attrs.get('DW_AT_name');
  if (v === undefined) return undefined;
  const i = v.lastIndexOf('): ');
  return v.startsWith('(') && i >= 0 ? v.slice(i + 3) : v;
}

function typeOf(die: Die, dies: Map<number, Die>): Die | undefined {
  const ref = die.attrs.get('DW_AT_type');
  const m = ref ? /<0x([0-9a-f]+)>/.exec(ref) : null;
  return m ? dies.get(parseInt(m[1] ?? '0', 16)) : undefined;
}

/** Strips typedefs and qualifiers. */
function resolveType(die: Die | undefined, dies: Map<number, Die>): Die | undefined {
  let t = die;
  while (t && ['DW_TAG_typedef', 'DW_TAG_const_type', 'DW_TAG_volatile_type'].includes(t.tag)) t = typeOf(t, dies);
  return t;
}

/** Every member path of a struct/union DIE with its offset (nested records expanded, as C designators). */
function dwarfPaths(rec: Die, dies: Map<number, Die>, base: number, prefix: string, out: Record<string, number>): void {
  for (const m of rec.children) {
    if (m.tag !== 'DW_TAG_member') continue;
    const loc = Number(m.attrs.get('DW_AT_data_member_location') ?? '0');
    const name = dieName(m);
    const path = name === undefined ? prefix : prefix === '' ? name : `${prefix}.${name}`;
    const offset = base + loc;
    if (name !== undefined) out[path] = offset;
    const t = resolveType(typeOf(m, dies), dies);
    if (t && (t.tag === 'DW_TAG_structure_type' || t.tag === 'DW_TAG_union_type')) dwarfPaths(t, dies, offset, path, out);
  }
}

function structDies(dies: Map<number, Die>): Map<string, Die> {
  const out = new Map<string, Die>();
  for (const die of dies.values()) {
    if (die.tag !== 'DW_TAG_structure_type') continue;
    const name = dieName(die);
    if (name !== undefined && die.children.length > 0 && !out.has(name)) out.set(name, die);
  }
  return out;
}

// ------------------------------------------------------ kernel C sources
/** The body of a top-level C function (from its signature line to the closing brace at column 0). */
function functionBody(text: string, name: string): string {
  const start = text.search(new RegExp(`^[^\\n;]*\\b${name}\\(`, 'm'));
  if (start < 0) throw new Error(`function ${name} not found`);
  const end = text.indexOf('\n}\n', start);
  return text.slice(start, end < 0 ? undefined : end);
}

function scanSources(tree: string): KernelSources {
  const main = readFileSync(join(tree, 'drivers/iommu/iommufd/main.c'), 'utf8');
  const table = functionBodyOrTable(main);
  const ioctlOps = [...table.matchAll(/IOCTL_OP\(\s*(\w+)\s*,\s*(\w+)\s*,\s*struct\s+(\w+)\s*,\s*(\w+)\s*\)/g)].map((m) => ({
    ioctl: m[1] ?? '',
    handler: m[2] ?? '',
    struct: m[3] ?? '',
    last: m[4] ?? '',
  }));
  const vfioMinsz: Record<string, string> = {};
  const vfioXend: Record<string, string> = {};
  const vfioCopyStruct: string[] = [];
  for (const file of ['drivers/vfio/device_cdev.c', 'drivers/iommu/iommufd/vfio_compat.c']) {
    const text = readFileSync(join(tree, file), 'utf8');
    for (const m of text.matchAll(/\b(minsz|xend)\s*=\s*offsetofend\(\s*struct\s+(\w+)\s*,\s*(\w+)\s*\)/g)) {
      (m[1] === 'minsz' ? vfioMinsz : vfioXend)[m[2] ?? ''] = m[3] ?? '';
    }
    // copy_struct_from_user(&var, sizeof(var), ...) where var is declared as `struct S var;`
    for (const m of text.matchAll(/copy_struct_from_user\(\s*&(\w+)\s*,/g)) {
      const decl = new RegExp(`struct\\s+(\\w+)\\s+${m[1]}\\s*;`).exec(text);
      if (decl?.[1]) vfioCopyStruct.push(decl[1]);
    }
  }
  const compat = functionBody(readFileSync(join(tree, 'drivers/iommu/iommufd/vfio_compat.c'), 'utf8'), 'iommufd_vfio_ioctl');
  const compatCases = [...compat.matchAll(/case\s+(VFIO_\w+)\s*:/g)].map((m) => m[1] ?? '');
  return { ioctlOps, vfioMinsz, vfioXend, vfioCopyStruct, compatCases, testOpMembers: scanTestOps(tree) };
}

/** Union members of iommu_test_cmd used by each case of selftest.c iommufd_test(). */
function scanTestOps(tree: string): Record<string, string[]> {
  const selftest = readFileSync(join(tree, 'drivers/iommu/iommufd/selftest.c'), 'utf8');
  const body = functionBody(selftest, 'iommufd_test');
  const membersIn = (text: string): string[] => [...text.matchAll(/\bcmd->(\w+)\./g)].map((m) => m[1] ?? '');
  const out: Record<string, string[]> = {};
  let labels: string[] = [];
  // Split at case/default labels; consecutive labels share the next body (fall-through).
  const parts = body.split(/\b(case\s+IOMMU_TEST_OP_\w+\s*:|default\s*:)/);
  for (let i = 1; i < parts.length; i += 2) {
    const label = /IOMMU_TEST_OP_\w+/.exec(parts[i] ?? '')?.[0];
    const text = parts[i + 1] ?? '';
    if (label) labels.push(label);
    if (text.trim() === '') continue;
    const members = new Set(membersIn(text));
    // Functions handed the whole cmd read their members themselves.
    for (const m of text.matchAll(/\b(iommufd_test_\w+)\(\s*ucmd\s*,\s*cmd\s*\)/g)) for (const x of membersIn(functionBody(selftest, m[1] ?? ''))) members.add(x);
    for (const l of labels) out[l] = [...members].sort();
    labels = [];
  }
  return out;
}

/** main.c's iommufd_ioctl_ops[] initializer. */
function functionBodyOrTable(main: string): string {
  const start = main.indexOf('iommufd_ioctl_ops[] = {');
  if (start < 0) throw new Error('iommufd_ioctl_ops[] not found in main.c');
  return main.slice(start, main.indexOf('\n};', start));
}

// ----------------------------------------------------------------- driver
function probeProfile(profile: Profile): LayoutTable {
  const tree = kernelTree(profile);
  const kernel = kernelVersion(tree);
  const include = installHeaders(profile, tree, kernel);
  const testDir = join(tree, 'drivers/iommu/iommufd');
  const layouts = structNames(profile).map((n) => {
    const l = structLayout(profile, n);
    if (!l) throw new Error(`no layout for ${n}`);
    return l;
  });
  const work = join(CACHE, `probe-${profile}`);
  mkdirSync(work, { recursive: true });
  const src = join(work, 'probe.c');
  const constantList = constantNames(profile);
  writeFileSync(src, probeSource(layouts, constantList));
  const exe = join(work, 'probe');
  const flags = ['-std=gnu11', '-O0', '-g', '-Wall', '-Werror', `-I${include}`, `-I${testDir}`];
  log(`${profile}: gcc probe.c (${layouts.length} structs)`);
  run('gcc', [...flags, '-o', exe, src]);
  const out = JSON.parse(run(exe, [])) as {
    __structs__: Record<string, { size: number; align: number; fields: Record<string, ProbedField> }>;
    __constants__: Record<string, number>;
  };
  const probed = out.__structs__;
  const dies = parseDwarf(run('readelf', ['--debug-dump=info', exe]));
  const records = structDies(dies);
  const structs: Record<string, ProbedStruct> = {};
  for (const l of layouts) {
    const p = probed[l.name];
    const die = records.get(l.name);
    if (!p || !die) throw new Error(`${profile}: struct ${l.name} missing from probe output or DWARF`);
    const dwarf: Record<string, number> = {};
    dwarfPaths(die, dies, 0, '', dwarf);
    structs[l.name] = { size: p.size, align: p.align, fields: p.fields, dwarf };
  }
  return {
    profile,
    kernel,
    source: `Debian linux-source-${profile} (${kernel}): make headers_install ARCH=x86 + drivers/iommu/iommufd/iommufd_test.h`,
    compiler: run('gcc', ['--version']).split('\n')[0] ?? 'gcc',
    generatedBy: 'scripts/layout-probe.ts',
    headers: ['linux/iommufd.h', 'linux/vfio.h', 'iommufd_test.h', 'asm-generic/errno.h'],
    constants: out.__constants__,
    absent: probeAbsent(profile, flags, work),
    sources: scanSources(tree),
    structs,
  };
}

/** One struct per line: diffs of a re-probe stay readable. */
function formatTable(table: LayoutTable): string {
  const { structs, constants, sources, absent, ...head } = table;
  const headLines = Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const structLines = Object.entries(structs).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const constLines = Object.entries(constants).map(([k, v]) => `    ${JSON.stringify(k)}: ${v}`);
  return `{\n${headLines.join(',\n')},\n  "absent": ${JSON.stringify(absent)},\n  "sources": ${JSON.stringify(sources)},\n  "constants": {\n${constLines.join(',\n')}\n  },\n  "structs": {\n${structLines.join(',\n')}\n  }\n}\n`;
}

function parseArgs(argv: readonly string[]): Profile[] {
  const out: Profile[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--profile') {
      const v = argv[++i] ?? '';
      if (!isProfile(v)) throw new Error(`--profile: unknown profile '${v}' (expected ${PROFILES.join(' or ')})`);
      out.push(v);
    } else {
      throw new Error(`unknown argument '${a}' (usage: layout-probe.ts [--profile 6.12|7.3]...)`);
    }
  }
  return out.length > 0 ? out : [...PROFILES];
}

function main(): void {
  let profiles: Profile[];
  try {
    profiles = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`layout-probe: ${(e as Error).message}\n`);
    process.exit(2);
  }
  for (const profile of profiles) {
    const table = probeProfile(profile);
    const out = join(ROOT, 'spec/uapi/layouts', `linux-${profile}.json`);
    writeFileSync(out, formatTable(table));
    log(`${profile}: wrote ${out} (${Object.keys(table.structs).length} structs, kernel ${table.kernel})`);
  }
}

main();
