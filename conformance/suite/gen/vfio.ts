/**
 * The VFIO side: device cdev bind / attach / replace / detach over iommufd,
 * and the type1 compat container (VFIO_SET_IOMMU, MAP_DMA, UNMAP_DMA) on
 * iommufd's compat IOAS.
 */
import fc from 'fast-check';
import { enumValue } from '../../../spec/uapi/lookup.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { PAGE } from '../ranges.ts';
import type { TraceStep } from '../session.ts';
import { type Defect, Ref, type StepTemplate, type Tmpl } from '../step.ts';
import type { AbiChoice, RequestBits } from './abi.ts';
import { type AreaEntry, type BufEntry, type CtxEntry, type DfdEntry, GenModel, type ObjEntry, type ObjKind, pick } from './model.ts';
import { HPAGE, type IdChoice, idChoice, idOf, type IovaChoice, iovaChoice, iovaOf, type LenChoice, lenChoice, lengthOf, type VaChoice, vaChoice, vaOf } from './values.ts';
import type { CommandSpec, Need } from './command.ts';
import { awayFrom, bindCtx, DEVICE_RESV_IOVA, mapFlags, recordFixedMap, boundsFor, ctxK, ctxOf, dfdClosed, type GenEnv, idDefects, ioctlStep, k16, namedIoas, NONE, noteLeft, ok, opSupported, otherRequestStep, PAGE_BYTES, rangesAfterFailedAttach, rangesOf, recordAttach, recordAttachOf, requestBits, reservedMapStep, siblingPt, supported, unmapAreaStep, v, writeOnlyThenUsed } from './shared.ts';

/** `to`: a context by name (constructors only; generated choices leave it out). */
export type Bind = { dfd: number; ctx: number; badFd: boolean; abi: AbiChoice; to?: string; token?: boolean };
/** `at`: a device file by name (constructors only). */
export type Attach = { dfd: number; pt: IdChoice; hwpt: boolean; abi: AbiChoice; at?: string };

/**
 * A bound device and the live HWPT of a device of the same context behind
 * another unit, in either direction (the first of a pair the crossUnit setting
 * makes has reserved regions and sits in another IOAS).
 */
export function crossUnitPairs(m: GenModel): { d: DfdEntry; hwpt: ObjEntry }[] {
  return m.dfds.flatMap((d) => {
    if (!d.open || !d.ctx) return [];
    return m.dfds.flatMap((x) => {
      const hwpt = x.open && x.ctx === d.ctx && x.dev.iommu !== d.dev.iommu && x.attached ? m.objs.find((h) => h.name === x.attached && h.alive) : undefined;
      return hwpt?.ioas && d.attached !== hwpt.name ? [{ d, hwpt }] : [];
    });
  });
}

/** The live IOAS an open device file is attached to, through its HWPT. */
export function ioasOfDfd(m: GenModel, d: DfdEntry): string | undefined {
  return d.open && d.attached ? m.objs.find((h) => h.name === d.attached && h.alive)?.ioas : undefined;
}

/**
 * IOASes with open device files behind two or more units attached (two
 * domains or more), each with its device files in the order their HWPTs
 * were made (the order their domains joined the IOAS).
 */
export function twoUnitIoases(m: GenModel): { ioas: string; dfds: DfdEntry[] }[] {
  const by = new Map<string, DfdEntry[]>();
  for (const d of m.dfds) {
    const at = ioasOfDfd(m, d);
    if (at !== undefined) by.set(at, [...(by.get(at) ?? []), d]);
  }
  const made = (d: DfdEntry): number => m.objs.findIndex((o) => o.name === d.attached);
  return [...by].filter(([, ds]) => new Set(ds.map((d) => d.dev.iommu.name)).size > 1).map(([ioas, ds]) => ({ ioas, dfds: ds.sort((a, b) => made(a) - made(b)) }));
}

/**
 * A device that left a HWPT allocated for it (its domain's tag, a VT-d DID,
 * given back on the last detach), and the IOVA where that HWPT's IOAS and
 * the IOAS a device behind the same unit was attached to since (taking a tag
 * afresh) map different buffers; the second device's DMA there went first.
 */
interface TagReuse {
  readonly away: DfdEntry;
  readonly hwpt: string;
  readonly iova: bigint;
}
export const tagReuses = new WeakMap<GenModel, TagReuse>();

/** Where a page above 512 GiB grows a table whose top follows the IOVA (AMD v1, generic_pt's increase_top). */
export const GROW_IOVA = 1n << 39n;

/**
 * A device attached to an IOAS that maps a page at GROW_IOVA or above, and a device
 * behind the same unit bound in the same context and not attached: a domain
 * that grew, and a device that comes to it afterwards.
 */
export function growTargets(m: GenModel): { d: DfdEntry; e: DfdEntry }[] {
  return m.dfds.flatMap((d) => {
    const at = ioasOfDfd(m, d);
    if (!at || !d.ctx || !m.liveAreas(d.ctx, at).some((a) => a.iova + a.length > GROW_IOVA)) return [];
    return m.dfds.filter((e) => e !== d && e.open && e.ctx === d.ctx && !e.attached && e.dev.iommu.name === d.dev.iommu.name).map((e) => ({ d, e }));
  });
}


/** A VF token UUID a user would offer (any 16 bytes: none is set up for the environment's devices). */
const VF_TOKEN = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
export function vfioSpecs(env: GenEnv): CommandSpec<never>[] {
  const { profile: p, caps } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const has = (c: string): boolean => supported(caps, c);
  const dfdPick = (m: GenModel, k: number): DfdEntry | undefined => pick(m.openDfds(), k) ?? pick(m.dfds, k);
  const attachDfd = (m: GenModel, c: Attach): DfdEntry =>
    (c.at !== undefined ? m.dfds.find((x) => x.name === c.at) : undefined) ?? pick(m.dfds.filter((x) => x.ctx && x.open), c.dfd) ?? (dfdPick(m, c.dfd) as DfdEntry);

  /** After a bind refused for its argument's copy-back (EFAULT): the same bind of the same file, clean. */
  const rebindAfterFault = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
    const d = step.status === 'failed' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
    const f = (t.fields['arg'] as { fields: { iommufd: Tmpl } }).fields;
    return d?.open ? ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: 0, iommufd: f.iommufd }, NONE, { bind: { [m.fresh('devid')]: 'out.out_devid' } }) : undefined;
  };
  /** What a successful bind step binds in the model: the file's context and device object. */
  const recordBind = (m: GenModel, t: StepTemplate, step: TraceStep): void => {
    const d = ok(step) ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
    const ctx = ((t.fields['arg'] as { fields: { iommufd: Tmpl } }).fields.iommufd as Ref).name;
    const name = Object.keys(t.bind ?? {})[0];
    if (!d || !name || !m.ctxs.some((x) => x.name === ctx)) return;
    d.ctx = ctx;
    d.devid = name;
    m.objs.push({ name, kind: 'devid', ctx, alive: true });
  };

  // Every other SMMUv3 device bound (7.3, where its driver builds a nesting parent) gets its VMM's
  // stage 2 at once: a nesting parent over the context's first IOAS, attached, then a write-only
  // page and a page used and freed (writeOnlyThenUsed) — the stage-2 format's permissions and its
  // invalidation, which a nesting parent drawn by IOMMU_HWPT_ALLOC alone reaches in few cases.
  const nestParent = enumValue(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT');
  const stage2At = (m: GenModel, t: StepTemplate): StepTemplate[] => {
    const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name && x.open && x.devid && x.ctx && !x.attached && x.dev.iommu.format.startsWith('arm-'));
    const ioas = d?.ctx ? m.live('ioas', d.ctx)[0] : undefined;
    if (p === '6.12' || nestParent === undefined || !d?.ctx || !ioas || m.objs.filter((o) => o.kind === 'devid').length % 2 === 1 || !has('IOMMU_HWPT_ALLOC') || !has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) return [];
    const parent = m.fresh('hwpt');
    return [
      ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(d.ctx), { flags: nestParent, dev_id: new Ref(d.devid as string), pt_id: new Ref(ioas.name), data_type: 0 }, NONE, { bind: { [parent]: 'out.out_hwpt_id' } }),
      ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: new Ref(parent) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } }),
      ...writeOnlyThenUsed(env, m, new Ref(d.ctx), new Ref(ioas.name)),
    ].filter((x): x is StepTemplate => x !== undefined);
  };

  const tokenFlag = enumValue(p, 'VFIO_DEVICE_BIND_FLAG_TOKEN');
  if (has('VFIO_DEVICE_BIND_IOMMUFD')) {
    add({
      kind: 'VFIO_DEVICE_BIND_IOMMUFD',
      weight: 3,
      arb: fc.record({ dfd: k16, ctx: ctxK, badFd: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), token: fc.nat(5).map((x) => x === 0), abi: env.abiFor('VFIO_DEVICE_BIND_IOMMUFD') }),
      needs: ['dfd', 'ctx'], ready: () => true,
      build: (m, c) => {
        // A bad iommufd: a descriptor not open (EBADF), or every other time the device's own file,
        // open but no iommufd (iommufd_ctx_from_fd: EBADFD, the file's reference put back), on a
        // file not bound yet (a bound one is refused before the iommufd is looked up).
        const own = c.badFd && c.ctx % 2 === 1;
        const d = (own ? pick(m.openDfds().filter((x) => !x.ctx), c.dfd) : undefined) ?? (dfdPick(m, c.dfd) as DfdEntry);
        const ctx = bindCtx(m, d, c.ctx, c.to);
        const name = m.fresh('devid');
        const bad = own ? new Ref(d.name) : m.badFd;
        // Where the uAPI has VF tokens (7.3), now and then a token offered for a file not bound yet:
        // the device is no PF or VF, so it is refused (EINVAL) before anything is taken, and the
        // proper bind follows.
        const token: { [k: string]: Tmpl } = tokenFlag !== undefined && c.token === true && !c.badFd && !d.ctx ? { flags: tokenFlag, token_uuid_ptr: { data: VF_TOKEN } } : { flags: 0 };
        return ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { ...token, iommufd: c.badFd ? bad : new Ref(ctx.name) }, c.abi, { bind: { [name]: 'out.out_devid' } });
      },
      after: (m, _c, t, step) => recordBind(m, t, step),
      // A bind whose out_devid could not be copied back (a read-only argument: EFAULT) must have
      // closed the binding again (out_close_device): the same bind right after goes through. One
      // refused for naming its own file binds properly next: closing the file later must release it.
      follow: (m, c, t, step) => {
        if (c.abi.kind === 'readOnly') return rebindAfterFault(m, t, step);
        if (ok(step)) return stage2At(m, t);
        const sent = (t.fields['arg'] as { fields: { flags: Tmpl; iommufd: Tmpl } }).fields;
        const offeredFirst = step.status === 'failed' && tokenFlag !== undefined && sent.flags === tokenFlag ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name && x.open && !x.ctx) : undefined;
        if (offeredFirst) return ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(offeredFirst.name), { flags: 0, iommufd: sent.iommufd }, NONE, { bind: { [m.fresh('devid')]: 'out.out_devid' } });
        const own = sent.iommufd;
        const d = step.status === 'failed' && own instanceof Ref && own.name === (t.fields['fd'] as Ref).name ? m.dfds.find((x) => x.name === own.name && x.open && !x.ctx) : undefined;
        if (!d) return undefined;
        const ctx = new Ref(bindCtx(m, d, c.ctx, c.to).name);
        // Where the uAPI has VF tokens (7.3), a token offered first: the device is no PF or VF, so it
        // is refused (EINVAL) before the iommufd is looked up.
        const offered = tokenFlag !== undefined ? ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: tokenFlag, iommufd: ctx, token_uuid_ptr: { data: VF_TOKEN } }, NONE, { bind: { [m.fresh('devid')]: 'out.out_devid' } }) : undefined;
        const proper = ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: 0, iommufd: ctx }, NONE, { bind: { [m.fresh('devid')]: 'out.out_devid' } });
        return [offered, proper].filter((x): x is StepTemplate => x !== undefined);
      },
      afterFollow: (m, _c, t, step) => {
        if (t.fields['cmd'] === 'VFIO_DEVICE_BIND_IOMMUFD') return recordBind(m, t, step);
        if (!ok(step)) return;
        const f = (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields;
        if (t.fields['cmd'] === 'IOMMU_HWPT_ALLOC' && f.pt_id instanceof Ref) {
          m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (t.fields['fd'] as Ref).name, alive: true, ioas: f.pt_id.name, nestParent: true, auto: false });
        }
        const d = t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        if (d) recordAttach(m, d, t);
      },
    } satisfies CommandSpec<Bind>);
  }
  if (has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) {
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      weight: 4,
      arb: fc.record({ dfd: k16, pt: idChoice, hwpt: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 2, arbitrary: fc.constant(true) }), abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT', true) }),
      needs: ['bound', 'ioas'], ready: () => true,
      build: (m, c) => {
        // A read-only argument only for a first attach: its faulting pt_id detaches (out_detach), an unwind
        // there, while a replace would end detached from the HWPT it had. So it goes to a bound device
        // that is not attached, when there is one.
        const first = c.abi.kind === 'readOnly' ? pick(m.openDfds().filter((x) => x.ctx && !x.attached), c.dfd) : undefined;
        const d = first ?? attachDfd(m, c);
        const ctx = d.ctx ?? (m.ctxs[0]?.name as string);
        const pt = siblingPt(m, d, ctx, c.dfd, c.pt) ?? idOf(c.pt, m, ctx, c.hwpt ? ['hwpt'] : ['ioas']);
        const name = m.fresh('hwpt');
        const abi = c.abi.kind === 'readOnly' && d.attached ? NONE : c.abi;
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: pt.id }, abi, { bind: { [name]: 'out.pt_id' }, defects: idDefects(c.pt, pt.obj) });
      },
      after: recordAttachOf,
      // Every third attach that took is followed (7.3) by a detach of PASID 1, which the device never
      // attached: whatever the driver answers, the device's own attachment (its RID's) stays.
      follow: (m, c, t, step) => {
        const pasid = enumValue(p, 'VFIO_DEVICE_DETACH_PASID');
        if (!ok(step) || pasid === undefined || c.dfd % 3 !== 0) return rangesAfterFailedAttach(env, m, t, step);
        return ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', t.fields['fd'] as Ref, { flags: pasid, pasid: 1 }, NONE);
      },
    } satisfies CommandSpec<Attach>);

    // A first attach, to an IOAS that maps something, whose struct is read-only (ADAPTER.md §3.3):
    // the attach is done when the copy-back of pt_id faults, and its unwind (out_detach) must
    // leave the device unattached, reaching nothing. Drawn on its own: the attach above draws a
    // read-only argument only when some bound device happens to be unattached.
    if (env.caps.readOnlyArgs?.supported === true) {
      const unattached = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.ctx && !x.attached && m.liveAreas(x.ctx).length > 0);
      add({
        kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/answer-fault',
        weight: 1,
        arb: fc.record({ dfd: k16, area: k16 }),
        needs: ['bound', 'area'], ready: (m) => unattached(m).length > 0,
        build: (m, c) => {
          const d = pick(unattached(m), c.dfd) as DfdEntry;
          const a = pick(m.liveAreas(d.ctx), c.area) as AreaEntry;
          return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: new Ref(a.ioas) }, { kind: 'readOnly' });
        },
      } satisfies CommandSpec<{ dfd: number; area: number }>);
      // The same for a HWPT a bound device allocates on such an IOAS: done when the copy-back of
      // out_hwpt_id faults, it must be destroyed again (out_hwpt), its domain out of the IOAS,
      // its aperture no longer reserved there (IOVA_RANGES after).
      if (has('IOMMU_HWPT_ALLOC')) {
        const boundIn = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.ctx && x.devid && m.liveAreas(x.ctx).length > 0);
        add({
          kind: 'IOMMU_HWPT_ALLOC/answer-fault',
          weight: 1,
          arb: fc.record({ dfd: k16, area: k16 }),
          needs: ['bound', 'area'], ready: (m) => boundIn(m).length > 0,
          build: (m, c) => {
            const d = pick(boundIn(m), c.dfd) as DfdEntry;
            const a = pick(m.liveAreas(d.ctx), c.area) as AreaEntry;
            return ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(a.ctx), { flags: 0, dev_id: new Ref(d.devid as string), pt_id: new Ref(a.ioas), data_type: 0 }, { kind: 'readOnly' });
          },
          follow: (m, _c, t, step) => {
            const ioas = step.status === 'failed' ? namedIoas(m, (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields.pt_id) : undefined;
            return ioas && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES') ? rangesOf(env, ioas.ctx, ioas.name) : undefined;
          },
        } satisfies CommandSpec<{ dfd: number; area: number }>);
      }
    }

    // A PASID's attach (7.3: VFIO_DEVICE_ATTACH_PASID) to an IOAS that maps something, by a bound
    // device file, attached or not: only that PASID's DMA may reach the IOAS (pasid_attach_ioas;
    // a driver without it refuses, EOPNOTSUPP, vfio_df_ioctl_attach_pt): the device's own requests
    // reach what they did, whatever the answer.
    const pasidFlag = enumValue(p, 'VFIO_DEVICE_ATTACH_PASID');
    if (pasidFlag !== undefined) {
      const bound = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.ctx && m.liveAreas(x.ctx).length > 0);
      add({
        kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/pasid',
        weight: 1,
        arb: fc.record({ dfd: k16, area: k16, pasid: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: (1 << 20) - 1 })) }),
        needs: ['bound', 'area'], ready: (m) => bound(m).length > 0,
        build: (m, c) => {
          const d = pick(bound(m), c.dfd) as DfdEntry;
          const a = pick(m.liveAreas(d.ctx), c.area) as AreaEntry;
          return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: pasidFlag, pt_id: new Ref(a.ioas), pasid: c.pasid }, NONE);
        },
      } satisfies CommandSpec<{ dfd: number; area: number; pasid: number }>);
    }

    // A device file whose iommu group has another device attached in the same
    // context: attach it to that device's HWPT, to its IOAS, or to another
    // IOAS or HWPT. One group, one domain (iommufd_hw_pagetable_attach: a
    // group's devices share igroup->hwpt, anything else is EINVAL). Or detach
    // it, never attached as it is: vfio_iommufd_physical_detach_ioas returns
    // at !iommufd_attached, and the sibling's attachment must stay whole.
    type SiblingAttach = { k: number; to: 'same' | 'sameIoas' | 'otherIoas' | 'otherHwpt' | 'detach'; j: number; abi: AbiChoice };
    const groupAttachable = (m: GenModel): { d: DfdEntry; hwpt: ObjEntry }[] =>
      m.dfds.flatMap((d) => {
        if (!d.open || !d.ctx) return [];
        const x = m.dfds.find((o) => o !== d && o.open && o.ctx === d.ctx && o.dev !== d.dev && o.dev.group === d.dev.group && o.attached && m.objs.find((h) => h.name === o.attached)?.alive);
        const hwpt = x && m.objs.find((h) => h.name === x.attached);
        return hwpt && d.attached !== hwpt.name ? [{ d, hwpt }] : [];
      });
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/group-sibling',
      weight: 2,
      arb: fc.record({ k: k16, to: fc.constantFrom<SiblingAttach['to']>('same', 'sameIoas', 'otherIoas', 'detach', 'otherHwpt'), j: k16, abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT') }),
      needs: ['groupAttached'], ready: () => true,
      build: (m, c) => {
        const e = pick(groupAttachable(m), c.k);
        if (!e) return undefined;
        // (The ABI choice is the attach's: the detach is sent plain.)
        if (c.to === 'detach') return supported(env.caps, 'VFIO_DEVICE_DETACH_IOMMUFD_PT') ? ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0 }, NONE) : undefined;
        const ctx = e.d.ctx as string;
        const other = (kind: ObjKind): ObjEntry | undefined => pick(m.live(kind, ctx).filter((o) => o.name !== e.hwpt.name && o.name !== e.hwpt.ioas), c.j);
        const target = c.to === 'same' ? e.hwpt : c.to === 'sameIoas' ? m.objs.find((o) => o.name === e.hwpt.ioas && o.alive) : c.to === 'otherHwpt' ? (other('hwpt') ?? other('ioas')) : other('ioas');
        if (!target) return undefined;
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref(target.name) }, c.abi, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      // A detach of the unattached member changes nothing the generator follows.
      after: (m, c, t, step) => (c.to === 'detach' ? undefined : recordAttachOf(m, c, t, step)),
    } satisfies CommandSpec<SiblingAttach>);

    // A group whose members differ in what they can attach to (mixedGroup: one device that can
    // enforce cache coherency, one that cannot, both on a HWPT that does not enforce): the first
    // member replaced onto an enforcing HWPT of another IOAS. The group moves as one, so the
    // other member refuses it (EINVAL), and the first must be back on the HWPT it was on
    // (__iommu_group_set_domain_internal reverts every device it had switched to the old domain):
    // the probes of the group's members after the step read what each reaches.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/group-refused',
      weight: 1,
      arb: fc.record({ k: k16, abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT') }),
      needs: ['mixedGroup'], ready: () => true,
      build: (m, c) => {
        const alive = (n: string): boolean => !!m.objs.find((o) => o.name === n && o.alive);
        const g = pick(m.mixed.filter((x) => alive(x.shared) && alive(x.refused) && [x.a, x.b].every((n) => m.dfds.find((d) => d.name === n && d.open)?.attached === x.shared)), c.k);
        return g && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(g.a), { flags: 0, pt_id: new Ref(g.refused) }, c.abi, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
    } satisfies CommandSpec<{ k: number; abi: AbiChoice }>);

    // Two devices bound in one context, one attached: attach the other to the
    // first one's HWPT or IOAS. Whether they may share the domain is the
    // driver's (paging_domain_compatible: coherency enforcement, dirty
    // tracking, address width); an IOAS finds or makes a compatible one
    // (iommufd_device_auto_get_domain).
    type PeerAttach = { k: number; ioas: boolean; abi: AbiChoice };
    const peers = (m: GenModel): { d: DfdEntry; hwpt: ObjEntry }[] =>
      m.dfds.flatMap((d) => {
        if (!d.open || !d.ctx) return [];
        return m.dfds.flatMap((x) => {
          const hwpt = x !== d && x.open && x.ctx === d.ctx && x.dev !== d.dev && x.attached ? m.objs.find((h) => h.name === x.attached && h.alive) : undefined;
          return hwpt && d.attached !== hwpt.name ? [{ d, hwpt }] : [];
        });
      });
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/peer',
      weight: 2,
      arb: fc.record({ k: k16, ioas: fc.boolean(), abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT') }),
      needs: ['peerPair'], ready: () => true,
      build: (m, c) => {
        const e = pick(peers(m), c.k);
        if (!e) return undefined;
        const ioas = c.ioas ? m.objs.find((o) => o.name === e.hwpt.ioas && o.alive) : undefined;
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref((ioas ?? e.hwpt).name) }, c.abi, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
      // A peer that took an automatic domain of its own beside the first device's is followed by the
      // first device's attach to the same IOAS again (a replace): the search tries the IOAS's
      // automatic HWPTs oldest first (ioas->hwpt_list, list_add_tail), so it stays where it is.
      follow: (m, c, t, step) => {
        if (!ok(step) || !c.ioas) return rangesAfterFailedAttach(env, m, t, step);
        const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
        const own = d?.attached ? m.objs.find((h) => h.name === d.attached && h.alive && h.auto) : undefined;
        const first = own && m.dfds.find((x) => x !== d && x.open && x.ctx === d?.ctx && x.dev.iommu.name === d?.dev.iommu.name && x.attached && x.attached !== own.name && m.objs.some((h) => h.name === x.attached && h.alive && h.auto && h.ioas === own.ioas));
        return first && own?.ioas ? ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(first.name), { flags: 0, pt_id: new Ref(own.ioas) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } }) : undefined;
      },
      afterFollow: (m, _c, t, step) => {
        const d = ok(step) && t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        if (d) recordAttach(m, d, t);
      },
    } satisfies CommandSpec<PeerAttach>);
    // A device attached to (or, attached, moved to) the HWPT of a device behind another unit: another
    // driver's domain is foreign and one of the same driver must fit the unit (EINVAL otherwise, and
    // a device with reserved regions keeps them in the IOAS it stays in, out of the one it was going
    // to); a domain it takes it must reach all of.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/cross-unit',
      weight: 2,
      // Mostly the foreign HWPT itself (the replace fails); now and then its IOAS (an automatic domain of its own unit).
      arb: fc.record({ k: k16, ioas: fc.constantFrom(false, false, false, true) }),
      needs: ['crossUnit'], ready: () => true,
      build: (m, c) => {
        const e = pick(crossUnitPairs(m), c.k);
        const ioas = e && c.ioas ? m.objs.find((o) => o.name === e.hwpt.ioas && o.alive) : undefined;
        return e && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref((ioas ?? e.hwpt).name) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
      // A second unit's domain on a container's IOAS: the type1 user asks again what it may map
      // (QEMU's vfio_get_iommu_info after a group joins), which only both units' sizes allow.
      follow: (m, c, t, step) => {
        if (!ok(step) || !c.ioas) return rangesAfterFailedAttach(env, m, t, step);
        const pt = (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields.pt_id;
        const ctx = pt instanceof Ref ? m.ctxs.find((x) => x.open && x.compat === pt.name) : undefined;
        return ctx && supported(env.caps, 'VFIO_IOMMU_GET_INFO') ? ioctlStep(env, 'VFIO_IOMMU_GET_INFO', new Ref(ctx.name), {}, NONE, {}) : undefined;
      },
    } satisfies CommandSpec<{ k: number; ioas: boolean }>);
    // A device back on a HWPT it left, mostly one whose IOAS unmapped an area meanwhile: the
    // domain's IOTLB must hold nothing of it (a tag dropped from the invalidation targets while
    // no device used it must have been flushed then, or be now).
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/back',
      weight: 2,
      arb: k16,
      needs: ['awayHwpt'], ready: () => true,
      build: (m, k) => {
        const away = awayFrom(m);
        const e = pick(away.filter((x) => x.lost), k) ?? pick(away, k);
        return e && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref(e.to.name) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
    } satisfies CommandSpec<number>);
  }
  if (has('VFIO_DEVICE_BIND_IOMMUFD')) {
    // A bind of a device no file has bound, whose struct is read-only (ADAPTER.md §3.3): the bind
    // is done when the copy-back of out_devid faults, and its unwind (out_close_device) must leave
    // the device unbound, so the same bind right after goes through (the kind above's follow).
    // Drawn on its own: the bind above mostly names a device that is bound already.
    if (env.caps.readOnlyArgs?.supported === true) {
      const unbound = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => !x.ctx && !m.dfds.some((o) => o !== x && o.open && o.dev === x.dev && o.ctx));
      add({
        kind: 'VFIO_DEVICE_BIND_IOMMUFD/answer-fault',
        weight: 1,
        arb: fc.record({ dfd: k16, ctx: ctxK }),
        needs: ['dfd', 'ctx'], ready: (m) => unbound(m).length > 0,
        build: (m, c) => {
          const d = pick(unbound(m), c.dfd);
          const ctx = d && bindCtx(m, d, c.ctx);
          return d && ctx && ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: 0, iommufd: new Ref(ctx.name) }, { kind: 'readOnly' });
        },
        follow: (m, _c, t, step) => rebindAfterFault(m, t, step),
        afterFollow: (m, _c, t, step) => recordBind(m, t, step),
      } satisfies CommandSpec<{ dfd: number; ctx: number }>);
    }
    // The sibling of a device bound to one context, bound to another context
    // (or the same): a group has one DMA owner (iommu_device_claim_dma_owner,
    // EPERM for a different owner).
    type SiblingBind = { k: number; other: boolean; ctx: number; abi: AbiChoice };
    const unboundSiblings = (m: GenModel): { d: DfdEntry; owner: string }[] =>
      m.dfds.flatMap((d) => {
        if (!d.open || d.ctx) return [];
        const x = m.dfds.find((o) => o.open && o.ctx && o.dev !== d.dev && o.dev.group === d.dev.group && m.ctxs.find((c) => c.name === o.ctx)?.open);
        return x ? [{ d, owner: x.ctx as string }] : [];
      });
    add({
      kind: 'VFIO_DEVICE_BIND_IOMMUFD/group-sibling',
      weight: 2,
      arb: fc.record({ k: k16, other: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), ctx: ctxK, abi: env.abiFor('VFIO_DEVICE_BIND_IOMMUFD') }),
      needs: ['ctx2Pinning', 'groupPair'], ready: () => true,
      build: (m, c) => {
        const e = pick(unboundSiblings(m), c.k);
        if (!e) return undefined;
        // Mostly a context that pins pages: the refusal must leave it as it was, releasable.
        const others = m.openCtxs().filter((x) => x.name !== e.owner);
        const pinning = others.filter((x) => m.live('stdev', x.name).length > 0 && m.liveAreas(x.name).length > 0);
        const ctx = c.other ? (pick(pinning.length > 0 && c.ctx % 3 !== 2 ? pinning : others, c.ctx)?.name ?? e.owner) : e.owner;
        return ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(e.d.name), { flags: 0, iommufd: new Ref(ctx) }, c.abi, { bind: { [m.fresh('devid')]: 'out.out_devid' } });
      },
      after: (m, _c, t, step) => recordBind(m, t, step),
    } satisfies CommandSpec<SiblingBind>);
  }
  if (has('VFIO_DEVICE_DETACH_IOMMUFD_PT')) {
    // The device file's dispatch under numbers no command has (otherRequestStep), mostly on an
    // attached device, where a detach that ran would show.
    add({
      kind: 'ioctl/other-request-device',
      weight: 1,
      arb: fc.record({ dfd: k16, bits: requestBits }),
      needs: ['attached'], ready: () => true,
      build: (m, c) => {
        const d = pick(m.openDfds().filter((x) => x.attached), c.dfd) ?? (dfdPick(m, c.dfd) as DfdEntry);
        return otherRequestStep(env, new Ref(d.name), 'VFIO_DEVICE_DETACH_IOMMUFD_PT', c.bits, { fields: { flags: 0 } });
      },
    } satisfies CommandSpec<{ dfd: number; bits: RequestBits }>);
    /** The IOAS a detach of a device with reserved regions leaves (read before `after` clears it). */
    const detachLeaves = new WeakMap<StepTemplate, string>();
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT',
      weight: 1,
      arb: fc.record({ dfd: k16, abi: env.abiFor('VFIO_DEVICE_DETACH_IOMMUFD_PT') }),
      needs: ['dfd'], ready: () => true,
      build: (m, c) => {
        const d = dfdPick(m, c.dfd) as DfdEntry;
        const t = ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, c.abi);
        const left = d.attached ? m.objs.find((h) => h.name === d.attached && h.alive)?.ioas : undefined;
        // Or another domain stays on that IOAS: the one leaving may be taken out of the middle of
        // the IOAS's domains, and what stays reserved must be the staying domains' apertures.
        const shared = left !== undefined && m.objs.some((h) => h.alive && h.kind === 'hwpt' && h.ioas === left && h.name !== d.attached);
        if (t && left && (d.dev.resv || shared) && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) detachLeaves.set(t, left);
        return t;
      },
      after: (m, c, _t, step) => {
        const d = dfdPick(m, c.dfd) as DfdEntry;
        if (!ok(step)) return;
        noteLeft(m, d);
        d.attached = undefined;
      },
      // A device with reserved regions of its own left an IOAS, or one where another domain stays:
      // what the IOAS reports as usable IOVA right after shows whether its regions went with it and
      // the staying domains' stayed (iopt_remove_reserved_iova by owner).
      // Otherwise the IOAS it left, once nothing else holds it, is destroyed: whatever the
      // attachment took on it (the automatic HWPT, the device's user of the IOAS) must be gone.
      follow: (m, c, t, step) => {
        if (!ok(step)) return undefined;
        const left = detachLeaves.get(t);
        const ioas = left !== undefined ? m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive) : undefined;
        if (ioas && left !== undefined) return rangesOf(env, ioas.ctx, left);
        const d = dfdPick(m, c.dfd) as DfdEntry;
        const from = d.left && m.objs.find((h) => h.name === d.left?.hwpt);
        const gone = from?.auto && from.ioas ? m.objs.find((o) => o.name === from.ioas && o.kind === 'ioas' && o.alive && m.ctxs.find((x) => x.name === o.ctx)?.open) : undefined;
        if (!from || !gone || !has('IOMMU_DESTROY')) return undefined;
        const holders = m.objs.filter((o) => o.alive && o.ioas === gone.name);
        if (holders.some((h) => !h.auto || m.dfds.some((x) => x.open && x.attached === h.name)) || m.accs.some((a) => a.open && a.ioas === gone.name)) return undefined;
        for (const h of holders) h.alive = false;
        gone.alive = false;
        for (const a of m.areas) if (a.ioas === gone.name) a.alive = false;
        return ioctlStep(env, 'IOMMU_DESTROY', new Ref(gone.ctx), { id: new Ref(gone.name) }, NONE, {});
      },
    } satisfies CommandSpec<{ dfd: number; abi: AbiChoice }>);
    // One member of a group leaves the domain both members are attached to: what the other one
    // brought to the IOAS stays (its reserved region: a fixed map into it right after must fail),
    // and what the leaving one brought goes with it (IOAS_IOVA_RANGES right after: no hole of its own).
    // (Each attach names the HWPT it reports afresh: members on one IOAS share its domain.)
    const ioasOf = (m: GenModel, d: DfdEntry): string | undefined => (d.attached ? m.objs.find((h) => h.name === d.attached && h.alive)?.ioas : undefined);
    const memberPairs = (m: GenModel): [DfdEntry, DfdEntry][] =>
      m.openDfds().flatMap((x) => {
        const at = ioasOf(m, x);
        const y = at && m.openDfds().find((o) => o !== x && o.dev !== x.dev && o.dev.group === x.dev.group && ioasOf(m, o) === at);
        return y ? [[x, y] as [DfdEntry, DfdEntry]] : [];
      });
    // A device back on the HWPT it left, after another domain behind its unit took a tag since
    // (TagReuse): its DMA at the IOVA both IOASes map reaches its own HWPT's page, never what the
    // other device's DMA left in the IOTLB (a tag given back and handed out again must not come
    // back with the old domain).
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/back-after-tag-reuse',
      weight: 1,
      arb: fc.constant(0),
      needs: ['tagReuse'], ready: () => true,
      build: (m) => {
        const t = tagReuses.get(m);
        return t && t.away.open && !t.away.attached && m.objs.find((o) => o.name === t.hwpt)?.alive ? ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(t.away.name), { flags: 0, pt_id: new Ref(t.hwpt) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } }) : undefined;
      },
      after: recordAttachOf,
      follow: (m, _c, _t, step) => {
        const t = ok(step) ? tagReuses.get(m) : undefined;
        return t && opSupported(caps, 'dma') ? { op: 'dma', fields: { device: new Ref(t.away.dev.name), iova: t.iova, dir: 'read', length: 4 } } : undefined;
      },
    } satisfies CommandSpec<number>);
    // A device attached to a domain after a map grew its table (growTargets): the device must
    // reach every IOVA the domain maps, the ones above the top it was allocated with too.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/after-grow',
      weight: 1,
      arb: k16,
      needs: ['growPair'], ready: () => true,
      build: (m, k) => {
        const t = pick(growTargets(m), k);
        return t?.d.attached ? ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(t.e.name), { flags: 0, pt_id: new Ref(t.d.attached) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } }) : undefined;
      },
      after: recordAttachOf,
    } satisfies CommandSpec<number>);
    // The device whose domain joined an IOAS first leaves it, another unit's domain staying: the
    // leaving domain is taken out of the middle of the IOAS's domains (iopt_table_remove_domain
    // moves the last into its slot), and what the IOAS reports as usable IOVA right after must be
    // the staying domains' apertures. Every third time its file is closed instead (the release
    // detaches, unbinds and destroys the automatic HWPT).
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT/first-domain',
      weight: 1,
      arb: k16,
      needs: ['twoUnits'], ready: () => true,
      build: (m, k) => {
        const e = pick(twoUnitIoases(m), k);
        const d = e?.dfds[0];
        if (!e || !d) return undefined;
        const t: StepTemplate | undefined = k % 3 === 2 ? { op: 'close', fields: { fd: new Ref(d.name) } } : ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, NONE);
        if (t && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) detachLeaves.set(t, e.ioas);
        return t;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => (t.fields['fd'] as Ref).name === x.name);
        if (!ok(step) || !d) return;
        if (t.op === 'close') return dfdClosed(m, d);
        noteLeft(m, d);
        d.attached = undefined;
      },
      follow: (m, _k, t, step) => {
        const left = ok(step) ? detachLeaves.get(t) : undefined;
        const ioas = left !== undefined ? m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive) : undefined;
        return ioas && left !== undefined ? rangesOf(env, ioas.ctx, left) : undefined;
      },
    } satisfies CommandSpec<number>);
    // A member closed while attached, its device opened, bound and attached again, and that file
    // closed: vfio_iommufd_physical_unbind clears the device's attached state with the file, so the
    // new file starts unattached (its attach is a plain attach, its close detaches only it) and the
    // sibling keeps its HWPT.
    const reopened = new WeakMap<StepTemplate, { dev: string; ctx: string; ioas: string }>();
    add({
      kind: 'close/attached-member-reopened',
      weight: 1,
      arb: k16,
      needs: ['groupBothAttached'], ready: () => true,
      build: (m, k) => {
        const [x] = pick(memberPairs(m), k) ?? [];
        const ioas = x && ioasOf(m, x);
        if (!x?.ctx || !ioas) return undefined;
        const t: StepTemplate = { op: 'close', fields: { fd: new Ref(x.name) } };
        reopened.set(t, { dev: x.dev.name, ctx: x.ctx, ioas });
        return t;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
        if (ok(step) && d) dfdClosed(m, d);
      },
      follow: (m, _k, t, step) => {
        const r = reopened.get(t);
        if (!ok(step) || !r) return undefined;
        const f = m.fresh('dfd');
        return [
          { op: 'open_device', fields: { device: new Ref(r.dev) }, bind: { [f]: 'fd' } },
          ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(f), { flags: 0, iommufd: new Ref(r.ctx) }, NONE, { bind: { [m.fresh('devid')]: 'out.out_devid' } }),
          ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(f), { flags: 0, pt_id: new Ref(r.ioas) }, NONE),
          { op: 'close', fields: { fd: new Ref(f) } },
        ].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT/group-member',
      weight: 1,
      arb: k16,
      needs: ['groupBothAttached'], ready: () => true,
      build: (m, k) => {
        const pairs = memberPairs(m);
        // Mostly the member without regions of its own leaves; every fourth pick the one with them.
        const [x] = (k % 4 === 3 ? pick(pairs.filter(([o]) => o.dev.resv), k) : pick(pairs.filter(([, y]) => y.dev.resv), k)) ?? pick(pairs, k) ?? [];
        const t = x ? ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(x.name), { flags: 0 }, NONE) : undefined;
        const left = x && ioasOf(m, x);
        if (t && left && x.dev.resv && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) detachLeaves.set(t, left);
        return t;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name);
        if (ok(step) && d) {
          noteLeft(m, d);
          d.attached = undefined;
        }
      },
      follow: (m, _k, t, step) => {
        const d = m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name);
        const y = ok(step) && d ? m.openDfds().find((o) => o !== d && o.dev.group === d.dev.group && o.dev.resv && o.attached) : undefined;
        const h = y ? m.objs.find((o) => o.name === y.attached && o.alive) : undefined;
        const b = m.bufs[0];
        const left = detachLeaves.get(t);
        if (!h && left !== undefined && ok(step)) {
          const ioas = m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive);
          return ioas ? rangesOf(env, ioas.ctx, left) : undefined;
        }
        if (!h?.ioas || !b || !has('IOMMU_IOAS_MAP')) return undefined;
        return reservedMapStep(env, h.ctx, h.ioas, b.name, 0, 1);
      },
    } satisfies CommandSpec<number>);
    // Both members of a group attached, one of them replaced onto another IOAS: the group moves as
    // one (iommufd_device_do_replace), and every member's reserved regions go with it — mostly the
    // member without regions of its own is the one named, so the other's must follow it. Then
    // IOVA_RANGES of the IOAS the group went to.
    // Every third time the other member's own region is mapped there first: the replace reserves
    // the named member's regions in that IOAS, then fails on the other's (EADDRINUSE), and must
    // take back what it reserved for the members before it (iommufd_group_do_replace_reserved_iova's
    // err_unresv): IOVA_RANGES of that IOAS right after, and a map at the named member's regions.
    const groupMove = (m: GenModel, c: { k: number; j: number }): { x: DfdEntry; y: DfdEntry; to: ObjEntry } | undefined => {
      const pairs = memberPairs(m);
      const [x, y] = (c.k % 4 === 3 ? pick(pairs.filter(([o]) => o.dev.resv), c.k) : pick(pairs.filter(([, o]) => o.dev.resv), c.k)) ?? pick(pairs, c.k) ?? [];
      const at = x && ioasOf(m, x);
      const to = x?.ctx ? pick(m.live('ioas', x.ctx).filter((o) => o.name !== at), c.j) : undefined;
      return x && y && to ? { x, y, to } : undefined;
    };
    // The page of the other member's regions that the named one lacks: its own page, or the region
    // every such device shares when the named one has none.
    const clashAt = (m: GenModel, c: { k: number; j: number }, mv: { x: DfdEntry; y: DfdEntry } | undefined): bigint | undefined =>
      c.j % 3 === 2 && mv?.y.dev.resv && m.bufs.length > 0 && has('IOMMU_IOAS_MAP') ? (mv.y.dev.ownResv ?? (mv.x.dev.resv ? undefined : DEVICE_RESV_IOVA)) : undefined;
    const replaceStep = (m: GenModel, x: DfdEntry, to: ObjEntry): StepTemplate | undefined =>
      ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(x.name), { flags: 0, pt_id: new Ref(to.name) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
    const groupAfter = (m: GenModel, c: unknown, t: StepTemplate, step: TraceStep): void => {
      if (t.fields['cmd'] === 'IOMMU_IOAS_MAP') return recordFixedMap(m, t, step, mapFlags(p));
      if (t.fields['cmd'] !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return;
      const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
      const before = d?.attached;
      recordAttachOf(m, c, t, step);
      // The rest of the group went where it did.
      if (ok(step) && d && before) for (const y of m.openDfds()) if (y !== d && y.dev.group === d.dev.group && y.attached === before) y.attached = d.attached;
    };
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/group-replace',
      weight: 1,
      arb: fc.record({ k: k16, j: k16 }),
      needs: ['groupSpread'], ready: () => true,
      build: (m, c) => {
        const mv = groupMove(m, c);
        if (!mv) return undefined;
        const own = clashAt(m, c, mv);
        const buf = m.bufs[0];
        if (own !== undefined && buf) {
          const flags = mapFlags(p);
          return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(mv.to.ctx), { flags: flags.read | flags.write | flags.fixed, ioas_id: new Ref(mv.to.name), user_va: new Ref(buf.name, 'va'), length: PAGE, iova: own }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
        }
        return replaceStep(m, mv.x, mv.to);
      },
      after: groupAfter,
      follow: (m, c, t, step) => {
        if (t.fields['cmd'] === 'IOMMU_IOAS_MAP') {
          const mv = ok(step) ? groupMove(m, c) : undefined;
          const replace = mv && replaceStep(m, mv.x, mv.to);
          // The named member's first region (its unit's MSI window, else the shared one) mapped there after.
          const first = mv?.x.dev.iommu.reservedRegions?.[0]?.start ?? (mv?.x.dev.resv ? DEVICE_RESV_IOVA : undefined);
          const buf = m.bufs[0];
          const flags = mapFlags(p);
          const probe = mv && first !== undefined && buf ? ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(mv.to.ctx), { flags: flags.read | flags.write | flags.fixed, ioas_id: new Ref(mv.to.name), user_va: new Ref(buf.name, 'va'), length: PAGE, iova: first }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } }) : undefined;
          return mv && replace ? [replace, rangesOf(env, mv.to.ctx, mv.to.name), probe].filter((x): x is StepTemplate => x !== undefined) : undefined;
        }
        const to = ok(step) ? namedIoas(m, (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields.pt_id) : undefined;
        return to ? rangesOf(env, to.ctx, to.name) : undefined;
      },
      afterFollow: groupAfter,
    } satisfies CommandSpec<{ k: number; j: number }>);
    // The detach that matters most: one device leaves a mapped domain another
    // device keeps alive; it must be blocked at once (iommufd_hw_pagetable_detach).
    const sharing = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.attached && m.openDfds().some((y) => y !== x && y.attached === x.attached));
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT/shared',
      weight: 1,
      arb: k16,
      needs: ['sharedDomain'], ready: () => true,
      build: (m, k) => {
        const d = pick(sharing(m), k);
        return d ? ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, NONE) : undefined;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name);
        if (ok(step) && d) {
          noteLeft(m, d);
          d.attached = undefined;
        }
      },
      // Then a DMA by a device that stays, through the domain: the detach flushed the domain's
      // caches, and this fills them again, so an unmap there must still invalidate every unit the
      // others sit behind, whatever per-unit bookkeeping the leaving device dropped (VT-d's domain
      // id on its unit, AMD's iommu_array, SMMUv3's master list) — every other time that unmap
      // comes right after, otherwise whenever the used area's unmap comes up.
      follow: (m, k, t, step) => {
        const d = ok(step) ? m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name) : undefined;
        const h = d?.left ? m.objs.find((o) => o.name === d.left?.hwpt && o.alive) : undefined;
        const stays = h ? pick(m.openDfds().filter((x) => x.attached === h.name), k) : undefined;
        const a = h?.ioas ? pick(m.liveAreas(h.ctx, h.ioas), k) : undefined;
        if (!stays || !a || !opSupported(env.caps, 'dma')) return undefined;
        const dma: StepTemplate = { op: 'dma', fields: { device: new Ref(stays.dev.name), iova: new Ref(a.name), dir: 'read', length: 8 } };
        // A follow has no `after`: the area counts as used (or unmapped) before the steps run.
        if (k % 2 === 1) {
          m.used = a.name;
          return dma;
        }
        a.alive = false;
        const unmap = unmapAreaStep(env, a);
        return unmap ? [dma, unmap] : dma;
      },
    } satisfies CommandSpec<number>);
  }
  // Type1 compatibility on an iommufd (vfio_compat.c), mostly on contexts opened as /dev/vfio/vfio.
  // The type1 commands go mostly where a compat IOAS is set (where they act), else to a VFIO
  // container or any context (ENODEV without a compat IOAS).
  const compatCtx = (m: GenModel, k: number): CtxEntry | undefined =>
    (k % 4 !== 3 ? pick(m.openCtxs().filter((c) => c.compat), k) : undefined) ?? pick(m.ctxs.filter((c) => c.vfio && c.open), k) ?? ctxOf(m, k);
  if (has('VFIO_CHECK_EXTENSION')) {
    add({
      kind: 'VFIO_CHECK_EXTENSION',
      weight: 1,
      arb: fc.record({ ctx: ctxK, ext: fc.constantFrom(1, 3, 4, 6, 8, 9, 10, 77) }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => ({ op: 'ioctl', fields: { fd: new Ref((compatCtx(m, c.ctx) as CtxEntry).name), cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: BigInt(c.ext) } } }),
    } satisfies CommandSpec<{ ctx: number; ext: number }>);
    // VFIO_DMA_CC_IOMMU once a device that cannot enforce coherency joins the compat IOAS next to
    // one that can (its own automatic HWPT, not enforcing): the container answers for every HWPT.
    const CC = enumValue(p, 'VFIO_DMA_CC_IOMMU') ?? 4;
    const ccCheck = (ctx: string): StepTemplate => ({ op: 'ioctl', fields: { fd: new Ref(ctx), cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: BigInt(CC) } } });
    add({
      kind: 'VFIO_CHECK_EXTENSION/cc',
      weight: 1,
      arb: k16,
      needs: ['compat', 'peerPair'], ready: () => true,
      build: (m, k) => {
        const ctx = pick(m.openCtxs().filter((c) => c.compat), k);
        if (!ctx?.compat) return undefined;
        const loose = m.openDfds().find((d) => d.ctx === ctx.name && !d.attached && !(d.dev.ecc ?? d.dev.iommu.enforceCacheCoherency));
        // Every other time a user HWPT of that device on the compat IOAS instead of its attach (an
        // automatic HWPT): the container answers for user HWPTs too (iommufd_vfio_cc_iommu).
        if (loose?.devid && k % 2 === 1 && has('IOMMU_HWPT_ALLOC')) {
          return ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(ctx.name), { flags: 0, dev_id: new Ref(loose.devid), pt_id: new Ref(ctx.compat), data_type: 0 }, NONE, { bind: { [m.fresh('hwpt')]: 'out.out_hwpt_id' } });
        }
        if (!loose || !has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) return ccCheck(ctx.name);
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(loose.name), { flags: 0, pt_id: new Ref(ctx.compat) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: (m, _k, t, step) => {
        if (t.op !== 'ioctl' || !ok(step)) return;
        const d = t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        if (d) recordAttach(m, d, t);
        const ctx = t.fields['cmd'] === 'IOMMU_HWPT_ALLOC' ? m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        if (ctx?.compat) m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: ctx.name, alive: true, ioas: ctx.compat, auto: false });
      },
      follow: (m, _k, t) => {
        if (t.fields['cmd'] === 'IOMMU_HWPT_ALLOC') return ccCheck((t.fields['fd'] as Ref).name);
        const d = t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        return d?.ctx ? ccCheck(d.ctx) : undefined;
      },
    } satisfies CommandSpec<number>);
  }
  if (has('VFIO_SET_IOMMU')) {
    // Any context (ENODEV without a compat IOAS), and one that has a compat IOAS: only there does
    // the type itself decide (EINVAL for what is not TYPE1, TYPE1v2 or NOIOMMU).
    const setIommu = (kind: string, needs: Need[], ctxFor: (m: GenModel, k: number) => CtxEntry | undefined): void =>
      add({
        kind,
        weight: 1,
        arb: fc.record({ ctx: ctxK, type: fc.constantFrom(1, 3, 3, 0, 8) }),
        needs, ready: () => true,
        build: (m, c) => {
          const ctx = ctxFor(m, c.ctx);
          return ctx && { op: 'ioctl', fields: { fd: new Ref(ctx.name), cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(c.type) } } };
        },
        after: (m, c, _t, step) => {
          const ctx = ctxFor(m, c.ctx);
          if (ok(step) && ctx) ctx.compatType = c.type;
        },
        // Now and then a type1 container is set again as TYPE1v2, which turns large pages back on
        // nowhere (iommufd_vfio_set_iommu): its IOAS still cuts mappings as type1 v1 does, which
        // the model keeps.
        follow: (_m, c, t, step) => (ok(step) && c.type === 1 && c.ctx % 3 === 2 ? { op: 'ioctl', fields: { fd: t.fields['fd'] as Tmpl, cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(v(p, 'VFIO_TYPE1v2_IOMMU')) } } } : undefined),
      } satisfies CommandSpec<{ ctx: number; type: number }>);
    setIommu('VFIO_SET_IOMMU', ['ctx'], compatCtx);
    setIommu('VFIO_SET_IOMMU/compat', ['compat'], (m, k) => pick(m.openCtxs().filter((c) => c.compat), k));
  }
  if (has('VFIO_GET_API_VERSION')) {
    add({ kind: 'VFIO_GET_API_VERSION', weight: 1, arb: ctxK, needs: ['ctx'], ready: () => true, build: (m, k) => ({ op: 'ioctl', fields: { fd: new Ref((compatCtx(m, k) as CtxEntry).name), cmd: 'VFIO_GET_API_VERSION', arg: { kind: 'int', value: 0n } } }) } satisfies CommandSpec<number>);
  }
  if (has('VFIO_IOMMU_GET_INFO')) {
    const size = requireLayout(p, 'vfio_iommu_type1_info').size;
    add({
      kind: 'VFIO_IOMMU_GET_INFO',
      weight: 1,
      arb: fc.record({ ctx: ctxK, extra: fc.constantFrom(0, 64, 128), abi: env.abiFor('VFIO_IOMMU_GET_INFO') }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => {
        const step = ioctlStep(env, 'VFIO_IOMMU_GET_INFO', new Ref((compatCtx(m, c.ctx) as CtxEntry).name), c.extra ? { argsz: size + c.extra } : {}, c.abi);
        if (!step || !c.extra) return step;
        const arg = step.fields['arg'] as { kind: 'struct'; fields: { [k: string]: Tmpl }; tail?: Uint8Array };
        // The buffer runs on 32 bytes past argsz: a capability chain cut by argsz must stop there.
        const argsz = typeof arg.fields['argsz'] === 'number' ? arg.fields['argsz'] : size + c.extra;
        const want = Math.max(argsz - size, 0) + 32;
        if (arg.tail && arg.tail.length >= want) return step;
        const tail = new Uint8Array(want);
        if (arg.tail) tail.set(arg.tail);
        return { ...step, fields: { ...step.fields, arg: { ...arg, tail } } };
      },
    } satisfies CommandSpec<{ ctx: number; extra: number; abi: AbiChoice }>);
  }
  if (has('VFIO_IOMMU_MAP_DMA')) {
    add({
      kind: 'VFIO_IOMMU_MAP_DMA',
      weight: 2,
      // 7: read|write with type1's VFIO_DMA_MAP_FLAG_VADDR (QEMU's CPR vaddr update), which the
      // compat layer does not support (VFIO_UPDATE_VADDR is not an extension it reports): EINVAL.
      arb: fc.record({ ctx: ctxK, flags: fc.constantFrom(3, 3, 1, 2, 0, 7), va: vaChoice, len: lenChoice, iova: iovaChoice, abi: env.abiFor('VFIO_IOMMU_MAP_DMA') }),
      needs: ['compat', 'buf'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.ctxs.filter((x) => x.compat && x.open), c.ctx) ?? (compatCtx(m, c.ctx) as CtxEntry);
        const va = vaOf(c.va, m);
        let len = lengthOf(c.len, undefined, va.room);
        if (c.len.kind === 'pages' && va.room > 0n && len > va.room) len = va.room - (va.room % PAGE) || PAGE;
        const iova = iovaOf(c.iova, m, m.liveAreas(ctx.name, ctx.compat), len, boundsFor(m, ctx.compat));
        const vaddr = v(p, 'VFIO_DMA_MAP_FLAG_VADDR');
        const defects: Defect[] = c.flags & vaddr ? [{ what: 'VFIO_DMA_MAP_FLAG_VADDR (unsupported by the compat layer)', errno: 'EINVAL', field: 'flags', abi: true }] : [];
        const flags = c.flags & vaddr ? v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE') | vaddr : c.flags;
        return ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', new Ref(ctx.name), { flags, vaddr: va.va, iova, size: len }, c.abi, { defects });
      },
    } satisfies CommandSpec<{ ctx: number; flags: number; va: VaChoice; len: LenChoice; iova: IovaChoice; abi: AbiChoice }>);
  }
  if (has('VFIO_IOMMU_UNMAP_DMA')) {
    add({
      kind: 'VFIO_IOMMU_UNMAP_DMA',
      weight: 1,
      arb: fc.record({ ctx: ctxK, all: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), a: k16, len: lenChoice, iova: iovaChoice, abi: env.abiFor('VFIO_IOMMU_UNMAP_DMA') }),
      needs: ['compat'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.ctxs.filter((x) => x.compat && x.open), c.ctx) ?? (compatCtx(m, c.ctx) as CtxEntry);
        const areas = m.liveAreas(ctx.name, ctx.compat);
        const a = pick(areas, c.a);
        // One ALL in three also names a range: type1's rule (iommufd_vfio_unmap_dma: EINVAL unless iova and size are 0).
        const ranged = c.all && c.a % 3 === 2;
        const length = c.all && !ranged ? 0n : lengthOf(c.len, a, a?.length ?? PAGE) || (ranged ? PAGE : 0n);
        const iova = c.all && !ranged ? 0n : iovaOf(c.iova, m, areas, length, boundsFor(m, ctx.compat));
        // One unmap of a range in eight asks for a type1 flag the compat layer lacks (a dirty bitmap, or a vaddr invalidation): EINVAL.
        const type1Only = !c.all && c.a % 8 === 7 ? v(p, c.a % 16 === 7 ? 'VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP' : 'VFIO_DMA_UNMAP_FLAG_VADDR') : 0;
        const defects: Defect[] = [
          ...(ranged ? [{ what: 'VFIO_DMA_UNMAP_FLAG_ALL with a range', errno: 'EINVAL', abi: true }] : []),
          ...(type1Only ? [{ what: 'a type1 unmap flag unsupported by the compat layer', errno: 'EINVAL', field: 'flags', abi: true }] : []),
        ];
        return ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', new Ref(ctx.name), { flags: c.all ? (enumValue(p, 'VFIO_DMA_UNMAP_FLAG_ALL') ?? 2) : type1Only, iova, size: length }, c.abi, { defects });
      },
    } satisfies CommandSpec<{ ctx: number; all: boolean; a: number; len: LenChoice; iova: IovaChoice; abi: AbiChoice }>);
  }
  if (has('IOMMU_DESTROY') && has('VFIO_IOMMU_MAP_DMA')) {
    // The compat IOAS destroyed under the container (IOMMU_VFIO_IOAS SET takes no reference), then
    // a type1 command on it: with the IOAS gone there is none (get_compat_ioas: ENODEV), whatever
    // object the old id may name next. A context that kept pointing at it acts on a freed IOAS.
    const type1 = ['VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA', 'VFIO_IOMMU_GET_INFO', 'IOMMU_VFIO_IOAS'].filter(has);
    add({
      kind: 'IOMMU_DESTROY/compat',
      weight: 1,
      arb: fc.record({ ctx: ctxK, then: fc.nat(type1.length - 1), va: vaChoice }),
      needs: ['compat', 'buf'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.openCtxs().filter((x) => x.compat !== undefined && m.objs.some((o) => o.name === x.compat && o.alive)), c.ctx);
        return ctx?.compat === undefined ? undefined : ioctlStep(env, 'IOMMU_DESTROY', new Ref(ctx.name), { id: new Ref(ctx.compat) }, NONE, {});
      },
      after: (m, _c, t, step) => {
        const id = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
        const o = ok(step) && id instanceof Ref ? m.objs.find((x) => x.name === id.name) : undefined;
        if (!o) return;
        o.alive = false;
        for (const a of m.areas) if (a.ioas === o.name) a.alive = false;
      },
      follow: (m, c, t) => {
        const ctx = m.ctxs.find((x) => t.fields['fd'] instanceof Ref && x.name === (t.fields['fd'] as Ref).name);
        if (!ctx?.open) return undefined;
        const fd = new Ref(ctx.name);
        const steps: { [cmd: string]: () => StepTemplate | undefined } = {
          VFIO_IOMMU_MAP_DMA: () => ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', fd, { flags: v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: vaOf(c.va, m).va, iova: 0x100000n, size: PAGE }, NONE, {}),
          VFIO_IOMMU_UNMAP_DMA: () => ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', fd, { flags: enumValue(p, 'VFIO_DMA_UNMAP_FLAG_ALL') ?? 2, iova: 0n, size: 0n }, NONE, {}),
          VFIO_IOMMU_GET_INFO: () => ioctlStep(env, 'VFIO_IOMMU_GET_INFO', fd, {}, NONE, {}),
          IOMMU_VFIO_IOAS: () => ioctlStep(env, 'IOMMU_VFIO_IOAS', fd, { op: v(p, 'IOMMU_VFIO_IOAS_GET'), ioas_id: 0 }, NONE, {}),
        };
        return steps[type1[c.then] as string]?.();
      },
    } satisfies CommandSpec<{ ctx: number; then: number; va: VaChoice }>);
  }
  if (has('VFIO_IOMMU_MAP_DMA') && has('VFIO_IOMMU_UNMAP_DMA') && has('VFIO_SET_IOMMU')) {
    // Type1 (v1) lets an unmap take part of a mapping: map a few pages into a container whose
    // IOAS a device's domain holds (so they are pinned for it), then unmap a head or a tail of
    // them — the area is cut in two (iopt_cut_iova, iopt_area_split) and the half that stays
    // must keep its pages pinned and mapped.
    // Slot 0 is IOVA 0, where type1 v1 makes one cut, not two (iommufd_vfio_unmap_dma: no cut below 0).
    const SPLIT_IOVA = 0x40000000n;
    const splitBase = (slot: number): bigint => (slot === 0 ? 0n : SPLIT_IOVA + BigInt(slot) * HPAGE);
    const TYPE1 = v(p, 'VFIO_TYPE1_IOMMU');
    const v1Ctx = (m: GenModel): CtxEntry | undefined => m.openCtxs().find((x) => x.compat !== undefined && x.compatType === TYPE1);
    // The same cut where it must be refused: a container that is not type1 v1 (TYPE1v2, or no
    // VFIO_SET_IOMMU yet) keeps the iommufd rule, an unmap never cuts an area (iommufd_vfio_unmap_dma
    // cuts only with large pages off; iopt_unmap_iova: ENOENT).
    const v2Ctx = (m: GenModel): CtxEntry | undefined => m.openCtxs().find((x) => x.compat !== undefined && x.compatType !== TYPE1 && m.objs.some((o) => o.name === x.compat && o.alive));
    const splitCut = (kind: string, needs: Need[], ctxOf: (m: GenModel) => CtxEntry | undefined): void =>
      add({
        kind,
        weight: 1,
        // A tail's window now and then runs on past the mapping into the hole after it: the cut at its
        // end finds no area there and the one at its start must still be made (iopt_cut_iova goes on).
        arb: fc.record({ slot: fc.nat(7), pages: fc.integer({ min: 2, max: 6 }), cut: fc.nat(7), head: fc.boolean(), past: fc.constantFrom(0, 0, 0, 1, 3) }),
        needs, ready: () => true,
        build: (m, c) => {
          const ctx = ctxOf(m);
          // Where a domain joins after the map (odd slots, below), from physically contiguous pages if
          // the case has them: the joining domain's fill could then use a large IOPTE there.
          const fits = (x: BufEntry): boolean => !x.readonly && x.length >= c.pages * PAGE_BYTES;
          const b = (c.slot % 2 === 1 ? m.bufs.find((x) => fits(x) && x.huge) : undefined) ?? m.bufs.find(fits);
          if (!ctx || !b) return undefined;
          return ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', new Ref(ctx.name), { flags: v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: new Ref(b.name, 'va'), iova: splitBase(c.slot), size: BigInt(c.pages) * PAGE }, NONE);
        },
        follow: (m, c, t, step) => {
          if (!ok(step)) return undefined;
          const base = splitBase(c.slot);
          const cut = BigInt(1 + (c.cut % (c.pages - 1))) * PAGE;
          // At IOVA 0 the head is taken: the unmap starts at 0.
          const head = c.head || base === 0n;
          const size = head ? cut : BigInt(c.pages + c.past) * PAGE - cut;
          // First the same unmap with its first real cut 1 KiB off the page, which the IOAS alignment
          // refuses before anything is cut (iopt_area_split: EINVAL): the cut at its last IOVA comes
          // first, but past the mapping it splits nothing and the one at its start does.
          const off = 0x400n;
          const startOff = !head && c.past > 0;
          const unaligned = ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', t.fields['fd'] as Tmpl, { flags: 0, iova: (head ? base : base + cut) + (startOff ? off : 0n), size: size - off }, NONE);
          const unmap = ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', t.fields['fd'] as Tmpl, { flags: 0, iova: head ? base : base + cut, size }, NONE);
          // Every other slot the domain is new between the map and the cut: the container's device,
          // alone on its automatic HWPT, leaves and comes back, and the new domain is filled from the
          // mappings already there (iopt_fill_domain), still one page per IOPTE while large pages are
          // off (type1 v1), so that the cut can take its piece out of it.
          const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
          const hwpt = (d: DfdEntry): ObjEntry | undefined => m.objs.find((o) => o.name === d.attached && o.alive);
          const d = c.slot % 2 === 1 && ctx?.compat && ctx.compatType === TYPE1 ? m.openDfds().find((x) => x.ctx === ctx.name && hwpt(x)?.auto && hwpt(x)?.ioas === ctx.compat && !m.openDfds().some((y) => y !== x && y.attached === x.attached)) : undefined;
          // Every other whole cut, then, a page mapped right against what is left, and an unmap of what
          // is left and that page's first byte: the cut there is an area's first byte, no cut at all
          // (iopt_area_split returns 0), so the unmap takes what is left and meets the page's area
          // reaching past its end (ENOENT, the size reporting what went); then the page itself.
          const end = base + BigInt(c.pages) * PAGE;
          const left = head ? { start: base + cut, next: end } : { start: base, next: base + cut };
          const pageBuf = m.bufs.find((x) => !x.readonly && x.length >= PAGE_BYTES);
          const against = c.past === 0 && c.cut % 2 === 1 && pageBuf ? [
            ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', t.fields['fd'] as Tmpl, { flags: v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: new Ref(pageBuf.name, 'va'), iova: left.next, size: PAGE }, NONE),
            ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', t.fields['fd'] as Tmpl, { flags: 0, iova: left.start, size: left.next - left.start + 1n }, NONE),
            ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', t.fields['fd'] as Tmpl, { flags: 0, iova: left.next, size: PAGE }, NONE),
          ] : [];
          if (!d || !ctx?.compat) return [unaligned, unmap, ...against].filter((x): x is StepTemplate => x !== undefined);
          const detach = ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, NONE);
          const attach = ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: new Ref(ctx.compat) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
          return [detach, attach, unaligned, unmap, ...against].filter((x): x is StepTemplate => x !== undefined);
        },
        afterFollow: (m, c, t, step) => {
          // The rejoining device's detach and attach (the unmap changes nothing the model keeps).
          if (t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return recordAttachOf(m, c, t, step);
          const left = t.fields['cmd'] === 'VFIO_DEVICE_DETACH_IOMMUFD_PT' && ok(step) ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
          if (!left) return;
          noteLeft(m, left);
          left.attached = undefined;
        },
      } satisfies CommandSpec<{ slot: number; pages: number; cut: number; head: boolean; past: number }>);
    splitCut('VFIO_IOMMU_UNMAP_DMA/split', ['compatV1Device', 'buf'], v1Ctx);
    splitCut('VFIO_IOMMU_UNMAP_DMA/split-refused', ['compat', 'buf'], v2Ctx);
  }
  return specs;
}
