/**
 * Standalone C programs (reproducers emitted by `iommufd-spec replay --emit-c`,
 * or the hand-written ones in repro/) compiled against a lane's kernel and run
 * in its guest: `gcc -static` against the kernel's exported headers and
 * iommufd_test.h (the kernel build's include/), packed into the guest's
 * /selftests by guest.sh, run by /init in selftest mode (one boot for all of
 * them), each one's output and exit status read back from the console between
 * /init's begin/end markers.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Profile } from '../../spec/contract/types.ts';
import { loadProgram } from '../programs/load.ts';
import type { Program } from '../programs/types.ts';
import { emitC } from '../suite/repro-c.ts';
import { bootVm, buildGuest, kernelSplats, LaneError, runKernelScript, type ProgressSink } from './qemu.ts';

const run = promisify(execFile);

export interface CProgram {
  /** A file name: letters, digits, '.', '_', '-'. */
  readonly name: string;
  readonly source: string;
}

export interface CProgramResult {
  readonly name: string;
  /** Exit status /init printed; null when it never finished (the guest died or hung). */
  readonly status: number | null;
  /** What it printed (stdout and stderr, with any kernel messages that interleaved). */
  readonly output: string;
}

export interface CProgramRun {
  readonly profile: Profile;
  readonly results: readonly CProgramResult[];
  readonly splats: readonly string[];
  readonly seconds: number;
}

/** The directory of the profile's kernel build (built or reused): bzImage, include/. */
export async function kernelBuildDir(profile: Profile, progress?: ProgressSink): Promise<string> {
  return runKernelScript('build.sh', [profile], progress);
}

/** Compiles C sources statically against the profile's kernel headers; throws LaneError with gcc's message. */
export async function compileC(profile: Profile, programs: readonly CProgram[], outDir: string, progress?: ProgressSink): Promise<void> {
  const kernel = await kernelBuildDir(profile, progress);
  for (const p of programs) {
    if (!/^[A-Za-z0-9._-]+$/.test(p.name)) throw new LaneError('repro', `bad program name '${p.name}'`);
    const src = join(outDir, `${p.name}.c`);
    writeFileSync(src, p.source);
    try {
      await run('gcc', ['-static', '-O2', '-Wall', '-std=gnu11', `-I${join(kernel, 'include')}`, '-o', join(outDir, p.name), src]);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new LaneError('repro', `gcc ${p.name}.c failed:\n${(e.stderr ?? e.message).slice(0, 4000)}`);
    }
    rmSync(src);
  }
}

/** The console between /init's markers, per program. */
export function parseProgramConsole(text: string): CProgramResult[] {
  const out: CProgramResult[] = [];
  let current: { name: string; lines: string[] } | undefined;
  for (const line of text.split(/\r?\n/)) {
    const begin = /^=== selftest (\S+) begin/.exec(line);
    if (begin) {
      current = { name: begin[1] ?? '?', lines: [] };
      continue;
    }
    if (!current) continue;
    const end = /^=== selftest (\S+) end status (\d+)/.exec(line);
    if (end) {
      out.push({ name: current.name, status: Number(end[2]), output: current.lines.join('\n') });
      current = undefined;
      continue;
    }
    current.lines.push(line);
  }
  if (current) out.push({ name: current.name, status: null, output: current.lines.join('\n') });
  return out;
}

/** Compiles the programs, boots one guest that runs them all, and reports each one's output and status. */
export async function runCPrograms(profile: Profile, programs: readonly CProgram[], progress?: ProgressSink, timeoutMs = 5 * 60_000): Promise<CProgramRun> {
  const dir = mkdtempSync(join(tmpdir(), 'iommufd-spec-c-'));
  try {
    await compileC(profile, programs, dir, progress);
    const image = await buildGuest(profile, progress, dir);
    for (let attempt = 1; ; attempt++) {
      progress?.(`[repro ${profile}] boot: running ${programs.length} program(s) in the guest`);
      const t0 = performance.now();
      const vm = bootVm(image, { mode: 'selftest', channel: false });
      let console: string;
      try {
        const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
        const outcome = await Promise.race([vm.exited, timer]);
        if (outcome === 'timeout') throw new LaneError('repro', `the guest did not power off within ${timeoutMs / 1000} s:\n${vm.consoleTail()}`);
        console = readFileSync(vm.consoleLog, 'utf8');
      } finally {
        vm.dispose();
      }
      // Under TCG on a loaded host the kernel's boot-time timer check can fail
      // (check_timer: "IO-APIC + timer doesn't work!") before /init runs: that
      // boot says nothing about the programs, so boot once more.
      if (attempt === 1 && !/iommufd-spec guest:/.test(console) && /IO-APIC \+ timer doesn't work/.test(console)) {
        progress?.(`[repro ${profile}] the guest panicked in check_timer before /init (a loaded host under TCG): booting again`);
        continue;
      }
      return { profile, results: parseProgramConsole(console), splats: kernelSplats(console), seconds: (performance.now() - t0) / 1000 };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the suite's replay files as C

/** Replay files of divergences the suite found on a lane (kept with their triage), per profile. */
export const REPLAY_DIR = fileURLToPath(new URL('./repro/suite/', import.meta.url));

/**
 * Programs that pass on the lane: their C forms must run clean (the controls). A corpus program
 * (iommufd.c's iommufd_ioas.mock_domain.area), and repro/controls/ (what the corpus has no program
 * for: a read-only argument whose copy back faults).
 */
export function controlPrograms(profile: Profile): string[] {
  const controls = fileURLToPath(new URL('./repro/controls/', import.meta.url));
  return [
    fileURLToPath(new URL(`../programs/corpus/iommufd_ioas/mock_domain.area@${profile}.json`, import.meta.url)),
    ...readdirSync(controls).filter((f) => f.endsWith('.json')).sort().map((f) => join(controls, f)),
  ];
}

export interface ReplayCheck {
  readonly name: string;
  readonly file: string;
  /** true: the C program must diverge (exit 1) at `step`; false: it must run clean (exit 0). */
  readonly mustDiverge: boolean;
  readonly step?: number;
  readonly status: number | null;
  readonly ok: boolean;
  readonly why: string;
  readonly output: string;
}

/** The step a replay file's objection is about (its note says which oracle objects). */
export function objectedStep(program: Program): number | undefined {
  const i = program.steps.findIndex((s) => /\bobjects: /.test(s.note ?? ''));
  return i < 0 ? undefined : i + 1;
}

/**
 * Emits every replay file of the profile (repro/suite/linux-<profile>/*.json) and the control
 * programs as C, runs them in one guest boot, and checks each: a replay's C program must diverge
 * at the step the suite objected to (exit 1, that step printed DIVERGES), a control's must not.
 */
export async function checkReplaysInGuest(profile: Profile, progress?: ProgressSink): Promise<{ checks: ReplayCheck[]; splats: readonly string[]; seconds: number }> {
  const dir = join(REPLAY_DIR, `linux-${profile}`);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
  const items = [
    ...files.map((f) => ({ file: join(dir, f), mustDiverge: true })),
    ...controlPrograms(profile).map((file) => ({ file, mustDiverge: false })),
  ].map((x, i) => {
    const program = loadProgram(x.file).program;
    return { ...x, program, name: `c${i}-${program.name.replace(/[^A-Za-z0-9._-]/g, '_')}`.slice(0, 60), source: emitC(program, { profile, source: x.file.slice(x.file.indexOf('conformance/')) }) };
  });
  const run = await runCPrograms(profile, items.map((x) => ({ name: x.name, source: x.source })), progress);
  const checks = items.map((x): ReplayCheck => {
    const r = run.results.find((y) => y.name === x.name);
    const status = r?.status ?? null;
    const output = r?.output ?? '';
    if (!x.mustDiverge) {
      const ok = status === 0;
      return { name: x.program.name, file: x.file, mustDiverge: false, status, ok, why: ok ? 'runs clean (exit 0)' : `expected exit 0, got ${status ?? 'none'}`, output };
    }
    const step = objectedStep(x.program);
    const diverged = step !== undefined && new RegExp(`^\\s*${step}\\. .*DIVERGES`, 'm').test(output);
    const ok = status === 1 && diverged;
    return { name: x.program.name, file: x.file, mustDiverge: true, ...(step !== undefined && { step }), status, ok, why: ok ? `diverges at step ${step} as the suite recorded (exit 1)` : `expected exit 1 with step ${step ?? '?'} DIVERGES, got exit ${status ?? 'none'}`, output };
  });
  return { checks, splats: run.splats, seconds: run.seconds };
}
