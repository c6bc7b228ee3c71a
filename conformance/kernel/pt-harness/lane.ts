/**
 * The page-table kernel lane (`iommufd-spec kernel pt-vectors`):
 *   1. build the harness of each profile from the kernel sources (build.ts);
 *   2. regenerate the vectors from the pinned seed and either write them
 *      (default) or, with `check`, fail when the committed ones differ byte for
 *      byte (stale);
 *   3. replay them against our core (every mismatch listed);
 *   4. run a fresh seed live: fast-check commands executed step by step on the
 *      kernel's code and on our core, each answer compared as it comes, the
 *      counterexample shrunk by fast-check on a difference.
 */
import fc from 'fast-check';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { buildHarness } from './build.ts';
import { commandsArb, newModel, type Executor } from './cases.ts';
import { configs, type PtConfig } from './configs.ts';
import { CoreDomain } from './core.ts';
import { Harness, hex, type DomainInfo, type PtOp, type PtResult } from './protocol.ts';
import { compareResult, parse, PINNED_SEED, RANDOM_CASES, recordProfile, replay, serialize, VECTOR_DIR, vectorPath, type Mismatch } from './vectors.ts';

export interface RegenerateReport {
  readonly profile: Profile;
  readonly files: number;
  readonly cases: number;
  /** Files whose committed text differs from the regenerated one (check mode), or that are missing / extra. */
  readonly stale: string[];
  readonly written: string[];
  readonly mismatches: Mismatch[];
}

/** Regenerate a profile's vectors from the pinned seed; write them, or compare them with the committed files. */
export async function regenerate(profile: Profile, check: boolean, log: (l: string) => void): Promise<RegenerateReport> {
  const files = await recordProfile(profile, PINNED_SEED, RANDOM_CASES, log);
  const stale: string[] = [];
  const written: string[] = [];
  const mismatches: Mismatch[] = [];
  let cases = 0;
  const expected = new Set<string>();
  for (const f of files) {
    const path = vectorPath(profile, f.config.name);
    expected.add(path);
    const text = serialize(f);
    cases += f.cases.length;
    const old = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (check) {
      if (old !== text) stale.push(path);
    } else if (old !== text) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      written.push(path);
    }
    mismatches.push(...replay(parse(text)));
  }
  const dir = join(VECTOR_DIR, profile);
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const path = join(dir, name);
    if (expected.has(path)) continue;
    if (check) stale.push(path);
    else {
      rmSync(path);
      written.push(path);
    }
  }
  return { profile, files: files.length, cases, stale, written, mismatches };
}

/** Runs each operation on both the kernel harness and our core, failing at the first differing answer. */
class Differ implements Executor {
  constructor(
    private readonly h: Harness,
    private readonly core: CoreDomain,
    private readonly where: string,
  ) {}

  async exec(op: PtOp): Promise<PtResult> {
    const k = await this.h.run(op);
    const c = this.core.run(op);
    const ms = compareResult(this.where, op, k, c);
    if (ms.length > 0) throw new Error(ms.map((m) => `${m.field}: kernel ${m.kernel} | core ${m.core}`).join('; '));
    return k;
  }
}

export interface LiveReport {
  readonly profile: Profile;
  readonly seed: number;
  readonly runs: number;
  readonly configs: number;
  readonly failures: string[];
}

/** One fresh seed: `runs` command sequences per configuration, compared step by step. */
export async function liveRun(profile: Profile, seed: number, runs: number, log: (l: string) => void): Promise<LiveReport> {
  const build = buildHarness(profile, log);
  const h = new Harness(build.binary);
  const failures: string[] = [];
  const cfgs: PtConfig[] = configs(profile);
  try {
    for (const cfg of cfgs) {
      const info = await h.create(cfg.driver, cfg.params);
      if (typeof info === 'number') continue; // the replay compares the refusal
      await h.free();
      const where = `${profile}/${cfg.name}`;
      const res = await fc.check(
        fc.asyncProperty(commandsArb(cfg), async (cmds) => {
          const ki = (await h.create(cfg.driver, cfg.params)) as DomainInfo;
          const core = CoreDomain.create(cfg.core);
          if (typeof core === 'number') throw new Error(`core refused the domain (${core})`);
          try {
            const d = new Differ(h, core, where);
            await fc.asyncModelRun(() => ({ model: newModel(cfg, ki), real: d }), cmds);
            await d.exec({ op: 'dump' });
          } finally {
            await h.free();
            core.free();
          }
        }),
        { seed, numRuns: runs },
      );
      if (res.failed) failures.push(`${where}: ${fc.defaultReportMessage(res) ?? 'failed'}`);
    }
  } finally {
    await h.close();
  }
  return { profile, seed, runs, configs: cfgs.length, failures };
}

export { hex };
