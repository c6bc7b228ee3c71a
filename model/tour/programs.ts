/**
 * Tour paths as ioctl programs (conformance/programs/FORMAT.md): the concrete
 * ids and fds the system machine predicts along a path become symbolic
 * handles bound from the results that hand them out, the user memory becomes
 * a `mem_alloc`'d buffer, a fault response carries the cookie read from the
 * queue, and each step expects what the machines decided (success, or the
 * errno of the refusal; no expectation where they leave it open). The output
 * is plain JSON in the program format, so that model/ does not depend on the
 * runner; `iommufd-spec tour` loads and runs it.
 */
import type { SingleRequest, StructValue } from '../../spec/contract/types.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { systemLogic, type SystemSnapshot } from '../system/machine.ts';
import { objectsOf, type Obj, type System } from '../system/state.ts';
import type { SysEvent } from '../system/tx.ts';
import type { AccessContext } from '../machines/access.ts';
import { SCENARIOS, type Tour, type TourPath } from './tour.ts';
import { USER_VA } from './alphabet.ts';

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/** A program step (the request with symbolic handles, plus bind/expect/note). */
export type ProgramStep = { readonly op: string; readonly [k: string]: Json | undefined };

export interface TourProgram {
  /** The program file's content (format iommufd-program/1). */
  readonly program: {
    readonly format: 'iommufd-program/1';
    readonly name: string;
    readonly description: string;
    readonly profiles: readonly Profile[];
    readonly requires: { readonly commands?: readonly string[]; readonly testOps?: readonly string[]; readonly ops?: readonly string[]; readonly deviceFeatures?: readonly string[] };
    readonly steps: readonly ProgramStep[];
  };
  readonly scenario: string;
  /** Per program step (1-based index - 1): the machine edges the step is predicted to take (the mem_alloc step: none). */
  readonly edges: readonly (readonly string[])[];
  /** The edges this path was chosen for. */
  readonly targets: readonly string[];
}

/** Where a step hands out a new handle, by event type and the kind of the new object (fds: 'fd:<kind>'). */
const OUT_PATHS: Record<string, Record<string, string>> = {
  IOMMU_IOAS_ALLOC: { ioas: 'out.out_ioas_id' },
  IOMMU_HWPT_ALLOC: { hwpt_paging: 'out.out_hwpt_id', hwpt_nested: 'out.out_hwpt_id' },
  IOMMU_TEST_OP_MOCK_DOMAIN: { selftest: 'out.mock_domain.out_stdev_id', device: 'out.mock_domain.out_idev_id', hwpt_paging: 'out.mock_domain.out_hwpt_id' },
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: { selftest: 'out.mock_domain_flags.out_stdev_id', device: 'out.mock_domain_flags.out_idev_id', hwpt_paging: 'out.mock_domain_flags.out_hwpt_id' },
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: { hwpt_paging: 'out.mock_domain_replace.pt_id' },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { hwpt_paging: 'out.pt_id' },
  VFIO_DEVICE_BIND_IOMMUFD: { device: 'out.out_devid' },
  IOMMU_TEST_OP_CREATE_ACCESS: { 'fd:access': 'out.create_access.out_access_fd' },
  IOMMU_FAULT_QUEUE_ALLOC: { fault: 'out.out_fault_id', 'fd:fault': 'out.out_fault_fd' },
  IOMMU_VIOMMU_ALLOC: { viommu: 'out.out_viommu_id' },
  IOMMU_VDEVICE_ALLOC: { vdevice: 'out.out_vdevice_id' },
  IOMMU_VEVENTQ_ALLOC: { veventq: 'out.out_veventq_id', 'fd:veventq': 'out.out_veventq_fd' },
  IOMMU_HW_QUEUE_ALLOC: { hw_queue: 'out.out_hw_queue_id' },
  open: { 'fd:iommufd': 'fd' },
  open_device: { 'fd:device': 'fd' },
};

/** Test ops whose `id` is an access fd. */
const ACCESS_OPS = new Set(['IOMMU_TEST_OP_ACCESS_PAGES', 'IOMMU_TEST_OP_ACCESS_RW', 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS']);
/** Struct fields ending in _id that are chosen values, not object ids. */
const NOT_IDS = new Set(['option_id', 'virt_id']);
const BUFFER_LENGTH = 65536;
const PGFAULT_SIZE = 40;
const PGFAULT_COOKIE = 36;

class Names {
  private readonly bound = new Map<string, string>();
  private readonly used = new Map<string, number>();
  /** A fresh name for a new handle (kind + number; a suffix when the number comes back). */
  fresh(space: string, value: number, base: string): string {
    const stem = `${base}${value}`;
    const n = (this.used.get(stem) ?? 0) + 1;
    this.used.set(stem, n);
    const name = n === 1 ? stem : `${stem}_${n}`;
    this.bound.set(`${space}:${value}`, name);
    return name;
  }
  get(space: string, value: unknown): string | undefined {
    return typeof value === 'number' ? this.bound.get(`${space}:${value}`) : undefined;
  }
}

function big(v: bigint): string {
  return v < 0n || v < 1024n ? v.toString() : `0x${v.toString(16)}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** The program's version of a request: handles symbolic, memory from the buffer, bytes as hex. */
function symbolic(req: SingleRequest, names: Names, eventType: string): Record<string, Json> {
  const ref = (space: string, v: unknown): Json => {
    const n = names.get(space, v);
    return n ? `$${n}` : (v as Json);
  };
  const value = (key: string, v: unknown, path: string): Json => {
    if (typeof v === 'bigint') {
      if (v >= USER_VA && v < USER_VA + BigInt(BUFFER_LENGTH)) return v === USER_VA ? { $: 'buf', field: 'va' } : { $: 'buf', field: 'va', add: Number(v - USER_VA) };
      return big(v);
    }
    if (v instanceof Uint8Array) return { hex: hex(v) };
    if (typeof v === 'number') {
      if (key === 'op' && path === 'op' && eventType.startsWith('IOMMU_TEST_OP_')) return eventType;
      if (key === 'iommufd') return ref('fd', v);
      if (key === 'id' && path === 'id' && ACCESS_OPS.has(eventType)) return ref('fd', v);
      if (key === 'access_pages_id') return ref('item', v);
      if ((key === 'id' || key.endsWith('_id')) && !NOT_IDS.has(key)) return ref('id', v);
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => value(key, x, path));
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if ('data' in o && o['data'] instanceof Uint8Array) return { data: { hex: hex(o['data']) } };
      const out: Record<string, Json> = {};
      for (const [k, x] of Object.entries(o)) out[k] = value(k, x, path === '' ? k : `${path}.${k}`);
      return out;
    }
    return v as Json;
  };
  const out: Record<string, Json> = { op: req.op };
  for (const [k, v] of Object.entries(req)) {
    if (k === 'op') continue;
    if (k === 'fd') out[k] = ref('fd', v);
    else if (k === 'device') out[k] = ref('dev', v);
    else if (k === 'vm') out[k] = ref('vm', v);
    else if (k === 'spec') {
      const s = v as Record<string, unknown>;
      out[k] = { ...(value('spec', s, 'spec') as Record<string, Json>), ...(s['group'] !== undefined ? { group: ref('grp', s['group']) } : {}) };
    } else if (k === 'arg') {
      const a = v as { kind: string; fields?: StructValue; value?: bigint };
      if (a.kind === 'struct') out['fields'] = value('', a.fields ?? {}, '') as Json;
      else out['arg'] = { kind: a.kind, value: typeof a.value === 'bigint' ? big(a.value) : (a.value as unknown as Json) };
    } else out[k] = value(k, v, '');
  }
  return out;
}

/** Objects new in `after` (or, with `changed`, any object whose record changed). */
function objectDiff(before: System, after: System, changed = false): [number, Obj & { ctx?: number }][] {
  const out: [number, Obj & { ctx?: number }][] = [];
  for (const k in after.ctxs) {
    const a = after.ctxs[k as unknown as number]!;
    const b = before.ctxs[k as unknown as number];
    for (const [id, o] of objectsOf(a)) {
      const old = b?.objects[id];
      if (old === o) continue;
      if (changed || !old || old.kind !== o.kind || (old.tomb && !o.tomb)) out.push([id, { ...o, ctx: Number(k) }]);
    }
  }
  return out;
}

/** A tour path as a program for one profile. */
export function pathProgram(profile: Profile, path: TourPath, index: number): TourProgram {
  const spec = SCENARIOS.find((s) => s.name === path.scenario);
  const logic = systemLogic({ profile, ...(spec?.iommus ? { iommus: spec.iommus } : {}) });
  let snap = logic.getInitialSnapshot(undefined as never, undefined as never) as unknown as SystemSnapshot;
  const names = new Names();
  const steps: ProgramStep[] = [{ op: 'mem_alloc', length: BUFFER_LENGTH, hugeAligned: true, bind: { buf: '.' } }];
  const edges: string[][] = [[]];
  const commands = new Set<string>();
  const testOps = new Set<string>();
  const ops = new Set<string>(['mem_alloc']);
  const features = new Set<string>();
  /** Fault fd → the answers a write can give, oldest first: (read binding, record index). */
  const unanswered = new Map<number, { read: string; record: number }[]>();
  let reads = 0;
  for (const e of path.events as SysEvent[]) {
    const req = e.req;
    const before = snap.context;
    snap = logic.transition(snap as never, e as never, undefined as never) as unknown as SystemSnapshot;
    const after = snap.context;
    const d = snap.decision;
    const step: Record<string, Json> = symbolic(req, names, e.type);
    ops.add(req.op);
    if (req.op === 'ioctl') {
      commands.add(String(req.cmd));
      if (req.cmd === 'IOMMU_TEST_CMD') testOps.add(e.type);
    }
    if (req.op === 'device_create') {
      if (req.spec.group !== undefined) features.add('multiDeviceGroups');
      if (req.spec.pasidWidth) features.add('pasid');
    }
    if (req.op === 'write' && before.fds[req.fd]?.kind === 'fault') {
      // struct iommu_hwpt_page_response { u32 cookie; u32 code } per answered fault, cookies read from the queue.
      const queue = unanswered.get(req.fd) ?? [];
      const n = req.data.length / 8;
      const words: Json[] = [];
      for (const a of queue.slice(0, n)) words.push({ $: a.read, u32at: a.record * PGFAULT_SIZE + PGFAULT_COOKIE }, 'IOMMUFD_PAGE_RESP_SUCCESS');
      if (d?.kind === 'accept') unanswered.set(req.fd, queue.slice(n));
      step['data'] = { u32s: words };
    }
    const bind: Record<string, string> = {};
    if (req.op === 'read' && before.fds[req.fd]?.kind === 'fault' && d?.kind === 'accept') {
      const o = before.ctxs[(before.fds[req.fd] as { ctx: number }).ctx]?.objects[(before.fds[req.fd] as { id: number }).id];
      const queued = (o?.snap?.c as { queued?: number } | undefined)?.queued ?? 0;
      if (queued > 0) {
        const name = `pgfault${++reads}`;
        bind[name] = 'data';
        const queue = unanswered.get(req.fd) ?? [];
        for (let i = 0; i < Math.min(queued, req.count / PGFAULT_SIZE); i++) queue.push({ read: name, record: i });
        unanswered.set(req.fd, queue);
      }
    }
    if (d?.kind === 'accept') {
      const paths = OUT_PATHS[e.type] ?? {};
      for (const [id, o] of objectDiff(before, after)) {
        const p = paths[o.kind];
        if (p) bind[names.fresh('id', id, o.kind === 'hwpt_paging' || o.kind === 'hwpt_nested' ? 'hwpt' : o.kind === 'device' ? 'idev' : o.kind === 'selftest' ? 'stdev' : o.kind)] = p;
      }
      for (const f in after.fds) {
        const fd = Number(f);
        const entry = after.fds[fd]!;
        if (before.fds[fd] === entry) continue;
        const p = paths[`fd:${entry.kind}`];
        if (p) bind[names.fresh('fd', fd, `${entry.kind === 'iommufd' ? 'fd' : entry.kind + '_fd'}`)] = p;
      }
      if (req.op === 'device_create') {
        const added = Object.values(after.devs).find((x) => !before.devs[x.key]);
        if (added) {
          bind[names.fresh('dev', Number(added.key.slice(1)), 'dev')] = 'device';
          if (!before.groups[added.group]) bind[names.fresh('grp', Number(added.group.slice(1)), 'grp')] = 'group';
        }
      }
      if (req.op === 'kvm_create') {
        const vm = Object.keys(after.vms).map(Number).find((v) => !before.vms[v]);
        if (vm !== undefined) bind[names.fresh('vm', vm, 'vm')] = 'vm';
      }
      if (e.type === 'IOMMU_TEST_OP_ACCESS_PAGES') {
        for (const [id, o] of objectDiff(before, after, true)) {
          if (o.kind !== 'access') continue;
          const prev = before.ctxs[o.ctx ?? -1]?.objects[id];
          const had = new Set((prev?.snap?.c as AccessContext | undefined)?.items.map((i) => i.id) ?? []);
          for (const item of (o.snap?.c as AccessContext).items) if (!had.has(item.id)) bind[names.fresh('item', item.id, 'pages')] = 'out.access_pages.out_access_pages_id';
        }
      }
    }
    if (Object.keys(bind).length > 0) step['bind'] = bind;
    if (d?.kind === 'accept') step['expect'] = { ok: true };
    else if (d?.kind === 'refuse') step['expect'] = { errno: [d.errno] };
    const took = [...snap.taken];
    const aimed = path.targets.filter((t) => took.includes(t));
    if (aimed.length > 0) step['note'] = `tour target: ${aimed.join(' ; ')}`;
    steps.push(step as ProgramStep);
    edges.push(took);
  }
  const name = `tour.${profile}.${path.scenario}.${String(index).padStart(3, '0')}`;
  return {
    program: {
      format: 'iommufd-program/1',
      name,
      description: `Transition tour (scenario ${path.scenario}): the shortest path the machines know to ${path.targets.join(', ')}; every step expects what the machines decide.`,
      profiles: [profile],
      requires: {
        ...(commands.size ? { commands: [...commands].sort() } : {}),
        ...(testOps.size ? { testOps: [...testOps].sort() } : {}),
        ops: [...ops].sort(),
        ...(features.size ? { deviceFeatures: [...features].sort() } : {}),
      },
      steps,
    },
    scenario: path.scenario,
    edges,
    targets: path.targets,
  };
}

/** Every path of a tour as a program. */
export function tourPrograms(tour: Tour): TourProgram[] {
  return tour.paths.map((p, i) => pathProgram(tour.profile, p, i + 1));
}
