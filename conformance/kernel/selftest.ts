/**
 * The kernel's own iommufd selftests (tools/testing/selftests/iommu) run once
 * in a lane's VM, as a smoke test of the guest: scripts/kernel/selftests.sh
 * builds them, guest.sh packs them into /selftests, /init runs each one
 * (iommufd_spec.mode=selftest) and powers off; the TAP output on the console
 * is counted here.
 */
import { readFileSync } from 'node:fs';
import type { Profile } from '../../spec/contract/types.ts';
import { bootVm, buildGuest, kernelSplats, LaneError, runKernelScript, type ProgressSink } from './qemu.ts';

export interface SelftestBinaryResult {
  readonly name: string;
  readonly pass: number;
  readonly fail: number;
  readonly skip: number;
  /** Exit status printed by /init; null when the binary never finished. */
  readonly status: number | null;
  readonly failed: readonly string[];
}

export interface SelftestRun {
  readonly profile: Profile;
  readonly binaries: readonly SelftestBinaryResult[];
  readonly seconds: number;
  /** The whole guest console (kernel log + TAP output). */
  readonly console: string;
  /** Kernel WARN/BUG/oops reports on the console. */
  readonly splats: readonly string[];
}

/** Counts kselftest-harness TAP lines between /init's begin/end markers. */
export function parseSelftestConsole(text: string): SelftestBinaryResult[] {
  const out: SelftestBinaryResult[] = [];
  const lines = text.split(/\r?\n/);
  let current: { name: string; pass: number; fail: number; skip: number; failed: string[] } | undefined;
  for (const line of lines) {
    const begin = /^=== selftest (\S+) begin/.exec(line);
    if (begin) {
      current = { name: begin[1] ?? '?', pass: 0, fail: 0, skip: 0, failed: [] };
      continue;
    }
    if (!current) continue;
    const end = /^=== selftest (\S+) end status (\d+)/.exec(line);
    if (end) {
      out.push({ ...current, status: Number(end[2]) });
      current = undefined;
      continue;
    }
    const tap = /^(not ok|ok) \d+ (\S+)(.*)$/.exec(line);
    if (!tap) continue;
    if (/#\s*SKIP/i.test(tap[3] ?? '')) current.skip++;
    else if (tap[1] === 'ok') current.pass++;
    else {
      current.fail++;
      current.failed.push(tap[2] ?? '?');
    }
  }
  if (current) out.push({ ...current, status: null });
  return out;
}

/**
 * A hang guard, not a speed bound: both binaries take 20-30 s of guest time
 * on an idle machine and several times that with the host's cores busy (the
 * harness's own per-test bound is lifted too: scripts/kernel/selftests.sh).
 */
export const SELFTEST_HANG_GUARD_MS = 60 * 60_000;

/** Builds the selftests and a selftest guest, boots it and counts the results. */
export async function runKernelSelftests(profile: Profile, progress?: ProgressSink, timeoutMs = SELFTEST_HANG_GUARD_MS): Promise<SelftestRun> {
  const dir = await runKernelScript('selftests.sh', [profile], progress);
  const image = await buildGuest(profile, progress, dir);
  progress?.(`[selftest ${profile}] boot: running the selftests in the guest`);
  const t0 = performance.now();
  const vm = bootVm(image, { mode: 'selftest', channel: false });
  try {
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    const outcome = await Promise.race([vm.exited, timer]);
    if (outcome === 'timeout') throw new LaneError('selftest', `the guest did not power off within ${timeoutMs / 1000} s:\n${vm.consoleTail()}`);
    const console = readFileSync(vm.consoleLog, 'utf8');
    return { profile, binaries: parseSelftestConsole(console), seconds: (performance.now() - t0) / 1000, console, splats: kernelSplats(console) };
  } finally {
    vm.dispose();
  }
}

export interface KnownSelftestFailure {
  readonly profile: Profile;
  readonly binary: string;
  readonly tests: readonly string[];
  readonly kind: string;
  readonly reason: string;
  readonly reproducer?: string;
}

export const SELFTEST_EXPECTATIONS = new URL('./expectations/selftests.json', import.meta.url);

export function loadSelftestExpectations(): KnownSelftestFailure[] {
  const doc = JSON.parse(readFileSync(SELFTEST_EXPECTATIONS, 'utf8')) as { known?: KnownSelftestFailure[] };
  return doc.known ?? [];
}

export interface SelftestVerdict {
  /** Failures not in the expectations file: these fail the run. */
  readonly unexpected: readonly { binary: string; test: string }[];
  /** Failures the expectations file explains. */
  readonly known: readonly { binary: string; test: string; reason: string }[];
  /** Listed as failing, but passed (or did not run): the entry may be stale. */
  readonly stale: readonly { binary: string; test: string }[];
}

export function judgeSelftests(run: SelftestRun, known: readonly KnownSelftestFailure[] = loadSelftestExpectations()): SelftestVerdict {
  const unexpected: { binary: string; test: string }[] = [];
  const explained: { binary: string; test: string; reason: string }[] = [];
  const stale: { binary: string; test: string }[] = [];
  const mine = known.filter((k) => k.profile === run.profile);
  for (const b of run.binaries) {
    for (const test of b.failed) {
      const entry = mine.find((k) => k.binary === b.name && k.tests.includes(test));
      if (entry) explained.push({ binary: b.name, test, reason: entry.reason });
      else unexpected.push({ binary: b.name, test });
    }
  }
  for (const k of mine) {
    const b = run.binaries.find((x) => x.name === k.binary);
    for (const test of k.tests) if (!b?.failed.includes(test)) stale.push({ binary: k.binary, test });
  }
  return { unexpected, known: explained, stale };
}
