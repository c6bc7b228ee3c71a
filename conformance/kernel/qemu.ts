/**
 * Building and booting a kernel-lane guest: scripts/kernel/guest.sh for the
 * kernel + initramfs (cached), then QEMU with TCG. The console (ttyS0, kernel
 * messages and /init's output) goes to a log file; the adapter's channel is a
 * virtio-serial port (or the second 8250 port, ttyS1) on a unix socket QEMU
 * listens on, so kernel messages never mix with protocol traffic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../spec/contract/types.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Progress lines of the build scripts ("[kernel 6.12] bzImage: ..."). */
export type ProgressSink = (line: string) => void;

export class LaneError extends Error {
  constructor(
    readonly step: string,
    /** The message without the "kernel lane: <step>: " prefix. */
    readonly detail: string,
    /** The guest or QEMU stopped making progress (a hang guard fired), as opposed to failing. */
    readonly hung = false,
  ) {
    super(`kernel lane: ${step}: ${detail}`);
    this.name = 'LaneError';
  }
}

/** Runs a script under scripts/kernel/, streaming its stderr lines to `progress`; resolves with its stdout. */
export function runKernelScript(script: string, args: readonly string[], progress?: ProgressSink): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts/kernel', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errTail = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = partial + d.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        errTail = (errTail + line + '\n').slice(-4000);
        progress?.(line);
      }
    });
    child.on('error', (e) => reject(new LaneError(script, e.message)));
    child.on('close', (code) => {
      if (code === 0) resolve(out.trim().split('\n').pop() ?? '');
      else reject(new LaneError(script, `exited with status ${code}:\n${errTail}${partial}`));
    });
  });
}

export interface GuestImage {
  readonly dir: string;
  readonly kernel: string;
  readonly initramfs: string;
}

/** Builds or reuses the profile's kernel and guest initramfs (`--selftests DIR` adds selftest binaries). */
export async function buildGuest(profile: Profile, progress?: ProgressSink, selftestsDir?: string): Promise<GuestImage> {
  const args = selftestsDir ? [profile, '--selftests', selftestsDir] : [profile];
  const dir = await runKernelScript('guest.sh', args, progress);
  const kernel = join(dir, 'bzImage');
  const initramfs = join(dir, 'initramfs.cpio.gz');
  if (!existsSync(kernel) || !existsSync(initramfs)) throw new LaneError('guest.sh', `no bzImage/initramfs in '${dir}'`);
  return { dir, kernel, initramfs };
}

/** Kernel splats in a console log (WARN_ON, BUG, oops, sanitizer reports), each with the lines after it. */
export function kernelSplats(consoleText: string, context = 6): string[] {
  const lines = consoleText.split(/\r?\n/);
  const splat = /(WARNING: CPU: |\bBUG: |kernel BUG at|Oops: |general protection fault|UBSAN: |KASAN: |Kernel panic)/;
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (splat.test(line)) out.push(lines.slice(i, i + 1 + context).join('\n'));
  });
  return out;
}

export interface BootOptions {
  /** iommufd_spec.mode on the kernel command line: 'adapter' or 'selftest'. */
  readonly mode: 'adapter' | 'selftest';
  /** Give the adapter channel a unix socket (adapter mode). */
  readonly channel: boolean;
}

export interface RunningVm {
  readonly process: ChildProcess;
  readonly workDir: string;
  readonly consoleLog: string;
  readonly socketPath: string;
  /** Resolves with QEMU's exit code once it has exited. */
  readonly exited: Promise<number | null>;
  /** The tail of the console log (for error messages). */
  consoleTail(chars?: number): string;
  /** Kills QEMU (SIGKILL) if still running and removes the work directory. */
  dispose(): void;
}

/**
 * How the adapter's channel reaches the guest. 'virtio' (default): a
 * virtio-serial port named iommufd-spec.0 (bulk transfers). 'serial': the
 * second 8250 port, ttyS1 (needs no virtio in the kernel, but moves host-to-guest
 * data at only ~90 KB/s under TCG). IOMMUFD_SPEC_CHANNEL overrides.
 */
export type ChannelKind = 'virtio' | 'serial';

export function defaultChannelKind(): ChannelKind {
  return process.env['IOMMUFD_SPEC_CHANNEL'] === 'serial' ? 'serial' : 'virtio';
}

/** The QEMU command line of a lane (kernel-lab.md: TCG, 2 CPUs, 2 GiB). */
export function qemuArgs(image: GuestImage, consoleLog: string, socketPath: string | undefined, mode: string, channel: ChannelKind = defaultChannelKind()): string[] {
  const args = [
    '-accel', 'tcg',
    '-smp', '2',
    '-m', '2G',
    '-no-reboot',
    '-nographic',
    '-monitor', 'none',
    '-kernel', image.kernel,
    '-initrd', image.initramfs,
    // console=ttyS0 only: kernel messages never reach the adapter's channel.
    // loglevel=5 lets KERN_WARNING (WARN_ON splats) through, for kernelSplats().
    // proc_mem.force_override=always: the adapter sets up read-only and PROT_NONE buffers
    // through /proc/self/mem (mem_write), which 7.3's default (PROC_MEM_FORCE_PTRACE,
    // security/Kconfig) refuses with EIO to a process that is not its ptracer; 6.12's
    // default (PROC_MEM_ALWAYS_FORCE) already forces.
    // no_timer_check: under TCG on a loaded host the IO-APIC timer check can miss its ticks and
    // panic the boot ("IO-APIC + timer doesn't work!", seen in a CI run); a virtual PIT needs no check.
    '-append', `console=ttyS0 loglevel=5 panic=-1 no_timer_check proc_mem.force_override=always iommufd_spec.mode=${mode} iommufd_spec.channel=${channel}`,
    '-serial', `file:${consoleLog}`,
  ];
  if (!socketPath) return args;
  if (channel === 'serial') {
    args.push('-serial', `unix:${socketPath},server=on,wait=off`);
  } else {
    args.push(
      '-device', 'virtio-serial-pci,id=vser0',
      '-chardev', `socket,id=chan0,path=${socketPath},server=on,wait=off`,
      '-device', 'virtserialport,bus=vser0.0,chardev=chan0,name=iommufd-spec.0',
    );
  }
  return args;
}

export function bootVm(image: GuestImage, opts: BootOptions): RunningVm {
  const workDir = mkdtempSync(join(tmpdir(), 'iommufd-spec-vm-'));
  const consoleLog = join(workDir, 'console.log');
  const socketPath = join(workDir, 'channel.sock');
  const child = spawn('qemu-system-x86_64', qemuArgs(image, consoleLog, opts.channel ? socketPath : undefined, opts.mode), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let qemuOutput = '';
  child.stdout?.on('data', (d: Buffer) => (qemuOutput = (qemuOutput + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (qemuOutput = (qemuOutput + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (e) => {
      qemuOutput += `\n${e.message}`;
      resolve(-1);
    });
  });
  let disposed = false;
  return {
    process: child,
    workDir,
    consoleLog,
    socketPath,
    exited,
    consoleTail(chars = 3000) {
      let text: string;
      try {
        text = readFileSync(consoleLog, 'utf8');
      } catch {
        text = '(no console log)';
      }
      return `${text.slice(-chars)}${qemuOutput ? `\n[qemu] ${qemuOutput}` : ''}`;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (!process.env['IOMMUFD_SPEC_KEEP_VM']) rmSync(workDir, { recursive: true, force: true });
    },
  };
}
