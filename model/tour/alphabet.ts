/**
 * The events the tour offers the system machine in a state: contract requests
 * over the objects that exist (and an absent id, a closed fd), with a few
 * argument variants each, bounded to at most two objects of each kind so that
 * xstate/graph's traversal of a scenario ends. A scenario names the groups of
 * events it explores, a prefix of requests that sets its stage, and a depth.
 */
import type { SingleRequest, StructValue } from '../../spec/contract/types.ts';
import { CONSTANTS, enumValue, testOpByName } from '../../spec/uapi/index.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import type { AccessContext } from '../machines/access.ts';
import type { FaultContext } from '../machines/fault.ts';
import { stepper } from '../machines/index.ts';
import { eventTypeOf } from '../system/fields.ts';
import { objectsOf, type Ctx, type Obj, type System } from '../system/state.ts';
import type { SysEvent } from '../system/tx.ts';

export type Group =
  | 'ioas-alloc'
  | 'ioas-map'
  | 'ioas-unmap'
  | 'ioas-lookups'
  | 'ioas-option'
  | 'change-process'
  | 'destroy'
  | 'copy'
  | 'mock-create'
  | 'mock-replace'
  | 'hwpt-alloc'
  | 'hwpt-errors'
  | 'dirty'
  | 'nested-alloc'
  | 'invalidate'
  | 'access'
  | 'fault'
  | 'viommu'
  | 'vdevice'
  | 'veventq'
  | 'hw-queue'
  | 'pasid'
  | 'vfio'
  | 'kvm'
  | 'compat'
  | 'closed'
  | 'release';

export interface ScenarioSpec {
  readonly name: string;
  readonly profiles: readonly Profile[];
  readonly groups: readonly Group[];
  /** Requests that set the scenario's stage before the traversal (deterministic ids: lowest free). */
  readonly prefix?: (profile: Profile) => readonly SingleRequest[];
  /** Events explored after the prefix (the traversal's depth bound). */
  readonly depth: number;
  /** IOMMU instances of the environment (vfio, kvm scenarios). */
  readonly iommus?: readonly { readonly name: string; readonly dirty: boolean; readonly coherent: boolean; readonly format?: string }[];
  /** Per-kind bounds (default 2). */
  readonly max?: Partial<Record<string, number>>;
  /** HWPT_ALLOC flag sets offered on an IOAS. */
  readonly hwptFlags?: readonly string[][];
  /** dev_flags of MOCK_DOMAIN_FLAGS. */
  readonly mockFlags?: string;
  /** Flags of nested HWPT allocations (default none). */
  readonly nestedFlags?: readonly string[];
  /** Offer a second PASID (200) too. */
  readonly secondPasid?: boolean;
  /** Environment devices: device_create specs offered (default one vtd0 device in a new group, then one more in its group). */
  readonly envDevices?: readonly { readonly iommu: string; readonly sameGroup?: boolean; readonly pasidWidth?: number }[];
  /** Device files per environment device (default 1). */
  readonly filesPerDevice?: number;
}

export const A = 0x1000000n;
/** User memory: the tour programs' buffer (64 KiB) starts here (programs.ts rewrites it to the buffer's VA). */
export const USER_VA = 0x7f0000000000n;
export const B = 0x1004000n;
export const LEN = 0x2000n;
const ABSENT = 99;

export const k = (profile: Profile, name: string): number => {
  const v = enumValue(profile, name) ?? testOpByName(profile, name)?.value ?? (CONSTANTS as Record<string, number>)[name];
  if (v === undefined) throw new Error(`no constant ${name} in ${profile}`);
  return v;
};

export const io = (fd: number, cmd: string, fields: StructValue = {}): SingleRequest => ({ op: 'ioctl', fd, cmd, arg: { kind: 'struct', fields } });
export const testOp = (p: Profile, fd: number, op: string, fields: StructValue): SingleRequest => io(fd, 'IOMMU_TEST_CMD', { op: k(p, op), ...fields });
export const nestedAlloc = (p: Profile, fd: number, dev: number, pt: number, flags: number, extra: StructValue = {}): SingleRequest => {
  const len = p === '7.3' ? 8 : 4;
  return io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: pt, flags, data_type: k(p, 'IOMMU_HWPT_DATA_SELFTEST'), data_len: len, data_uptr: { data: new Uint8Array(len) }, ...extra });
};
export const mapFixed = (p: Profile, fd: number, ioas: number, iova: bigint, length = LEN): SingleRequest =>
  io(fd, 'IOMMU_IOAS_MAP', {
    ioas_id: ioas,
    flags: k(p, 'IOMMU_IOAS_MAP_FIXED_IOVA') | k(p, 'IOMMU_IOAS_MAP_READABLE') | k(p, 'IOMMU_IOAS_MAP_WRITEABLE'),
    user_va: USER_VA,
    iova,
    length,
  });

function ids(c: Ctx, kind: Obj['kind']): number[] {
  return objectsOf(c)
    .filter(([, o]) => o.kind === kind && !o.tomb)
    .map(([id]) => id);
}

/** The events offered in `sys` for a scenario. */
export function alphabet(sys: System, spec: ScenarioSpec): SysEvent[] {
  const p = sys.profile;
  const on = (g: Group): boolean => spec.groups.includes(g);
  const max = (kind: string): number => spec.max?.[kind] ?? 2;
  const out: SysEvent[] = [];
  const push = (req: SingleRequest): void => {
    out.push({ type: eventTypeOf(p, req), req });
  };
  const test = (fd: number, op: string, fields: StructValue): SingleRequest => testOp(p, fd, op, fields);

  const ctxEntry = Object.entries(sys.fds).find(([, e]) => e.kind === 'iommufd');
  if (!ctxEntry) {
    if (sys.seq === 1 && sys.closed.length === 0) push({ op: 'open', node: 'iommu' });
    // The iommufd's fd is closed: what still holds the context can be closed too, and the closed fd probed.
    for (const [f, e] of Object.entries(sys.fds)) if (e.kind !== 'other') push({ op: 'close', fd: Number(f) });
    if (on('closed') && sys.closed.length > 0) closedFdEvents(p, sys.closed[0] as number, push, test);
    if (on('kvm')) kvmEvents(sys, push);
    return out;
  }
  const fd = Number(ctxEntry[0]);
  const ctx = sys.ctxs[(ctxEntry[1] as { ctx: number }).ctx] as Ctx;
  const all = objectsOf(ctx);
  const count = (kind: Obj['kind']): number => all.filter(([, o]) => o.kind === kind && !o.tomb).length;
  const ioas = ids(ctx, 'ioas');
  const paging = ids(ctx, 'hwpt_paging');
  const manual = all.filter(([, o]) => o.kind === 'hwpt_paging' && !o.auto).map(([id]) => id);
  const nested = ids(ctx, 'hwpt_nested');
  const stdevs = ids(ctx, 'selftest');
  const idevs = ids(ctx, 'device');
  const viommus = ids(ctx, 'viommu');
  const faults = ids(ctx, 'fault');
  const pts = [...ioas, ...paging, ...nested];
  const dev = idevs[0];
  const areasAt = (id: number): readonly { start: bigint }[] => (ctx.objects[id]?.snap?.c as { areas?: readonly { start: bigint }[] } | undefined)?.areas ?? [];

  if (on('ioas-alloc') && count('ioas') < max('ioas')) push(io(fd, 'IOMMU_IOAS_ALLOC'));
  if (on('ioas-map')) {
    for (const id of ioas) if (!areasAt(id).some((a) => a.start === A)) push(mapFixed(p, fd, id, A));
    for (const id of ioas) if (areasAt(id).some((a) => a.start === A)) push(mapFixed(p, fd, id, A)); // overlap: EEXIST
    push(mapFixed(p, fd, ABSENT, A));
    // The contract has no memfd: IOMMU_IOAS_MAP_FILE is offered only where the IOAS lookup refuses it first.
    if (p === '7.3') push(io(fd, 'IOMMU_IOAS_MAP_FILE', { ioas_id: ABSENT, flags: k(p, 'IOMMU_IOAS_MAP_FIXED_IOVA') | k(p, 'IOMMU_IOAS_MAP_READABLE'), fd: -1, start: 0n, iova: A, length: LEN }));
  }
  if (on('ioas-unmap')) {
    for (const id of [...ioas, ABSENT]) push(io(fd, 'IOMMU_IOAS_UNMAP', { ioas_id: id, iova: A, length: LEN }));
    for (const id of ioas) {
      push(io(fd, 'IOMMU_IOAS_UNMAP', { ioas_id: id, iova: A, length: LEN / 2n }));
      push(io(fd, 'IOMMU_IOAS_UNMAP', { ioas_id: id, iova: 0n, length: (1n << 64n) - 1n }));
    }
  }
  if (on('ioas-lookups')) {
    push(io(fd, 'IOMMU_IOAS_IOVA_RANGES', { ioas_id: ABSENT, num_iovas: 0 }));
    push(io(fd, 'IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: ABSENT, num_iovas: 0 }));
    push(test(fd, 'IOMMU_TEST_OP_ADD_RESERVED', { id: ABSENT, add_reserved: { start: 0x10000n, length: 0x1000n } }));
    if (p === '7.3') push(io(fd, 'IOMMU_IOAS_NOIOMMU_GET_PA', { ioas_id: ABSENT, iova: A, length: 0x1000n }));
    push({ op: 'fail_nth', nth: 0 });
    for (const id of ioas.slice(0, 1)) {
      if (p === '7.3') push(io(fd, 'IOMMU_IOAS_NOIOMMU_GET_PA', { ioas_id: id, iova: A, length: 0x1000n }));
      push(io(fd, 'IOMMU_IOAS_IOVA_RANGES', { ioas_id: id, num_iovas: 8, allowed_iovas: { room: 128 } }));
      push(io(fd, 'IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: id, num_iovas: 0 }));
      push(test(fd, 'IOMMU_TEST_OP_ADD_RESERVED', { id, add_reserved: { start: 0x10000n, length: 0x1000n } }));
    }
    push(io(fd, 'IOMMU_OPTION', { option_id: k(p, 'IOMMU_OPTION_RLIMIT_MODE'), op: k(p, 'IOMMU_OPTION_OP_SET'), val64: 0n }));
  }
  if (on('ioas-option')) {
    for (const id of [...ioas, ABSENT]) push(io(fd, 'IOMMU_OPTION', { option_id: k(p, 'IOMMU_OPTION_HUGE_PAGES'), op: k(p, 'IOMMU_OPTION_OP_SET'), object_id: id, val64: 0n }));
  }
  if (on('change-process') && p === '7.3') push(io(fd, 'IOMMU_IOAS_CHANGE_PROCESS'));
  if (on('copy')) {
    for (const src of [...ioas, ABSENT]) {
      for (const dst of [...ioas, ABSENT]) {
        if (src === dst || (src === ABSENT && dst === ABSENT)) continue;
        push(io(fd, 'IOMMU_IOAS_COPY', { flags: k(p, 'IOMMU_IOAS_MAP_FIXED_IOVA') | k(p, 'IOMMU_IOAS_MAP_READABLE'), src_ioas_id: src, dst_ioas_id: dst, src_iova: A, dst_iova: B, length: 0x1000n }));
      }
    }
  }
  if (on('mock-create') && count('selftest') < max('device')) {
    for (const pt of [...pts, ABSENT, ...idevs.slice(0, 1)]) push(test(fd, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: pt, mock_domain: {} }));
    if (spec.mockFlags) for (const pt of [...ioas, ...manual, ...nested, ABSENT, ...idevs.slice(0, 1)]) push(test(fd, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', { id: pt, mock_domain_flags: { dev_flags: k(p, spec.mockFlags) } }));
  }
  if (on('mock-replace')) {
    for (const st of stdevs) for (const pt of [...pts, ABSENT, ...idevs.slice(0, 1)]) push(test(fd, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: st, mock_domain_replace: { pt_id: pt } }));
    push(test(fd, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: ABSENT, mock_domain_replace: { pt_id: pts[0] ?? ABSENT } }));
    for (const id of [...idevs.slice(0, 1), ABSENT]) push(io(fd, 'IOMMU_GET_HW_INFO', { dev_id: id }));
  }
  if (on('hwpt-alloc') && dev !== undefined && manual.length < max('manual')) {
    for (const flags of spec.hwptFlags ?? [[]]) {
      const bits = flags.reduce((a, f) => a | k(p, f), 0);
      for (const pt of ioas) push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: pt, flags: bits }));
    }
  }
  if (on('hwpt-errors')) {
    push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: ABSENT, pt_id: ioas[0] ?? ABSENT }));
    if (dev !== undefined) {
      push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: ABSENT }));
      push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: dev }));
    }
  }
  if (on('dirty')) {
    for (const h of [...paging, ...ioas.slice(0, 1), ABSENT]) {
      for (const flags of [0, k(p, 'IOMMU_HWPT_DIRTY_TRACKING_ENABLE')]) push(io(fd, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: h, flags }));
      push(io(fd, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: h, iova: A, length: 0x1000n, page_size: 0x1000n, data: { room: 8 } }));
    }
  }
  if (on('nested-alloc') && dev !== undefined && count('hwpt_nested') < max('nested')) {
    const bits = (spec.nestedFlags ?? []).reduce((a, f) => a | k(p, f), 0);
    for (const d of idevs.slice(0, 2)) for (const pt of [...paging, ...nested.slice(0, 1), ...viommus]) push(nestedAlloc(p, fd, d, pt, bits));
  }
  if (on('invalidate')) {
    for (const h of [...pts.slice(0, 1), ...paging, ...nested, ...viommus, ...stdevs.slice(0, 1), ABSENT]) {
      push(io(fd, 'IOMMU_HWPT_INVALIDATE', { hwpt_id: h, data_type: k(p, 'IOMMU_HWPT_INVALIDATE_DATA_SELFTEST'), entry_len: 8, entry_num: 0 }));
    }
  }
  if (on('access')) accessEvents(p, fd, all, ioas, max, push, test);
  if (on('fault')) {
    if (count('fault') < max('fault')) push(io(fd, 'IOMMU_FAULT_QUEUE_ALLOC'));
    if (dev !== undefined) {
      const FAULT_ID = k(p, 'IOMMU_HWPT_FAULT_ID_VALID');
      for (const f of [...faults, ABSENT]) {
        if (count('hwpt_nested') < max('nested')) for (const pt of paging.filter((h) => ctx.objects[h]?.nestParent)) push(nestedAlloc(p, fd, dev, pt, FAULT_ID, { fault_id: f }));
        if (f !== ABSENT) for (const pt of ioas.slice(0, 1)) push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: pt, flags: FAULT_ID | k(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT'), fault_id: f }));
        if (f !== ABSENT && p === '6.12') for (const pt of ioas.slice(0, 1)) push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: pt, flags: FAULT_ID, fault_id: f }));
      }
      const pending = faults.reduce((n, f) => {
        const q = ctx.objects[f]?.snap?.c as FaultContext | undefined;
        return n + (q ? q.queued + q.awaiting : 0);
      }, 0);
      if (pending < 2) {
        for (const pasid of on('pasid') ? [0, 100] : [0]) push(test(fd, 'IOMMU_TEST_OP_TRIGGER_IOPF', { trigger_iopf: { dev_id: dev, pasid, grpid: pending + 1, perm: k(p, 'IOMMU_PGFAULT_PERM_READ'), addr: A } }));
      }
    }
    push(test(fd, 'IOMMU_TEST_OP_TRIGGER_IOPF', { trigger_iopf: { dev_id: ABSENT } }));
    for (const f of faults) {
      const o = ctx.objects[f] as Obj;
      if (o.fd === undefined) continue;
      const q = o.snap?.c as FaultContext;
      push({ op: 'read', fd: o.fd, count: 40 * Math.max(1, q.queued) });
      for (let n = 1; n <= q.awaiting; n++) push({ op: 'write', fd: o.fd, data: new Uint8Array(8 * n) });
      push({ op: 'close', fd: o.fd });
    }
  }
  if (on('viommu') && p === '7.3' && dev !== undefined && count('viommu') < max('viommu')) {
    for (const h of [...paging, ...ioas.slice(0, 1)]) push(io(fd, 'IOMMU_VIOMMU_ALLOC', { dev_id: dev, hwpt_id: h, type: k(p, 'IOMMU_VIOMMU_TYPE_SELFTEST') }));
    push(io(fd, 'IOMMU_VIOMMU_ALLOC', { dev_id: ABSENT, hwpt_id: paging[0] ?? ABSENT, type: k(p, 'IOMMU_VIOMMU_TYPE_SELFTEST') }));
  }
  if (on('vdevice') && p === '7.3') {
    if (count('vdevice') < max('vdevice')) {
      for (const v of [...viommus, ABSENT]) {
        for (const d of v === ABSENT ? idevs.slice(0, 1) : [...idevs, ABSENT]) for (const virt of [1n, 2n]) push(io(fd, 'IOMMU_VDEVICE_ALLOC', { viommu_id: v, dev_id: d, virt_id: virt }));
      }
    }
    for (const id of all.filter(([, o]) => o.tomb).map(([i]) => i)) push(io(fd, 'IOMMU_DESTROY', { id }));
  }
  if (on('veventq') && p === '7.3') {
    // A second queue of the same type on a vIOMMU is refused, so offering it is bounded anyway.
    const withQueue = new Set(all.filter(([, o]) => o.kind === 'veventq').map(([, o]) => o.viommu));
    for (const v of [...viommus, ABSENT]) {
      if (withQueue.has(v) || count('veventq') < max('veventq')) push(io(fd, 'IOMMU_VEVENTQ_ALLOC', { viommu_id: v, type: k(p, 'IOMMU_VEVENTQ_TYPE_SELFTEST'), veventq_depth: 2 }));
    }
    const queued = all.reduce((n, [, o]) => n + (o.kind === 'veventq' ? ((o.snap?.c as { events?: number } | undefined)?.events ?? 0) : 0), 0);
    for (const d of [...idevs, ABSENT]) if (queued < 2 || d === ABSENT) push(test(fd, 'IOMMU_TEST_OP_TRIGGER_VEVENT', { trigger_vevent: { dev_id: d } }));
    for (const [, o] of all) {
      if (o.kind !== 'veventq' || o.fd === undefined) continue;
      push({ op: 'read', fd: o.fd, count: 64 });
      push({ op: 'close', fd: o.fd });
    }
  }
  if (on('hw-queue') && p === '7.3' && count('hw_queue') < max('hw_queue')) {
    for (const v of [...viommus, ABSENT]) {
      for (const index of v === ABSENT ? [0] : [0, 1, 2]) push(io(fd, 'IOMMU_HW_QUEUE_ALLOC', { viommu_id: v, type: k(p, 'IOMMU_HW_QUEUE_TYPE_SELFTEST'), index, nesting_parent_iova: A, length: 0x1000n }));
    }
  }
  if (on('pasid') && p === '7.3') {
    for (const st of [...stdevs, ABSENT]) {
      const pasid = 100;
      for (const pt of st === ABSENT ? [pts[0] ?? ABSENT] : [...pts, ABSENT, ...idevs.slice(0, 1)]) {
        push(test(fd, 'IOMMU_TEST_OP_PASID_ATTACH', { id: st, pasid_attach: { pasid, pt_id: pt } }));
        push(test(fd, 'IOMMU_TEST_OP_PASID_REPLACE', { id: st, pasid_replace: { pasid, pt_id: pt } }));
      }
      push(test(fd, 'IOMMU_TEST_OP_PASID_DETACH', { id: st, pasid_detach: { pasid } }));
      if (st !== ABSENT && spec.secondPasid) {
        // A second PASID, on the PASID-compatible HWPTs only.
        for (const pt of [...paging, ...nested].filter((h) => ctx.objects[h]?.pasidCompat)) push(test(fd, 'IOMMU_TEST_OP_PASID_ATTACH', { id: st, pasid_attach: { pasid: 200, pt_id: pt } }));
        push(test(fd, 'IOMMU_TEST_OP_PASID_DETACH', { id: st, pasid_detach: { pasid: 200 } }));
      }
      for (const h of st === ABSENT ? [0] : [0, ...paging, ...nested, ABSENT]) push(test(fd, 'IOMMU_TEST_OP_PASID_CHECK_HWPT', { id: st, pasid_check: { pasid, hwpt_id: h } }));
    }
  }
  if (on('vfio')) vfioEvents(sys, spec, fd, ctx, push);
  if (on('kvm')) kvmEvents(sys, push);
  if (on('compat')) {
    push(io(fd, 'IOMMU_VFIO_IOAS', { op: k(p, 'IOMMU_VFIO_IOAS_GET') }));
    push(io(fd, 'IOMMU_VFIO_IOAS', { op: k(p, 'IOMMU_VFIO_IOAS_CLEAR') }));
    for (const id of [...ioas, ABSENT]) push(io(fd, 'IOMMU_VFIO_IOAS', { op: k(p, 'IOMMU_VFIO_IOAS_SET'), ioas_id: id }));
    push({ op: 'ioctl', fd, cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(k(p, 'VFIO_TYPE1_IOMMU')) } });
    push(io(fd, 'VFIO_IOMMU_GET_INFO', {}));
    push(io(fd, 'VFIO_IOMMU_MAP_DMA', { flags: k(p, 'VFIO_DMA_MAP_FLAG_READ') | k(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: USER_VA, iova: A, size: LEN }));
    push(io(fd, 'VFIO_IOMMU_UNMAP_DMA', { iova: A, size: LEN / 2n }));
    push(io(fd, 'VFIO_IOMMU_UNMAP_DMA', { iova: A, size: LEN }));
    push(io(fd, 'VFIO_IOMMU_UNMAP_DMA', { flags: k(p, 'VFIO_DMA_UNMAP_FLAG_ALL') }));
  }
  if (on('destroy')) for (const id of [...all.filter(([, o]) => !o.tomb).map(([i]) => i), ABSENT]) push(io(fd, 'IOMMU_DESTROY', { id }));
  if (on('release')) push({ op: 'close', fd });
  return out;
}

function accessEvents(
  p: Profile,
  fd: number,
  all: readonly [number, Obj][],
  ioas: readonly number[],
  max: (k: string) => number,
  push: (r: SingleRequest) => void,
  test: (fd: number, op: string, fields: StructValue) => SingleRequest,
): void {
  const accesses = all.filter(([, o]) => o.kind === 'access' && !o.internal);
  if (accesses.length < max('access')) {
    for (const pt of [...ioas.slice(0, 1), ABSENT]) push(test(fd, 'IOMMU_TEST_OP_CREATE_ACCESS', { id: pt, create_access: { flags: k(p, 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES') } }));
    if (ioas.length > 0 && accesses.length === 0) push(test(fd, 'IOMMU_TEST_OP_CREATE_ACCESS', { id: ioas[0] as number, create_access: { flags: 0 } }));
  }
  for (const [, o] of accesses) {
    const afd = o.fd as number;
    const items = (o.snap?.c as AccessContext).items;
    if (items.length === 0) push(test(fd, 'IOMMU_TEST_OP_ACCESS_PAGES', { id: afd, access_pages: { iova: A, length: 0x1000n } }));
    for (const item of [...items.map((i) => i.id), 99]) push(test(fd, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', { id: afd, destroy_access_pages: { access_pages_id: item } }));
    push(test(fd, 'IOMMU_TEST_OP_ACCESS_RW', { id: afd, access_rw: { iova: A, length: 1n, uptr: USER_VA + 0x8000n } }));
    for (const t of ioas) push(test(fd, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', { id: afd, access_replace_ioas: { ioas_id: t } }));
    push({ op: 'close', fd: afd });
  }
  push(test(fd, 'IOMMU_TEST_OP_ACCESS_PAGES', { id: fd, access_pages: { iova: A, length: 0x1000n } }));
  push(test(fd, 'IOMMU_TEST_OP_ACCESS_RW', { id: fd, access_rw: { iova: A, length: 1n, uptr: USER_VA + 0x8000n } }));
  push(test(fd, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', { id: fd, destroy_access_pages: { access_pages_id: 0 } }));
  push(test(fd, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', { id: fd, access_replace_ioas: { ioas_id: ioas[0] ?? ABSENT } }));
  for (const [, o] of accesses.slice(0, 1)) push(test(fd, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', { id: o.fd as number, access_replace_ioas: { ioas_id: ABSENT } }));
}

function closedFdEvents(p: Profile, fd: number, push: (r: SingleRequest) => void, test: (fd: number, op: string, fields: StructValue) => SingleRequest): void {
  push({ op: 'close', fd });
  const cmds = [
    'IOMMU_DESTROY',
    'IOMMU_IOAS_ALLOC',
    'IOMMU_IOAS_IOVA_RANGES',
    'IOMMU_IOAS_ALLOW_IOVAS',
    'IOMMU_IOAS_MAP',
    'IOMMU_IOAS_COPY',
    'IOMMU_IOAS_UNMAP',
    'IOMMU_OPTION',
    'IOMMU_VFIO_IOAS',
    'IOMMU_HWPT_ALLOC',
    'IOMMU_GET_HW_INFO',
    'IOMMU_HWPT_SET_DIRTY_TRACKING',
    'IOMMU_HWPT_GET_DIRTY_BITMAP',
    'IOMMU_HWPT_INVALIDATE',
    'IOMMU_FAULT_QUEUE_ALLOC',
    'VFIO_IOMMU_GET_INFO',
    'VFIO_IOMMU_MAP_DMA',
    'VFIO_IOMMU_UNMAP_DMA',
    ...(p === '7.3' ? ['IOMMU_IOAS_MAP_FILE', 'IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC', 'IOMMU_IOAS_CHANGE_PROCESS', 'IOMMU_VEVENTQ_ALLOC', 'IOMMU_HW_QUEUE_ALLOC', 'IOMMU_IOAS_NOIOMMU_GET_PA'] : []),
  ];
  for (const cmd of cmds) push(io(fd, cmd));
  push({ op: 'ioctl', fd, cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 1n } });
  const ops = [
    'IOMMU_TEST_OP_ADD_RESERVED',
    'IOMMU_TEST_OP_MOCK_DOMAIN',
    'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS',
    'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE',
    'IOMMU_TEST_OP_CREATE_ACCESS',
    'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES',
    'IOMMU_TEST_OP_ACCESS_PAGES',
    'IOMMU_TEST_OP_ACCESS_RW',
    'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS',
    'IOMMU_TEST_OP_TRIGGER_IOPF',
    ...(p === '7.3' ? ['IOMMU_TEST_OP_TRIGGER_VEVENT', 'IOMMU_TEST_OP_PASID_ATTACH', 'IOMMU_TEST_OP_PASID_REPLACE', 'IOMMU_TEST_OP_PASID_DETACH', 'IOMMU_TEST_OP_PASID_CHECK_HWPT'] : []),
  ];
  for (const op of ops) push(test(fd, op, {}));
}

/** Environment devices through the VFIO cdev: devices and groups, files, binds, attaches (RID and PASID), unbinds, removal. */
function vfioEvents(sys: System, spec: ScenarioSpec, fd: number, ctx: Ctx, push: (r: SingleRequest) => void): void {
  const p = sys.profile;
  const devs = Object.values(sys.devs).filter((d) => !d.mock);
  const wanted = spec.envDevices ?? [{ iommu: spec.iommus?.[0]?.name ?? 'mock' }, { iommu: spec.iommus?.[0]?.name ?? 'mock', sameGroup: true }];
  const nextSpec = wanted[devs.length];
  if (nextSpec && devs.length < (spec.max?.['env'] ?? 2) && sys.removed.length === 0) {
    const g = devs[0]?.group;
    push({ op: 'device_create', spec: { iommu: nextSpec.iommu, ...(nextSpec.sameGroup && g ? { group: Number(g.slice(1)) } : {}), ...(nextSpec.pasidWidth ? { pasidWidth: nextSpec.pasidWidth } : {}) } });
  }
  const ioas = ids(ctx, 'ioas');
  const hwpts = [...ids(ctx, 'hwpt_paging'), ...ids(ctx, 'hwpt_nested')];
  const iommufds = Object.entries(sys.fds).filter(([, e]) => e.kind === 'iommufd').map(([f]) => Number(f));
  const deviceFds = Object.entries(sys.fds).filter(([, e]) => e.kind === 'device').map(([f]) => Number(f));
  const idevs = ids(ctx, 'device');
  const pasidOn = spec.groups.includes('pasid') && p === '7.3';
  for (const d of devs) {
    const h = Number(d.key.slice(1));
    const files = Object.values(sys.files).filter((f) => f.dev === d.key);
    const fds = Object.entries(sys.fds)
      .filter(([, e]) => e.kind === 'device' && sys.files[e.file]?.dev === d.key)
      .map(([f]) => Number(f));
    if (files.length < (spec.filesPerDevice ?? 1)) push({ op: 'open_device', device: h });
    if (files.length === 0) push({ op: 'device_remove', device: h });
    for (const dfd of fds) {
      for (const target of iommufds) push(io(dfd, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: target }));
      if (spec.groups.includes('closed')) {
        // The iommufd argument: an fd closed earlier, or an open fd that is not an iommufd.
        for (const bad of [...sys.closed.slice(0, 1), ...deviceFds.filter((x) => x !== dfd).slice(0, 1)]) push(io(dfd, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: bad }));
      }
      for (const pt of [...ioas, ...hwpts, ABSENT, ...idevs.slice(0, 1)]) push(io(dfd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: pt }));
      push(io(dfd, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', {}));
      if (pasidOn) {
        for (const pt of [...ioas.slice(0, 1), ...hwpts]) push(io(dfd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { flags: k(p, 'VFIO_DEVICE_ATTACH_PASID'), pasid: 100, pt_id: pt }));
        push(io(dfd, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', { flags: k(p, 'VFIO_DEVICE_DETACH_PASID'), pasid: 100 }));
        if (spec.secondPasid) {
          for (const pt of hwpts.filter((h) => ctx.objects[h]?.pasidCompat)) push(io(dfd, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { flags: k(p, 'VFIO_DEVICE_ATTACH_PASID'), pasid: 200, pt_id: pt }));
          push(io(dfd, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', { flags: k(p, 'VFIO_DEVICE_DETACH_PASID'), pasid: 200 }));
        }
      }
      push({ op: 'close', fd: dfd });
    }
  }
  if (spec.groups.includes('closed')) {
    // Device ioctls on a closed fd.
    for (const c of sys.closed.slice(0, 1)) {
      push(io(c, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: fd }));
      push(io(c, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: ioas[0] ?? ABSENT }));
      push(io(c, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', {}));
    }
  }
  const bound = devs.find((d) => d.idev !== undefined);
  if (bound) {
    if (hwpts.filter((i) => !ctx.objects[i]?.auto).length < (spec.max?.['manual'] ?? 1)) {
      for (const flags of spec.hwptFlags ?? [[]]) {
        const bits = flags.reduce((a, f) => a | k(p, f), 0);
        for (const pt of ioas) push(io(fd, 'IOMMU_HWPT_ALLOC', { dev_id: bound.idev as number, pt_id: pt, flags: bits }));
      }
    }
    // Page requests come only from mock devices.
    push(testOp(p, fd, 'IOMMU_TEST_OP_TRIGGER_IOPF', { trigger_iopf: { dev_id: bound.idev as number, pasid: 0, grpid: 1, perm: k(p, 'IOMMU_PGFAULT_PERM_READ'), addr: A } }));
  }
}

function kvmEvents(sys: System, push: (r: SingleRequest) => void): void {
  const vms = Object.keys(sys.vms).map(Number);
  if (vms.length === 0) {
    push({ op: 'kvm_create' });
    return;
  }
  const vm = vms[0] as number;
  const v = sys.vms[vm]!;
  if (!stepper('kvm').matches(v.snap, 'live')) return;
  for (const [f, e] of Object.entries(sys.fds)) {
    push({ op: 'kvm_vfio_add', vm, fd: Number(f) });
    if (e.kind === 'device') push({ op: 'kvm_vfio_del', vm, fd: Number(f) });
  }
  for (const f of sys.closed.slice(0, 1)) {
    push({ op: 'kvm_vfio_add', vm, fd: f });
    push({ op: 'kvm_vfio_del', vm, fd: f });
  }
  push({ op: 'kvm_state', vm });
  push({ op: 'kvm_destroy', vm });
}
