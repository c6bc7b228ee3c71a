/**
 * The kernel's own iommufd selftests (tools/testing/selftests/iommu) run once
 * in a lane's VM, as a smoke test of the guest: scripts/kernel/selftests.sh
 * builds them, guest.sh packs them into /selftests, /init runs each one
 * (iommufd_spec.mode=selftest) and powers off; the TAP output on the console
 * is counted here.
 */
import { readFileSync } from 'node:fs';
import type { Profile } from '../adapter/types.ts';
import { bootVm, buildGuest, LaneError, runKernelScript, type ProgressSink } from './qemu.ts';

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

/** Builds the selftests and a selftest guest, boots it and counts the results. */
export async function runKernelSelftests(profile: Profile, progress?: ProgressSink, timeoutMs = 15 * 60_000): Promise<SelftestRun> {
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
    return { profile, binaries: parseSelftestConsole(console), seconds: (performance.now() - t0) / 1000, console };
  } finally {
    vm.dispose();
  }
}
