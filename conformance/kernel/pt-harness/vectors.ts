/**
 * Page-table vectors: operation sequences with the kernel's answers and the
 * kernel's resulting tables in canonical form, recorded by running the
 * sequences through the kernel's own page-table code (the harness), and
 * replayed against our core.
 *
 * File format (vectors/<profile>/<config>.json), one operation per line:
 *   ["map", iova, pa, size, prot, ret, warn]      iommu_map: ret 0 / -errno
 *   ["unmap", iova, size, ret, warn]              iommu_unmap: bytes unmapped
 *   ["phys", iova, ret, warn]                     iova_to_phys (0 = none)
 *   ["setdirty", iova, ret, warn]                 generic_pt set_dirty / the HW dirty bit
 *   ["dirty", iova, size, flags, ret, warn, recs] read_and_clear_dirty + iotlb_sync
 *   ["dump", lines, pages]                        canonical table (impl/pagetable/dump.ts)
 * Numbers that are u64 are hex strings; `warn` counts the kernel WARNs the op hit.
 */
import fc from 'fast-check';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { buildHarness, REPO, type HarnessBuild } from './build.ts';
import { commandsArb, edgeCases, newModel, type Executor, type NamedCase } from './cases.ts';
import { configs, type PtConfig } from './configs.ts';
import { CoreDomain } from './core.ts';
import { PhysMemory } from '../../../impl/lib/physmem.ts';
import { Harness, hex, type DomainInfo, type PtOp, type PtResult } from './protocol.ts';

export const VECTOR_DIR = join(REPO, 'conformance', 'kernel', 'pt-harness', 'vectors');
/** The pinned seed and the number of random sequences per configuration in the committed vectors. */
export const PINNED_SEED = 20251202;
export const RANDOM_CASES = 8;

type Json = string | number | Json[];

export interface VectorCase {
  readonly name: string;
  readonly steps: readonly { readonly op: PtOp; readonly expect: PtResult }[];
  /** Table pages left after freeing the domain (0 unless the driver leaks). */
  readonly leak: number;
}

export interface VectorFile {
  readonly profile: Profile;
  readonly config: PtConfig;
  readonly sources: Readonly<Record<string, string>>;
  readonly seed: number;
  readonly random: number;
  readonly domain: DomainInfo | { readonly errno: number };
  readonly cases: readonly VectorCase[];
}

// ------------------------------------------------------------ serialization

function big(v: bigint): string {
  return v < 0n ? `-${hex(-v)}` : hex(v);
}

function stepJson(op: PtOp, r: PtResult): Json[] {
  const ret = big(r.ret ?? 0n);
  const warn = r.warn ?? 0;
  switch (op.op) {
    case 'map':
      return ['map', hex(op.iova), hex(op.pa), hex(op.size), op.prot, ret, warn];
    case 'unmap':
      return ['unmap', hex(op.iova), hex(op.size), ret, warn];
    case 'phys':
      return ['phys', hex(op.iova), ret, warn];
    case 'setdirty':
      return ['setdirty', hex(op.iova), ret, warn];
    case 'dirty':
      return ['dirty', hex(op.iova), hex(op.size), op.flags, ret, warn, (r.rec ?? []).map(([a, l]) => [hex(a), hex(l)])];
    case 'dump':
      return ['dump', [...(r.dump ?? [])], r.pages ?? 0];
  }
}

function bn(v: Json | undefined): bigint {
  if (typeof v !== 'string') throw new Error(`expected a hex string, got ${JSON.stringify(v)}`);
  return v.startsWith('-') ? -BigInt(v.slice(1)) : BigInt(v);
}

function num(v: Json | undefined): number {
  if (typeof v !== 'number') throw new Error(`expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function parseStep(s: Json[]): { op: PtOp; expect: PtResult } {
  switch (s[0]) {
    case 'map':
      return { op: { op: 'map', iova: bn(s[1]), pa: bn(s[2]), size: bn(s[3]), prot: num(s[4]) }, expect: { ret: bn(s[5]), warn: num(s[6]) } };
    case 'unmap':
      return { op: { op: 'unmap', iova: bn(s[1]), size: bn(s[2]) }, expect: { ret: bn(s[3]), warn: num(s[4]) } };
    case 'phys':
      return { op: { op: 'phys', iova: bn(s[1]) }, expect: { ret: bn(s[2]), warn: num(s[3]) } };
    case 'setdirty':
      return { op: { op: 'setdirty', iova: bn(s[1]) }, expect: { ret: bn(s[2]), warn: num(s[3]) } };
    case 'dirty':
      return {
        op: { op: 'dirty', iova: bn(s[1]), size: bn(s[2]), flags: num(s[3]) },
        expect: { ret: bn(s[4]), warn: num(s[5]), rec: (s[6] as Json[][]).map((p) => [bn(p[0]), bn(p[1])] as const) },
      };
    case 'dump':
      return { op: { op: 'dump' }, expect: { dump: s[1] as string[], pages: num(s[2]) } };
    default:
      throw new Error(`unknown step ${JSON.stringify(s)}`);
  }
}

function jsonValue(v: unknown): unknown {
  return typeof v === 'bigint' ? hex(v) : v;
}

export function serialize(f: VectorFile): string {
  const head = {
    profile: f.profile,
    config: f.config.name,
    driver: f.config.driver,
    params: Object.fromEntries(Object.entries(f.config.params).map(([k, v]) => [k, jsonValue(v)])),
    core: f.config.core,
    sources: f.sources,
    seed: f.seed,
    random: f.random,
    domain: 'errno' in f.domain ? { errno: f.domain.errno } : { pgsizes: hex(f.domain.pgsizes), aperture: [hex(f.domain.apertureStart), hex(f.domain.apertureEnd)] },
  };
  const lines: string[] = [];
  const h = JSON.stringify(head, null, 2);
  lines.push(h.slice(0, h.lastIndexOf('}')).trimEnd() + ',');
  lines.push('  "cases": [');
  f.cases.forEach((c, i) => {
    lines.push(`    {"name": ${JSON.stringify(c.name)}, "leak": ${c.leak}, "steps": [`);
    c.steps.forEach((s, j) => lines.push(`      ${JSON.stringify(stepJson(s.op, s.expect))}${j + 1 < c.steps.length ? ',' : ''}`));
    lines.push(`    ]}${i + 1 < f.cases.length ? ',' : ''}`);
  });
  lines.push('  ]');
  lines.push('}');
  return lines.join('\n') + '\n';
}

export interface ParsedVectors {
  readonly profile: Profile;
  readonly config: string;
  readonly core: PtConfig['core'];
  readonly domain: DomainInfo | { readonly errno: number };
  readonly cases: readonly VectorCase[];
}

export function parse(text: string): ParsedVectors {
  const j = JSON.parse(text) as {
    profile: Profile;
    config: string;
    core: PtConfig['core'];
    domain: { errno?: number; pgsizes?: string; aperture?: [string, string] };
    cases: { name: string; leak: number; steps: Json[][] }[];
  };
  const domain =
    j.domain.errno !== undefined
      ? { errno: j.domain.errno }
      : { pgsizes: bn(j.domain.pgsizes), apertureStart: bn(j.domain.aperture?.[0]), apertureEnd: bn(j.domain.aperture?.[1]) };
  return {
    profile: j.profile,
    config: j.config,
    core: j.core,
    domain,
    cases: j.cases.map((c) => ({ name: c.name, leak: c.leak, steps: c.steps.map(parseStep) })),
  };
}

export function vectorPath(profile: Profile, config: string): string {
  return join(VECTOR_DIR, profile, `${config}.json`);
}

export function committedVectorFiles(): string[] {
  const out: string[] = [];
  if (!existsSync(VECTOR_DIR)) return out;
  for (const p of readdirSync(VECTOR_DIR).sort()) for (const f of readdirSync(join(VECTOR_DIR, p)).sort()) out.push(join(VECTOR_DIR, p, f));
  return out;
}

export function readVectors(path: string): ParsedVectors {
  return parse(readFileSync(path, 'utf8'));
}

// ------------------------------------------------------------ recording (kernel)

/** Runs ops on the kernel harness, recording each answer. */
class Recorder implements Executor {
  readonly steps: { op: PtOp; expect: PtResult }[] = [];
  constructor(private readonly h: Harness) {}
  async exec(op: PtOp): Promise<PtResult> {
    const r = await this.h.run(op);
    this.steps.push({ op, expect: r });
    return r;
  }
}

async function recordCase(h: Harness, cfg: PtConfig, name: string, body: (e: Recorder) => Promise<void>): Promise<VectorCase> {
  const info = await h.create(cfg.driver, cfg.params);
  if (typeof info === 'number') throw new Error(`${cfg.profile}/${cfg.name}: the driver refused the domain (${info})`);
  const rec = new Recorder(h);
  await body(rec);
  if (rec.steps.at(-1)?.op.op !== 'dump') await rec.exec({ op: 'dump' });
  const leak = await h.free();
  return { name, steps: rec.steps, leak };
}

/** The random sequences of a configuration: fast-check commands from `seed`, resolved against the model as they run. */
export function randomCommandSets(cfg: PtConfig, seed: number, n: number): Iterable<fc.AsyncCommand<ReturnType<typeof newModel>, Executor>>[] {
  return fc.sample(commandsArb(cfg), { seed, numRuns: n });
}

/** Record the vectors of one configuration through the kernel harness. */
export async function recordConfig(h: Harness, build: HarnessBuild, cfg: PtConfig, seed: number, n: number): Promise<VectorFile> {
  const info = await h.create(cfg.driver, cfg.params);
  const base = { profile: cfg.profile, config: cfg, sources: build.sources, seed, random: n };
  if (typeof info === 'number') return { ...base, domain: { errno: info }, cases: [] };
  await h.free();
  const cases: VectorCase[] = [];
  for (const e of edgeCases(cfg, info)) {
    cases.push(await recordCase(h, cfg, `edge/${e.name}`, async (r) => void (await runOps(r, e))));
  }
  const sets = randomCommandSets(cfg, seed, n);
  for (let i = 0; i < sets.length; i++) {
    const cmds = sets[i] as Iterable<fc.AsyncCommand<ReturnType<typeof newModel>, Executor>>;
    cases.push(
      await recordCase(h, cfg, `random/${i}`, async (r) => {
        await fc.asyncModelRun(() => ({ model: newModel(cfg, info), real: r }), cmds);
      }),
    );
  }
  return { ...base, domain: info, cases };
}

async function runOps(e: Executor, c: NamedCase): Promise<void> {
  for (const op of c.ops) await e.exec(op);
}

/** Record every configuration of a profile. */
export async function recordProfile(profile: Profile, seed: number, n: number, log: (l: string) => void = () => {}): Promise<VectorFile[]> {
  const build = buildHarness(profile, log);
  const h = new Harness(build.binary);
  try {
    const out: VectorFile[] = [];
    for (const cfg of configs(profile)) out.push(await recordConfig(h, build, cfg, seed, n));
    return out;
  } finally {
    await h.close();
  }
}

// ------------------------------------------------------------ replay (core)

export interface Mismatch {
  readonly where: string;
  readonly op: string;
  readonly field: string;
  readonly kernel: string;
  readonly core: string;
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return v < 0n ? `-${hex(-v)}` : hex(v);
  if (Array.isArray(v)) return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? hex(x) : x));
  return String(v);
}

/** First differing line of two dumps, with a little context. */
function dumpDiff(a: readonly string[], b: readonly string[]): [string, string] {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const ctx = (x: readonly string[]): string => `@${i}: ${x.slice(Math.max(0, i - 2), i + 3).join(' | ')}`;
  return [ctx(a), ctx(b)];
}

/** Compare one answer of our core with the kernel's; returns the differing fields. */
export function compareResult(where: string, op: PtOp, k: PtResult, c: PtResult): Mismatch[] {
  const out: Mismatch[] = [];
  const opText = show(Object.values(op));
  if (op.op === 'dump') {
    const kd = k.dump ?? [];
    const cd = c.dump ?? [];
    if (kd.length !== cd.length || kd.some((l, i) => l !== cd[i])) {
      const [kk, cc] = dumpDiff(kd, cd);
      out.push({ where, op: opText, field: 'table', kernel: kk, core: cc });
    }
    if (k.pages !== c.pages) out.push({ where, op: opText, field: 'pages', kernel: String(k.pages), core: String(c.pages) });
    return out;
  }
  if (k.ret !== c.ret) out.push({ where, op: opText, field: 'ret', kernel: show(k.ret), core: show(c.ret) });
  if (op.op === 'dirty') {
    const kr = show(k.rec ?? []);
    const cr = show(c.rec ?? []);
    if (kr !== cr) out.push({ where, op: opText, field: 'dirty ranges', kernel: kr, core: cr });
  }
  return out;
}

/** Replay vectors against our core; every mismatch (all fields of every op, not just the first). */
export function replay(v: ParsedVectors, maxPerCase = 3): Mismatch[] {
  const out: Mismatch[] = [];
  const where0 = `${v.profile}/${v.config}`;
  const mem = new PhysMemory({ size: 64 * 1024 * 1024 });
  const probe = CoreDomain.create(v.core, mem);
  if ('errno' in v.domain) {
    if (typeof probe !== 'number' || probe !== v.domain.errno) {
      out.push({ where: where0, op: 'create', field: 'errno', kernel: String(v.domain.errno), core: typeof probe === 'number' ? String(probe) : 'ok' });
    }
    if (typeof probe !== 'number') probe.free();
    return out;
  }
  if (typeof probe === 'number') return [{ where: where0, op: 'create', field: 'errno', kernel: 'ok', core: String(probe) }];
  const ci = probe.info();
  const ki = v.domain;
  if (ci.pgsizes !== ki.pgsizes) out.push({ where: where0, op: 'create', field: 'pgsize_bitmap', kernel: hex(ki.pgsizes), core: hex(ci.pgsizes) });
  if (ci.apertureStart !== ki.apertureStart || ci.apertureEnd !== ki.apertureEnd) {
    out.push({ where: where0, op: 'create', field: 'aperture', kernel: `${hex(ki.apertureStart)}-${hex(ki.apertureEnd)}`, core: `${hex(ci.apertureStart)}-${hex(ci.apertureEnd)}` });
  }
  probe.free();
  for (const c of v.cases) {
    const d = CoreDomain.create(v.core, mem);
    if (typeof d === 'number') throw new Error('unreachable: the probe was created');
    const where = `${where0} ${c.name}`;
    let n = 0;
    for (const [i, s] of c.steps.entries()) {
      let r: PtResult;
      try {
        r = d.run(s.op);
      } catch (e) {
        out.push({ where: `${where} #${i}`, op: show(Object.values(s.op)), field: 'exception', kernel: 'answer', core: String(e) });
        n = maxPerCase;
        break;
      }
      const ms = compareResult(`${where} #${i}`, s.op, s.expect, r);
      out.push(...ms);
      n += ms.length;
      if (n >= maxPerCase) break;
    }
    const leak = d.free();
    if (n < maxPerCase && leak !== c.leak) out.push({ where, op: 'free', field: 'table pages left', kernel: String(c.leak), core: String(leak) });
  }
  return out;
}
