/**
 * Stability: the same program twice on a fresh context gives the same
 * choices (WebAssembly's relaxed-SIMD rule: implementation-defined, but
 * deterministic). The steps a passing case ran are run again on a fresh
 * session; statuses, errnos, chosen IOVAs and every other value must repeat,
 * ids and handles up to a consistent renaming.
 */
import type { Adapter, Request, Response } from '../../spec/contract/types.ts';
import { errnoName } from '../../spec/uapi/errno.ts';
import { render } from '../programs/expect.ts';
import { ResolveError } from '../programs/values.ts';
import { leaves, namespaceOf, Symbols } from './oracles/differential.ts';
import type { Objection } from './oracles/oracle.ts';
import { callWithTimeout, type Clock, commandName, statusOf, type TraceStep } from './session.ts';
import { bindable, getPath, resolveStep } from './step.ts';

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
  const x = typeof a === 'number' ? BigInt(a) : a;
  const y = typeof b === 'number' ? BigInt(b) : b;
  return x === y;
}

/** VAs differ between sessions (a process may randomise its mappings): symbolic too. */
const VA_FIELDS = new Set(['user_va', 'vaddr', 'uptr', 'va', 'data_uptr', 'allowed_iovas']);

/**
 * The members a request gives as pointers to bytes or room ({data}, {room}):
 * the adapter places those in its own scratch memory, wherever its mmap puts
 * them that time, so the answer echoes an address of each run's own.
 */
function pointerMembers(req: Request): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || Array.isArray(v)) return;
    for (const [k, x] of Object.entries(v)) {
      const ptr = x as { room?: unknown; data?: unknown } | null;
      if (typeof x === 'object' && ptr !== null && (typeof ptr.room === 'number' || ptr.data instanceof Uint8Array)) out.add(k);
      else walk(x);
    }
  };
  if (req.op === 'ioctl' && req.arg.kind === 'struct') walk(req.arg.fields);
  return out;
}

export async function checkStability(trace: readonly TraceStep[], fresh: Adapter, timeoutMs: number, clock: Clock): Promise<Objection | undefined> {
  const bindings = new Map<string, unknown>();
  const symbols = new Symbols();
  for (const first of trace) {
    if (first.template.op === 'end' || !first.response || !first.request) continue;
    let request: Request;
    try {
      request = resolveStep(first.template, (ref, field) => {
        if (!bindings.has(ref.name)) throw new ResolveError(field, `$${ref.name} is not bound`);
        return getPath(bindings.get(ref.name), ref.path);
      });
    } catch {
      return objection(first, 'a step the first run could run cannot be formed again (an earlier binding is missing)', 'bound', 'unbound');
    }
    const again: Response = await callWithTimeout(`step ${first.step} again`, () => fresh.call(request), timeoutMs, clock);
    const a = statusOf(first.request, first.response);
    const b = statusOf(request, again);
    const show = (s: { status: string; errno?: number }): string => (s.status === 'failed' ? (errnoName(s.errno ?? 0) ?? String(s.errno)) : s.status);
    if (a.status !== b.status || a.errno !== b.errno) return objection(first, `the same step on a fresh session answers ${show(b)}, the first time ${show(a)}`, show(a), show(b));
    if (first.response.ok && again.ok) {
      const op = first.request.op;
      const la = leaves(bindable(op, first.response.result), '', new Map());
      const lb = leaves(bindable(op, again.result), '', new Map());
      const pointers = pointerMembers(first.request);
      for (const path of la.keys()) {
        if (op === 'iotlb' || op === 'process_info' || op === 'pin_count') break;
        const x = la.get(path);
        const y = lb.get(path);
        const leaf = path.split('.').pop() ?? '';
        if (path.startsWith('buffers') || VA_FIELDS.has(leaf) || pointers.has(leaf)) continue;
        const ns = namespaceOf(op, path);
        if (ns) {
          if (!symbols.same(ns, x, y)) return objection(first, `${path} is ${render(y)} on a fresh session, ${render(x)} the first time, and the two runs' handles do not correspond`, render(x), render(y));
          continue;
        }
        if (!same(x, y)) return objection(first, `${path} is ${render(y)} on a fresh session, ${render(x)} the first time: the choice is not stable`, render(x), render(y));
      }
    }
    if (b.status === 'ok' && first.template.bind && again.ok) {
      const base = bindable(first.template.op, again.result);
      for (const [name, path] of Object.entries(first.template.bind)) bindings.set(name, getPath(base, path));
    }
  }
  return undefined;
}

function objection(t: TraceStep, message: string, expected: string, observed: string): Objection {
  return {
    oracle: 'invariants',
    property: 'invariants.stability',
    step: t.step,
    message,
    expected,
    observed,
    signature: { command: t.request ? commandName(t.request) : t.template.op, expected, observed },
  };
}
