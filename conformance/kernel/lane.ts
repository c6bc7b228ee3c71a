/**
 * The kernel lanes: the real Linux iommufd (6.12, 7.3) as an Adapter.
 *
 * openKernelAdapter(profile) builds or reuses the kernel and guest
 * (scripts/kernel/guest.sh), boots QEMU, connects to the guest adapter's
 * channel (a virtio-serial port on a unix socket), waits for its ready
 * banner, then speaks the contract's JSON lines through the shared client
 * (conformance/adapter/stdio-client.ts: handshake, ids, schema validation,
 * timeouts, error reporting); close() says bye (the guest powers off) and
 * reaps QEMU. `struct` ioctl arguments are lowered here to `raw` arguments
 * with pointer patches (codec.ts; ADAPTER.md §3.3), which the C adapter
 * applies; every other request goes as it is.
 */
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Adapter, AdapterInfo, IoctlResult, Profile, RawPointerPatch, Request, Response, SingleRequest } from '../../spec/contract/types.ts';
import { AdapterError } from '../adapter/errors.ts';
import { StdioConnection } from '../adapter/stdio-client.ts';
import { LowerError, lowerStructArg, raiseStruct, type LoweredArg } from './codec.ts';
import { bootVm, buildGuest, kernelSplats, LaneError, type GuestImage, type ProgressSink, type RunningVm } from './qemu.ts';

/**
 * The lane's bounds are hang guards, not speed bounds: under TCG on a loaded
 * machine a boot that takes 2 s idle can take 20 s or more, and the guest's
 * work slows with the CPU share QEMU gets. A guest that panics makes QEMU exit
 * (panic=-1, -no-reboot), which is caught at once; these bounds only end a
 * guest that hangs. Measured (2 cores, both busy): boot to banner 2-12 s,
 * the slowest request (a corpus batch) well under 1 s.
 */
export const LANE_HANG_GUARD_MS = 5 * 60_000;

/**
 * Boot to banner is guarded per attempt, and a guest that hangs before its
 * banner is booted once more (the progress lines say so, with the hung boot's
 * console): a boot hang is the emulator's or the host's, seen once in CI on a
 * loaded machine, not an answer of iommufd's. The attempts together stay
 * within LANE_HANG_GUARD_MS.
 */
export const LANE_BOOT_GUARD_MS = 150_000;
export const LANE_BOOT_ATTEMPTS = 2;

export const KERNEL_LANE_NAMES = { 'linux-6.12': '6.12', 'linux-7.3': '7.3' } as const satisfies Record<string, Profile>;
export type KernelLaneName = keyof typeof KERNEL_LANE_NAMES;

export interface KernelLaneOptions {
  readonly progress?: ProgressSink;
  /** Milliseconds to wait for the guest's ready banner, per boot attempt. Default LANE_BOOT_GUARD_MS. */
  readonly bootTimeoutMs?: number;
  /** Milliseconds to wait for one response. Default LANE_HANG_GUARD_MS. */
  readonly requestTimeoutMs?: number;
}

/** Timings of the last openKernelAdapter (for `kernel test` and benchmarks). */
export interface LaneTimings {
  buildMs: number;
  bootMs: number;
  handshakeMs: number;
}

export interface KernelAdapter extends Adapter {
  readonly info: AdapterInfo;
  readonly profile: Profile;
  readonly timings: LaneTimings;
  /** The guest console so far (kernel log + /init output), for diagnostics. */
  consoleTail(chars?: number): string;
  /** Kernel WARN/BUG/oops reports on the guest console so far (qemu.ts kernelSplats). */
  splats(): string[];
}

/** A request as sent, with what is needed to read its answer. */
interface Prepared {
  readonly request: SingleRequest;
  /** What goes to the guest: the request itself, or a struct ioctl lowered to raw + pointer patches. */
  readonly send?: SingleRequest;
  readonly lowered?: LoweredArg;
  /** Set when the host refuses the request before sending it. */
  readonly localError?: Response;
}

function prepare(profile: Profile, request: SingleRequest): Prepared {
  if (request.op !== 'ioctl' || request.arg.kind !== 'struct') return { request, send: request };
  try {
    const lowered = lowerStructArg(profile, request.cmd, request.arg);
    const ptrs = lowered.patches.map((p): RawPointerPatch => ({ offset: p.offset, ...p.target }));
    const send: SingleRequest = { op: 'ioctl', fd: request.fd, cmd: request.cmd, arg: { kind: 'raw', bytes: lowered.bytes, ptrs, ...(request.arg.readOnly && { readOnly: true }) } };
    return { request, send, lowered };
  } catch (e) {
    if (e instanceof LowerError) return { request, localError: { ok: false, error: { code: 'bad-request', message: e.message, field: e.field } } };
    throw e;
  }
}

/** Reads the answer to a lowered struct ioctl: out fields by layout, pointer targets by field path. */
function raiseIoctl(profile: Profile, lowered: LoweredArg, r: Response): Response {
  if (!r.ok) return r;
  const res = r.result as IoctlResult;
  const bytes = res.bytes ?? new Uint8Array(0);
  const got = res.ptrs?.length ?? 0;
  if (got !== lowered.patches.length) {
    throw new AdapterError('bad-message', `the guest answered ${lowered.patches.length} pointer patches with ${got} results`, 'result.ptrs');
  }
  const buffers: { [path: string]: Uint8Array } = {};
  lowered.patches.forEach((patch, i) => {
    const item = res.ptrs?.[i];
    if (item) buffers[patch.path] = item.data;
  });
  const result: IoctlResult = {
    ret: res.ret,
    errno: res.errno,
    out: raiseStruct(profile, lowered.struct, bytes),
    bytes,
    ...(lowered.patches.length > 0 && { buffers }),
  };
  return { ok: true, result };
}

function answer(profile: Profile, p: Prepared, r: Response): Response {
  return p.lowered ? raiseIoctl(profile, p.lowered, r) : r;
}

/** What the lane adapter needs of its VM. */
export interface LaneVm {
  readonly exited: Promise<number | null>;
  consoleTail(chars?: number): string;
  dispose(): void;
}

/**
 * The lane's Adapter: struct ioctl arguments are lowered here, everything goes
 * to the guest through `guest`, the shared JSON-lines client
 * (conformance/adapter/stdio-client.ts: ids, schema validation, timeouts,
 * error reporting) over the VM's channel.
 */
class KernelLaneAdapter implements KernelAdapter {
  constructor(
    readonly profile: Profile,
    readonly info: AdapterInfo,
    readonly timings: LaneTimings,
    private readonly guest: Adapter,
    private readonly vm: LaneVm,
  ) {}

  consoleTail(chars?: number): string {
    return this.vm.consoleTail(chars);
  }

  splats(): string[] {
    return kernelSplats(this.vm.consoleTail(Number.MAX_SAFE_INTEGER));
  }

  async call<R extends Request>(request: R): Promise<Response<R['op']>> {
    if (request.op === 'batch') {
      const responses = await this.batch(request.requests);
      return { ok: true, result: { responses } } as Response<R['op']>;
    }
    const p = prepare(this.profile, request as SingleRequest);
    if (p.localError || !p.send) return (p.localError ?? internal('nothing to send')) as Response<R['op']>;
    return answer(this.profile, p, await this.guest.call(p.send)) as Response<R['op']>;
  }

  async batch(requests: readonly Request[]): Promise<readonly Response[]> {
    // Items the host refuses are answered here; their error fields and those of
    // the items sent are numbered by the caller's index (ADAPTER.md §7.5).
    const prepared = requests.map((r, i) => {
      const p = r.op === 'batch' ? { request: r as unknown as SingleRequest, localError: nested() } : prepare(this.profile, r as SingleRequest);
      return p.localError ? { ...p, localError: prefixField(p.localError, `requests.${i}`) } : p;
    });
    const sent = prepared.filter((p) => p.send !== undefined && p.localError === undefined);
    if (sent.length === 0) return prepared.map((p) => p.localError ?? internal('nothing to send'));
    const items = await this.guest.batch(sent.map((p) => p.send as SingleRequest));
    let next = 0;
    return prepared.map((p, index) => {
      if (p.localError || !p.send) return p.localError ?? internal('nothing to send');
      const i = next++;
      const r = answer(this.profile, p, items[i] ?? internal(`no response to batch item ${i}`));
      return r.ok || i === index ? r : renumberField(r, `requests.${i}`, `requests.${index}`);
    });
  }

  async close(): Promise<void> {
    // Clean-up only (every result is in by now): a guest that does not power
    // off in time is killed, which changes no verdict.
    try {
      await Promise.race([this.guest.close(), delay(6000)]);
    } catch {
      // the guest may already be gone
    }
    await Promise.race([this.vm.exited, delay(10000)]);
    this.vm.dispose();
  }
}

function internal(message: string): Response {
  return { ok: false, error: { code: 'internal', message } };
}

function prefixField(r: Response, prefix: string): Response {
  if (r.ok) return r;
  return { ok: false, error: { ...r.error, field: r.error.field ? `${prefix}.${r.error.field}` : prefix } };
}

function renumberField(r: Response, from: string, to: string): Response {
  if (r.ok) return r;
  const f = r.error.field;
  if (f === undefined || !(f === from || f.startsWith(`${from}.`))) return r;
  return { ok: false, error: { ...r.error, field: to + f.slice(from.length) } };
}

function nested(): Response {
  return { ok: false, error: { code: 'bad-request', message: 'batches do not nest', field: 'op' } };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function connectSocket(vm: RunningVm, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (vm.process.exitCode !== null) throw new LaneError('boot', 'QEMU exited early');
    if (existsSync(vm.socketPath)) {
      try {
        return await new Promise<Socket>((resolve, reject) => {
          const s = connect(vm.socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) throw new LaneError('boot', `QEMU's channel socket did not appear within ${timeoutMs} ms`, true);
    await delay(50);
  }
}

/** The lane's Adapter over an already connected guest adapter (openKernelAdapter uses it; tests give a fake). */
export function laneAdapter(profile: Profile, info: AdapterInfo, guest: Adapter, vm: LaneVm, timings: LaneTimings = { buildMs: 0, bootMs: 0, handshakeMs: 0 }): KernelAdapter {
  return new KernelLaneAdapter(profile, info, timings, guest, vm);
}

/**
 * Waits for the guest adapter's `{"event":"ready"}` banner line (a transport
 * detail of this lane, not a contract message), skipping noise before it, and
 * leaves the socket paused with whatever followed the banner unread.
 */
export function waitBanner(socket: Readable, timeoutMs: number): Promise<void> {
  socket.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let buffer = '';
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new LaneError('boot', `no ready banner from the guest adapter within ${timeoutMs} ms`, true)), timeoutMs);
    const onEnd = (): void => done(new LaneError('boot', 'the guest closed the channel before the adapter was ready'));
    const onData = (chunk: string): void => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!isBanner(line)) continue; // noise before the adapter set the port raw
        socket.pause();
        if (buffer !== '') socket.unshift(buffer, 'utf8');
        done();
        return;
      }
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

function isBanner(line: string): boolean {
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && (v as { event?: unknown }).event === 'ready';
  } catch {
    return false;
  }
}

/**
 * Boots the guest and waits for its adapter's ready banner. A guest that gives
 * no banner in time is killed; the error carries its console (the VM's work
 * directory is gone after dispose, so the caller could not read it later).
 */
async function bootToBanner(image: GuestImage, bootTimeoutMs: number): Promise<{ vm: RunningVm; socket: Socket }> {
  const vm = bootVm(image, { mode: 'adapter', channel: true });
  const withConsole = (e: unknown): unknown =>
    e instanceof LaneError ? new LaneError(e.step, `${e.detail}\n--- guest console of this boot ---\n${vm.consoleTail(2500)}`, e.hung) : e;
  try {
    const socket = await Promise.race([
      connectSocket(vm, bootTimeoutMs),
      vm.exited.then((code): never => {
        throw new LaneError('boot', `QEMU exited (status ${code}) before its channel socket was up`);
      }),
    ]);
    await Promise.race([
      waitBanner(socket, bootTimeoutMs),
      vm.exited.then((code) => {
        throw new LaneError('boot', `QEMU exited (status ${code}) before the adapter was ready`);
      }),
    ]).catch((e: unknown) => {
      socket.destroy();
      throw e;
    });
    return { vm, socket };
  } catch (e) {
    const err = withConsole(e);
    vm.dispose();
    throw err;
  }
}

/**
 * Runs `boot` up to LANE_BOOT_ATTEMPTS times while it fails by hanging. Only a
 * hang is tried again; a QEMU that exits (a panic at boot) or a channel that
 * fails is an answer, reported at once.
 */
export async function bootAgainIfHung<T>(boot: (attempt: number) => Promise<T>, onHang: (attempt: number, e: LaneError) => void, attempts = LANE_BOOT_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await boot(attempt);
    } catch (e) {
      if (!(e instanceof LaneError && e.hung) || attempt >= attempts) throw e;
      onHang(attempt, e);
    }
  }
}

/** Builds or reuses the profile's kernel and guest, boots it and returns the lane's Adapter. */
export async function openKernelAdapter(profile: Profile, opts: KernelLaneOptions = {}): Promise<KernelAdapter> {
  const t0 = performance.now();
  const image = await buildGuest(profile, opts.progress);
  const t1 = performance.now();
  const bootTimeout = opts.bootTimeoutMs ?? LANE_BOOT_GUARD_MS;
  const { vm, socket } = await bootAgainIfHung(
    (attempt) => {
      opts.progress?.(`[lane ${profile}] boot: qemu-system-x86_64 -accel tcg${attempt > 1 ? ` (attempt ${attempt} of ${LANE_BOOT_ATTEMPTS})` : ''}`);
      return bootToBanner(image, bootTimeout);
    },
    (attempt, e) => opts.progress?.(`[lane ${profile}] boot attempt ${attempt} hung: ${e.message.replace(/\n/g, '\n    ')}`),
  );
  try {
    const t2 = performance.now();
    const context = (): string => `; guest console ends with:\n${vm.consoleTail(1500)}`;
    const timeoutMs = opts.requestTimeoutMs ?? LANE_HANG_GUARD_MS;
    const guest = new StdioConnection(socket, socket, { profile, timeoutMs, handshakeTimeoutMs: timeoutMs }, `the ${profile} guest adapter`, context);
    socket.resume(); // waitBanner paused it; the connection's reader is attached now
    let info: AdapterInfo;
    try {
      info = await guest.hello();
      const caps = await guest.call({ op: 'capabilities' });
      if (!caps.ok || caps.result.rawPointerPatches?.supported !== true) {
        throw new LaneError('handshake', 'the guest adapter does not accept pointer patches on raw arguments (capabilities.rawPointerPatches), which struct arguments are lowered to');
      }
    } catch (e) {
      guest.fail(new AdapterError('closed', 'handshake failed'));
      socket.destroy();
      throw e instanceof AdapterError ? new LaneError('handshake', `${e.message}${context()}`) : e;
    }
    const t3 = performance.now();
    opts.progress?.(`[lane ${profile}] ready: ${info.implementation.name} ${info.implementation.version}`);
    return new KernelLaneAdapter(profile, info, { buildMs: t1 - t0, bootMs: t2 - t1, handshakeMs: t3 - t2 }, guest, vm);
  } catch (e) {
    vm.dispose();
    throw e;
  }
}

/** The lanes by registry name ('linux-6.12', 'linux-7.3'). */
export function openKernelLane(name: KernelLaneName, opts?: KernelLaneOptions): Promise<KernelAdapter> {
  return openKernelAdapter(KERNEL_LANE_NAMES[name], opts);
}
