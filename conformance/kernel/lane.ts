/**
 * The kernel lanes: the real Linux iommufd (6.12, 7.3) as an Adapter.
 *
 * openKernelAdapter(profile) builds or reuses the kernel and guest
 * (scripts/kernel/guest.sh), boots QEMU, connects to the guest adapter's
 * channel (ttyS1 on a unix socket), waits for its ready banner, performs the
 * contract handshake and returns an Adapter; close() asks the adapter to shut
 * down (the guest powers off) and reaps QEMU.
 *
 * Framing is JSON lines with ids (conformance/ADAPTER.md); requests go one at
 * a time (a batch is one line) so the guest tty never holds more than one
 * request. `struct` ioctl arguments are lowered to raw bytes plus pointer
 * patches here (codec.ts); every other request uses the shared wire form.
 */
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import type { Adapter, AdapterInfo, IoctlResult, Profile, Request, Response, SingleRequest } from '../adapter/types.ts';
import { CONTRACT_VERSION } from '../adapter/types.ts';
import type { Json, JsonObject } from '../adapter/wire.ts';
import { bytesFromWire, bytesToWire, requestToWire, responseFromWire } from '../adapter/wire.ts';
import { LowerError, lowerStructArg, raiseStruct, type LoweredArg } from './codec.ts';
import { bootVm, buildGuest, kernelSplats, LaneError, type ProgressSink, type RunningVm } from './qemu.ts';

export const KERNEL_LANE_NAMES = { 'linux-6.12': '6.12', 'linux-7.3': '7.3' } as const satisfies Record<string, Profile>;
export type KernelLaneName = keyof typeof KERNEL_LANE_NAMES;

export interface KernelLaneOptions {
  readonly progress?: ProgressSink;
  /** Milliseconds to wait for the guest's ready banner (boot). Default 90 s. */
  readonly bootTimeoutMs?: number;
  /** Milliseconds to wait for one response. Default 60 s. */
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

/** One JSON-lines connection with ids; one request in flight at a time. */
class LineChannel implements LaneChannel {
  private buffer = '';
  private nextId = 1;
  private waiting: { id: number; resolve: (v: JsonObject) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private banner: ((v: JsonObject) => void) | undefined;
  private closedError: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.fail(new LaneError('channel', 'the guest closed the channel')));
    socket.on('error', (e) => this.fail(new LaneError('channel', e.message)));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line !== '') this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let msg: Json;
    try {
      msg = JSON.parse(line) as Json;
    } catch {
      return; // noise before the adapter set the port raw
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return;
    const o = msg as JsonObject;
    if (o['event'] === 'ready') {
      this.banner?.(o);
      return;
    }
    const w = this.waiting;
    if (w && o['id'] === w.id) {
      clearTimeout(w.timer);
      this.waiting = undefined;
      w.resolve(o);
    }
  }

  private fail(e: Error): void {
    this.closedError ??= e;
    const w = this.waiting;
    if (w) {
      clearTimeout(w.timer);
      this.waiting = undefined;
      w.reject(e);
    }
  }

  waitReady(timeoutMs: number): Promise<JsonObject> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new LaneError('boot', `no ready banner from the guest adapter within ${timeoutMs} ms`)), timeoutMs);
      this.banner = (v) => {
        clearTimeout(timer);
        this.banner = undefined;
        resolve(v);
      };
    });
  }

  /** Sends one message (an id is added) and resolves with the matching response. */
  request(message: JsonObject): Promise<JsonObject> {
    const run = (): Promise<JsonObject> =>
      new Promise((resolve, reject) => {
        if (this.closedError) {
          reject(this.closedError);
          return;
        }
        const id = this.nextId++;
        const timer = setTimeout(() => this.fail(new LaneError('channel', `no response to request ${id} within ${this.timeoutMs} ms`)), this.timeoutMs);
        this.waiting = { id, resolve, reject, timer };
        this.socket.write(`${JSON.stringify({ id, ...message })}\n`);
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  end(): void {
    this.socket.destroy();
  }
}

/** A request as sent, with what is needed to read its answer. */
interface Prepared {
  readonly request: SingleRequest;
  readonly wire?: JsonObject;
  readonly lowered?: LoweredArg;
  /** Set when the host refuses the request before sending it. */
  readonly localError?: Response;
}

function prepare(profile: Profile, request: SingleRequest): Prepared {
  if (request.op !== 'ioctl' || request.arg.kind !== 'struct') return { request, wire: requestToWire(request) };
  try {
    const lowered = lowerStructArg(profile, request.cmd, request.arg);
    const ptrs = lowered.patches.map((p): JsonObject =>
      'data' in p.target ? { offset: p.offset, data: bytesToWire(p.target.data) } : { offset: p.offset, room: p.target.room },
    );
    const wire: JsonObject = { op: 'ioctl', fd: request.fd, cmd: request.cmd, arg: { kind: 'raw', bytes: bytesToWire(lowered.bytes), ptrs } };
    return { request, wire, lowered };
  } catch (e) {
    if (e instanceof LowerError) return { request, localError: { ok: false, error: { code: 'bad-request', message: e.message, field: e.field } } };
    throw e;
  }
}

/** Reads the answer to a lowered struct ioctl: out fields by layout, pointer targets by field path. */
function raiseIoctl(profile: Profile, p: Prepared, o: JsonObject, field: string): Response {
  if (o['ok'] !== true) return responseFromWire(p.request, o, field);
  const r = o['result'];
  if (typeof r !== 'object' || r === null || Array.isArray(r) || !p.lowered) throw new LaneError('protocol', `${field}.result is not an object`);
  const res = r as JsonObject;
  const ret = res['ret'];
  const errno = res['errno'];
  if (typeof ret !== 'number' || typeof errno !== 'number') throw new LaneError('protocol', `${field}.result needs ret and errno`);
  const bytes = bytesFromWire(res['bytes'], `${field}.result.bytes`);
  const ptrs = Array.isArray(res['ptrs']) ? (res['ptrs'] as readonly Json[]) : [];
  const buffers: { [path: string]: Uint8Array } = {};
  p.lowered.patches.forEach((patch, i) => {
    const item = ptrs[i];
    if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      buffers[patch.path] = bytesFromWire((item as JsonObject)['data'], `${field}.result.ptrs.${i}.data`);
    }
  });
  const result: IoctlResult = {
    ret,
    errno,
    out: raiseStruct(profile, p.lowered.struct, bytes),
    bytes,
    ...(p.lowered.patches.length > 0 && { buffers }),
  };
  return { ok: true, result };
}

function answer(profile: Profile, p: Prepared, o: JsonObject, field: string): Response {
  return p.lowered ? raiseIoctl(profile, p, o, field) : responseFromWire(p.request, o, field);
}

/** What the lane adapter needs of its transport (LineChannel; a fake in tests). */
export interface LaneChannel {
  /** Sends one wire message (the channel adds the id) and resolves with the response line. */
  request(message: JsonObject): Promise<JsonObject>;
  end(): void;
}

/** What the lane adapter needs of its VM. */
export interface LaneVm {
  readonly exited: Promise<number | null>;
  consoleTail(chars?: number): string;
  dispose(): void;
}

class KernelLaneAdapter implements KernelAdapter {
  constructor(
    readonly profile: Profile,
    readonly info: AdapterInfo,
    readonly timings: LaneTimings,
    private readonly channel: LaneChannel,
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
    if (p.localError || !p.wire) return (p.localError ?? internal('nothing to send')) as Response<R['op']>;
    const o = await this.channel.request(p.wire);
    return answer(this.profile, p, o, '') as Response<R['op']>;
  }

  async batch(requests: readonly Request[]): Promise<readonly Response[]> {
    // Items the host refuses are answered here; their error fields and those of
    // the items sent are numbered by the caller's index (ADAPTER.md §7.5).
    const prepared = requests.map((r, i) => {
      const p = r.op === 'batch' ? { request: r as unknown as SingleRequest, localError: nested() } : prepare(this.profile, r as SingleRequest);
      return p.localError ? { ...p, localError: prefixField(p.localError, `requests.${i}`) } : p;
    });
    const sent = prepared.filter((p) => p.wire !== undefined && p.localError === undefined);
    if (sent.length === 0) return prepared.map((p) => p.localError ?? internal('nothing to send'));
    const o = await this.channel.request({ op: 'batch', requests: sent.map((p) => p.wire as JsonObject) });
    if (o['ok'] !== true) {
      const err = responseFromWire({ op: 'batch', requests: [] }, o, '');
      return prepared.map(() => err);
    }
    const result = o['result'] as JsonObject | undefined;
    const items = (result?.['responses'] ?? []) as readonly Json[];
    if (!Array.isArray(items) || items.length !== sent.length) {
      throw new LaneError('protocol', `batch of ${sent.length} answered with ${Array.isArray(items) ? items.length : 'no'} responses`);
    }
    let next = 0;
    return prepared.map((p, index) => {
      if (p.localError || !p.wire) return p.localError ?? internal('nothing to send');
      const i = next++;
      const r = answer(this.profile, p, items[i] as JsonObject, `result.responses.${i}`);
      return r.ok || i === index ? r : renumberField(r, `requests.${i}`, `requests.${index}`);
    });
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.channel.request({ op: 'bye' }), delay(5000)]);
    } catch {
      // the guest may already be gone
    }
    this.channel.end();
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
    if (vm.process.exitCode !== null) throw new LaneError('boot', `QEMU exited early:\n${vm.consoleTail()}`);
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
    if (Date.now() > deadline) throw new LaneError('boot', `QEMU's channel socket did not appear within ${timeoutMs} ms`);
    await delay(50);
  }
}

/** The lane's Adapter over an already connected channel (openKernelAdapter uses it; tests give a fake). */
export function laneAdapter(profile: Profile, info: AdapterInfo, channel: LaneChannel, vm: LaneVm, timings: LaneTimings = { buildMs: 0, bootMs: 0, handshakeMs: 0 }): KernelAdapter {
  return new KernelLaneAdapter(profile, info, timings, channel, vm);
}

/** Builds or reuses the profile's kernel and guest, boots it and returns the lane's Adapter. */
export async function openKernelAdapter(profile: Profile, opts: KernelLaneOptions = {}): Promise<KernelAdapter> {
  const t0 = performance.now();
  const image = await buildGuest(profile, opts.progress);
  const t1 = performance.now();
  opts.progress?.(`[lane ${profile}] boot: qemu-system-x86_64 -accel tcg`);
  const vm = bootVm(image, { mode: 'adapter', channel: true });
  try {
    const socket = await Promise.race([
      connectSocket(vm, 15000),
      vm.exited.then((code): never => {
        throw new LaneError('boot', `QEMU exited (status ${code}) before its channel socket was up:\n${vm.consoleTail()}`);
      }),
    ]);
    const channel = new LineChannel(socket, opts.requestTimeoutMs ?? 60000);
    const bootTimeout = opts.bootTimeoutMs ?? 90000;
    await Promise.race([
      channel.waitReady(bootTimeout),
      vm.exited.then((code) => {
        throw new LaneError('boot', `QEMU exited (status ${code}) before the adapter was ready:\n${vm.consoleTail()}`);
      }),
    ]);
    const t2 = performance.now();
    const hello = await channel.request({ op: 'hello', contract: [CONTRACT_VERSION], profile });
    if (hello['ok'] !== true) throw new LaneError('handshake', JSON.stringify(hello['error']));
    const r = hello['result'] as JsonObject;
    const impl = r['implementation'] as JsonObject;
    const info: AdapterInfo = {
      contract: CONTRACT_VERSION,
      implementation: { name: String(impl['name']), version: String(impl['version']) },
      profile,
    };
    const t3 = performance.now();
    opts.progress?.(`[lane ${profile}] ready: ${info.implementation.name} ${info.implementation.version}`);
    return new KernelLaneAdapter(profile, info, { buildMs: t1 - t0, bootMs: t2 - t1, handshakeMs: t3 - t2 }, channel, vm);
  } catch (e) {
    vm.dispose();
    throw e;
  }
}

/** The lanes by registry name ('linux-6.12', 'linux-7.3'). */
export function openKernelLane(name: KernelLaneName, opts?: KernelLaneOptions): Promise<KernelAdapter> {
  return openKernelAdapter(KERNEL_LANE_NAMES[name], opts);
}
