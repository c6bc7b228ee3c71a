/**
 * What each system event does: the lookups the kernel makes (system guards,
 * in the kernel's check order), the object machines it steps — the object it
 * names first, then every object the change touches (a HWPT a device leaves, a
 * fault queue whose pending faults get answered, a vDEVICE tombstoned with its
 * device) — and the relations it changes.
 *
 * Ids of new objects are the ones the implementation returned when an
 * observed result is given (and checked to be free), otherwise the ones the
 * kernel would hand out: the lowest free id, in the order the kernel
 * allocates them.
 */
import type { DeviceSpec, SingleRequest } from '../../spec/contract/types.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { U64_MAX } from '../machines/areas.ts';
import { unmapOutcome } from '../machines/ioas.ts';
import { stepper } from '../machines/index.ts';
import type { IoasContext } from '../machines/ioas.ts';
import type { AccessContext } from '../machines/access.ts';
import type { HwptKind } from '../machines/device.ts';
import { isTombstone, live, objAt } from './guards.ts';
import {
  emptySystem,
  ctxHolders,
  dropCtx,
  dropDev,
  dropFd,
  dropFile,
  dropGroup,
  dropObj,
  lowestFreeFd,
  lowestFreeId,
  objectsOf,
  setCtx,
  setDev,
  setFd,
  setFile,
  setGroup,
  setObj,
  setVm,
  usersOf,
  type Ctx,
  type Dev,
  type Obj,
} from './state.ts';
import { Mismatch, Refusal, Tx, Unmodelled, type Target } from './tx.ts';
import { U } from './uapi.ts';

export interface Handler {
  /** The system guards the handler may apply, in kernel order (the system machine's chart lists them). */
  readonly guards: readonly string[];
  /** What the event is (for the generated page). */
  readonly doc: string;
  /** Clauses the dispatch itself implements (beyond the machines' and the guards'). */
  readonly clauses?: readonly string[];
  run(tx: Tx): void;
}

// ----------------------------------------------------------------- helpers

type Req<O extends SingleRequest['op']> = Extract<SingleRequest, { op: O }>;
const req = <O extends SingleRequest['op']>(tx: Tx) => tx.ev.req as Req<O>;
const f = (tx: Tx) => {
  if (!tx.f) throw new Unmodelled(`${tx.ev.type}: the argument is not a struct`);
  return tx.f;
};
const ctxOf = (tx: Tx): Ctx => tx.sys.ctxs[tx.ctx] as Ctx;
const obj = (tx: Tx, id: number): Obj => objAt(tx, id) as Obj;
const O = (tx: Tx, id: number): Target => ({ kind: 'obj', ctx: tx.ctx, id });

/** A new object id: the implementation's (checked free) or the kernel's lowest free one. */
function newId(tx: Tx, outPath: string | undefined, taken: readonly number[] = []): number {
  const c = ctxOf(tx);
  const seen = outPath ? tx.observed(outPath) : undefined;
  if (seen !== undefined) {
    const id = Number(seen);
    if (id in c.objects || taken.includes(id)) throw new Mismatch(`${outPath} = ${id} is an id already in use`);
    return id;
  }
  if (tx.obs?.ok && outPath) throw new Unmodelled(`the result lacks ${outPath}`);
  return lowestFreeId(c, taken);
}

function newFd(tx: Tx, path: string, taken: readonly number[] = []): number {
  const seen = tx.observed(path);
  if (seen !== undefined) return Number(seen);
  if (tx.obs?.ok) throw new Unmodelled(`the result lacks ${path}`);
  return lowestFreeFd(tx.sys, taken);
}

/** Drops an object whose machine reached its final state. */
function reap(tx: Tx, id: number): void {
  const o = objAt(tx, id);
  if (o?.snap && stepper(o.kind === 'selftest' ? 'device' : o.kind).isFinal(o.snap)) tx.sys = dropObj(tx.sys, tx.ctx, id);
}

/** The iommufd context of an ioctl's fd; unknown fds are left to the implementation. */
function onIommufd(tx: Tx): void {
  const fd = req<'ioctl'>(tx).fd;
  tx.guard('fdClosed', fd);
  const e = tx.sys.fds[fd];
  if (!e) throw new Unmodelled(`fd ${fd} is not one the machines know`);
  if (e.kind !== 'iommufd') throw new Unmodelled(`${tx.ev.type} on a ${e.kind} fd (the kernel answers ENOTTY)`);
  tx.ctx = e.ctx;
}

function hwptKindOf(o: Obj): HwptKind {
  return o.kind === 'hwpt_nested' ? 'nested' : o.auto ? 'auto' : 'paging';
}

function devOfIdev(tx: Tx, idev: number): Dev {
  return tx.sys.devs[obj(tx, idev).dev as string] as Dev;
}

// ----------------------------------------------------------- context release

/** iommufd_fops_release: every object goes (leaves first); mock devices with their selftest objects. */
function releaseCtx(tx: Tx, key: number): void {
  const saved = tx.ctx;
  tx.ctx = key;
  const c = tx.sys.ctxs[key] as Ctx;
  for (const [id, o] of objectsOf(c)) {
    if (o.kind === 'device' || o.kind === 'selftest' || !o.snap) continue;
    tx.step(O(tx, id), { type: 'close', role: 'release', lastUser: false }, false);
  }
  for (const d of Object.values(tx.sys.devs)) {
    if (d.ctx !== key) continue;
    if (!d.mock) throw new Unmodelled('a released iommufd still has a bound VFIO device');
    tx.step({ kind: 'dev', key: d.key }, { type: 'close', role: 'release' }, false);
    tx.step({ kind: 'group', key: d.group }, { type: 'close', role: 'release', attached: d.rid !== undefined }, false);
    tx.sys = dropGroup(dropDev(tx.sys, d.key), d.group);
  }
  tx.sys = dropCtx(tx.sys, key);
  tx.ctx = saved;
}

/** Releases the context if nothing holds it any more. */
function maybeRelease(tx: Tx, key: number): void {
  const c = tx.sys.ctxs[key];
  if (c && !c.fdOpen && ctxHolders(tx.sys, key) === 0) releaseCtx(tx, key);
}

// ------------------------------------------------------------- attachments

/** A device (or PASID) left HWPT `hwpt` because of `type`: the HWPT and its fault queue hear of it. */
function leftHwpt(tx: Tx, hwpt: number, type: string): void {
  const o = live(tx, hwpt);
  if (!o) return;
  const lastUser = usersOf(tx.sys, tx.ctx, hwpt) === 0;
  const role = 'old';
  tx.step(O(tx, hwpt), { type, role, lastUser, users: usersOf(tx.sys, tx.ctx, hwpt) }, false);
  if (o.fault !== undefined && live(tx, o.fault, ['fault'])) {
    const detach = type === 'close' || type === 'IOMMU_DESTROY';
    tx.step(O(tx, o.fault), detach ? { type, role: 'detach', users: 0 } : { type }, false);
  }
  reap(tx, hwpt);
}

/** Finds or makes the HWPT an attach to pt ends on. Returns its id and whether it is a new automatic one. */
function resolvePt(tx: Tx, dev: Dev, pt: number, outPath: string | undefined, pasid: number | undefined, taken: readonly number[]): { hwpt: number; created: boolean } {
  const p = obj(tx, pt);
  if (p.kind !== 'ioas') return { hwpt: pt, created: false };
  if (tx.obs?.ok !== true) noPermFill(tx, pt);
  const autos = objectsOf(ctxOf(tx)).filter(([, o]) => o.kind === 'hwpt_paging' && o.auto && o.ioas === pt);
  const seen = outPath ? tx.observed(outPath) : undefined;
  if (seen !== undefined) {
    const id = Number(seen);
    if (autos.some(([a]) => a === id)) return { hwpt: id, created: false };
    if (id in ctxOf(tx).objects || taken.includes(id)) throw new Mismatch(`${outPath} = ${id} is an object that is not an automatic HWPT of IOAS ${pt}`);
    return { hwpt: id, created: true };
  }
  if (tx.obs?.ok && outPath) throw new Unmodelled(`the result lacks ${outPath}`);
  // Prediction: the first automatic HWPT of the IOAS made for the same IOMMU (a PASID never fits one).
  const g = tx.sys.groups[dev.group];
  const groupAuto = g?.hwpt !== undefined && autos.find(([a]) => a === g.hwpt);
  if (pasid === undefined && groupAuto) return { hwpt: groupAuto[0], created: false };
  const fit = pasid === undefined ? autos.find(([, o]) => o.iommu === dev.iommu) : undefined;
  if (fit) return { hwpt: fit[0], created: false };
  return { hwpt: lowestFreeId(ctxOf(tx), taken), created: true };
}

/**
 * A new domain is filled from every area of its IOAS (iopt_fill_domain); one
 * mapped with neither READ nor WRITE gives iommu_map no permission to map, and
 * whether the driver refuses it is not what the machines decide.
 */
function noPermFill(tx: Tx, ioas: number): void {
  const c = obj(tx, ioas).snap?.c as IoasContext | undefined;
  if (c?.areas.some((a) => a.noPerm)) throw new Unmodelled('a new domain filled from an area mapped without READ or WRITE');
}

/** The IOMMU instance whose driver owns a HWPT's domain: its own, or (nested) its parent's or vIOMMU's. */
function domainIommu(tx: Tx, o: Obj): string | undefined {
  if (o.iommu !== undefined) return o.iommu;
  if (o.viommu !== undefined) return objAt(tx, o.viommu)?.iommu;
  if (o.parent !== undefined) return objAt(tx, o.parent)?.iommu;
  return undefined;
}

/**
 * __iommu_attach_group: a domain of another driver is refused with EINVAL
 * (6.12: dev_iommu_ops(dev) != domain->owner; 7.3: domain_iommu_ops_compatible).
 * Units of one driver (one page-table format) leave it to the driver's
 * attach_dev, which the machines do not model: the implementation's answer is followed.
 */
function checkDomainOwner(tx: Tx, dev: Dev, target: Obj): void {
  const owner = domainIommu(tx, target);
  if (owner === undefined || owner === dev.iommu) return;
  const a = tx.sys.iommus[owner]?.format;
  const b = tx.sys.iommus[dev.iommu]?.format;
  if (a !== undefined && b !== undefined && a !== b) tx.guard('foreignDomain', 1);
  if (!tx.obs) throw new Unmodelled(`a domain of IOMMU ${owner} attached to a device of ${dev.iommu} (one driver): the driver's attach_dev decides`);
}

interface AttachOpts {
  /** The event type the machines see. */
  readonly type: string;
  readonly pasid?: number;
  /** Where the implementation writes the HWPT id back. */
  readonly outPath?: string;
  /** Ids already taken by this ioctl (MOCK_DOMAIN's selftest object and device). */
  readonly taken?: readonly number[];
  /** Replace only (the kernel's iommufd_device_replace). */
  readonly replace?: boolean;
}

/**
 * Attach or replace the RID (pasid undefined) or a PASID of a bound device to
 * pt (an IOAS, paging or nested HWPT): iommufd_device_change_pt with
 * iommufd_device_do_attach / _do_replace.
 */
function attach(tx: Tx, devKey: string, pt: number, o: AttachOpts): number {
  const dev = tx.sys.devs[devKey] as Dev;
  const pasid = o.pasid;
  const current = pasid === undefined ? dev.rid : dev.pasids[pasid];
  const { hwpt, created } = resolvePt(tx, dev, pt, o.outPath, pasid, o.taken ?? []);
  // An automatic domain is allocated without IOMMU_HWPT_ALLOC_PASID (iommufd_device_auto_get_domain): a
  // PASID attach to an IOAS is refused by the device's compatibility rule before anything stays created.
  const target0 = created ? undefined : obj(tx, hwpt);
  const kind = target0 ? hwptKindOf(target0) : 'auto';
  const compat = target0?.pasidCompat === true;
  // The group: one HWPT per group (RID only).
  const g = tx.sys.groups[dev.group];
  if (pasid === undefined && g && !dev.mock) {
    tx.step({ kind: 'group', key: g.key }, { type: o.type, callerAttached: dev.rid !== undefined, otherHwpt: g.hwpt !== undefined && g.hwpt !== hwpt }, !o.replace);
  }
  // The device: RID / PASID rules.
  tx.step({ kind: 'dev', key: devKey }, { type: o.type, pasid, kind, compat });
  if (created) {
    // iommufd_hwpt_paging_alloc for the auto domain (immediate attach): a new automatic HWPT on the IOAS.
    const snap = tx.create('hwpt_paging', { type: o.type, role: 'created', deviceDirty: dev.dirty, lastUser: false });
    tx.sys = setObj(tx.sys, tx.ctx, hwpt, { kind: 'hwpt_paging', snap, ioas: pt, auto: true, nestParent: false, pasidCompat: false, iommu: dev.iommu });
  }
  const target = obj(tx, hwpt);
  if (current === hwpt) return hwpt; // replace by the same HWPT: nothing changes
  // The HWPT it lands on: driver rules.
  const vdev = dev.vdev !== undefined ? live(tx, dev.vdev, ['vdevice']) : undefined;
  if (!created) {
    tx.step(O(tx, hwpt), { type: o.type, role: 'target', deviceDirty: dev.dirty, deviceHasVdevice: vdev?.viommu !== undefined && vdev.viommu === target.viommu, lastUser: false });
  }
  if (!created) checkDomainOwner(tx, dev, target);
  // Relations: the group moves as a whole on a RID replace.
  const movers = pasid === undefined && current !== undefined && g ? g.devices.filter((k) => tx.sys.devs[k]?.rid === current) : [devKey];
  for (const k of movers) {
    const d = tx.sys.devs[k] as Dev;
    if (pasid === undefined) {
      let next: Dev = { ...d, rid: hwpt };
      if (d.mock) {
        // mock_domain_nop_attach: the vIOMMU behind a vIOMMU-backed nested domain, and the device's virt_id in it.
        const viommu = target.kind === 'hwpt_nested' ? target.viommu : undefined;
        if (viommu !== d.mockViommu) {
          const v = d.vdev !== undefined ? objAt(tx, d.vdev) : undefined;
          next = { ...next, mockViommu: viommu, mockVdevId: viommu !== undefined && v?.viommu === viommu ? v.virtId : undefined };
        }
      }
      tx.sys = setDev(tx.sys, next);
    } else tx.sys = setDev(tx.sys, { ...d, pasids: { ...d.pasids, [pasid]: hwpt } });
  }
  if (pasid === undefined && g) tx.sys = setGroup(tx.sys, { ...(tx.sys.groups[g.key] ?? g), hwpt });
  if (current !== undefined) leftHwpt(tx, current, o.type);
  return hwpt;
}

/** Detach the RID or a PASID (a no-op when not attached). */
function detach(tx: Tx, devKey: string, pasid: number | undefined, type: string): void {
  const dev = tx.sys.devs[devKey] as Dev;
  const current = pasid === undefined ? dev.rid : dev.pasids[pasid];
  if (current === undefined) return;
  if (pasid === undefined) {
    tx.sys = setDev(tx.sys, { ...dev, rid: undefined });
    const g = tx.sys.groups[dev.group];
    if (g && !Object.values(tx.sys.devs).some((d) => d.group === g.key && d.rid !== undefined)) tx.sys = setGroup(tx.sys, { ...g, hwpt: undefined });
  } else {
    const pasids = { ...dev.pasids };
    delete pasids[pasid];
    tx.sys = setDev(tx.sys, { ...dev, pasids });
  }
  leftHwpt(tx, current, type);
}

/**
 * The device's binding ends (its VFIO file released, or its selftest object
 * destroyed): PASIDs and the RID are detached, its vDEVICE is tombstoned, the
 * DEVICE object goes.
 */
function unbind(tx: Tx, devKey: string, type: 'close' | 'IOMMU_DESTROY'): void {
  const dev = tx.sys.devs[devKey] as Dev;
  const saved = tx.ctx;
  tx.ctx = dev.ctx as number;
  const attached = dev.rid !== undefined;
  for (const p of Object.keys(dev.pasids)) detach(tx, devKey, Number(p), type);
  detach(tx, devKey, undefined, type);
  if (dev.vdev !== undefined && live(tx, dev.vdev, ['vdevice'])) {
    // iommufd_device_remove_vdev: the vDEVICE is destroyed and its id tombstoned.
    tx.step(O(tx, dev.vdev), type === 'close' ? { type, role: 'file' } : { type, role: 'device', users: 0 });
    tx.sys = setObj(tx.sys, tx.ctx, dev.vdev, { ...obj(tx, dev.vdev), tomb: true });
  }
  const d = tx.sys.devs[devKey] as Dev;
  if (d.idev !== undefined) tx.sys = dropObj(tx.sys, tx.ctx, d.idev);
  tx.sys = setDev(tx.sys, { ...d, ctx: undefined, idev: undefined, file: undefined, vdev: undefined, pasids: {} });
  const g = tx.sys.groups[dev.group];
  if (g) {
    tx.step({ kind: 'group', key: g.key }, type === 'close' ? { type, role: 'file', attached } : { type, role: 'stdev' }, false);
    const ng = tx.sys.groups[g.key] as typeof g;
    const owned = Object.values(tx.sys.devs).some((x) => x.group === g.key && x.ctx !== undefined);
    tx.sys = setGroup(tx.sys, { ...ng, ...(owned ? {} : { owner: undefined }) });
  }
  tx.ctx = saved;
}

// ------------------------------------------------------------------ files

/** A device file loses its last reference: if it is the bound one, the device is unbound. */
function releaseFile(tx: Tx, key: number): void {
  const file = tx.sys.files[key];
  if (!file || file.fdOpen || file.vms.length > 0) return;
  const dev = tx.sys.devs[file.dev];
  tx.sys = dropFile(tx.sys, key);
  if (dev && dev.file === key && dev.ctx !== undefined) {
    const ctx = dev.ctx;
    tx.step({ kind: 'dev', key: dev.key }, { type: 'close', role: 'file' });
    unbind(tx, dev.key, 'close');
    maybeRelease(tx, ctx);
  }
}

// --------------------------------------------------------------- handlers

const DESTROY_USERS_OF = (tx: Tx, id: number) => usersOf(tx.sys, tx.ctx, id);

const H: Record<string, Handler> = {};

H['open'] = {
  guards: [],
  doc: 'open /dev/iommu or /dev/vfio/vfio: a new iommufd context',
  run(tx) {
    const fd = newFd(tx, 'fd');
    const key = tx.sys.seq;
    tx.sys = setFd(setCtx({ ...tx.sys, seq: key + 1 }, { key, objects: {}, fdOpen: true }), fd, { kind: 'iommufd', ctx: key });
  },
};

H['open_device'] = {
  guards: [],
  doc: 'open a device’s VFIO cdev: a device file (a removed device’s handle is released: the adapter answers bad-handle, not a result)',
  run(tx) {
    const r = req<'open_device'>(tx);
    if (tx.sys.removed.includes(r.device)) throw new Unmodelled(`device ${r.device} was removed: its handle is released (a protocol error, bad-handle)`);
    if (!tx.sys.devs[`e${r.device}`]) throw new Unmodelled(`device ${r.device} is not one the machines know`);
    const fd = newFd(tx, 'fd');
    const key = tx.sys.seq;
    tx.sys = setFd(setFile({ ...tx.sys, seq: key + 1 }, { key, dev: `e${r.device}`, fdOpen: true, vms: [] }), fd, { kind: 'device', file: key });
  },
};

H['close'] = {
  guards: ['fdClosed'],
  doc: 'close(2): the fd’s file loses a reference; the last one releases it (an iommufd context, a device file, a fault or vEVENTQ queue’s fd, a selftest access)',
  run(tx) {
    const fd = req<'close'>(tx).fd;
    tx.guard('fdClosed', fd);
    const e = tx.sys.fds[fd];
    if (!e) throw new Unmodelled(`fd ${fd} is not one the machines know`);
    tx.sys = dropFd(tx.sys, fd);
    switch (e.kind) {
      case 'iommufd': {
        const c = tx.sys.ctxs[e.ctx];
        if (!c) return;
        tx.sys = setCtx(tx.sys, { ...c, fdOpen: false });
        maybeRelease(tx, e.ctx);
        return;
      }
      case 'device': {
        const file = tx.sys.files[e.file];
        if (!file) return;
        tx.sys = setFile(tx.sys, { ...file, fdOpen: false });
        releaseFile(tx, e.file);
        return;
      }
      case 'fault':
      case 'veventq':
      case 'access': {
        tx.ctx = e.ctx;
        const o = live(tx, e.id);
        if (!o) return;
        tx.sys = setObj(tx.sys, e.ctx, e.id, { ...o, fd: undefined });
        tx.step(O(tx, e.id), { type: 'close', role: 'file' });
        if (e.kind === 'access') tx.sys = dropObj(tx.sys, e.ctx, e.id); // iommufd_access_destroy
        reap(tx, e.id);
        maybeRelease(tx, e.ctx);
        return;
      }
      default:
        return;
    }
  },
};

const readWrite = (kind: 'read' | 'write'): Handler => ({
  guards: [],
  doc: kind === 'read' ? 'read(2) of a fault or vEVENTQ fd: queued events are handed out' : 'write(2) of a fault fd: page responses by cookie',
  run(tx) {
    const fd = (tx.ev.req as Req<'read'> | Req<'write'>).fd;
    const e = tx.sys.fds[fd];
    if (!e || (e.kind !== 'fault' && e.kind !== 'veventq')) throw new Unmodelled(`${kind} on a file the machines do not follow`);
    tx.ctx = e.ctx;
    if (!live(tx, e.id)) throw new Unmodelled('the queue is gone');
    const ret = tx.obs?.ok ? (tx.obs.ret ?? 0) : undefined;
    const o = obj(tx, e.id);
    if (e.kind === 'fault') {
      const ctxSnap = o.snap?.c as { queued: number; awaiting: number };
      if (kind === 'read') tx.step(O(tx, e.id), { type: 'read', groups: ret !== undefined ? Math.floor(ret / 40) : ctxSnap.queued });
      else tx.step(O(tx, e.id), { type: 'write', answers: ret !== undefined ? Math.floor(ret / 8) : ctxSnap.awaiting });
    } else if (kind === 'read') tx.step(O(tx, e.id), { type: 'read', drained: ret === undefined || ret > 0 });
    else throw new Unmodelled('write on a vEVENTQ fd (no write op: EINVAL)');
  },
});
H['read'] = readWrite('read');
H['write'] = readWrite('write');

H['device_create'] = {
  guards: [],
  doc: 'the environment creates a device (in a new group or an existing one)',
  run(tx) {
    const spec = req<'device_create'>(tx).spec as DeviceSpec;
    const handle = Number(tx.observed('device') ?? nextHandle(Object.keys(tx.sys.devs), 'e', tx.sys.removed));
    const groupHandle = spec.group ?? Number(tx.observed('group') ?? nextHandle(Object.keys(tx.sys.groups), 'g', []));
    const key = `e${handle}`;
    const gkey = `g${groupHandle}`;
    const iommu = tx.sys.iommus[spec.iommu];
    const snap = tx.create('device', { type: 'device_create' });
    let g = tx.sys.groups[gkey];
    const gsnap = g ? tx.sys.groups[gkey]!.snap : undefined;
    tx.sys = setDev(tx.sys, {
      key,
      mock: false,
      group: gkey,
      iommu: spec.iommu,
      dirty: spec.dirtyTracking ?? iommu?.dirty ?? false,
      coherent: spec.enforceCacheCoherency ?? iommu?.coherent ?? false,
      snap,
      pasids: {},
    });
    if (!g) {
      g = { key: gkey, snap: tx.create('group', { type: 'device_create' }), devices: [key] };
      tx.sys = setGroup(tx.sys, g);
    } else {
      tx.sys = setGroup(tx.sys, { ...g, snap: gsnap as typeof g.snap, devices: [...g.devices, key] });
      tx.step({ kind: 'group', key: gkey }, { type: 'device_create' });
    }
  },
};

function nextHandle(keys: readonly string[], prefix: string, removed: readonly number[]): number {
  let n = 1;
  while (keys.includes(`${prefix}${n}`) || removed.includes(n)) n++;
  return n;
}

H['device_remove'] = {
  guards: [],
  doc: 'the environment hot-unplugs a device (refused while a file of it is open or held)',
  run(tx) {
    const handle = req<'device_remove'>(tx).device;
    const d = tx.sys.devs[`e${handle}`];
    if (!d) throw new Unmodelled(`device ${handle} is not one the machines know`);
    const fileOpen = Object.values(tx.sys.files).some((x) => x.dev === d.key);
    tx.step({ kind: 'dev', key: d.key }, { type: 'device_remove', fileOpen });
    tx.step({ kind: 'group', key: d.group }, { type: 'device_remove' });
    const g = tx.sys.groups[d.group]!;
    tx.sys = { ...dropDev(tx.sys, d.key), removed: [...tx.sys.removed, handle] };
    if (stepper('group').isFinal(g.snap)) tx.sys = dropGroup(tx.sys, g.key);
    else tx.sys = setGroup(tx.sys, { ...g, devices: g.devices.filter((k) => k !== d.key) });
  },
};

H['kvm_create'] = {
  guards: [],
  doc: 'a VM with a kvm-vfio device',
  run(tx) {
    const vm = Number(tx.observed('vm') ?? nextHandle(Object.keys(tx.sys.vms).map((k) => `v${k}`), 'v', []));
    tx.sys = setVm(tx.sys, { key: vm, snap: tx.create('kvm', { type: 'kvm_create' }), files: [] });
  },
};

function vmOf(tx: Tx): number {
  const vm = (tx.ev.req as { vm: number }).vm;
  if (!tx.sys.vms[vm]) throw new Unmodelled(`VM ${vm} is not one the machines know`);
  return vm;
}

function fileCoherent(tx: Tx, file: number): boolean {
  const f = tx.sys.files[file];
  return f ? (tx.sys.devs[f.dev]?.coherent ?? true) : true;
}

H['kvm_vfio_add'] = {
  guards: ['kvmFdClosed'],
  doc: 'KVM_DEV_VFIO_FILE_ADD',
  run(tx) {
    const r = req<'kvm_vfio_add'>(tx);
    const vm = vmOf(tx);
    tx.guard('kvmFdClosed', r.fd);
    const e = tx.sys.fds[r.fd];
    if (!e) throw new Unmodelled(`fd ${r.fd} is not one the machines know`);
    const file = e.kind === 'device' ? e.file : undefined;
    const v = tx.sys.vms[vm]!;
    tx.step({ kind: 'vm', key: vm }, { type: 'kvm_vfio_add', vfio: file !== undefined, registered: v.files.some((x) => x.file === file), coherent: file === undefined || fileCoherent(tx, file) });
    const f = tx.sys.files[file as number]!;
    tx.sys = setFile(setVm(tx.sys, { ...tx.sys.vms[vm]!, files: [...v.files, { file: file as number, fd: r.fd }] }), { ...f, vms: [...f.vms, vm] });
  },
};

H['kvm_vfio_del'] = {
  guards: ['kvmFdClosed'],
  doc: 'KVM_DEV_VFIO_FILE_DEL',
  run(tx) {
    const r = req<'kvm_vfio_del'>(tx);
    const vm = vmOf(tx);
    tx.guard('kvmFdClosed', r.fd);
    const e = tx.sys.fds[r.fd];
    if (!e) throw new Unmodelled(`fd ${r.fd} is not one the machines know`);
    const file = e.kind === 'device' ? e.file : undefined;
    const v = tx.sys.vms[vm]!;
    tx.step({ kind: 'vm', key: vm }, { type: 'kvm_vfio_del', registered: v.files.some((x) => x.file === file), coherent: file === undefined || fileCoherent(tx, file) });
    tx.sys = setVm(tx.sys, { ...tx.sys.vms[vm]!, files: v.files.filter((x) => x.file !== file) });
    const f = tx.sys.files[file as number];
    if (f) {
      tx.sys = setFile(tx.sys, { ...f, vms: f.vms.filter((x) => x !== vm) });
      releaseFile(tx, f.key);
    }
  },
};

H['kvm_destroy'] = {
  guards: [],
  doc: 'the VM is released: its kvm-vfio device drops every registered file',
  run(tx) {
    const vm = vmOf(tx);
    const v = tx.sys.vms[vm]!;
    tx.step({ kind: 'vm', key: vm }, { type: 'kvm_destroy' });
    tx.sys = setVm(tx.sys, { ...(tx.sys.vms[vm] as typeof v), files: [] });
    for (const { file } of v.files) {
      const f = tx.sys.files[file];
      if (!f) continue;
      tx.sys = setFile(tx.sys, { ...f, vms: f.vms.filter((x) => x !== vm) });
      releaseFile(tx, file);
    }
  },
};

H['kvm_state'] = {
  guards: [],
  doc: 'observe the KVM coherency state (the oracle compares it with the KVM machine)',
  run(tx) {
    vmOf(tx);
  },
};

H['fail_nth'] = {
  guards: [],
  doc: 'arm fault injection for the next ioctl: its failure is the injection’s, not a lifecycle rule',
  run(tx) {
    tx.sys = { ...tx.sys, failNth: req<'fail_nth'>(tx).nth > 0 };
  },
};

H['reset'] = {
  guards: [],
  doc: 'back to a fresh session (ADAPTER.md §3.11): every fd, device, group and VM is gone, fail_nth is off, handles restart; the IOMMU instances stay',
  run(tx) {
    tx.sys = emptySystem(tx.sys.profile, Object.values(tx.sys.iommus));
  },
};

// ---- IOMMU_DESTROY

H['IOMMU_DESTROY'] = {
  guards: ['fdClosed', 'noSuchObject'],
  doc: 'destroy an object by id, if only the object table holds it',
  run(tx) {
    onIommufd(tx);
    const id = f(tx).num('id');
    tx.guard('noSuchObject', id);
    const o = obj(tx, id);
    const type = 'IOMMU_DESTROY';
    switch (o.kind) {
      case 'device':
        tx.step({ kind: 'dev', key: o.dev as string }, { type, role: 'idev' });
        return;
      case 'selftest': {
        const key = o.dev as string;
        const d = tx.sys.devs[key] as Dev;
        tx.step({ kind: 'dev', key }, { type, role: 'stdev' });
        unbind(tx, key, 'IOMMU_DESTROY');
        tx.sys = dropObj(dropDev(tx.sys, key), tx.ctx, id);
        tx.sys = dropGroup(tx.sys, d.group);
        return;
      }
      case 'ioas':
      case 'hwpt_paging':
      case 'hwpt_nested':
      case 'fault':
      case 'viommu':
      case 'veventq':
      case 'hw_queue':
      case 'vdevice':
      case 'access': {
        const users = DESTROY_USERS_OF(tx, id);
        tx.step(O(tx, id), { type, role: 'self', users, lastUser: false });
        if (!tx.isFinal(O(tx, id))) return;
        tx.sys = dropObj(tx.sys, tx.ctx, id);
        afterDestroy(tx, id, o);
        return;
      }
    }
  },
};

/** What an object's destruction releases in others. */
function afterDestroy(tx: Tx, id: number, o: Obj): void {
  switch (o.kind) {
    case 'vdevice': {
      const d = Object.values(tx.sys.devs).find((x) => x.vdev === id && x.ctx === tx.ctx);
      if (d) tx.sys = setDev(tx.sys, { ...d, vdev: undefined });
      return;
    }
    case 'hw_queue': {
      // The queue's internal access goes, and its lock on the parent IOAS's area.
      if (o.access !== undefined) tx.sys = dropObj(tx.sys, tx.ctx, o.access);
      const v = o.viommu !== undefined ? objAt(tx, o.viommu) : undefined;
      const parent = v?.parent !== undefined ? objAt(tx, v.parent) : undefined;
      if (parent?.ioas !== undefined && live(tx, parent.ioas, ['ioas'])) {
        tx.step(O(tx, parent.ioas), { type: 'IOMMU_DESTROY', role: 'hw_queue', users: 0, start: o.start, last: o.last }, false);
      }
      return;
    }
    default:
      return;
  }
}

// ---- IOAS

H['IOMMU_IOAS_ALLOC'] = {
  guards: ['fdClosed'],
  doc: 'a new, empty IOAS',
  run(tx) {
    onIommufd(tx);
    const id = newId(tx, 'out_ioas_id');
    const snap = tx.create('ioas', { type: 'IOMMU_IOAS_ALLOC' });
    tx.sys = setObj(tx.sys, tx.ctx, id, { kind: 'ioas', snap });
  },
};

const lookupIoas = (path: string, doc: string): Handler => ({
  guards: ['fdClosed', 'noSuchIoas'],
  doc,
  run(tx) {
    onIommufd(tx);
    tx.guard('noSuchIoas', f(tx).num(path));
  },
});
H['IOMMU_IOAS_IOVA_RANGES'] = lookupIoas('ioas_id', 'read an IOAS’s usable ranges (no state change)');
H['IOMMU_IOAS_ALLOW_IOVAS'] = lookupIoas('ioas_id', 'replace an IOAS’s allowed ranges (IOVA geometry: not a lifecycle change)');
H['IOMMU_IOAS_NOIOMMU_GET_PA'] = lookupIoas('ioas_id', 'read a physical address (no-IOMMU mode)');
H['IOMMU_TEST_OP_ADD_RESERVED'] = lookupIoas('id', 'reserve an IOVA range in an IOAS (geometry)');

function mapInto(tx: Tx, type: string, ioas: number, fixed: boolean, iova: bigint, length: bigint, outIova: string, file: boolean): void {
  let start = iova;
  if (!fixed) {
    const seen = tx.observed(outIova);
    if (seen !== undefined) start = BigInt(seen);
    else if (tx.obs?.ok) throw new Unmodelled(`the result lacks ${outIova}`);
    else throw new Unmodelled('an automatic IOVA is placed by the implementation');
  }
  tx.step(O(tx, ioas), { type, start, last: start + length - 1n, file, fixed });
}

H['IOMMU_IOAS_MAP'] = {
  guards: ['fdClosed', 'noSuchIoas'],
  doc: 'map user memory into an IOAS: a new area',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const ioas = fl.num('ioas_id');
    tx.guard('noSuchIoas', ioas);
    mapInto(tx, 'IOMMU_IOAS_MAP', ioas, (fl.num('flags') & U.IOMMU_IOAS_MAP_FIXED_IOVA) !== 0, fl.big('iova'), fl.big('length'), 'iova', false);
  },
};

H['IOMMU_IOAS_MAP_FILE'] = {
  guards: ['fdClosed', 'noSuchIoas'],
  doc: 'map a memfd range into an IOAS: a new area backed by the file',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const ioas = fl.num('ioas_id');
    tx.guard('noSuchIoas', ioas);
    mapInto(tx, 'IOMMU_IOAS_MAP_FILE', ioas, (fl.num('flags') & U.IOMMU_IOAS_MAP_FIXED_IOVA) !== 0, fl.big('iova'), fl.big('length'), 'iova', true);
  },
};

/**
 * The selftest's syzkaller IOVA (selftest.c __iommufd_test_syz_conv_iova):
 * with MOCK_FLAGS_ACCESS_SYZ in the flags an IOVA is an area index (its low
 * u32) and an offset into that area (its high u32), counted in IOVA order
 * over the areas of the IOAS; an index past the last area gives IOVA 0.
 */
function syzIova(tx: Tx, ioas: number | undefined, iova: bigint): bigint {
  const areas = ioas === undefined ? [] : [...((obj(tx, ioas).snap?.c as IoasContext | undefined)?.areas ?? [])].sort((a, b) => (a.start < b.start ? -1 : 1));
  const area = areas[Number(BigInt.asUintN(32, iova))];
  return area ? area.start + BigInt.asUintN(32, iova >> 32n) : 0n;
}

H['IOMMU_IOAS_COPY'] = {
  guards: ['fdClosed', 'noSuchSrcIoas', 'noSuchDstIoas'],
  doc: 'map the pages behind a range of one IOAS into another: a new area sharing them',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const src = fl.num('src_ioas_id');
    const dst = fl.num('dst_ioas_id');
    const length = fl.big('length');
    tx.guard('noSuchSrcIoas', src);
    // ioas.c runs iommufd_test_syz_conv_iova_id on the source first.
    const srcIova = fl.num('flags') & U.MOCK_FLAGS_ACCESS_SYZ ? syzIova(tx, src, fl.big('src_iova')) : fl.big('src_iova');
    tx.step(O(tx, src), { type: 'IOMMU_IOAS_COPY', role: 'src', start: srcIova, last: srcIova + length - 1n, fixed: false });
    tx.guard('noSuchDstIoas', dst);
    let start = fl.big('dst_iova');
    if ((fl.num('flags') & U.IOMMU_IOAS_MAP_FIXED_IOVA) === 0) {
      const seen = tx.observed('dst_iova');
      if (seen !== undefined) start = BigInt(seen);
      else if (tx.obs?.ok) throw new Unmodelled('the result lacks dst_iova');
      else throw new Unmodelled('an automatic IOVA is placed by the implementation');
    }
    const fixed = (fl.num('flags') & U.IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
    // One destination area per source area the range crosses (iopt_get_pages, iopt_map_pages).
    const srcLast = srcIova + length - 1n;
    const srcAreas = (obj(tx, src).snap?.c as IoasContext | undefined)?.areas ?? [];
    const cuts = srcAreas.filter((a) => a.last >= srcIova && a.last < srcLast).map((a) => a.last + 1n - srcIova);
    tx.step(O(tx, dst), { type: 'IOMMU_IOAS_COPY', role: 'dst', start, last: start + length - 1n, file: false, fixed, ...(cuts.length > 0 && { cuts }) });
  },
};

/** An unmap of an IOAS: the IOAS machine decides; the accesses on it lose their items in the unmapped areas. */
function unmapFrom(tx: Tx, type: 'IOMMU_IOAS_UNMAP' | 'VFIO_IOMMU_UNMAP_DMA', ioas: number, all: boolean, start: bigint, last: bigint, outLength: string): void {
  const before = (obj(tx, ioas).snap?.c as IoasContext).areas;
  const ev = { type, all, start, last };
  const outcome = unmapOutcome({ areas: before, hugePages: (obj(tx, ioas).snap?.c as IoasContext).hugePages }, ev as never);
  const removed = before.filter((a) => !outcome.areas.some((b) => b.start <= a.start && a.last <= b.last));
  const dropItems = (): void => {
    if (removed.length === 0) return;
    for (const [id, o] of objectsOf(ctxOf(tx))) {
      if (o.kind !== 'access' || o.ioas !== ioas || o.internal) continue;
      if ((o.snap?.c as AccessContext).items.length === 0) continue;
      tx.step(O(tx, id), { type, removed }, false);
    }
  };
  try {
    tx.step(O(tx, ioas), ev);
  } catch (err) {
    if (!(err instanceof Refusal) || !err.sys) throw err;
    dropItems(); // partial progress of a failed unmap reaches the accesses too
    throw new Refusal(err.decision, tx.sys);
  }
  dropItems();
  const seen = tx.observed(outLength);
  if (seen !== undefined && BigInt(seen) !== outcome.unmapped) throw new Mismatch(`${outLength} = ${seen}, the machines' areas give ${outcome.unmapped}`);
}

H['IOMMU_IOAS_UNMAP'] = {
  guards: ['fdClosed', 'noSuchIoas'],
  doc: 'unmap the areas inside a range (never splitting one)',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const ioas = fl.num('ioas_id');
    tx.guard('noSuchIoas', ioas);
    const iova = fl.big('iova');
    const length = fl.big('length');
    const all = iova === 0n && length === U64_MAX;
    unmapFrom(tx, 'IOMMU_IOAS_UNMAP', ioas, all, iova, iova + length - 1n, 'length');
  },
};

H['IOMMU_OPTION'] = {
  guards: ['fdClosed', 'ctxHasObjects', 'noSuchIoas'],
  doc: 'get or set a context option (RLIMIT_MODE) or an IOAS option (HUGE_PAGES)',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const option = fl.num('option_id');
    const set = fl.num('op') === U.IOMMU_OPTION_OP_SET;
    if (option === U.IOMMU_OPTION_RLIMIT_MODE) {
      if (set && fl.num('object_id') === 0) tx.guard('ctxHasObjects');
      return;
    }
    if (option !== U.IOMMU_OPTION_HUGE_PAGES) return;
    const ioas = fl.num('object_id');
    tx.guard('noSuchIoas', ioas);
    const domains = objectsOf(ctxOf(tx)).filter(([, o]) => o.kind === 'hwpt_paging' && o.ioas === ioas).length;
    tx.step(O(tx, ioas), { type: 'IOMMU_OPTION', set, disable: fl.big('val64') === 0n, domains });
  },
};

H['IOMMU_IOAS_CHANGE_PROCESS'] = {
  guards: ['fdClosed'],
  doc: 'move pinned-page accounting to the calling process: every area of every IOAS must come from MAP_FILE',
  run(tx) {
    onIommufd(tx);
    for (const [id, o] of objectsOf(ctxOf(tx))) if (o.kind === 'ioas') tx.step(O(tx, id), { type: 'IOMMU_IOAS_CHANGE_PROCESS' });
  },
};

H['IOMMU_VFIO_IOAS'] = {
  guards: ['fdClosed', 'noCompatIoas', 'noSuchIoas'],
  doc: 'get, set or clear the context’s compat IOAS',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const op = fl.num('op');
    const c = ctxOf(tx);
    if (op === U.IOMMU_VFIO_IOAS_GET) {
      tx.guard('noCompatIoas');
      const seen = tx.observed('ioas_id');
      if (seen !== undefined && Number(seen) !== c.compatIoas) throw new Mismatch(`ioas_id = ${seen}, the compat IOAS is ${c.compatIoas}`);
    } else if (op === U.IOMMU_VFIO_IOAS_SET) {
      const ioas = fl.num('ioas_id');
      tx.guard('noSuchIoas', ioas);
      tx.sys = setCtx(tx.sys, { ...c, compatIoas: ioas });
    } else if (op === U.IOMMU_VFIO_IOAS_CLEAR) {
      tx.sys = setCtx(tx.sys, { ...c, compatIoas: undefined });
    }
  },
};

// ---- VFIO type1 compat on the compat IOAS

const compat = (doc: string, fn?: (tx: Tx, ioas: number) => void): Handler => ({
  guards: ['fdClosed', 'noCompatIoas'],
  doc,
  run(tx) {
    onIommufd(tx);
    tx.guard('noCompatIoas');
    fn?.(tx, ctxOf(tx).compatIoas as number);
  },
});
H['VFIO_IOMMU_GET_INFO'] = compat('type1 info of the compat IOAS');
H['VFIO_IOMMU_MAP_DMA'] = compat('type1 map into the compat IOAS (fixed IOVA)', (tx, ioas) => {
  const fl = f(tx);
  const iova = fl.big('iova');
  const noPerm = (fl.num('flags') & (U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE)) === 0;
  tx.step(O(tx, ioas), { type: 'VFIO_IOMMU_MAP_DMA', start: iova, last: iova + fl.big('size') - 1n, file: false, fixed: true, ...(noPerm && { noPerm }) });
});
H['VFIO_IOMMU_UNMAP_DMA'] = compat('type1 unmap from the compat IOAS (type1 v1 splits areas; unmapping nothing returns 0)', (tx, ioas) => {
  const fl = f(tx);
  const iova = fl.big('iova');
  const all = (fl.num('flags') & U.VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
  unmapFrom(tx, 'VFIO_IOMMU_UNMAP_DMA', ioas, all, iova, iova + fl.big('size') - 1n, 'size');
});
H['VFIO_SET_IOMMU'] = {
  guards: ['fdClosed', 'noCompatIoas'],
  doc: 'choose type1 (which disables large pages on the compat IOAS) or type1v2',
  run(tx) {
    onIommufd(tx);
    const r = req<'ioctl'>(tx);
    const type = r.arg.kind === 'int' ? Number(r.arg.value) : -1;
    if (type !== U.VFIO_TYPE1_IOMMU && type !== U.VFIO_TYPE1v2_IOMMU) return;
    tx.guard('noCompatIoas');
    const ioas = ctxOf(tx).compatIoas as number;
    const domains = objectsOf(ctxOf(tx)).filter(([, o]) => o.kind === 'hwpt_paging' && o.ioas === ioas).length;
    tx.step(O(tx, ioas), { type: 'VFIO_SET_IOMMU', set: type === U.VFIO_TYPE1_IOMMU, disable: true, domains });
  },
};

// ---- HWPT

H['IOMMU_HWPT_ALLOC'] = {
  guards: ['fdClosed', 'noSuchDevice', 'noSuchPtForAlloc', 'ptWrongTypeForAlloc', 'noSuchFault'],
  doc: 'allocate a manual paging HWPT on an IOAS, or a nested one on a NEST_PARENT HWPT or a vIOMMU',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const flags = fl.num('flags');
    const devId = fl.num('dev_id');
    const pt = fl.num('pt_id');
    tx.guard('noSuchDevice', devId);
    tx.guard('noSuchPtForAlloc', pt);
    tx.guard('ptWrongTypeForAlloc', pt);
    const dev = devOfIdev(tx, devId);
    const p = obj(tx, pt);
    const fault = (flags & U.IOMMU_HWPT_FAULT_ID_VALID) !== 0;
    const pasid = (flags & U.IOMMU_HWPT_ALLOC_PASID) !== 0;
    const id = newId(tx, 'out_hwpt_id');
    let o: Obj;
    if (p.kind === 'ioas') {
      if (tx.obs?.ok !== true) noPermFill(tx, pt);
      const nestParent = (flags & U.IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      const dirty = (flags & U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const snap = tx.create('hwpt_paging', { type: 'IOMMU_HWPT_ALLOC', profile: tx.profile, nestParent, dirty, pasid, fault, deviceDirty: dev.dirty });
      o = { kind: 'hwpt_paging', snap, ioas: pt, auto: false, nestParent, pasidCompat: pasid, iommu: dev.iommu };
    } else if (p.kind === 'hwpt_paging') {
      const snap = tx.create('hwpt_nested', { type: 'IOMMU_HWPT_ALLOC', from: 'paging', parentAuto: p.auto === true, parentNestParent: p.nestParent === true, sameIommu: true, pasid, fault });
      o = { kind: 'hwpt_nested', snap, parent: pt, pasidCompat: pasid, iommu: dev.iommu };
    } else {
      const snap = tx.create('hwpt_nested', { type: 'IOMMU_HWPT_ALLOC', from: 'viommu', parentAuto: false, parentNestParent: true, sameIommu: p.iommu === dev.iommu, pasid, fault });
      o = { kind: 'hwpt_nested', snap, parent: p.parent, viommu: pt, pasidCompat: pasid, iommu: dev.iommu };
    }
    if (fault) {
      const faultId = fl.num('fault_id');
      tx.guard('noSuchFault', faultId);
      o = { ...o, fault: faultId };
    }
    tx.sys = setObj(tx.sys, tx.ctx, id, o);
  },
};

/** The flags each dirty op knows; the handlers refuse any other bit (EOPNOTSUPP) before they look the HWPT up. */
const DIRTY_OP_FLAGS: Readonly<Record<string, number>> = {
  IOMMU_HWPT_SET_DIRTY_TRACKING: U.IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_GET_DIRTY_BITMAP: U.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
};

/**
 * Whether GET_DIRTY_BITMAP's range passes iommufd_check_iova_range (length,
 * overflow, page_size, alignment). The IOAS's iova_alignment is not modelled:
 * a range aligned to 4 KiB and to page_size is taken to pass it.
 */
function dirtyRangeChecks(fl: ReturnType<typeof f>): boolean {
  const iova = fl.big('iova');
  const length = fl.big('length');
  const pageSize = fl.big('page_size');
  if (length === 0n || pageSize === 0n) return false;
  const end = iova + length; // one past the last IOVA
  if (end - 1n > U64_MAX) return false; // ULONG_MAX on the 64-bit kernels
  const align = pageSize > 4096n ? pageSize : 4096n;
  return iova % align === 0n && end % align === 0n && align % pageSize === 0n;
}

const pagingOp = (type: string, doc: string): Handler => ({
  guards: ['fdClosed', 'noSuchHwptPaging'],
  doc,
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    // iommufd_hwpt_set_dirty_tracking / _get_dirty_bitmap check flags (the
    // latter also __reserved; the former leaves its __reserved unchecked)
    // first: an argument error, decided before any object.
    const reserved = type === 'IOMMU_HWPT_GET_DIRTY_BITMAP' && fl.has('__reserved') && fl.num('__reserved') !== 0;
    if ((fl.num('flags') & ~(DIRTY_OP_FLAGS[type] ?? 0)) !== 0 || reserved) throw new Unmodelled(`${type} with unknown flags or a reserved field set: EOPNOTSUPP before the HWPT lookup`);
    const id = fl.num('hwpt_id');
    tx.guard('noSuchHwptPaging', id);
    if (type === 'IOMMU_HWPT_GET_DIRTY_BITMAP' && !dirtyRangeChecks(fl)) throw new Unmodelled('a range or page size iommufd_check_iova_range refuses (EINVAL, EOVERFLOW) before the dirty ops decide');
    tx.step(O(tx, id), { type, enable: (fl.num('flags') & U.IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0, profile: tx.profile });
  },
});
H['IOMMU_HWPT_SET_DIRTY_TRACKING'] = pagingOp('IOMMU_HWPT_SET_DIRTY_TRACKING', 'switch dirty tracking of a paging HWPT');
H['IOMMU_HWPT_GET_DIRTY_BITMAP'] = pagingOp('IOMMU_HWPT_GET_DIRTY_BITMAP', 'read (and clear) a paging HWPT’s dirty bits');

H['IOMMU_HWPT_INVALIDATE'] = {
  guards: ['fdClosed', 'noSuchInvalidateTarget', 'invalidateWrongType'],
  doc: 'invalidate a nested HWPT’s (or a vIOMMU’s) caches',
  run(tx) {
    onIommufd(tx);
    const id = f(tx).num('hwpt_id');
    tx.guard('noSuchInvalidateTarget', id);
    if (tx.profile === '7.3') tx.guard('invalidateWrongType', id);
    tx.step(O(tx, id), { type: 'IOMMU_HWPT_INVALIDATE', profile: tx.profile });
  },
};

H['IOMMU_GET_HW_INFO'] = {
  guards: ['fdClosed', 'noSuchDevice'],
  doc: 'read a device’s IOMMU information (no state change)',
  run(tx) {
    onIommufd(tx);
    tx.guard('noSuchDevice', f(tx).num('dev_id'));
  },
};

// ---- faults, vIOMMU and its children

H['IOMMU_FAULT_QUEUE_ALLOC'] = {
  guards: ['fdClosed'],
  doc: 'a fault queue object and its fd',
  run(tx) {
    onIommufd(tx);
    const id = newId(tx, 'out_fault_id');
    const fd = newFd(tx, 'out_fault_fd');
    tx.sys = setFd(setObj(tx.sys, tx.ctx, id, { kind: 'fault', snap: tx.create('fault', { type: 'IOMMU_FAULT_QUEUE_ALLOC' }), fd }), fd, { kind: 'fault', ctx: tx.ctx, id });
  },
};

H['IOMMU_VIOMMU_ALLOC'] = {
  guards: ['fdClosed', 'noSuchDevice', 'noSuchHwptPaging'],
  doc: 'a vIOMMU on a NEST_PARENT paging HWPT',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const devId = fl.num('dev_id');
    tx.guard('noSuchDevice', devId);
    const hwpt = fl.num('hwpt_id');
    tx.guard('noSuchHwptPaging', hwpt);
    const dev = devOfIdev(tx, devId);
    const id = newId(tx, 'out_viommu_id');
    const snap = tx.create('viommu', { type: 'IOMMU_VIOMMU_ALLOC', parentNestParent: obj(tx, hwpt).nestParent === true });
    tx.sys = setObj(tx.sys, tx.ctx, id, { kind: 'viommu', snap, parent: hwpt, iommu: dev.iommu });
  },
};

H['IOMMU_VDEVICE_ALLOC'] = {
  guards: ['fdClosed', 'noSuchViommu', 'noSuchDevice'],
  doc: 'a vDEVICE: a device’s virtual id in a vIOMMU',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const viommu = fl.num('viommu_id');
    tx.guard('noSuchViommu', viommu);
    const devId = fl.num('dev_id');
    tx.guard('noSuchDevice', devId);
    const dev = devOfIdev(tx, devId);
    const virtId = fl.big('virt_id');
    const v = obj(tx, viommu);
    const taken = objectsOf(ctxOf(tx)).some(([, o]) => o.kind === 'vdevice' && o.viommu === viommu && o.virtId === virtId && !isTombstone(o));
    const id = newId(tx, 'out_vdevice_id');
    const snap = tx.create('vdevice', { type: 'IOMMU_VDEVICE_ALLOC', otherIommu: v.iommu !== dev.iommu, deviceHasVdevice: dev.vdev !== undefined, virtIdTaken: taken });
    tx.sys = setDev(setObj(tx.sys, tx.ctx, id, { kind: 'vdevice', snap, viommu, dev: dev.key, virtId }), { ...dev, vdev: id });
  },
};

H['IOMMU_VEVENTQ_ALLOC'] = {
  guards: ['fdClosed', 'noSuchViommu'],
  doc: 'a vEVENTQ of one type on a vIOMMU, and its fd',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const viommu = fl.num('viommu_id');
    tx.guard('noSuchViommu', viommu);
    const type = fl.num('type');
    const taken = objectsOf(ctxOf(tx)).some(([, o]) => o.kind === 'veventq' && o.viommu === viommu && o.type === type);
    const snap = tx.create('veventq', { type: 'IOMMU_VEVENTQ_ALLOC', typeTaken: taken });
    const id = newId(tx, 'out_veventq_id');
    const fd = newFd(tx, 'out_veventq_fd');
    tx.sys = setFd(setObj(tx.sys, tx.ctx, id, { kind: 'veventq', snap, viommu, type, fd }), fd, { kind: 'veventq', ctx: tx.ctx, id });
  },
};

H['IOMMU_HW_QUEUE_ALLOC'] = {
  guards: ['fdClosed', 'noSuchViommu'],
  doc: 'a HW queue of a vIOMMU: its guest memory is pinned (and locked) in the parent IOAS',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const viommu = fl.num('viommu_id');
    tx.guard('noSuchViommu', viommu);
    const v = obj(tx, viommu);
    const ioas = obj(tx, v.parent as number).ioas as number;
    const base = fl.big('nesting_parent_iova');
    const length = fl.big('length');
    // iommufd_hw_queue_alloc_phys pins whole pages around the queue.
    const start = base & ~0xfffn;
    const last = ((base + length + 0xfffn) & ~0xfffn) - 1n;
    const id = newId(tx, 'out_hw_queue_id');
    tx.step(O(tx, ioas), { type: 'IOMMU_HW_QUEUE_ALLOC', start, last });
    const index = fl.num('index');
    const queues = objectsOf(ctxOf(tx)).filter(([, o]) => o.kind === 'hw_queue' && o.viommu === viommu);
    const snap = tx.create('hw_queue', {
      type: 'IOMMU_HW_QUEUE_ALLOC',
      indexOutOfRange: index >= 2,
      indexTaken: queues.some(([, o]) => o.index === index),
      previousMissing: index > 0 && !queues.some(([, o]) => o.index === index - 1),
    });
    // The internal access is created after the queue object (its id follows).
    const accessId = lowestFreeId(ctxOf(tx), [id]);
    const accessSnap = tx.create('access', { type: 'IOMMU_TEST_OP_CREATE_ACCESS', pin: true });
    tx.sys = setObj(tx.sys, tx.ctx, accessId, { kind: 'access', snap: accessSnap, ioas, internal: true });
    tx.sys = setObj(tx.sys, tx.ctx, id, { kind: 'hw_queue', snap, viommu, index, start, last, access: accessId });
  },
};

// ---- the selftest's mock devices

function mockDomain(tx: Tx, type: string, devFlags: number): void {
  onIommufd(tx);
  const fl = f(tx);
  const pt = fl.num('id');
  const out = type === 'IOMMU_TEST_OP_MOCK_DOMAIN' ? 'mock_domain' : 'mock_domain_flags';
  const stdev = newId(tx, `${out}.out_stdev_id`);
  const idev = newId(tx, `${out}.out_idev_id`, [stdev]);
  const key = `m${tx.ctx}.${stdev}`;
  const gkey = `mg${tx.ctx}.${stdev}`;
  const mock = tx.sys.iommus['mock'];
  const dirty = (devFlags & U.MOCK_FLAGS_DEVICE_NO_DIRTY) === 0 && (mock?.dirty ?? true);
  // The device exists (bound) before the attach decides the HWPT:
  // iommufd_test_mock_domain binds the mock device (iommufd_device_bind
  // finalizes its DEVICE object) before iommufd_device_attach looks pt_id up,
  // so a pt_id naming that new device is EINVAL; the selftest object is
  // still a reserved id there (absent: ENOENT).
  const provisional: Dev = { key, mock: true, group: gkey, iommu: 'mock', dirty, coherent: mock?.coherent ?? false, snap: stepper('device').initial, pasids: {}, ctx: tx.ctx, idev, stdev };
  tx.sys = setDev(tx.sys, provisional);
  tx.sys = setObj(tx.sys, tx.ctx, idev, { kind: 'device', dev: key });
  tx.guard('noSuchPt', pt);
  tx.guard('ptWrongType', pt);
  const { hwpt, created } = resolvePt(tx, provisional, pt, `${out}.out_hwpt_id`, undefined, [stdev, idev]);
  if (created) {
    const snap = tx.create('hwpt_paging', { type, role: 'created', deviceDirty: dirty, lastUser: false });
    tx.sys = setObj(tx.sys, tx.ctx, hwpt, { kind: 'hwpt_paging', snap, ioas: pt, auto: true, nestParent: false, pasidCompat: false, iommu: 'mock' });
  }
  const target = obj(tx, hwpt);
  if (!created) tx.step(O(tx, hwpt), { type, role: 'target', deviceDirty: dirty, deviceHasVdevice: false, lastUser: false });
  if (!created) checkDomainOwner(tx, provisional, target);
  const snap = tx.create('device', { type, kind: hwptKindOf(target), compat: target.pasidCompat === true });
  const mockViommu = target.kind === 'hwpt_nested' ? target.viommu : undefined;
  tx.sys = setDev(tx.sys, { ...provisional, snap, rid: hwpt, ...(mockViommu !== undefined ? { mockViommu } : {}) });
  tx.sys = setGroup(tx.sys, { key: gkey, snap: tx.create('group', { type }), devices: [key], owner: tx.ctx, hwpt });
  tx.sys = setObj(setObj(tx.sys, tx.ctx, stdev, { kind: 'selftest', dev: key }), tx.ctx, idev, { kind: 'device', dev: key });
}

H['IOMMU_TEST_OP_MOCK_DOMAIN'] = {
  guards: ['fdClosed', 'noSuchPt', 'ptWrongType', 'foreignDomain'],
  doc: 'create a mock device, bind it and attach it to an IOAS or HWPT (selftest object, DEVICE object, HWPT ids)',
  run: (tx) => mockDomain(tx, 'IOMMU_TEST_OP_MOCK_DOMAIN', 0),
};
H['IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS'] = {
  guards: ['fdClosed', 'noSuchPt', 'ptWrongType', 'foreignDomain'],
  doc: 'MOCK_DOMAIN with device flags (NO_DIRTY, HUGE_IOVA on 6.12, PASID on 7.3)',
  run: (tx) => mockDomain(tx, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', f(tx).num('mock_domain_flags.dev_flags')),
};

function selftestDev(tx: Tx, id: number): Dev {
  tx.guard('noSuchSelftest', id);
  return tx.sys.devs[obj(tx, id).dev as string] as Dev;
}

H['IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE'] = {
  guards: ['fdClosed', 'noSuchSelftest', 'noSuchPt', 'ptWrongType', 'foreignDomain'],
  doc: 'replace a mock device’s RID attachment',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const dev = selftestDev(tx, fl.num('id'));
    const pt = fl.num('mock_domain_replace.pt_id');
    tx.guard('noSuchPt', pt);
    tx.guard('ptWrongType', pt);
    attach(tx, dev.key, pt, { type: 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', outPath: 'mock_domain_replace.pt_id', replace: true });
  },
};

const pasidOp = (type: string, doc: string, kind: 'attach' | 'replace' | 'detach'): Handler => ({
  guards: kind === 'detach' ? ['fdClosed', 'noSuchSelftest'] : ['fdClosed', 'noSuchSelftest', 'noSuchPt', 'ptWrongType', 'foreignDomain'],
  doc,
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const dev = selftestDev(tx, fl.num('id'));
    if (kind === 'detach') {
      const pasid = fl.num('pasid_detach.pasid');
      tx.step({ kind: 'dev', key: dev.key }, { type, pasid });
      detach(tx, dev.key, pasid, type);
      return;
    }
    // PASID_REPLACE fills the pasid_replace member, which the kernel reads as pasid_attach (same layout).
    const member = kind === 'replace' && fl.has('pasid_replace') ? 'pasid_replace' : 'pasid_attach';
    const pasid = fl.num(`${member}.pasid`);
    const pt = fl.num(`${member}.pt_id`);
    tx.guard('noSuchPt', pt);
    tx.guard('ptWrongType', pt);
    attach(tx, dev.key, pt, { type, pasid, outPath: `${member}.pt_id`, replace: kind === 'replace' });
  },
});
H['IOMMU_TEST_OP_PASID_ATTACH'] = pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 'attach a PASID of a mock device', 'attach');
H['IOMMU_TEST_OP_PASID_REPLACE'] = pasidOp('IOMMU_TEST_OP_PASID_REPLACE', 'replace a PASID’s attachment', 'replace');
H['IOMMU_TEST_OP_PASID_DETACH'] = pasidOp('IOMMU_TEST_OP_PASID_DETACH', 'detach a PASID (no-op when not attached)', 'detach');

H['IOMMU_TEST_OP_PASID_CHECK_HWPT'] = {
  guards: ['fdClosed', 'noSuchSelftest', 'noSuchHwpt'],
  doc: 'check which HWPT a PASID is attached to (hwpt_id 0: none)',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const dev = selftestDev(tx, fl.num('id'));
    const pasid = fl.num('pasid_check.pasid');
    const hwpt = fl.num('pasid_check.hwpt_id');
    const current = dev.pasids[pasid];
    if (hwpt !== 0) tx.guard('noSuchHwpt', hwpt);
    tx.step({ kind: 'dev', key: dev.key }, { type: 'IOMMU_TEST_OP_PASID_CHECK_HWPT', matches: hwpt === 0 ? current === undefined : current === hwpt });
  },
};

H['IOMMU_TEST_OP_TRIGGER_IOPF'] = {
  guards: ['fdClosed', 'noSuchDevice', 'triggerNotMock'],
  doc: 'report a page request for a mock device (and PASID): it queues on the fault queue of the HWPT it translates through, if that one delivers faults',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const devId = fl.num('trigger_iopf.dev_id');
    tx.guard('noSuchDevice', devId);
    tx.guard('triggerNotMock', devId);
    const dev = devOfIdev(tx, devId);
    const pasid = fl.num('trigger_iopf.pasid');
    const hwpt = pasid === 0 ? dev.rid : dev.pasids[pasid];
    const h = hwpt !== undefined ? live(tx, hwpt) : undefined;
    if (h?.fault !== undefined && live(tx, h.fault, ['fault'])) tx.step(O(tx, h.fault), { type: 'IOMMU_TEST_OP_TRIGGER_IOPF' });
  },
};

H['IOMMU_TEST_OP_TRIGGER_VEVENT'] = {
  guards: ['fdClosed', 'noSuchDevice', 'noViommuForVevent', 'noVeventq'],
  doc: 'report a vIOMMU event for a mock device: it queues on the vIOMMU’s selftest vEVENTQ',
  run(tx) {
    onIommufd(tx);
    const devId = f(tx).num('trigger_vevent.dev_id');
    tx.guard('noSuchDevice', devId);
    tx.guard('noViommuForVevent', devId);
    const dev = devOfIdev(tx, devId);
    const viommu = dev.mockViommu as number;
    tx.guard('noVeventq', viommu);
    const q = objectsOf(ctxOf(tx)).find(([, o]) => o.kind === 'veventq' && o.viommu === viommu && o.type === U.IOMMU_VEVENTQ_TYPE_SELFTEST);
    if (q) tx.step(O(tx, q[0]), { type: 'IOMMU_TEST_OP_TRIGGER_VEVENT' });
  },
};

// ---- the selftest's accesses

H['IOMMU_TEST_OP_CREATE_ACCESS'] = {
  guards: ['fdClosed', 'noSuchIoas'],
  doc: 'create an access attached to an IOAS (an object id the kernel does not return, and an fd)',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const id = lowestFreeId(ctxOf(tx));
    const ioas = fl.num('id');
    tx.guard('noSuchIoas', ioas);
    const fd = newFd(tx, 'create_access.out_access_fd');
    const pin = (fl.num('create_access.flags') & U.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
    const snap = tx.create('access', { type: 'IOMMU_TEST_OP_CREATE_ACCESS', pin });
    tx.sys = setFd(setObj(tx.sys, tx.ctx, id, { kind: 'access', snap, ioas, fd }), fd, { kind: 'access', ctx: tx.ctx, id });
  },
};

/**
 * The access an access fd names, through whichever iommufd the test command
 * came: the selftest finds it by its file (iommufd_access_get), and what it
 * does goes on in its own context (access->ictx: the IOAS a replace names is
 * looked up there), which the rest of the handler works in.
 */
function accessByFd(tx: Tx, fd: number): number {
  tx.guard('notAnAccessFd', fd);
  const e = tx.sys.fds[fd] as { ctx: number; id: number };
  tx.ctx = e.ctx;
  return e.id;
}

H['IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'] = {
  guards: ['fdClosed', 'notAnAccessFd', 'noSuchIoas'],
  doc: 'move an access to another IOAS (everything it pinned is unpinned)',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const id = accessByFd(tx, fl.num('id'));
    const ioas = fl.num('access_replace_ioas.ioas_id');
    tx.guard('noSuchIoas', ioas);
    tx.step(O(tx, id), { type: 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', same: obj(tx, id).ioas === ioas });
    tx.sys = setObj(tx.sys, tx.ctx, id, { ...obj(tx, id), ioas });
  },
};

H['IOMMU_TEST_OP_ACCESS_PAGES'] = {
  guards: ['fdClosed', 'notAnAccessFd'],
  doc: 'pin a range through an access: a new item',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const id = accessByFd(tx, fl.num('id'));
    const c = obj(tx, id).snap?.c as AccessContext;
    const seen = tx.observed('access_pages.out_access_pages_id');
    const item = seen !== undefined ? Number(seen) : c.nextId;
    // iommufd_test_access_pages decodes a syzkaller IOVA against the access's IOAS (none: 0).
    const iova = fl.num('access_pages.flags') & U.MOCK_FLAGS_ACCESS_SYZ ? syzIova(tx, obj(tx, id).ioas, fl.big('access_pages.iova')) : fl.big('access_pages.iova');
    tx.step(O(tx, id), { type: 'IOMMU_TEST_OP_ACCESS_PAGES', item, start: iova, last: iova + fl.big('access_pages.length') - 1n });
  },
};

H['IOMMU_TEST_OP_DESTROY_ACCESS_PAGES'] = {
  guards: ['fdClosed', 'notAnAccessFd'],
  doc: 'unpin an item',
  run(tx) {
    onIommufd(tx);
    const fl = f(tx);
    const id = accessByFd(tx, fl.num('id'));
    tx.step(O(tx, id), { type: 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', item: fl.num('destroy_access_pages.access_pages_id') });
  },
};

H['IOMMU_TEST_OP_ACCESS_RW'] = {
  guards: ['fdClosed', 'notAnAccessFd'],
  doc: 'read or write through an access (no lifecycle change)',
  run(tx) {
    onIommufd(tx);
    const id = accessByFd(tx, f(tx).num('id'));
    tx.step(O(tx, id), { type: 'IOMMU_TEST_OP_ACCESS_RW' });
  },
};

// ---- VFIO device cdev

function onDeviceFile(tx: Tx): number {
  const fd = req<'ioctl'>(tx).fd;
  tx.guard('fdClosed', fd);
  const e = tx.sys.fds[fd];
  if (!e) throw new Unmodelled(`fd ${fd} is not one the machines know`);
  if (e.kind !== 'device') throw new Unmodelled(`${tx.ev.type} on a ${e.kind} fd`);
  return e.file;
}

H['VFIO_DEVICE_BIND_IOMMUFD'] = {
  guards: ['fdClosed', 'bindFdClosed', 'bindNotIommufd', 'otherFileBound'],
  doc: 'bind a device file to an iommufd: a DEVICE object, and its group owned by that iommufd',
  run(tx) {
    const file = onDeviceFile(tx);
    const fl = f(tx);
    const dev = tx.sys.devs[(tx.sys.files[file] as { dev: string }).dev] as Dev;
    if (dev.file === file) {
      tx.step({ kind: 'dev', key: dev.key }, { type: 'VFIO_DEVICE_BIND_IOMMUFD' }); // bound twice: EINVAL
      throw new Unmodelled('a second bind the device machine accepted');
    }
    const iommufd = fl.num('iommufd');
    tx.guard('bindFdClosed', iommufd);
    tx.guard('bindNotIommufd', iommufd);
    // vfio_df_ioctl_bind_iommufd looks the iommufd up (iommufd_ctx_from_fd)
    // before vfio_df_open refuses a second open of the device: an fd the
    // machines never saw opened is the kernel's EBADF, not OPEN_ONCE's EINVAL.
    const e = tx.sys.fds[iommufd];
    if (!e || e.kind !== 'iommufd') throw new Unmodelled(`iommufd ${iommufd} is not one the machines know`);
    tx.guard('otherFileBound', file);
    tx.ctx = e.ctx;
    const g = tx.sys.groups[dev.group];
    if (g) tx.step({ kind: 'group', key: g.key }, { type: 'VFIO_DEVICE_BIND_IOMMUFD', ownedElsewhere: g.owner !== undefined && g.owner !== e.ctx });
    tx.step({ kind: 'dev', key: dev.key }, { type: 'VFIO_DEVICE_BIND_IOMMUFD' });
    const idev = newId(tx, 'out_devid');
    tx.sys = setObj(tx.sys, e.ctx, idev, { kind: 'device', dev: dev.key });
    tx.sys = setDev(tx.sys, { ...(tx.sys.devs[dev.key] as Dev), ctx: e.ctx, idev, file });
    if (g) tx.sys = setGroup(tx.sys, { ...(tx.sys.groups[g.key] as typeof g), owner: e.ctx });
  },
};

function boundDevice(tx: Tx, file: number): Dev {
  const dev = tx.sys.devs[(tx.sys.files[file] as { dev: string }).dev] as Dev;
  if (dev.ctx === undefined) {
    const fl = f(tx);
    const pasid = tx.ev.type === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && (fl.num('flags') & U.VFIO_DEVICE_ATTACH_PASID) !== 0 ? fl.num('pasid') : undefined;
    tx.step({ kind: 'dev', key: dev.key }, { type: tx.ev.type, pasid, kind: 'auto', compat: false }); // unbound: EINVAL
    throw new Unmodelled('an unbound device accepted an attach');
  }
  tx.guard('fileNotBound', file);
  tx.ctx = dev.ctx;
  return dev;
}

H['VFIO_DEVICE_ATTACH_IOMMUFD_PT'] = {
  guards: ['fdClosed', 'fileNotBound', 'noSuchPt', 'ptWrongType', 'foreignDomain'],
  doc: 'attach (or replace) a bound device’s RID, or with VFIO_DEVICE_ATTACH_PASID one PASID, to an IOAS or HWPT',
  run(tx) {
    const file = onDeviceFile(tx);
    const fl = f(tx);
    const dev = boundDevice(tx, file);
    const pt = fl.num('pt_id');
    tx.guard('noSuchPt', pt);
    tx.guard('ptWrongType', pt);
    const pasid = (fl.num('flags') & U.VFIO_DEVICE_ATTACH_PASID) !== 0 ? fl.num('pasid') : undefined;
    attach(tx, dev.key, pt, { type: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', pasid, outPath: 'pt_id' });
  },
};

H['VFIO_DEVICE_DETACH_IOMMUFD_PT'] = {
  guards: ['fdClosed', 'fileNotBound'],
  doc: 'detach a bound device’s RID (or a PASID): blocked DMA; a no-op when not attached',
  run(tx) {
    const file = onDeviceFile(tx);
    const fl = f(tx);
    const dev = tx.sys.devs[(tx.sys.files[file] as { dev: string }).dev] as Dev;
    if (dev.ctx === undefined) {
      tx.step({ kind: 'dev', key: dev.key }, { type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' });
      throw new Unmodelled('an unbound device accepted a detach');
    }
    tx.guard('fileNotBound', file);
    tx.ctx = dev.ctx;
    const pasid = (fl.num('flags') & U.VFIO_DEVICE_DETACH_PASID) !== 0 ? fl.num('pasid') : undefined;
    tx.step({ kind: 'dev', key: dev.key }, { type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', pasid });
    if (pasid === undefined && dev.rid !== undefined) {
      const g = tx.sys.groups[dev.group];
      if (g) tx.step({ kind: 'group', key: g.key }, { type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' }, false);
    }
    detach(tx, dev.key, pasid, 'VFIO_DEVICE_DETACH_IOMMUFD_PT');
  },
};

/** The handler of a system event type, if the machines model it. */
export function handlerOf(type: string): Handler | undefined {
  return H[type];
}

export const HANDLERS: { readonly [type: string]: Handler } = H;

/** Events that observe without changing lifecycle state (the machines pass them through). */
export const OBSERVATIONS: { readonly [type: string]: string } = {
  capabilities: 'the capability report',
  poll: 'poll(2): readiness of a fault or vEVENTQ fd',
  set_process: 'the calling process’s limits and capabilities (accounting, not lifecycle)',
  process_info: 'locked and pinned page counts (accounting)',
  mem_alloc: 'user memory (not an iommufd object)',
  mem_write: 'user memory contents',
  mem_read: 'user memory contents',
  mem_unmap: 'user memory mapping (pinned pages stay pinned)',
  mem_protect: 'user memory protection',
  dma: 'a DMA probe (the DMA oracle’s business)',
  translate: 'a translation probe',
  pin_count: 'pin counts (accounting)',
  iotlb: 'IOTLB contents',
  VFIO_GET_API_VERSION: 'a constant',
  VFIO_CHECK_EXTENSION: 'extension support of the compat container',
  IOMMU_TEST_OP_MD_CHECK_MAP: 'a check of the mock page table (no state change)',
  IOMMU_TEST_OP_MD_CHECK_REFS: 'a check of page pin counts',
  IOMMU_TEST_OP_MD_CHECK_IOTLB: 'a check of a mock nested IOTLB entry',
  IOMMU_TEST_OP_DEV_CHECK_CACHE: 'a check of a mock device cache entry',
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: 'a selftest tuning knob (the batch size)',
  IOMMU_TEST_OP_DIRTY: 'mark IOPTEs dirty in the mock page table (data, not lifecycle)',
  IOMMU_TEST_OP_DMABUF_GET: 'a dma-buf from the selftest exporter (its fd is not an iommufd object)',
  IOMMU_TEST_OP_DMABUF_REVOKE: 'revoke a selftest dma-buf (data of MAP_FILE areas, not lifecycle)',
};

export type { Profile };

// Clauses the dispatch of an event implements itself (the machines' transitions and the system guards name theirs).
const DISPATCH_CLAUSES: { readonly [type: string]: readonly string[] } = {
  close: ['RELEASE.LEAVES_FIRST', 'VFIO_BIND.CTX_REFERENCE', 'KVM.HOLDS_FILE', 'ACCESS.CLOSE_DESTROYS'],
  fail_nth: ['FAIL_NTH.ATOMIC', 'ATTACH.FAIL_NTH'],
  IOMMU_IOAS_ALLOC: ['OBJECTS.LOWEST_FREE_ID', 'OBJECTS.ABORT_ON_ERROR'],
  IOMMU_HWPT_ALLOC: ['OBJECTS.LOWEST_FREE_ID', 'OBJECTS.ABORT_ON_ERROR'],
  VFIO_DEVICE_BIND_IOMMUFD: ['VFIO_BIND.CTX_REFERENCE', 'VFIO_BIND.DEVID'],
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: ['VFIO_ATTACH.REPLACE', 'REPLACE.ATOMIC'],
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: ['REPLACE.FREES_OLD_AUTO', 'REPLACE.ATOMIC'],
  kvm_destroy: ['KVM.RELEASE_DROPS_FILES'],
  kvm_state: ['KVM.NONCOHERENT_IFF'],
};
for (const [type, clauses] of Object.entries(DISPATCH_CLAUSES)) Object.assign(H[type] as Handler, { clauses });
