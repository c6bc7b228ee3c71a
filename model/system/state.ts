/**
 * The system state the system machine holds: every iommufd context with its
 * object table, the devices and groups of the environment, the device files,
 * KVM VMs and the fd table — each object carrying its object machine's
 * snapshot plus the relations between objects (users and references, group
 * membership, parent and child HWPTs, vIOMMU children), from which the
 * cross-object guards are computed.
 *
 * Values are immutable: every step builds a new state by shallow copies, so a
 * state can be a node of the traversal graph and the oracle can keep going
 * from any of them.
 */
import type { Profile } from '../../spec/uapi/profiles.ts';
import type { Snap } from '../core/compile.ts';

export type ObjKind = 'ioas' | 'hwpt_paging' | 'hwpt_nested' | 'device' | 'access' | 'fault' | 'viommu' | 'vdevice' | 'veventq' | 'hw_queue' | 'selftest';

/** An object in a context's table. Relations are ids in the same context (devices: device keys). */
export interface Obj {
  readonly kind: ObjKind;
  /** The object machine snapshot (DEVICE and SELFTEST objects: the device's machine lives on the device). */
  readonly snap?: Snap;
  /** hwpt_paging: the IOAS it is built on; access: the IOAS it is attached to. */
  readonly ioas?: number;
  /** hwpt_nested: its NEST_PARENT paging HWPT; viommu: its paging HWPT. */
  readonly parent?: number;
  /** hwpt_nested (from a vIOMMU), vdevice, veventq, hw_queue: the vIOMMU. */
  readonly viommu?: number;
  /** hwpt_*: the fault queue it delivers to. */
  readonly fault?: number;
  /** device, selftest, vdevice: the device key. */
  readonly dev?: string;
  /** fault, veventq, access: its fd while open. */
  readonly fd?: number;
  readonly auto?: boolean;
  readonly nestParent?: boolean;
  readonly pasidCompat?: boolean;
  /** hwpt_paging, viommu: the IOMMU instance of the device it was made for. */
  readonly iommu?: string;
  readonly virtId?: bigint;
  /** veventq: its type; hw_queue: its index. */
  readonly type?: number;
  readonly index?: number;
  /** hw_queue: the guest queue range in the parent IOAS, and the internal access pinning it. */
  readonly start?: bigint;
  readonly last?: bigint;
  readonly access?: number;
  /** access: created by the kernel for a HW queue (no fd, no driver of ours). */
  readonly internal?: boolean;
  /** vdevice: destroyed with its device and left as a tombstone in the table. */
  readonly tomb?: boolean;
}

export interface Ctx {
  readonly key: number;
  /** Objects, tombstoned vDEVICEs included (iommufd_object_tombstone_user: their ids answer ENOENT and are not reused). */
  readonly objects: Readonly<Record<number, Obj>>;
  /** ctx->vfio_ioas (IOMMU_VFIO_IOAS SET). */
  readonly compatIoas?: number;
  /** The iommufd's own fd is open. */
  readonly fdOpen: boolean;
}

export interface Dev {
  readonly key: string;
  readonly mock: boolean;
  readonly group: string;
  readonly iommu: string;
  /** IOMMU_CAP_DIRTY_TRACKING for this device. */
  readonly dirty: boolean;
  /** IOMMU_CAP_ENFORCE_CACHE_COHERENCY for this device. */
  readonly coherent: boolean;
  readonly snap: Snap;
  /** While bound: the context, the DEVICE object id, and (environment devices) the bound file. */
  readonly ctx?: number;
  readonly idev?: number;
  readonly file?: number;
  /** Mock devices: the selftest object id. */
  readonly stdev?: number;
  /** The RID's HWPT id. */
  readonly rid?: number;
  /** PASID → HWPT id. */
  readonly pasids: Readonly<Record<number, number>>;
  readonly vdev?: number;
  /** Mock driver: the vIOMMU and virtual id mock_domain_nop_attach recorded at the last RID attach that changed the vIOMMU. */
  readonly mockViommu?: number;
  readonly mockVdevId?: bigint;
}

export interface Group {
  readonly key: string;
  readonly snap: Snap;
  readonly devices: readonly string[];
  /** The owning context while owned. */
  readonly owner?: number;
  /** The HWPT the group's RIDs are attached to. */
  readonly hwpt?: number;
}

/** A VFIO device file (open_device). */
export interface DevFile {
  readonly key: number;
  readonly dev: string;
  /** Its fd is open (an fd number points at it). */
  readonly fdOpen: boolean;
  /** VMs whose kvm-vfio device holds it. */
  readonly vms: readonly number[];
}

export interface Vm {
  readonly key: number;
  readonly snap: Snap;
  /** Registered files, with the fd each was registered by. */
  readonly files: readonly { readonly file: number; readonly fd: number }[];
}

export type FdEntry =
  | { readonly kind: 'iommufd'; readonly ctx: number }
  | { readonly kind: 'device'; readonly file: number }
  | { readonly kind: 'fault' | 'veventq' | 'access'; readonly ctx: number; readonly id: number }
  | { readonly kind: 'other' };

export interface IommuInfo {
  readonly name: string;
  readonly dirty: boolean;
  readonly coherent: boolean;
  /** Its paging domains' page-table format (the capability report's): units of one driver share it, units of different drivers do not. */
  readonly format?: string;
}

export interface System {
  readonly profile: Profile;
  readonly iommus: Readonly<Record<string, IommuInfo>>;
  readonly fds: Readonly<Record<number, FdEntry>>;
  /** Fds this session closed and did not reuse: closing one again is EBADF. */
  readonly closed: readonly number[];
  readonly ctxs: Readonly<Record<number, Ctx>>;
  readonly devs: Readonly<Record<string, Dev>>;
  readonly groups: Readonly<Record<string, Group>>;
  readonly files: Readonly<Record<number, DevFile>>;
  readonly vms: Readonly<Record<number, Vm>>;
  /** Environment device handles that were removed (open_device of them: ENODEV). */
  readonly removed: readonly number[];
  /** Counter for context and file keys. */
  readonly seq: number;
  /** A fail_nth is armed for the next ioctl. */
  readonly failNth: boolean;
}

export function emptySystem(profile: Profile, iommus: readonly IommuInfo[] = [{ name: 'mock', dirty: true, coherent: false, format: 'mock' }]): System {
  const byName: Record<string, IommuInfo> = {};
  for (const i of iommus) byName[i.name] = i;
  if (!byName['mock']) byName['mock'] = { name: 'mock', dirty: true, coherent: false, format: 'mock' };
  return { profile, iommus: byName, fds: {}, closed: [], ctxs: {}, devs: {}, groups: {}, files: {}, vms: {}, removed: [], seq: 1, failNth: false };
}

// ---------------------------------------------------------------- updates
//
// Updates are copy-on-write. Outside a step every update copies what it
// touches, so states stay immutable values. Inside a step (beginDraft …
// endDraft) a structure is copied once, the first time the step touches it,
// and the copy is then updated in place: a step allocates a handful of
// objects instead of one per change.

// A plain Set: it lives for one step only, and a WeakSet's entries cost every
// minor collection ephemeron work (a visible share of a suite run).
let OWN: Set<object> | undefined;

/** Starts a step's draft: copies made from now on may be updated in place until endDraft. */
export function beginDraft(): void {
  OWN = new Set();
}

export function endDraft(): void {
  OWN = undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function w<T extends object>(o: T): Mutable<T> {
  if (OWN?.has(o)) return o as Mutable<T>;
  const c = { ...o } as Mutable<T>;
  OWN?.add(c);
  return c;
}

function put<K extends keyof System>(s: System, key: K, value: System[K]): System {
  const ns = w(s);
  ns[key] = value;
  return ns;
}

function setIn<K extends 'ctxs' | 'devs' | 'groups' | 'files' | 'vms' | 'fds'>(s: System, key: K, k: string | number, v: unknown): System {
  const ns = w(s);
  const m = w(ns[key] as Record<string | number, unknown>);
  m[k] = v;
  (ns as Record<string, unknown>)[key] = m;
  return ns;
}

function dropIn<K extends 'ctxs' | 'devs' | 'groups' | 'files' | 'vms' | 'fds'>(s: System, key: K, k: string | number): System {
  const ns = w(s);
  const m = w(ns[key] as Record<string | number, unknown>);
  delete m[k];
  (ns as Record<string, unknown>)[key] = m;
  return ns;
}

export function setCtx(s: System, c: Ctx): System {
  return setIn(s, 'ctxs', c.key, c);
}

export function dropCtx(s: System, key: number): System {
  return dropIn(s, 'ctxs', key);
}

export function setObj(s: System, ctx: number, id: number, o: Obj): System {
  const c = w(s.ctxs[ctx] as Ctx);
  const objects = w(c.objects as Record<number, Obj>);
  objects[id] = o;
  c.objects = objects;
  return setCtx(s, c);
}

export function dropObj(s: System, ctx: number, id: number): System {
  const c = w(s.ctxs[ctx] as Ctx);
  const objects = w(c.objects as Record<number, Obj>);
  delete objects[id];
  c.objects = objects;
  if (c.compatIoas === id) c.compatIoas = undefined;
  return setCtx(s, c);
}

export function setDev(s: System, d: Dev): System {
  return setIn(s, 'devs', d.key, d);
}

export function dropDev(s: System, key: string): System {
  return dropIn(s, 'devs', key);
}

export function setGroup(s: System, g: Group): System {
  return setIn(s, 'groups', g.key, g);
}

export function dropGroup(s: System, key: string): System {
  return dropIn(s, 'groups', key);
}

export function setFile(s: System, f: DevFile): System {
  return setIn(s, 'files', f.key, f);
}

export function dropFile(s: System, key: number): System {
  return dropIn(s, 'files', key);
}

export function setVm(s: System, v: Vm): System {
  return setIn(s, 'vms', v.key, v);
}

export function setFd(s: System, fd: number, e: FdEntry): System {
  const ns = setIn(s, 'fds', fd, e);
  return ns.closed.includes(fd) ? put(ns, 'closed', ns.closed.filter((x) => x !== fd)) : ns;
}

export function dropFd(s: System, fd: number): System {
  const ns = dropIn(s, 'fds', fd);
  return put(ns, 'closed', [...ns.closed, fd]);
}

// ---------------------------------------------------------------- queries

/** The lowest fd >= 3 that is not open (the kernel's get_unused_fd_flags with stdio open). */
export function lowestFreeFd(s: System, taken: readonly number[] = []): number {
  for (let fd = 3; ; fd++) if (!(fd in s.fds) && !taken.includes(fd)) return fd;
}

/** The lowest free object id >= 1 (xa_alloc, XA_FLAGS_ALLOC1): tombstones and `taken` are not free. */
export function lowestFreeId(c: Ctx, taken: readonly number[] = []): number {
  for (let id = 1; ; id++) if (!(id in c.objects) && !taken.includes(id)) return id;
}

export function objectsOf(c: Ctx): [number, Obj][] {
  const out: [number, Obj][] = [];
  for (const k in c.objects) out.push([Number(k), c.objects[k as unknown as number] as Obj]);
  return out;
}

/** Devices bound to a context. */
export function devicesOf(s: System, ctx: number): Dev[] {
  return Object.values(s.devs).filter((d) => d.ctx === ctx);
}

/** RID and PASID attachments to a HWPT (each device and each PASID counts). */
export function attachmentsOf(s: System, ctx: number, hwpt: number): number {
  let n = 0;
  for (const d of devicesOf(s, ctx)) {
    if (d.rid === hwpt) n++;
    for (const h of Object.values(d.pasids)) if (h === hwpt) n++;
  }
  return n;
}

/**
 * The references that keep an object alive besides the table's own — what
 * makes IOMMU_DESTROY fail with EBUSY (main.c: iommufd_object_remove,
 * refcount_dec_if_one). Drivers' own references (DEVICE, ACCESS) are the
 * machines' business.
 */
export function usersOf(s: System, ctx: number, id: number): number {
  const c = s.ctxs[ctx] as Ctx;
  const o = c.objects[id];
  if (!o) return 0;
  let n = 0;
  switch (o.kind) {
    case 'ioas':
      for (const [, x] of objectsOf(c)) if ((x.kind === 'hwpt_paging' || x.kind === 'access') && x.ioas === id) n++;
      return n;
    case 'hwpt_paging':
      for (const [, x] of objectsOf(c)) {
        if (x.kind === 'hwpt_nested' && x.parent === id && x.viommu === undefined) n++;
        if (x.kind === 'viommu' && x.parent === id) n++;
      }
      return n + attachmentsOf(s, ctx, id);
    case 'hwpt_nested':
      return attachmentsOf(s, ctx, id);
    case 'fault':
      for (const [, x] of objectsOf(c)) if ((x.kind === 'hwpt_paging' || x.kind === 'hwpt_nested') && x.fault === id) n++;
      return n + (o.fd !== undefined ? 1 : 0);
    case 'viommu':
      for (const [, x] of objectsOf(c)) if (x.viommu === id && !x.tomb && (x.kind === 'vdevice' || x.kind === 'hwpt_nested' || x.kind === 'veventq' || x.kind === 'hw_queue')) n++;
      return n;
    case 'veventq':
      return o.fd !== undefined ? 1 : 0;
    case 'hw_queue':
      for (const [, x] of objectsOf(c)) if (x.kind === 'hw_queue' && x.viommu === o.viommu && x.index === (o.index ?? 0) + 1) n++;
      return n;
    default:
      return 0;
  }
}

/** What keeps a context alive besides its own fd: bound VFIO devices, open fault / vEVENTQ / access fds. */
export function ctxHolders(s: System, ctx: number): number {
  let n = 0;
  for (const d of Object.values(s.devs)) if (d.ctx === ctx && !d.mock) n++;
  const c = s.ctxs[ctx];
  if (c) for (const [, o] of objectsOf(c)) if ((o.kind === 'fault' || o.kind === 'veventq' || (o.kind === 'access' && !o.internal)) && o.fd !== undefined) n++;
  return n;
}
