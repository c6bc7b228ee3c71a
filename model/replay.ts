/**
 * Recorded runs: what an implementation answered to every step of the corpus
 * (written by `iommufd-spec exec … --machines --record FILE`), replayed through
 * the lifecycle oracle without the implementation. The kernel lanes' answers
 * are kept in model/testdata/ so that `npm test` checks the machines against
 * Linux on every run (model/replay.test.ts), not only when a kernel boots.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Json, JsonObject } from '../spec/contract/wire.ts';
import { requestFromWire, responseFromWire } from '../spec/contract/wire.ts';
import type { Profile, SingleRequest } from '../spec/contract/types.ts';
import { createLifecycleOracle, type Verdict } from './oracle.ts';

/** A program header (profile and the IOMMU instances of the capability report), or one executed step. */
export type ReplayLine =
  | { readonly program: string; readonly profile: Profile; readonly iommus: readonly { readonly name: string; readonly dirty: boolean; readonly coherent: boolean }[] }
  | { readonly program: string; readonly step: number; readonly request: JsonObject; readonly response: JsonObject };

/** Ops the oracle passes through whatever they answer: not worth keeping. */
const PASS_THROUGH = new Set(['mem_alloc', 'mem_write', 'mem_read', 'mem_unmap', 'mem_protect', 'dma', 'translate', 'pin_count', 'iotlb', 'process_info', 'set_process', 'capabilities']);

/** Pointer arguments' contents become their length (the machines never read them); a struct tail stays (the dispatch does). */
function slim(v: Json): Json {
  if (Array.isArray(v)) return v.map(slim);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as JsonObject;
  if (o['data'] !== undefined && typeof (o['data'] as JsonObject)['b64'] === 'string' && Object.keys(o).length === 1) {
    return { room: Buffer.from((o['data'] as JsonObject)['b64'] as string, 'base64').length };
  }
  const out: Record<string, Json> = {};
  for (const [k, x] of Object.entries(o)) out[k] = slim(x);
  return out;
}

/** Keeps what the oracle reads: state-changing steps, without byte contents. */
export function slimReplay(lines: readonly ReplayLine[]): ReplayLine[] {
  return lines.flatMap((l): ReplayLine[] => {
    if (!('step' in l)) return [l];
    const op = l.request['op'];
    if (typeof op === 'string' && PASS_THROUGH.has(op)) return [];
    if (op !== 'ioctl') return [l];
    const arg = l.request['arg'] as JsonObject | undefined;
    if (arg?.['kind'] !== 'struct') return [l];
    return [{ ...l, request: { ...l.request, arg: { ...arg, fields: slim(arg['fields'] as Json) } } }];
  });
}

export function writeReplay(file: string, lines: readonly ReplayLine[]): void {
  const text = slimReplay(lines).map((l) => JSON.stringify(l)).join('\n') + '\n';
  writeFileSync(file, file.endsWith('.gz') ? gzipSync(text, { level: 9 }) : text);
}

export function readReplay(file: string): ReplayLine[] {
  const raw = readFileSync(file);
  const text = file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ReplayLine);
}

export interface ReplayResult {
  readonly steps: number;
  readonly verdicts: { ok: number; open: number; disagree: number };
  /** The first disagreement of each program. */
  readonly disagreements: readonly { readonly program: string; readonly step: number; readonly verdict: Extract<Verdict, { kind: 'disagree' }> }[];
  readonly edges: ReadonlySet<string>;
}

/** Replays recorded answers through a fresh oracle per program. */
export function replay(lines: readonly ReplayLine[]): ReplayResult {
  let oracle: ReturnType<typeof createLifecycleOracle> | undefined;
  const verdicts = { ok: 0, open: 0, disagree: 0 };
  const disagreements: { program: string; step: number; verdict: Extract<Verdict, { kind: 'disagree' }> }[] = [];
  const edges = new Set<string>();
  let disagreed = false;
  let steps = 0;
  for (const line of lines) {
    if (!('step' in line)) {
      oracle = createLifecycleOracle(line.profile, {
        capabilities: { iommus: line.iommus.map((i) => ({ name: i.name, dirtyTracking: i.dirty, enforceCacheCoherency: i.coherent })) } as never,
      });
      disagreed = false;
      continue;
    }
    if (!oracle) throw new Error(`replay: step ${line.step} of ${line.program} before its program header`);
    const request = requestFromWire(line.request as Json) as SingleRequest;
    const response = responseFromWire(request, line.response as Json);
    const v = oracle.check(request, response);
    steps++;
    verdicts[v.kind]++;
    for (const e of v.edges) edges.add(e);
    if (v.kind === 'disagree' && !disagreed) {
      disagreed = true;
      disagreements.push({ program: line.program, step: line.step, verdict: v });
    }
  }
  return { steps, verdicts, disagreements, edges };
}
