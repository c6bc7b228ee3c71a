/**
 * The harness's line protocol (harness.c) seen from TypeScript: operations,
 * their results, and a client that runs a batch of operations on a freshly
 * created domain through the compiled kernel code.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';

/** One operation of a case, as the iommu core API takes it (IOVAs and lengths as u64). */
export type PtOp =
  | { readonly op: 'map'; readonly iova: bigint; readonly pa: bigint; readonly size: bigint; readonly prot: number }
  | { readonly op: 'unmap'; readonly iova: bigint; readonly size: bigint }
  | { readonly op: 'phys'; readonly iova: bigint }
  | { readonly op: 'setdirty'; readonly iova: bigint }
  | { readonly op: 'dirty'; readonly iova: bigint; readonly size: bigint; readonly flags: number }
  | { readonly op: 'dump' };

/**
 * The kernel's answer to one operation. `ret`: map/setdirty/dirty an int
 * (0 or -errno), unmap the bytes unmapped, phys the address (0 = none);
 * `warn` the kernel WARNs it hit; `rec` the dirty ranges recorded;
 * `dump` the canonical table text and `pages` the table pages (4 KiB units) allocated.
 */
export interface PtResult {
  readonly ret?: bigint;
  readonly warn?: number;
  readonly rec?: readonly (readonly [bigint, bigint])[];
  readonly dump?: readonly string[];
  readonly pages?: number;
}

/** What `new` reports about the domain the driver made. */
export interface DomainInfo {
  readonly pgsizes: bigint;
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
}

export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export function opLine(op: PtOp): string {
  switch (op.op) {
    case 'map':
      return `map ${hex(op.iova)} ${hex(op.pa)} ${hex(op.size)} ${op.prot}`;
    case 'unmap':
      return `unmap ${hex(op.iova)} ${hex(op.size)}`;
    case 'phys':
      return `phys ${hex(op.iova)}`;
    case 'setdirty':
      return `setdirty ${hex(op.iova)}`;
    case 'dirty':
      return `dirty ${hex(op.iova)} ${hex(op.size)} ${op.flags}`;
    case 'dump':
      return 'dump';
  }
}

export class HarnessError extends Error {}

/** A running harness binary; one command at a time, answers read line by line. */
export class Harness {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private closed = false;
  private stderr = '';

  constructor(readonly binary: string) {
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(l);
      } else this.queue.push(l);
    });
    this.lines.on('close', () => {
      this.closed = true;
      if (this.waiting) this.waiting(null);
    });
  }

  private next(): Promise<string> {
    const l = this.queue.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.closed) return Promise.reject(new HarnessError(`harness exited${this.stderr ? `: ${this.stderr}` : ''}`));
    return new Promise((resolve, reject) => {
      this.waiting = (line) => (line === null ? reject(new HarnessError(`harness exited${this.stderr ? `: ${this.stderr}` : ''}`)) : resolve(line));
    });
  }

  private async expectLine(cmd: string): Promise<string> {
    const l = await this.next();
    if (l.startsWith('fatal') || l.startsWith('bug')) throw new HarnessError(`harness: ${l} (after '${cmd}')`);
    return l;
  }

  private send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Create a domain; the errno on failure. */
  async create(driver: string, params: Readonly<Record<string, number | bigint>>): Promise<DomainInfo | number> {
    const cmd = `new ${driver} ${Object.entries(params)
      .map(([k, v]) => `${k}=${typeof v === 'bigint' ? hex(v) : v}`)
      .join(' ')}`;
    this.send(cmd);
    const l = await this.expectLine(cmd);
    const err = /^err (-?\d+)/.exec(l);
    if (err) return Number(err[1]);
    const m = /^ok pgsizes=(0x[0-9a-f]+|0) aperture=(0x[0-9a-f]+|0)-(0x[0-9a-f]+|0) warn=(\d+)/.exec(l);
    if (!m) throw new HarnessError(`unexpected answer to '${cmd}': ${l}`);
    return { pgsizes: BigInt(m[1] as string), apertureStart: BigInt(m[2] as string), apertureEnd: BigInt(m[3] as string) };
  }

  async run(op: PtOp): Promise<PtResult> {
    const cmd = opLine(op);
    this.send(cmd);
    if (op.op === 'dump') {
      const dump: string[] = [];
      for (;;) {
        const l = await this.expectLine(cmd);
        const pm = /^pages (\d+)$/.exec(l);
        if (pm) {
          const end = await this.expectLine(cmd);
          if (end !== 'end') throw new HarnessError(`dump not terminated: ${end}`);
          return { dump, pages: Number(pm[1]) };
        }
        dump.push(l);
      }
    }
    const rec: [bigint, bigint][] = [];
    for (;;) {
      const l = await this.expectLine(cmd);
      const r = /^rec (0x[0-9a-f]+|0) (0x[0-9a-f]+|0)$/.exec(l);
      if (r) {
        rec.push([BigInt(r[1] as string), BigInt(r[2] as string)]);
        continue;
      }
      const m = /^ret (-?(?:0x)?[0-9a-f]+) warn=(\d+)$/.exec(l);
      if (!m) throw new HarnessError(`unexpected answer to '${cmd}': ${l}`);
      const ret = BigInt(m[1] as string);
      const out: PtResult = { ret, warn: Number(m[2]) };
      return op.op === 'dirty' ? { ...out, rec } : out;
    }
  }

  /** Free the domain; returns the table pages still allocated (a leak if not 0). */
  async free(): Promise<number> {
    this.send('free');
    const l = await this.expectLine('free');
    const m = /^ok pages=(\d+)$/.exec(l);
    if (!m) throw new HarnessError(`unexpected answer to 'free': ${l}`);
    return Number(m[1]);
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.on('exit', () => resolve());
    });
  }
}
