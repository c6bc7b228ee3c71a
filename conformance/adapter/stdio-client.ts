/**
 * The stdio client transport: talk to an implementation in another process
 * (any language) over JSON lines. It spawns the command, does the versioned
 * handshake, pipelines requests matched by id, validates every incoming
 * message against the schema, and turns every way the other side can go wrong
 * (it cannot start, exits, hangs past the timeout, prints a line that is not
 * JSON or not schema-valid, answers an id it was never asked) into an
 * AdapterError that names what was wrong — it never hangs.
 *
 * After such a failure the connection is dead: every outstanding and later
 * request rejects with the same error, and the child is killed (its state is
 * unknown, so continuing would produce results nobody can trust).
 *
 * connectStdio() speaks the same protocol over any pair of streams (a serial
 * line into a VM, a socket); spawnStdioAdapter() adds the child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Adapter, AdapterInfo, Profile, Request, Response } from '../../spec/contract/types.ts';
import { CONTRACT_VERSION } from '../../spec/contract/types.ts';
import { AdapterError } from './errors.ts';
import { checkSchema, prefixField, type SchemaViolation } from '../../spec/contract/validate.ts';
import { resultKindViolation } from '../../spec/contract/struct-kinds.ts';
import { type Json, type JsonObject, requestToWire, responseFromWire, WireFormatError } from '../../spec/contract/wire.ts';

export interface StdioOptions {
  /** Profile asked for in the hello; undefined = let the implementation choose (null on the wire). */
  readonly profile?: Profile;
  /** Per-request timeout in ms (a batch counts as one request). Default 30 000. */
  readonly timeoutMs?: number;
  /** Timeout of the handshake in ms (covers process start-up). Default 30 000. */
  readonly handshakeTimeoutMs?: number;
  /** Validate every incoming message against the schema. Default true. */
  readonly validate?: boolean;
  /** Called with every line sent and received (tests, debugging). */
  readonly onLine?: (direction: 'send' | 'recv', line: string) => void;
}

export interface SpawnOptions extends StdioOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** 'pipe' keeps the child's stderr and quotes its tail in errors; 'inherit' passes it through. Default 'pipe'. */
  readonly stderr?: 'pipe' | 'inherit';
}

const DEFAULT_TIMEOUT_MS = 30_000;
const STDERR_TAIL = 2000;
/** A line this long without a newline is a broken peer, not a message. */
const MAX_LINE = 256 * 1024 * 1024;

interface Pending {
  readonly request: Request | 'hello' | 'bye';
  readonly resolve: (value: Response | JsonObject) => void;
  readonly reject: (err: AdapterError) => void;
  readonly timer: NodeJS.Timeout;
}

/** Split a command line into argv: whitespace separates, '…' is literal, "…" honours \" and \\, \ escapes outside quotes. */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let cur = '';
  let inArg = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new AdapterError('not-found', `command line has an unterminated ' quote: ${line}`);
      cur += line.slice(i + 1, end);
      i = end;
      inArg = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line.charAt(j) !== '"'; j++) {
        if (line.charAt(j) === '\\' && (line.charAt(j + 1) === '"' || line.charAt(j + 1) === '\\')) j++;
        cur += line.charAt(j);
      }
      if (j >= line.length) throw new AdapterError('not-found', `command line has an unterminated " quote: ${line}`);
      i = j;
      inArg = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line.charAt(++i);
      inArg = true;
    } else if (/\s/.test(c)) {
      if (inArg) args.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += c;
      inArg = true;
    }
  }
  if (inArg) args.push(cur);
  return args;
}

/** The protocol over a pair of streams. */
export class StdioConnection implements Adapter {
  info?: AdapterInfo;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: AdapterError | undefined;
  private buffered = '';
  private readonly timeoutMs: number;
  private readonly validate: boolean;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly opts: StdioOptions = {},
    /** Describes the peer in error messages (e.g. the command line). */
    private readonly peer = 'adapter',
    /** Extra context for errors, e.g. the child's stderr tail. */
    private readonly context: () => string = () => '',
    /** Whether the end of input fails the connection (a child's exit reports it better). */
    failOnEnd = true,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.validate = opts.validate ?? true;
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => this.onData(chunk));
    if (failOnEnd) input.on('end', () => this.fail(new AdapterError('exited', `${this.peer} closed its output${this.pendingNote()}${this.context()}`)));
    input.on('error', (err) => this.fail(new AdapterError('exited', `${this.peer} output failed: ${err.message}${this.context()}`)));
    // A write to a dead peer (EPIPE) is reported by the exit/end handlers; swallow it here.
    output.on('error', () => {});
  }

  /** The versioned handshake; must be the first exchange. */
  async hello(): Promise<AdapterInfo> {
    const result = (await this.send('hello', { op: 'hello', contract: [CONTRACT_VERSION], profile: this.opts.profile ?? null }, this.opts.handshakeTimeoutMs ?? DEFAULT_TIMEOUT_MS, 0)) as JsonObject;
    const profile = result['profile'] as Profile;
    if (this.opts.profile !== undefined && profile !== this.opts.profile) {
      const err = new AdapterError('handshake', `${this.peer} answered the hello with profile ${profile}, but ${this.opts.profile} was asked for`, 'result.profile');
      this.fail(err);
      throw err;
    }
    const impl = result['implementation'] as JsonObject;
    this.info = {
      contract: CONTRACT_VERSION,
      implementation: { name: String(impl['name']), version: String(impl['version']) },
      profile,
    };
    return this.info;
  }

  call<R extends Request>(request: R): Promise<Response<R['op']>> {
    // The response is decoded against this request's op, so its type matches.
    return this.send(request, requestToWire(request), this.timeoutMs) as Promise<Response<R['op']>>;
  }

  async batch(requests: readonly Request[]): Promise<readonly Response[]> {
    const r = await this.call({ op: 'batch', requests });
    if (!r.ok) throw new AdapterError('bad-message', `${this.peer} refused a batch: ${r.error.message}`, r.error.field);
    return (r.result as { responses: readonly Response[] }).responses;
  }

  /** Say bye (the server exits), then stop. Outstanding requests reject with 'closed'. */
  async close(): Promise<void> {
    if (!this.failure) {
      try {
        await this.send('bye', { op: 'bye' }, Math.min(this.timeoutMs, 5000));
      } catch {
        // A peer that cannot say bye is closed anyway.
      }
    }
    this.fail(new AdapterError('closed', `${this.peer} is closed`));
    this.output.end();
  }

  /** Whether the connection has failed or been closed (and why). */
  get failed(): AdapterError | undefined {
    return this.failure;
  }

  /** Fail the connection: every pending and later request rejects with err. */
  fail(err: AdapterError): void {
    if (this.failure) return;
    this.failure = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.onFail?.(err);
  }

  /** Hook for the owner of the streams (spawn kills the child). */
  onFail?: (err: AdapterError) => void;

  private pendingNote(): string {
    const first = this.pending.entries().next();
    if (first.done) return '';
    const [id, p] = first.value;
    const op = typeof p.request === 'string' ? p.request : p.request.op;
    return ` while request ${id} (${op}) was outstanding`;
  }

  private send(request: Request | 'hello' | 'bye', wire: JsonObject, timeoutMs: number, forceId?: number): Promise<Response | JsonObject> {
    if (this.failure) return Promise.reject(this.failure);
    const id = forceId ?? this.nextId++;
    const line = JSON.stringify({ id, ...wire });
    return new Promise((resolve, reject) => {
      const op = typeof request === 'string' ? request : request.op;
      const timer = setTimeout(() => {
        this.fail(new AdapterError('timeout', `${this.peer} did not answer request ${id} (${op}) within ${timeoutMs} ms${this.context()}`));
      }, timeoutMs);
      this.pending.set(id, { request, resolve, reject, timer });
      this.opts.onLine?.('send', line);
      this.output.write(line + '\n');
    });
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    if (this.buffered.length > MAX_LINE && !this.buffered.includes('\n')) {
      this.badMessage(this.buffered.slice(0, 200), `a line longer than ${MAX_LINE} characters`);
      this.buffered = '';
      return;
    }
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).replace(/\r$/, '');
      this.buffered = this.buffered.slice(nl + 1);
      if (this.failure) return;
      if (line.trim() !== '') this.onLine(line);
    }
  }

  private badMessage(line: string, what: string, field?: string): void {
    const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    this.fail(new AdapterError('bad-message', `${this.peer} sent a bad message (${what}): ${shown}${this.context()}`, field));
  }

  private onLine(line: string): void {
    this.opts.onLine?.('recv', line);
    let msg: Json;
    try {
      msg = JSON.parse(line) as Json;
    } catch {
      this.badMessage(line, 'not valid JSON');
      return;
    }
    if (this.validate) {
      const bad = checkSchema('serverMessage', msg);
      if (bad) {
        this.badMessage(line, bad.message, bad.field);
        return;
      }
    }
    const m = msg as JsonObject;
    const id = m['id'];
    if (typeof id !== 'number') {
      // id null: the server could not read one of our requests — a client bug; nothing can be matched.
      const error = m['error'] as JsonObject | undefined;
      this.badMessage(line, `error without a request id: ${String(error?.['message'] ?? '')}`, 'id');
      return;
    }
    const p = this.pending.get(id);
    if (!p) {
      this.badMessage(line, `id ${id} answers no outstanding request`, 'id');
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    const settled = this.decode(p.request, m, line);
    if (settled instanceof AdapterError) {
      p.reject(settled);
      this.fail(settled);
    } else {
      p.resolve(settled);
    }
  }

  /** Check the result against the op's schema and convert it; an AdapterError if it is bad. */
  private decode(request: Request | 'hello' | 'bye', m: JsonObject, line: string): Response | JsonObject | AdapterError {
    const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    const bad = (v: SchemaViolation): AdapterError =>
      new AdapterError('bad-message', `${this.peer} sent a bad message (${v.message}): ${shown}`, v.field);
    if (request === 'hello') {
      if (m['ok'] !== true) {
        const error = m['error'] as JsonObject;
        return new AdapterError('handshake', `${this.peer} refused the hello: ${String(error['message'])}`, typeof error['field'] === 'string' ? error['field'] : undefined);
      }
      const v = checkSchema('helloResult', m['result']);
      return v ? bad({ field: prefixField('result', v.field), message: v.message }) : (m['result'] as JsonObject);
    }
    if (request === 'bye') return m;
    if (this.validate && m['ok'] === true) {
      const v = this.checkResult(request, m['result']);
      if (v) return bad({ field: prefixField('result', v.field), message: v.message });
    }
    let response: Response;
    try {
      response = responseFromWire(request, m);
    } catch (err) {
      if (err instanceof WireFormatError) return bad({ field: err.field, message: err.message });
      throw err;
    }
    const kind = this.validate ? this.kindViolation(request, response) : undefined;
    return kind ? bad(kind) : response;
  }

  /** An ioctl result whose `out` has a member of the wrong kind (ADAPTER.md §7.4), also inside a batch. */
  private kindViolation(request: Request, response: Response): SchemaViolation | undefined {
    const profile = this.info?.profile;
    if (!profile || !response.ok) return undefined;
    if (request.op === 'ioctl') {
      const v = resultKindViolation(profile, request.cmd, response.result as Extract<Response<'ioctl'>, { ok: true }>['result']);
      return v && { field: prefixField('result', v.field), message: `field '${prefixField('result', v.field)}' ${v.message}` };
    }
    if (request.op !== 'batch') return undefined;
    const items = (response.result as { responses: readonly Response[] }).responses;
    for (const [i, item] of items.entries()) {
      const inner = request.requests[i];
      const v = inner && item ? this.kindViolation(inner, item) : undefined;
      if (v) return { field: prefixField(`result.responses.${i}`, v.field.replace(/^result\.?/, 'result.')), message: v.message };
    }
    return undefined;
  }

  private checkResult(request: Request, result: Json | undefined): SchemaViolation | undefined {
    const v = checkSchema(`result_${request.op}`, result);
    if (v || request.op !== 'batch') return v;
    const items = (result as JsonObject)['responses'] as readonly JsonObject[];
    if (items.length !== request.requests.length) {
      return { field: 'responses', message: `${items.length} responses for ${request.requests.length} requests` };
    }
    for (const [i, item] of items.entries()) {
      const inner = request.requests[i];
      if (inner === undefined || item['ok'] !== true) continue;
      const iv = checkSchema(`result_${inner.op}`, item['result']);
      if (iv) return { field: prefixField(`responses.${i}.result`, iv.field), message: iv.message };
    }
    return undefined;
  }
}

/** Attach a child process to a connection: its exit fails the connection; failures kill it. */
function superviseChild(conn: StdioConnection, child: ChildProcess, peer: string, context: () => string): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      conn.fail(new AdapterError('exited', `${peer} ${how}${context()}`));
      resolve();
    });
  });
  child.on('error', (err) => conn.fail(new AdapterError('spawn', `could not start ${peer}: ${err.message}`)));
  conn.onFail = (err) => {
    if (err.kind !== 'closed' && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return exited;
}

/** Spawn `command` (an argv array, or a command line split like a shell would, without expansions) and handshake. */
export async function spawnStdioAdapter(command: string | readonly string[], opts: SpawnOptions = {}): Promise<Adapter & { readonly info: AdapterInfo }> {
  const argv = typeof command === 'string' ? splitCommandLine(command) : [...command];
  const [file, ...args] = argv;
  if (file === undefined) throw new AdapterError('not-found', 'empty adapter command line');
  const peer = `adapter process '${argv.join(' ')}'`;
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', opts.stderr === 'inherit' ? 'inherit' : 'pipe'],
  });
  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderrTail = (stderrTail + s).slice(-STDERR_TAIL);
  });
  const context = (): string => (stderrTail.trim() === '' ? '' : `; its stderr ends with: ${stderrTail.trim()}`);
  if (!child.stdin || !child.stdout) throw new AdapterError('spawn', `could not open pipes to ${peer}`);
  const conn = new StdioConnection(child.stdout, child.stdin, opts, peer, context, false);
  const exited = superviseChild(conn, child, peer, context);
  const info = await conn.hello();
  const closeConn = conn.close.bind(conn);
  return Object.assign(conn, {
    info,
    async close(): Promise<void> {
      await closeConn();
      // Give the child a moment to exit on its own after bye/EOF, then insist.
      const timer = setTimeout(() => child.kill('SIGTERM'), 2000);
      const killer = setTimeout(() => child.kill('SIGKILL'), 4000);
      await exited;
      clearTimeout(timer);
      clearTimeout(killer);
    },
  });
}

/** The protocol over existing streams (e.g. a VM's serial port), with the handshake done. */
export async function connectStdio(input: Readable, output: Writable, opts: StdioOptions & { readonly peer?: string } = {}): Promise<StdioConnection & { readonly info: AdapterInfo }> {
  const conn = new StdioConnection(input, output, opts, opts.peer ?? 'adapter');
  const info = await conn.hello();
  return Object.assign(conn, { info });
}
