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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Profile } from '../../spec/contract/types.ts';
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
    progress?.(`[repro ${profile}] boot: running ${programs.length} program(s) in the guest`);
    const t0 = performance.now();
    const vm = bootVm(image, { mode: 'selftest', channel: false });
    try {
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
      const outcome = await Promise.race([vm.exited, timer]);
      if (outcome === 'timeout') throw new LaneError('repro', `the guest did not power off within ${timeoutMs / 1000} s:\n${vm.consoleTail()}`);
      const console = readFileSync(vm.consoleLog, 'utf8');
      return { profile, results: parseProgramConsole(console), splats: kernelSplats(console), seconds: (performance.now() - t0) / 1000 };
    } finally {
      vm.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
