/**
 * IOMMU_TEST_CMD: the kernel selftest's mock domains, reserved regions and
 * access objects (create, pin pages, read/write, replace the IOAS, destroy).
 */
import fc from 'fast-check';
import { enumDef, enumValue } from '../../../spec/uapi/lookup.ts';
import { MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { PAGE, U64_MAX } from '../ranges.ts';
import type { TraceStep } from '../session.ts';
import { type Defect, Ref, type StepTemplate, type Tmpl } from '../step.ts';
import type { AbiChoice } from './abi.ts';
import { type AccEntry, type AreaEntry, type CtxEntry, GenModel, type ItemEntry, type ObjEntry, pick } from './model.ts';
import { type IdChoice, idChoice, idOf, iovaChoice, iovaOf, lenChoice, lengthOf } from './values.ts';
import type { CommandSpec } from './command.ts';
import { areaPairs, areasFor, boundsFor, ctxK, ctxOf, failedPinArea, testOpStep, freeSpan, type GenEnv, ioasHeld, ioctlStep, k16, mapFlags, NONE, notePin, ok, opSupported, PAGE_BYTES, rangesAfterFailure, rangesOf, recordFixedMap, supported, testOpSupported, unalignedTargets, unmapAreaStep } from './shared.ts';

export function testSpecs(env: GenEnv): CommandSpec<never>[] {
  const { profile: p } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const MOCK_DEVICE_FLAGS = (enumDef(p, 'mock_flags_device')?.members ?? []).map((x) => x.value);
  const noDirty = enumValue(p, 'MOCK_FLAGS_DEVICE_NO_DIRTY') ?? 0;
  const test = <C,>(name: string, spec: Omit<CommandSpec<C>, 'kind'>): void => {
    if (testOpSupported(env, name)) add({ kind: `IOMMU_TEST_CMD/${name}`, ...spec } as CommandSpec<C>);
  };
  const testStep = (_m: GenModel, ctx: CtxEntry, name: string, id: Tmpl, member: string | undefined, fields: { [k: string]: Tmpl }, abi: AbiChoice, bind?: { [n: string]: string }, defects?: Defect[]): StepTemplate | undefined =>
    testOpStep(env, ctx, name, id, member, fields, abi, bind, defects);
  const slowPath = enumValue(p, 'MOCK_ACCESS_RW_SLOW_PATH');
  const toFlags = (v: Tmpl | undefined): number => (typeof v === 'number' ? v : 0);

  // What a mock device attaches to: an IOAS, or a HWPT — mostly one allocated for another mock
  // device (the one kind a mock device can join). The device then holds a HWPT with a lower id than
  // its own, an order the context's release must undo over several passes (iommufd_fops_release).
  const mockPt = (m: GenModel, ctx: CtxEntry, c: { pt: IdChoice; hwpt: boolean; onto?: string }): { id: Tmpl; obj?: ObjEntry } => {
    const onto = c.onto !== undefined ? m.objs.find((o) => o.name === c.onto && o.alive) : undefined;
    if (onto) return { id: new Ref(onto.name), obj: onto };
    const joinable = c.hwpt && c.pt.kind === 'live' && c.pt.k % 4 !== 3 ? pick(m.live('hwpt', ctx.name).filter((h) => h.mock), c.pt.k) : undefined;
    return joinable ? { id: new Ref(joinable.name), obj: joinable } : idOf(c.pt, m, ctx.name, c.hwpt ? ['hwpt'] : ['ioas']);
  };
  if (supported(env.caps, 'IOMMU_HWPT_ALLOC') && testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN')) {
    // A HWPT allocated for a mock device on an IOAS that maps something, then a new mock device
    // attached to it: the device holds a HWPT of a lower id, pinning the IOAS's pages through its
    // domain, and stays until the context closes (the model does not know it), so the release must
    // tear the HWPT down after the device, in a later pass than its id comes up.
    add({
      kind: 'IOMMU_HWPT_ALLOC/mock-join',
      weight: 1,
      arb: k16,
      needs: ['stdev', 'area'], ready: () => true,
      build: (m, k) => {
        const st = pick(m.live('stdev'), k);
        const ctx = st && m.ctxs.find((x) => x.name === st.ctx && x.open);
        const ioas = ctx && (pick(m.liveAreas(ctx.name), k)?.ioas ?? pick(m.live('ioas', ctx.name), k)?.name);
        if (!st?.ioas || !ctx || !ioas) return undefined;
        return ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(ctx.name), { flags: 0, dev_id: new Ref(st.ioas), pt_id: new Ref(ioas), data_type: 0 }, NONE, { bind: { [m.fresh('hwpt')]: 'out.out_hwpt_id' } });
      },
      after: (m, _k, t, step) => {
        const f = (t.fields['arg'] as { fields: { pt_id: Ref } }).fields;
        if (ok(step)) m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (t.fields['fd'] as Ref).name, alive: true, ioas: f.pt_id.name, auto: false, mock: true });
      },
      follow: (m, _k, t, step) => {
        const hwpt = Object.keys(t.bind ?? {})[0];
        const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
        return ok(step) && hwpt && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', new Ref(hwpt), 'mock_domain', {}, NONE) : undefined;
      },
    } satisfies CommandSpec<number>);
  }
  /** `onto`: the IOAS or HWPT by name (constructors only; generated choices leave it out). */
  type MockDomain = { ctx: number; pt: IdChoice; hwpt: boolean; flags: number; abi: AbiChoice; onto?: string };
  // The batch memory limit, a global of the selftest, as the kernel's iommufd_ioas fixture sets it
  // beside its mock domains (its mock_domain_limit variant: 16 bytes) and around the least a batch
  // takes (one entry, sizeof(unsigned long) + sizeof(u32): 12 bytes), after every third mock
  // device of a case; then set back to the default (test_ioctl_set_default_memory_limit), so later
  // batches are as before. A follow, not a command kind of its own: a global no later command
  // reads, which needs no draw of the case's.
  const DEFAULT_MEMORY_LIMIT = 65536;
  const memoryLimit = (m: GenModel, ctx: CtxEntry, k: number): (StepTemplate | undefined)[] => {
    if (!testOpSupported(env, 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT') || m.objs.filter((o) => o.kind === 'stdev').length % 3 !== 1) return [];
    const limit = [16, 12, 11, 13][k % 4] as number;
    const set = (n: number, defects: Defect[] = []): StepTemplate | undefined => testStep(m, ctx, 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', 0, 'memory_limit', { limit: n }, NONE, undefined, defects);
    return [set(limit, limit < 12 ? [{ what: 'a limit below one batch entry (12 bytes)', errno: 'EINVAL' }] : []), set(DEFAULT_MEMORY_LIMIT)];
  };
  // A mock domain's IO pages are 2 KiB (MOCK_IO_PAGE_SIZE): with no other domain and no access on
  // its IOAS, a page of a buffer is mapped at an IOVA 2 KiB into a page of a free span, and checked
  // (MD_CHECK_MAP: the IOVA's offset in its page is not the user memory's), then unmapped.
  const halfPageCheck = (m: GenModel, ctx: CtxEntry, ioas: string, t: StepTemplate): (StepTemplate | undefined)[] => {
    const hwpt = Object.keys(t.bind ?? {})[2];
    const b = m.bufs.find((x) => !x.readonly && x.length >= PAGE_BYTES);
    const others = m.dfds.some((d) => d.open && d.attached && m.objs.find((h) => h.name === d.attached)?.ioas === ioas) || m.accs.some((a) => a.open && a.ioas === ioas);
    const at = freeSpan(m, ctx.name, ioas);
    if (!hwpt || !b || others || at === undefined || !testOpSupported(env, 'IOMMU_TEST_OP_MD_CHECK_MAP') || !supported(env.caps, 'IOMMU_IOAS_UNMAP')) return [];
    const half = PAGE / 2n;
    const MAP = mapFlags(env.profile);
    return [
      ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(ctx.name), { flags: MAP.fixed | MAP.read | MAP.write, ioas_id: new Ref(ioas), user_va: new Ref(b.name, 'va'), length: half, iova: at + half }, NONE, {}),
      testStep(m, ctx, 'IOMMU_TEST_OP_MD_CHECK_MAP', new Ref(hwpt), 'check_map', { iova: at + half, length: half, uptr: new Ref(b.name, 'va') }, NONE),
      ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(ctx.name), { ioas_id: new Ref(ioas), iova: at + half, length: half }, NONE, {}),
    ];
  };
  test<MockDomain>('IOMMU_TEST_OP_MOCK_DOMAIN', {
    weight: 2,
    // -1: MOCK_DOMAIN; else MOCK_DOMAIN_FLAGS with no flag or one of the profile's device flags.
    arb: fc.record({ ctx: ctxK, pt: idChoice, hwpt: fc.boolean(), flags: fc.constantFrom(-1, -1, 0, ...MOCK_DEVICE_FLAGS), abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_MOCK_DOMAIN') }),
    needs: ['ioas'], ready: (m) => m.objs.filter((o) => o.kind === 'stdev').length < 4,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const pt = mockPt(m, ctx, c);
      const [st, idev, hwpt] = [m.fresh('stdev'), m.fresh('devid'), m.fresh('hwpt')];
      const flags = c.flags >= 0 && testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS');
      const member = flags ? 'mock_domain_flags' : 'mock_domain';
      const name = flags ? 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS' : 'IOMMU_TEST_OP_MOCK_DOMAIN';
      return testStep(m, ctx, name, pt.id, member, flags ? { dev_flags: c.flags } : {}, c.abi, { [st]: `out.${member}.out_stdev_id`, [idev]: `out.${member}.out_idev_id`, [hwpt]: `out.${member}.out_hwpt_id` });
    },
    after: (m, c, t, step) => {
      if (!ok(step)) return;
      const ctx = (ctxOf(m, c.ctx) as CtxEntry).name;
      const [st, idev, hwpt] = Object.keys(t.bind ?? {}) as [string, string, string];
      const f = (t.fields['arg'] as { fields: { id: Tmpl } }).fields;
      const asked = f.id instanceof Ref ? m.objs.find((o) => o.name === (f.id as Ref).name) : undefined;
      m.objs.push({ name: st, kind: 'stdev', ctx, alive: true, ioas: idev });
      m.objs.push({ name: idev, kind: 'devid', ctx, alive: true });
      m.objs.push({ name: hwpt, kind: 'hwpt', ctx, alive: true, ...((asked?.kind === 'ioas' ? asked.name : asked?.ioas) && { ioas: asked?.kind === 'ioas' ? asked.name : (asked?.ioas as string) }), auto: asked?.kind === 'ioas' });
    },
    // A new device is often asked what its IOMMU offers (a VMM building its vIOMMU): the answer is
    // the device's own, whatever devices came before it.
    // A device that cannot track dirty pages (MOCK_FLAGS_DEVICE_NO_DIRTY) is moved onto a
    // dirty-tracking HWPT of another mock device, which its driver's attach refuses.
    follow: (m, c, t, step) => {
      if (!ok(step)) return rangesAfterFailure(env, m, t, step, (f) => f['id']);
      const [st, idev] = Object.keys(t.bind ?? {});
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      const dirty = c.flags >= 0 && (c.flags & noDirty) !== 0 && ctx ? m.objs.find((o) => o.kind === 'hwpt' && o.alive && o.mock && o.dirty && o.ctx === ctx.name) : undefined;
      if (st && ctx && dirty) return testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', new Ref(st), 'mock_domain_replace', { pt_id: new Ref(dirty.name) }, NONE);
      // Every fourth context's plain mock device allocates a dirty-tracking HWPT on the IOAS it
      // was made on, which a mock device that cannot track is then offered (IOMMU_HWPT_ALLOC's follow).
      const on = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
      const ioas = on instanceof Ref ? m.objs.find((o) => o.name === on.name && o.kind === 'ioas') : undefined;
      if (idev && ctx && ioas && c.flags < 0 && c.ctx % 4 === 1 && noDirty && supported(env.caps, 'IOMMU_HWPT_ALLOC') && testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS')) {
        const hwpt = m.fresh('hwpt');
        const alloc = ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Tmpl, { flags: enumValue(p, 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING') ?? 0, dev_id: new Ref(idev), pt_id: new Ref(ioas.name), data_type: 0 }, NONE, { bind: { [hwpt]: 'out.out_hwpt_id' } });
        const join = testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', new Ref(hwpt), 'mock_domain_flags', { dev_flags: noDirty }, NONE);
        return [alloc, join].filter((x): x is StepTemplate => x !== undefined);
      }
      const info = idev && c.ctx % 2 === 0 && supported(env.caps, 'IOMMU_GET_HW_INFO') ? ioctlStep(env, 'IOMMU_GET_HW_INFO', t.fields['fd'] as Tmpl, { dev_id: new Ref(idev), data_len: 0, data_uptr: 0n }, NONE, {}) : undefined;
      // A device with flags is followed by a plain MOCK_DOMAIN from the same struct, its dev_flags
      // still there: the plain op makes a device without flags (iommufd_test_mock_domain reads
      // dev_flags for MOCK_DOMAIN_FLAGS only), which its hardware info then shows.
      // Before it, the same with a dev_flags bit no mock device has: mock_dev_create refuses it
      // (EINVAL), and the selftest object allocated first must give its id back (out_sobj).
      const unknownFlag = c.flags > 0 && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', on, 'mock_domain_flags', { dev_flags: 0x80000000 }, NONE, undefined, [{ what: 'a dev_flags bit no mock device has', errno: 'EINVAL', field: 'dev_flags' }]) : undefined;
      const again = c.flags > 0 && ctx ? m.fresh('devid') : undefined;
      const plain = again && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', on, 'mock_domain_flags', { dev_flags: c.flags }, NONE, { [again]: 'out.mock_domain.out_idev_id' }) : undefined;
      const plainInfo = plain && again && supported(env.caps, 'IOMMU_GET_HW_INFO') ? ioctlStep(env, 'IOMMU_GET_HW_INFO', t.fields['fd'] as Tmpl, { dev_id: new Ref(again), data_len: 0, data_uptr: 0n }, NONE, {}) : undefined;
      // A mock domain on a container's IOAS: the type1 user asks again what it may map, which the
      // mock's sub-page sizes fold into PAGE_SIZE for (iommufd_get_pagesizes).
      const container = ioas && m.ctxs.find((x) => x.open && x.compat === ioas.name);
      const pgsizes = container && supported(env.caps, 'VFIO_IOMMU_GET_INFO') ? ioctlStep(env, 'VFIO_IOMMU_GET_INFO', new Ref(container.name), {}, NONE, {}) : undefined;
      return [info, pgsizes, unknownFlag, plain, plainInfo, ...(ctx ? memoryLimit(m, ctx, c.ctx) : []), ...(ctx && ioas && c.flags < 0 && c.ctx % 3 === 0 ? halfPageCheck(m, ctx, ioas.name, t) : [])].filter((x): x is StepTemplate => x !== undefined);
    },
  });
  test('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, st: k16, pt: idChoice, hwpt: fc.boolean(), abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['stdev'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const st = pick(m.live('stdev', ctx.name), c.st) ?? pick(m.live('stdev'), c.st);
      const pt = mockPt(m, ctx, c);
      return st ? testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', new Ref(st.name), 'mock_domain_replace', { pt_id: pt.id }, c.abi) : undefined;
    },
    // A replace that took is now and then asked again by the device's own id (out_idev_id) or by the
    // id it moved to, neither a selftest object: the selftest looks its id up as one
    // (iommufd_test_get_selftest_obj: ENOENT) and the device stays where it is.
    follow: (m, c, t, step) => {
      if (!ok(step)) return rangesAfterFailure(env, m, t, step, (f) => (f['mock_domain_replace'] as { [k: string]: Tmpl } | undefined)?.['pt_id']);
      const f = (t.fields['arg'] as { fields: { id: Tmpl; mock_domain_replace: { pt_id: Tmpl } } }).fields;
      const st = f.id instanceof Ref ? m.objs.find((o) => o.name === (f.id as Ref).name && o.kind === 'stdev') : undefined;
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      if (!st || !ctx || c.st % 3 === 0) return undefined;
      const wrong = c.st % 3 === 1 && st.ioas !== undefined ? new Ref(st.ioas) : f.mock_domain_replace.pt_id;
      return testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', wrong, 'mock_domain_replace', { pt_id: f.mock_domain_replace.pt_id }, NONE, undefined, [{ what: 'an id that names no selftest device', errno: 'ENOENT', field: 'id' }]);
    },
  });
  test('IOMMU_TEST_OP_ADD_RESERVED', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, ioas: idChoice, iova: iovaChoice, len: lenChoice, abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['ioas'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const { id, obj } = idOf(c.ioas, m, ctx.name, ['ioas']);
      const len = lengthOf(c.len, undefined, PAGE);
      return testStep(m, ctx, 'IOMMU_TEST_OP_ADD_RESERVED', id, 'add_reserved', { start: iovaOf(c.iova, m, areasFor(m, ctx, obj?.name), len, boundsFor(m, obj?.name)), length: len }, c.abi);
    },
    // One that took is made again with length 0 at the same start: refused first (EINVAL), never
    // read as a range to the end of the address space.
    follow: (m, _c, t, step) => {
      const f = (t.fields['arg'] as { fields: { id: Tmpl; add_reserved: { start: Tmpl } } }).fields;
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      return ok(step) && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_ADD_RESERVED', f.id, 'add_reserved', { start: f.add_reserved.start, length: 0n }, NONE) : undefined;
    },
    after: (m, _c, t, step) => {
      const f = (t.fields['arg'] as { fields: { id: Tmpl; add_reserved: { start: Tmpl; length: Tmpl } } }).fields;
      const o = ok(step) && f.id instanceof Ref ? m.objs.find((x) => x.name === (f.id as Ref).name) : undefined;
      const { start, length } = f.add_reserved;
      if (o && typeof start === 'bigint' && typeof length === 'bigint' && length > 0n) o.reserved = [...(o.reserved ?? []), { start, last: start + length - 1n }];
    },
  });
  if (testOpSupported(env, 'IOMMU_TEST_OP_ADD_RESERVED') && supported(env.caps, 'IOMMU_IOAS_MAP')) {
    // A reservation where the automatic IOVA search would go next (the lowest hole of the IOAS's
    // areas), then an automatic map there: the search must step over reserved IOVAs as over areas
    // (iopt_alloc_iova walks both trees), or the new area lands on the reservation.
    const f = mapFlags(p);
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ADD_RESERVED/next-hole',
      weight: 1,
      arb: fc.record({ k: k16, pages: fc.constantFrom(1, 2, 16) }),
      needs: ['ioas', 'buf'], ready: () => true,
      build: (m, c) => {
        const ioas = pick(m.live('ioas'), c.k);
        const ctx = ioas && m.ctxs.find((x) => x.name === ioas.ctx && x.open);
        if (!ioas || !ctx) return undefined;
        let hole = 0n;
        for (const a of [...m.liveAreas(ctx.name, ioas.name)].sort((x, y) => (x.iova < y.iova ? -1 : 1))) {
          if (a.iova > hole) break;
          hole = (a.iova + a.length + PAGE - 1n) & ~(PAGE - 1n);
        }
        return testStep(m, ctx, 'IOMMU_TEST_OP_ADD_RESERVED', new Ref(ioas.name), 'add_reserved', { start: hole, length: BigInt(c.pages) * PAGE }, NONE);
      },
      after: (m, _c, t, step) => {
        const a = (t.fields['arg'] as { fields: { id: Ref; add_reserved: { start: bigint; length: bigint } } }).fields;
        const o = ok(step) ? m.objs.find((x) => x.name === a.id.name) : undefined;
        if (o) o.reserved = [...(o.reserved ?? []), { start: a.add_reserved.start, last: a.add_reserved.start + a.add_reserved.length - 1n }];
      },
      follow: (m, _c, t, step) => {
        const ioas = (t.fields['arg'] as { fields: { id: Ref } }).fields.id;
        const b = m.bufs.find((x) => !x.readonly);
        return ok(step) && b ? ioctlStep(env, 'IOMMU_IOAS_MAP', t.fields['fd'] as Tmpl, { flags: f.read | f.write, ioas_id: new Ref(ioas.name), user_va: new Ref(b.name, 'va'), length: PAGE, iova: 0n }, NONE) : undefined;
      },
    } satisfies CommandSpec<{ k: number; pages: number }>);
  }
  test('IOMMU_TEST_OP_CREATE_ACCESS', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, ioas: idChoice, pin: fc.boolean(), abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_CREATE_ACCESS') }),
    needs: ['ioas'], ready: (m) => m.accs.length < 3,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const { id } = idOf(c.ioas, m, ctx.name, ['ioas']);
      const name = m.fresh('afd');
      return testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', id, 'create_access', { flags: c.pin ? 1 : 0 }, c.abi, { [name]: 'out.create_access.out_access_fd' });
    },
    after: (m, c, t, step) => {
      if (!ok(step)) return;
      const f = (t.fields['arg'] as { fields: { id: Tmpl } }).fields;
      m.accs.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: (ctxOf(m, c.ctx) as CtxEntry).name, ioas: f.id instanceof Ref ? f.id.name : '', open: true, pin: c.pin });
    },
    // An access that does not pin is asked to pin a page all the same: refused (EOPNOTSUPP) after
    // the access was looked up, which must be given back (the end-of-case DESTROY of its IOAS shows
    // one that was not).
    follow: (m, c, t, step) => {
      const afd = Object.keys(t.bind ?? {})[0];
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      if (!ok(step) || c.pin || !afd || !ctx || !testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES')) return undefined;
      const f = (t.fields['arg'] as { fields: { id: Tmpl } }).fields;
      const area = f.id instanceof Ref ? m.liveAreas(ctx.name, f.id.name).find((a) => a.buf) : undefined;
      const at = area ? { iova: new Ref(area.name), uptr: new Ref(area.buf as string, 'va', BigInt(area.bufOff)) } : { iova: 0n, uptr: 0n };
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(afd), 'access_pages', { flags: 0, ...at, length: PAGE }, NONE);
    },
  });
  /** `past`: pages the range runs past the area's end (ENOENT where nothing maps them; a pin must then let go of all it took). */
  /**
   * Where in a buffer of `size` bytes an access copy of `length` bytes puts its user end: page 1
   * (page 0 when the buffer has one page), unless that meets the bytes it accesses (`accessed`,
   * an offset in the same buffer): then before them or on the page after them, where there is room.
   */
  const userOffset = (size: number, accessed: bigint | undefined, length: bigint): bigint => {
    const usual = BigInt(size > 4096 ? 4096 : 0);
    if (accessed === undefined || usual + length <= accessed || accessed + length <= usual) return usual;
    if (length <= accessed) return 0n;
    const after = ((accessed + length + PAGE - 1n) / PAGE) * PAGE;
    return after + length <= BigInt(size) ? after : usual;
  };
  const accessTarget = (m: GenModel, k: number, aK: number, off: number, pages: number, pinning = false, past = 0, write?: boolean): { acc: { name: string; ctx: string }; area?: string; iova: Tmpl; length: bigint; uptr: Tmpl } | undefined => {
    // Pinning: mostly an open access that may pin (one in five any, EINVAL from a non-pinning one).
    const acc = (pinning && k % 5 !== 4 ? pick(m.accs.filter((a) => a.open && a.pin), k) : undefined) ?? pick(m.accs, k);
    if (!acc) return undefined;
    // One time in three, through an area mapped without the permission asked (a write without
    // WRITEABLE, a read without READABLE) where there is one: the area's own protection refuses it
    // (check_area_prot: EPERM), whatever the pages under it allow.
    const own = m.liveAreas(acc.ctx, acc.ioas);
    const a = (write !== undefined && aK % 3 === 0 ? pick(own.filter((x) => (write ? !x.write : !x.read)), aK) : undefined) ?? pick(own, aK) ?? pick(m.liveAreas(acc.ctx), aK);
    if (!a || !a.buf) return { acc, iova: 1n << 24n, length: BigInt(pages) * PAGE, uptr: 0n };
    const total = a.length / PAGE;
    const first = total > 0n ? BigInt(off) % total : 0n;
    const n = past > 0 ? total - first + BigInt(past) : BigInt(pages) <= total - first ? BigInt(pages) : total - first || 1n;
    return { acc, area: a.name, iova: new Ref(a.name, '', first * PAGE), length: n * PAGE, uptr: new Ref(a.buf, 'va', BigInt(a.bufOff) + first * PAGE) };
  };
  /**
   * The area an access pins in IOMMU_TEST_OP_ACCESS_PAGES/unmap-all and the one below it that may
   * go alone: the upper of two touching areas of its IOAS where there are such (an unmap range
   * told one byte too long reaches the pin), else the highest area and the one next below.
   */
  const pinnedAndBelow = (m: GenModel, acc: AccEntry): { last?: AreaEntry; below?: AreaEntry } => {
    const areas = m.liveAreas(acc.ctx, acc.ioas);
    const touching = areas.flatMap((hi) => areas.filter((lo) => lo.iova + lo.length === hi.iova).map((lo) => ({ last: hi, below: lo })));
    if (touching.length > 0) return touching[touching.length - 1] as { last: AreaEntry; below: AreaEntry };
    const last = areas.reduce<AreaEntry | undefined>((x, y) => (!x || y.iova > x.iova ? y : x), undefined);
    const below = areas.filter((x) => x !== last).reduce<AreaEntry | undefined>((x, y) => (!x || y.iova > x.iova ? y : x), undefined);
    return { last, below };
  };
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_UNMAP')) {
    // An access pins a page of the last of two touching areas, then everything is unmapped: the
    // unmap tells the access to let go and goes on (iopt_unmap_iova_range's retry), reporting
    // the bytes of every area, the ones before the retry included.
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/unmap-all',
      weight: 3,
      arb: k16,
      needs: ['acc', 'areaPair'], ready: () => true,
      build: (m, k) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin && m.liveAreas(a.ctx, a.ioas).length > 1), k);
        const last = acc && pinnedAndBelow(m, acc).last;
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        if (!acc || !last?.buf || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: 0, iova: new Ref(last.name), length: PAGE, uptr: new Ref(last.buf, 'va', BigInt(last.bufOff)) }, NONE);
      },
      // Two times in three only the area below it goes, by its exact range: the unmap tells the
      // access of that range alone, and the pin in the last area stays (an unmap-all releases it too).
      // Of those, every other time the access pins a page of the area below as well and the range
      // runs on into the last area's first page: the walk tells the access of the area below alone,
      // removes it and stops at the last (ENOENT), whose pin stays.
      follow: (m, k, _t, step) => {
        const acc = ok(step) ? pick(m.accs.filter((a) => a.open && a.pin && m.liveAreas(a.ctx, a.ioas).length > 1), k) : undefined;
        if (!acc) return undefined;
        if (k % 3 !== 0) {
          const { below, last } = pinnedAndBelow(m, acc);
          const ctx = m.ctxs.find((x) => x.name === acc.ctx);
          if (k % 3 === 2 && below?.buf && last && ctx && below.iova % PAGE === 0n && last.length > PAGE) {
            const pin = testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: 0, iova: new Ref(below.name), length: PAGE, uptr: new Ref(below.buf, 'va', BigInt(below.bufOff)) }, NONE);
            const into = ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(acc.ctx), { ioas_id: new Ref(acc.ioas), iova: new Ref(below.name), length: last.iova + PAGE - below.iova }, NONE, {});
            if (pin && into) {
              below.alive = false;
              return [pin, into];
            }
          }
          const unmap = below && unmapAreaStep(env, below);
          if (below && unmap) {
            below.alive = false;
            // Where the two areas touch, the access first pins the two pages across the seam (the
            // selftest refuses it, EBADE, unless both map one run of user memory): the unmap of the
            // area below must take that pin too (iommufd_test_access_unmap drops every item it meets).
            const seam = below.buf && last && ctx && below.iova + below.length === last.iova && below.length % PAGE === 0n && below.iova % PAGE === 0n;
            const across = seam ? testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: 0, iova: new Ref(below.name, '', below.length - PAGE), length: 2n * PAGE, uptr: new Ref(below.buf as string, 'va', BigInt(below.bufOff) + below.length - PAGE) }, NONE) : undefined;
            // Elsewhere the access pins the area's first byte alone: an item whose last byte is the
            // unmap's first overlaps it, and must be let go too (iommufd_test_access_unmap).
            const firstByte = !across && below.buf && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: 0, iova: new Ref(below.name), length: 1n, uptr: new Ref(below.buf, 'va', BigInt(below.bufOff)) }, NONE) : undefined;
            return across ? [across, unmap] : firstByte ? [firstByte, unmap] : unmap;
          }
        }
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(acc.ctx), { ioas_id: new Ref(acc.ioas), iova: 0n, length: U64_MAX }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && testOpSupported(env, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES')) {
    // Two pins of one access from the same IOVA, the longer first, then each dropped: each release
    // finds its own pin among the ones over its range (iopt_pages_get_exact_access walks every node
    // of the interval tree over it), in either order.
    const pinningOn = (m: GenModel, k: number): { acc: AccEntry; a: AreaEntry; ctx: CtxEntry } | undefined => {
      const acc = pick(m.accs.filter((x) => x.open && x.pin && m.liveAreas(x.ctx, x.ioas).some((a) => a.buf && a.length >= 2n * PAGE)), k);
      const a = acc && m.liveAreas(acc.ctx, acc.ioas).find((x) => x.buf && x.length >= 2n * PAGE);
      const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
      return acc && a && ctx ? { acc, a, ctx } : undefined;
    };
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/overlap',
      weight: 1,
      arb: k16,
      needs: ['acc', 'area'], ready: () => true,
      build: (m, k) => {
        const t = pinningOn(m, k);
        return t && testStep(m, t.ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.a.name), length: 2n * PAGE, uptr: new Ref(t.a.buf as string, 'va', BigInt(t.a.bufOff)) }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
      },
      follow: (m, k, t0, step) => {
        const t = ok(step) ? pinningOn(m, k) : undefined;
        const first = Object.keys(t0.bind ?? {})[0];
        if (!t || !first) return undefined;
        const second = m.fresh('item');
        const pin = testStep(m, t.ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.a.name), length: PAGE, uptr: new Ref(t.a.buf as string, 'va', BigInt(t.a.bufOff)) }, NONE, { [second]: 'out.access_pages.out_access_pages_id' });
        const drop = (item: string): StepTemplate | undefined => testStep(m, t.ctx, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', new Ref(t.acc.name), 'destroy_access_pages', { access_pages_id: new Ref(item) }, NONE);
        const order = k % 2 === 0 ? [first, second] : [second, first];
        const steps = [pin, drop(order[0] as string), drop(order[1] as string)];
        return steps.every((x): x is StepTemplate => x !== undefined) ? steps : undefined;
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'VFIO_IOMMU_UNMAP_DMA')) {
    // An access pins the second page of a mapping of a type1 (v1) container, then an unmap cuts the
    // mapping there: an area an access holds pages of is never split (iopt_area_split: EINVAL), as
    // the access's pins could not follow the pieces.
    const pinnedOnV1 = (m: GenModel): { acc: AccEntry; a: AreaEntry; ctx: CtxEntry }[] =>
      m.openCtxs().flatMap((ctx) => {
        if (ctx.compat === undefined || ctx.compatType !== (enumValue(p, 'VFIO_TYPE1_IOMMU') ?? 1)) return [];
        const acc = m.accs.find((x) => x.open && x.pin && x.ctx === ctx.name && x.ioas === ctx.compat);
        const a = m.liveAreas(ctx.name, ctx.compat).find((x) => x.buf && x.length >= 2n * PAGE);
        return acc && a ? [{ acc, a, ctx }] : [];
      });
    add({
      kind: 'VFIO_IOMMU_UNMAP_DMA/cut-pinned',
      weight: 1,
      arb: k16,
      needs: ['compatAccess'], ready: () => true,
      build: (m, k) => {
        const t = pick(pinnedOnV1(m), k);
        return t && testStep(m, t.ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.a.name, '', PAGE), length: PAGE, uptr: new Ref(t.a.buf as string, 'va', BigInt(t.a.bufOff) + PAGE) }, NONE);
      },
      follow: (m, k, _t, step) => {
        const t = ok(step) ? pick(pinnedOnV1(m), k) : undefined;
        return t && ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', new Ref(t.ctx.name), { flags: 0, iova: new Ref(t.a.name, '', PAGE), size: t.a.length - PAGE }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_MAP')) {
    // An unprivileged process under a small RLIMIT_MEMLOCK: an area one page longer than the limit,
    // in an IOAS no domain holds (the map pins nothing), then an access pin of all of it, which the
    // charge refuses (ENOMEM), then a pin of its first page, well within the limit. The unwind must
    // give back every page and every charge it took: what it kept shows in the second pin's
    // charge, in pinned_vm, and in the user's charge at the end.
    // Then the limit is lowered to that one page and the next two pages are pinned: the pin is
    // held to the limit of now, not of the map (incr_user_locked_vm reads RLIMIT_MEMLOCK of the
    // mapping task when it pins), so ENOMEM; and the limit is set back.
    const OVER_LIMIT_MAX_PAGES = 16;
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/over-limit',
      // Ready only in the few cases that start unprivileged under a small limit: drawn most of the
      // time there (at weight 4 it ran in 15 cases of 1000 at seed 1).
      weight: 16,
      arb: k16,
      needs: ['acc', 'buf'],
      ready: (m) => m.setting.unprivileged && m.setting.rlimit !== undefined && m.setting.rlimit <= BigInt(OVER_LIMIT_MAX_PAGES) * PAGE,
      build: (m, k) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin && m.ctxs.find((c) => c.name === a.ctx)?.open), k);
        const pages = Number((m.setting.rlimit ?? 0n) / PAGE) + 1;
        const b = pick(m.bufs.filter((x) => !x.readonly && x.length >= pages * PAGE_BYTES), k);
        if (!acc || !b) return undefined;
        const map = mapFlags(env.profile);
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(acc.ctx), { flags: map.read | map.write, ioas_id: new Ref(acc.ioas), user_va: new Ref(b.name, 'va'), length: BigInt(pages) * PAGE, iova: 0n }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      after: (m, k, t, step) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin && m.ctxs.find((c) => c.name === a.ctx)?.open), k);
        const f = (t.fields['arg'] as { fields: { user_va: Ref; length: bigint } }).fields;
        const iova = step.response?.ok ? (step.response.result as { out?: { iova?: bigint } }).out?.iova : undefined;
        if (!ok(step) || !acc || iova === undefined) return;
        m.areas.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: acc.ctx, ioas: acc.ioas, iova, length: f.length, buf: f.user_va.name, bufOff: 0, read: true, write: true, alive: true });
      },
      follow: (m, _k, t, step) => {
        const a = ok(step) ? m.areas.find((x) => x.name === Object.keys(t.bind ?? {})[0]) : undefined;
        const acc = a && m.accs.find((x) => x.open && x.pin && x.ctx === a.ctx && x.ioas === a.ioas);
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        if (!a?.buf || !acc || !ctx) return undefined;
        const pin = (length: bigint): StepTemplate | undefined => testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: MOCK_FLAGS_ACCESS_WRITE, iova: new Ref(a.name), length, uptr: new Ref(a.buf as string, 'va') }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
        const limit = (rlimitMemlock: bigint): StepTemplate => ({ op: 'set_process', fields: { rlimitMemlock } });
        const lowered = opSupported(env.caps, 'set_process') && a.length > 2n * PAGE && m.setting.rlimit !== undefined ? [limit(PAGE), testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: MOCK_FLAGS_ACCESS_WRITE, iova: new Ref(a.name, '', PAGE), length: 2n * PAGE, uptr: new Ref(a.buf, 'va', PAGE) }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' }), limit(m.setting.rlimit)] : [];
        return [pin(a.length), pin(PAGE), ...lowered].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_MAP')) {
    // Two touching areas in a free span of a pinning access's IOAS, a page each, the lower
    // writable; the access pins the upper one's first page for reading. Then either
    // - 'fail': the upper is read-only and both are pinned for writing, which the upper area
    //   refuses (check_area_prot: EPERM) after the lower piece was added: the unwind must take back
    //   the lower piece alone, and the first pin, on the area that refused, stays;
    // - 'unmap': the access pins the lower page too, and the lower area is unmapped by its exact
    //   range: the access is told of that range alone (its last byte is the one before the upper
    //   pin), and the upper pin stays.
    // (Its pin count, and its release by DESTROY_ACCESS_PAGES or the unmap at the end, show it.)
    const pinnable = (m: GenModel): AccEntry[] => m.accs.filter((a) => a.open && a.pin && m.ctxs.find((c) => c.name === a.ctx)?.open && !m.objs.find((o) => o.name === a.ioas)?.allowed?.length);
    type Touching = { k: number; then: 'fail' | 'unmap' };
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/touching',
      weight: 2,
      arb: fc.record({ k: k16, then: fc.constantFrom<Touching['then']>('fail', 'unmap') }),
      needs: ['acc', 'buf'], ready: (m) => pinnable(m).length > 0,
      build: (m, c) => {
        const acc = pick(pinnable(m), c.k);
        const b = pick(m.bufs.filter((x) => !x.readonly && x.length >= 2 * PAGE_BYTES), c.k);
        const at = acc && freeSpan(m, acc.ctx, acc.ioas);
        if (!acc || !b || at === undefined) return undefined;
        const map = mapFlags(env.profile);
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(acc.ctx), { flags: map.fixed | map.read | map.write, ioas_id: new Ref(acc.ioas), user_va: new Ref(b.name, 'va'), length: PAGE, iova: at }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      after: (m, _c, t, step) => recordFixedMap(m, t, step, mapFlags(env.profile)),
      follow: (m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref; iova: bigint } }).fields;
        const acc = ok(step) ? pick(pinnable(m), c.k) : undefined;
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        const lower = m.liveAreas().find((a) => a.name === Object.keys(t.bind ?? {})[0]);
        if (!acc || !ctx || !lower || acc.ioas !== f.ioas_id.name) return undefined;
        const map = mapFlags(env.profile);
        const upper = ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(acc.ctx), { flags: map.fixed | map.read | (c.then === 'unmap' ? map.write : 0), ioas_id: f.ioas_id, user_va: new Ref(f.user_va.name, 'va', PAGE), length: PAGE, iova: f.iova + PAGE }, NONE, {});
        const pin = (iova: bigint, length: bigint, off: bigint, flags: number): StepTemplate | undefined => testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags, iova, length, uptr: new Ref(f.user_va.name, 'va', off) }, NONE, {});
        // An unmap notifies the accesses only of areas they pin (area->num_accesses): the lower one is pinned too.
        const then = c.then === 'fail' ? [pin(f.iova, 2n * PAGE, 0n, MOCK_FLAGS_ACCESS_WRITE)] : [pin(f.iova, PAGE, 0n, 0), unmapAreaStep(env, lower)];
        if (c.then === 'unmap') lower.alive = false;
        return [upper, pin(f.iova + PAGE, PAGE, PAGE, 0), ...then].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<Touching>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && testOpSupported(env, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_UNMAP')) {
    // syzkaller's form of ACCESS_PAGES (MOCK_FLAGS_ACCESS_SYZ): the IOVA is { u32 nth_area; u32
    // offset } in the access's IOAS, decoded by the selftest (iommufd_test_syz_conv_iova), uptr
    // mostly 0 (no page check). What the access records must be the decoded IOVA: the item is
    // then released by DESTROY_ACCESS_PAGES, or by the unmap of its area telling the access.
    type Syz = { acc: number; area: number; off: number; check: boolean; destroy: boolean };
    const syzArea = new WeakMap<StepTemplate, AreaEntry>();
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/syz',
      weight: 1,
      arb: fc.record({ acc: k16, area: k16, off: fc.nat(15), check: fc.boolean(), destroy: fc.boolean() }),
      needs: ['acc', 'area'], ready: () => true,
      build: (m, c) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin), c.acc);
        const areas = acc ? [...m.liveAreas(acc.ctx, acc.ioas)].sort((x, y) => (x.iova < y.iova ? -1 : x.iova > y.iova ? 1 : 0)) : [];
        const nth = areas.length > 0 ? c.area % areas.length : 0;
        const a = areas[nth];
        if (!acc || !a?.buf) return undefined;
        const first = BigInt(c.off) % (a.length / PAGE || 1n);
        const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
        const uptr = c.check ? new Ref(a.buf, 'va', BigInt(a.bufOff) + first * PAGE) : 0n;
        const t = testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: MOCK_FLAGS_ACCESS_SYZ, iova: ((first * PAGE) << 32n) | BigInt(nth), length: PAGE, uptr }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
        if (t) syzArea.set(t, a);
        return t;
      },
      after: (m, c, t, step) => {
        notePin(m, t, step);
        const a = syzArea.get(t);
        if (ok(step) && !c.destroy && a) a.alive = false;
      },
      follow: (m, c, t, step) => {
        if (!ok(step)) return undefined;
        const f = (t.fields['arg'] as { fields: { id: Ref } }).fields;
        const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name) as CtxEntry;
        const item = Object.keys(t.bind ?? {})[0] as string;
        if (c.destroy) return testStep(m, ctx, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', f.id, 'destroy_access_pages', { access_pages_id: new Ref(item) }, NONE);
        const a = syzArea.get(t);
        return a && unmapAreaStep(env, a);
      },
    } satisfies CommandSpec<Syz>);
  }
  test('IOMMU_TEST_OP_ACCESS_PAGES', {
    weight: 2,
    // Pages 0: the rest of the area, which an unprivileged process's RLIMIT_MEMLOCK may refuse (the
    // unwind must give back every page and every charge the pin took: a later pin shows what it kept).
    arb: fc.record({ acc: k16, area: k16, off: fc.nat(15), pages: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constant(0) }), past: fc.constantFrom(0, 0, 0, 0, 1, 2), write: fc.boolean(), abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_ACCESS_PAGES') }),
    needs: ['acc', 'area'], ready: () => true,
    build: (m, c) => {
      const t = accessTarget(m, c.acc, c.area, c.off, c.pages === 0 ? Number.MAX_SAFE_INTEGER : c.pages, true, c.past, c.write);
      if (!t) return undefined;
      const ctx = m.ctxs.find((x) => x.name === t.acc.ctx) as CtxEntry;
      const name = m.fresh('item');
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: c.write ? 1 : 0, iova: t.iova, length: t.length, uptr: t.uptr }, c.abi, { [name]: 'out.access_pages.out_access_pages_id' });
    },
    after: (m, _c, t, step) => notePin(m, t, step),
    // Every other failed pin (EFAULT from user memory that is gone, ENOMEM from RLIMIT_MEMLOCK, a
    // range past the area): the area it named is unmapped right after, which nothing may refuse.
    // A pin that kept a count of itself on the area (iopt_area_add_access) makes it EDEADLOCK.
    // Now and then a pin that succeeded is followed by an unmap of part of its area, from its second
    // page on (IOMMU_IOAS_UNMAP/pinned-part): refused whole (ENOENT) before any access is told to
    // let go, so the area and the pin stay.
    follow: (m, c, t, step) => {
      const area = failedPinArea(m, c, t, step);
      if (area) area.alive = false;
      if (area) return unmapAreaStep(env, area);
      const pinned = ok(step) && c.off % 4 === 1 ? m.items.at(-1)?.pin : undefined;
      const a = pinned && m.areas.find((x) => x.alive && x.name === pinned.area);
      if (a && a.length > PAGE) return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a.ctx), { ioas_id: new Ref(a.ioas), iova: new Ref(a.name, '', PAGE), length: a.length - PAGE }, NONE);
      // Otherwise, now and then, a pin that took is asked again with a flag of ACCESS_RW's that
      // ACCESS_PAGES does not take (MOCK_ACCESS_RW_SLOW_PATH): refused (EOPNOTSUPP), nothing pinned.
      const f = (t.fields['arg'] as { fields: { access_pages?: { [k: string]: Tmpl } } }).fields.access_pages;
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      // And now and then a pin of nothing (length 0) at the IOVA a pin took: the access refuses a
      // zero length first (iommufd_access_pin_pages: EINVAL), whatever its last IOVA would be.
      if (ok(step) && c.off % 4 === 3 && f && ctx) return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id, 'access_pages', { ...f, length: 0n }, NONE, undefined, [{ what: 'a length of 0', errno: 'EINVAL', field: 'length' }]);
      // And now and then one a byte further on and a byte shorter, from the middle of its first
      // page: refused (iopt_area_contig_is_aligned: EINVAL), a pin hands out whole pages.
      const shift = (x: Tmpl | undefined): Tmpl | undefined => (typeof x === 'bigint' ? x + 1n : x instanceof Ref ? new Ref(x.name, x.path, x.add + 1n) : undefined);
      const [iova, uptr, length] = [shift(f?.['iova']), shift(f?.['uptr']), f?.['length']];
      if (ok(step) && c.off % 4 === 0 && f && ctx && iova !== undefined && uptr !== undefined && typeof length === 'bigint' && length > 1n) return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id, 'access_pages', { ...f, iova, uptr, length: length - 1n }, NONE);
      if (!ok(step) || c.off % 4 !== 2 || !f || !ctx || slowPath === undefined) return undefined;
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id, 'access_pages', { ...f, flags: toFlags(f['flags']) | slowPath }, NONE, undefined, [{ what: 'MOCK_ACCESS_RW_SLOW_PATH, a flag ACCESS_PAGES does not take', errno: 'EOPNOTSUPP', field: 'flags', abi: true }]);
    },
  });
  // A second pin of exactly the pages an item holds, by its access or another pinning access of the
  // same IOAS; now and then the area is unmapped right after. The area counts every pin
  // (iopt_area_add_access's exact-range fast path shares one iopt_pages_access between them): both
  // must be counted out when they go, by a DESTROY or by the unmap's notification, or the area can
  // never be unmapped again.
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES')) {
    /** The area the new item of a successful pin pins. */
    const pinnedArea = (m: GenModel, t: StepTemplate, step: TraceStep): AreaEntry | undefined => {
      const item = ok(step) ? m.items.find((i) => i.name === Object.keys(t.bind ?? {})[0]) : undefined;
      return m.areas.find((a) => a.name === item?.pin?.area);
    };
    const repinned = (m: GenModel): ItemEntry[] => m.items.filter((i) => i.alive && i.pin && m.areas.some((a) => a.alive && a.name === i.pin?.area));
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/again',
      weight: 1,
      arb: fc.record({ item: k16, acc: k16, unmap: fc.boolean() }),
      ready: (m) => repinned(m).length > 0,
      build: (m, c) => {
        const it = pick(repinned(m), c.item) as ItemEntry;
        const pin = it.pin as NonNullable<ItemEntry['pin']>;
        const own = m.accs.find((a) => a.name === it.acc) as AccEntry;
        const acc = pick(m.accs.filter((a) => a.open && a.pin && a.ctx === own.ctx && a.ioas === own.ioas), c.acc) ?? own;
        const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: pin.flags, iova: pin.iova, length: pin.length, uptr: pin.uptr }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
      },
      after: (m, c, t, step) => {
        notePin(m, t, step);
        // The unmap that follows takes the area (the model's pools only steer choices: one it
        // did not take is merely not picked again).
        const area = c.unmap ? pinnedArea(m, t, step) : undefined;
        if (area) area.alive = false;
      },
      follow: (m, c, t, step) => {
        const area = c.unmap ? pinnedArea(m, t, step) : undefined;
        return area && unmapAreaStep(env, area);
      },
    } satisfies CommandSpec<{ item: number; acc: number; unmap: boolean }>);
  }
  // The selftest ops whose answer names what they made, with a read-only struct (ADAPTER.md §3.3):
  // the copy-back faults after the work is done, and the op must undo it (TestOpDef.answerFault):
  // CREATE_ACCESS destroys the access (out_destroy), MOCK_DOMAIN detaches, unbinds and destroys
  // its mock device (out_detach), ACCESS_PAGES unpins (out_free_item). Drawn on its own: the ops
  // above are mostly made by constructors, which never draw an ABI defect.
  if (env.caps.readOnlyArgs?.supported === true) {
    type AnswerFault = { op: 'create' | 'mock' | 'pin'; k: number; area: number; off: number; pages: number };
    const ops = (['create', 'mock', 'pin'] as const).filter((o) => testOpSupported(env, o === 'create' ? 'IOMMU_TEST_OP_CREATE_ACCESS' : o === 'mock' ? 'IOMMU_TEST_OP_MOCK_DOMAIN' : 'IOMMU_TEST_OP_ACCESS_PAGES'));
    if (ops.length > 0) {
      const readOnly: AbiChoice = { kind: 'readOnly' };
      add({
        kind: 'IOMMU_TEST_CMD/answer-fault',
        weight: 1,
        arb: fc.record({ op: fc.constantFrom(...ops), k: k16, area: k16, off: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }) }),
        needs: ['area'], ready: () => true,
        build: (m, c) => {
          if (c.op === 'pin') {
            const t = accessTarget(m, c.k, c.area, c.off, c.pages, true);
            const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx && x.open);
            return t?.area && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: t.iova, length: t.length, uptr: t.uptr }, readOnly, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' }) : undefined;
          }
          // An IOAS that maps something: what a leaked object holds (its pins, through a domain or
          // not; the IOAS itself) shows.
          const a = pick(m.liveAreas().filter((x) => m.ctxs.find((y) => y.name === x.ctx)?.open), c.area);
          const ctx = a && m.ctxs.find((y) => y.name === a.ctx);
          if (!a || !ctx) return undefined;
          return c.op === 'create'
            ? testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(a.ioas), 'create_access', { flags: c.k % 2 ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES : 0 }, readOnly, { [m.fresh('afd')]: 'out.create_access.out_access_fd' })
            : testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', new Ref(a.ioas), 'mock_domain', {}, readOnly, { [m.fresh('stdev')]: 'out.mock_domain.out_stdev_id' });
        },
        // A pin refused this way took the id after the access's last answered item and must have
        // given it back with the pages: a DESTROY_ACCESS_PAGES of that id, right after, finds nothing.
        follow: (m, c, t, step) => {
          if (c.op !== 'pin' || step.status !== 'failed') return undefined;
          const acc = (t.fields['arg'] as { fields: { id: Ref } }).fields.id.name;
          const last = m.items.filter((i) => i.acc === acc).at(-1);
          const ctx = last && m.ctxs.find((x) => x.name === m.accs.find((a) => a.name === acc)?.ctx && x.open);
          return last && ctx && testStep(m, ctx, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', new Ref(acc), 'destroy_access_pages', { access_pages_id: new Ref(last.name, '', 1n) }, NONE);
        },
      } satisfies CommandSpec<AnswerFault>);
    }
  }
  test('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', {
    // As often as pins are taken: a held item must go when asked, and only then.
    weight: 3,
    arb: fc.record({ item: k16, abi: env.abiFor('IOMMU_TEST_CMD') }),
    ready: (m) => m.items.length > 0,
    build: (m, c) => {
      // Mostly an item its access still holds (the call must succeed), now and then one already gone
      // (ENOENT), or the id after one the access answered: the one a failed ACCESS_PAGES took and
      // must have given back, or the next item's.
      const it = (c.item % 4 !== 3 ? pick(m.items.filter((i) => i.alive), c.item) : undefined) ?? (pick(m.items, c.item) as { name: string; acc: string });
      const acc = m.accs.find((a) => a.name === it.acc) as { name: string; ctx: string };
      const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
      const next = c.item % 8 === 6 ? 1n : 0n;
      return testStep(m, ctx, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', new Ref(acc.name), 'destroy_access_pages', { access_pages_id: new Ref(it.name, '', next) }, c.abi);
    },
    after: (m, _c, t, step) => {
      const id = (t.fields['arg'] as { fields: { destroy_access_pages?: { access_pages_id?: Tmpl } } }).fields.destroy_access_pages?.access_pages_id;
      const it = ok(step) && id instanceof Ref && id.add === 0n ? m.items.find((i) => i.name === id.name) : undefined;
      if (it) it.alive = false;
    },
  });
  test('IOMMU_TEST_OP_ACCESS_RW', {
    weight: 2,
    // Now and then a copy of several pages (up to the area's end): the slow path pins and unpins
    // page by page; and now and then one that starts inside a page and runs into the next (the
    // page it ends in is found from where it starts plus its length, not from its length alone).
    arb: fc.record({ acc: k16, area: k16, off: fc.nat(15), len: fc.constantFrom(1, 8, 64, 4096, 3 * 4096, 3 * 4096), at: fc.constantFrom(0, 0, 0, 8, 4092), write: fc.boolean(), slow: fc.boolean(), buf: k16, abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_ACCESS_RW') }),
    needs: ['acc', 'area', 'buf'], ready: () => true,
    build: (m, c) => {
      const t = accessTarget(m, c.acc, c.area, c.off, Math.ceil(c.len / PAGE_BYTES) + (c.at > 0 ? 1 : 0), false, 0, c.write);
      if (!t) return undefined;
      // A shifted copy of several pages leaves the page accessTarget found past them for its tail.
      const length = c.len <= PAGE_BYTES ? BigInt(c.len) : c.at > 0 && t.length > PAGE ? t.length - PAGE : t.length;
      // Shifted only where the copy still ends inside what accessTarget found.
      const at = t.iova instanceof Ref && BigInt(c.at) + length <= t.length ? BigInt(c.at) : 0n;
      const iova = at > 0n && t.iova instanceof Ref ? new Ref(t.iova.name, t.iova.path, t.iova.add + at) : t.iova;
      // Mostly a buffer other than the area's, or bytes of it clear of the ones accessed: a copy
      // between overlapping bytes cannot be judged.
      const own = t.uptr instanceof Ref ? t.uptr : undefined;
      const b = (c.buf % 4 !== 0 ? pick(m.bufs.filter((x) => x.name !== own?.name), c.buf) : undefined) ?? pick(m.bufs, c.buf);
      if (!b) return undefined;
      const ctx = m.ctxs.find((x) => x.name === t.acc.ctx) as CtxEntry;
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(t.acc.name), 'access_rw', { iova, length, uptr: new Ref(b.name, 'va', userOffset(b.length, own?.name === b.name ? own.add + at : undefined, length)), flags: (c.write ? 1 : 0) | (c.slow ? 4 : 0) }, c.abi);
    },
    // A copy that worked, made again in syzkaller's form (MOCK_FLAGS_ACCESS_SYZ): its iova is the
    // area's place in the IOAS and the offset into it, which the selftest decodes from access_rw.
    // Now and then, instead, the same copy of nothing (length 0): iommufd_access_rw refuses a zero
    // length first (EINVAL), before it computes the last IOVA.
    follow: (m, c, t, step) => {
      const f = (t.fields['arg'] as { fields: { id: Ref; access_rw?: { [k: string]: Tmpl } } }).fields;
      const rw = f.access_rw;
      const acc = m.accs.find((a) => a.name === f.id.name && a.open);
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name) as CtxEntry;
      if (ok(step) && rw && acc && c.off % 4 === 3) return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', f.id, 'access_rw', { ...rw, length: 0n }, NONE, undefined, [{ what: 'a length of 0', errno: 'EINVAL', field: 'length' }]);
      if (!ok(step) || !rw || !acc || !(rw['iova'] instanceof Ref) || typeof rw['flags'] !== 'number' || (rw['flags'] & MOCK_FLAGS_ACCESS_SYZ) !== 0) return undefined;
      const ref = rw['iova'];
      const areas = [...m.liveAreas(acc.ctx, acc.ioas)].sort((x, y) => (x.iova < y.iova ? -1 : x.iova > y.iova ? 1 : 0));
      const nth = areas.findIndex((a) => a.name === ref.name);
      if (nth < 0 || ref.path !== '' || ref.add >= 1n << 32n) return undefined;
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', f.id, 'access_rw', { ...rw, iova: (ref.add << 32n) | BigInt(nth), flags: rw['flags'] | MOCK_FLAGS_ACCESS_SYZ }, NONE);
    },
  });
  // A writable area copied without WRITEABLE into an access's IOAS, then written through by the
  // access: the new area's protection is narrower than its pages' (they were pinned for writing
  // for the source), and it is the area's that rules (check_area_prot: EPERM).
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_RW') && supported(env.caps, 'IOMMU_IOAS_COPY')) {
    const MAP_READ = mapFlags(p).read;
    const sources = (m: GenModel, acc: AccEntry): AreaEntry[] => m.liveAreas(acc.ctx).filter((a) => a.write && a.buf !== undefined && a.iova % PAGE === 0n && a.length % PAGE === 0n);
    add({
      kind: 'IOMMU_IOAS_COPY/read-only-for-access',
      weight: 1,
      arb: fc.record({ acc: k16, src: k16, buf: k16 }),
      needs: ['acc', 'area', 'buf'], ready: () => true,
      build: (m, c) => {
        const acc = pick(m.accs.filter((a) => a.open && sources(m, a).length > 0), c.acc);
        const a = acc && pick(sources(m, acc), c.src);
        if (!acc || !a) return undefined;
        const length = a.length < 4n * PAGE ? a.length : 4n * PAGE;
        return ioctlStep(env, 'IOMMU_IOAS_COPY', new Ref(acc.ctx), { flags: MAP_READ, dst_ioas_id: new Ref(acc.ioas), src_ioas_id: new Ref(a.ioas), length, dst_iova: 0n, src_iova: new Ref(a.name) }, NONE, { bind: { [m.fresh('area')]: 'out.dst_iova' } });
      },
      follow: (m, c, t, step) => {
        const acc = pick(m.accs.filter((a) => a.open && sources(m, a).length > 0), c.acc);
        const b = pick(m.bufs.filter((x) => !x.readonly), c.buf);
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        if (!ok(step) || !acc || !b || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(acc.name), 'access_rw', { iova: new Ref(Object.keys(t.bind ?? {})[0] as string), length: 8n, uptr: new Ref(b.name, 'va'), flags: MOCK_ACCESS_RW_WRITE }, NONE);
      },
    } satisfies CommandSpec<{ acc: number; src: number; buf: number }>);
  }
  // An access copy across the boundary of two touching areas of the access's IOAS: each part
  // must come from (or go to) its own area's pages.
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_RW')) {
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_RW/straddle',
      weight: 1,
      arb: fc.record({ k: k16, before: fc.constantFrom(8, 4096), after: fc.constantFrom(8, 4096), write: fc.boolean(), buf: k16 }),
      needs: ['acc', 'areaPair', 'buf'],
      ready: () => true,
      build: (m, c) => {
        const pair = pick(areaPairs(m).filter(([lo, hi]) => lo.iova + lo.length === hi.iova && m.accs.some((a) => a.open && a.ctx === lo.ctx && a.ioas === lo.ioas)), c.k);
        const b = pick(m.bufs, c.buf);
        if (!pair || !b) return undefined;
        const [lo] = pair;
        const acc = m.accs.find((a) => a.open && a.ctx === lo.ctx && a.ioas === lo.ioas) as { name: string; ctx: string };
        const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
        const length = BigInt(c.before + c.after);
        const uptr = new Ref(b.name, 'va', BigInt(b.length) > length + 4096n ? 4096n : 0n);
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(acc.name), 'access_rw', { iova: lo.iova + lo.length - BigInt(c.before), length, uptr, flags: c.write ? 1 : 0 }, NONE);
      },
    } satisfies CommandSpec<{ k: number; before: number; after: number; write: boolean; buf: number }>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_RW') && opSupported(env.caps, 'mem_protect')) {
    // A page of a writable area made read-only (mprotect) after it was mapped, then an access
    // write into it: the fast path's copy_to_user and the slow path's FOLL_WRITE pin must fail
    // there (EFAULT), except where the slow path reads frames already pinned for writing. One
    // page, or a write running into the page after it.
    type Protected = { k: number; page: number; prot: 'r' | 'none'; slow: boolean; span: boolean; buf: number };
    const targets = (m: GenModel): { acc: AccEntry; area: AreaEntry }[] =>
      m.accs.flatMap((acc) => (acc.open ? m.liveAreas(acc.ctx, acc.ioas).filter((a) => a.write && a.buf !== undefined && a.bufOff % 4096 === 0).map((area) => ({ acc, area })) : []));
    add({
      kind: 'mem_protect/accessed',
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(15), prot: fc.constantFrom<'r' | 'none'>('r', 'r', 'none'), slow: fc.boolean(), span: fc.boolean(), buf: k16 }),
      needs: ['acc', 'area', 'buf'], ready: () => true,
      build: (m, c) => {
        const t = pick(targets(m), c.k);
        if (!t?.area.buf) return undefined;
        const page = c.page % Math.max(1, Number(t.area.length / PAGE));
        return { op: 'mem_protect', fields: { buffer: new Ref(t.area.buf, 'buffer'), offset: t.area.bufOff + page * 4096, length: 4096, prot: c.prot } };
      },
      follow: (m, c, t, step) => {
        const f = t.fields as { buffer: Ref; offset: number };
        const e = ok(step) ? targets(m).find((x) => x.area.buf === f.buffer.name && f.offset >= x.area.bufOff && BigInt(f.offset - x.area.bufOff) < x.area.length) : undefined;
        const ctx = e && m.ctxs.find((x) => x.name === e.acc.ctx && x.open);
        const b = pick(m.bufs.filter((x) => x.name !== f.buffer.name), c.buf);
        if (!e || !ctx || !b) return undefined;
        const at = BigInt(f.offset - e.area.bufOff);
        // Eight bytes in the page, or the last four of it and the first four of the next (when the area has one).
        const spans = c.span && at + 2n * PAGE <= e.area.length;
        const iova = new Ref(e.area.name, undefined, at + (spans ? PAGE - 4n : 8n));
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(e.acc.name), 'access_rw', { iova, length: 8n, uptr: new Ref(b.name, 'va'), flags: 1 | (c.slow ? 4 : 0) }, NONE);
      },
    } satisfies CommandSpec<Protected>);
  }
  /**
   * The access a replace moves: half the time one holding pinned pages, which the change must
   * have its driver unpin (iommufd_access_change_ioas: ops->unmap, then unpins through ioas_unpin).
   */
  const replacedAcc = (m: GenModel, k: number): AccEntry | undefined =>
    (k % 2 === 0 ? pick(m.accs.filter((a) => a.open && m.items.some((i) => i.alive && i.acc === a.name)), k >> 1) : undefined) ?? pick(m.accs, k);
  /** The IOAS an ACCESS_REPLACE_IOAS step moves its access away from (read before `after` moves it). */
  const replaceLeaves = new WeakMap<StepTemplate, string>();
  test('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', {
    weight: 1,
    // Now and then through another context's iommufd: the selftest finds the access by its fd, and
    // the IOAS id is the access's context's (iommufd_access_change_ioas_id: access->ictx).
    arb: fc.record({ acc: k16, ioas: idChoice, via: k16, abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['acc'], ready: () => true,
    build: (m, c) => {
      const acc = replacedAcc(m, c.acc); // none when the access constructor was refused
      const own = acc && m.ctxs.find((x) => x.name === acc.ctx);
      if (!acc || !own) return undefined;
      const other = c.via % 4 === 3 ? pick(m.ctxs.filter((x) => x.open && x.name !== own.name), c.via) : undefined;
      const t = testStep(m, other ?? own, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(acc.name), 'access_replace_ioas', { ioas_id: idOf(c.ioas, m, own.name, ['ioas']).id }, c.abi);
      if (t) replaceLeaves.set(t, acc.ioas);
      return t;
    },
    after: (m, c, t, step) => {
      if (!ok(step)) return;
      const id = ((t.fields['arg'] as { fields: { access_replace_ioas: { ioas_id: Tmpl } } }).fields.access_replace_ioas.ioas_id);
      const acc = replacedAcc(m, c.acc);
      if (acc && id instanceof Ref) acc.ioas = id.name;
    },
    // The IOAS it left, once nothing else holds it, is destroyed: a replace that kept its
    // reference on the old IOAS shows only there (EBUSY with no holder).
    follow: (m, c, t, step) => {
      const left = replaceLeaves.get(t);
      const acc = replacedAcc(m, c.acc);
      const ioas = left !== undefined && ok(step) && acc && acc.ioas !== left ? m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive) : undefined;
      if (!ioas || left === undefined || ioasHeld(m, left)) return undefined;
      ioas.alive = false;
      for (const a of m.areas) if (a.ioas === left) a.alive = false;
      return ioctlStep(env, 'IOMMU_DESTROY', new Ref(ioas.ctx), { id: new Ref(left) }, NONE, {});
    },
  });
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS') && testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES')) {
    // An access that holds pinned pages moved to another IOAS: its driver is told to unpin
    // everything first (iommufd_access_change_ioas: ops->unmap over the whole range, while new
    // pins are blocked), and every page and charge it held in the old IOAS must go back.
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS/holding',
      weight: 1,
      arb: k16,
      needs: ['accSiblings'], ready: () => true,
      build: (m, k) => {
        const acc = pick(m.accs.filter((a) => a.open && m.items.some((i) => i.alive && i.acc === a.name)), k);
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx && x.open);
        const to = acc && pick(m.live('ioas', acc.ctx).filter((o) => o.name !== acc.ioas), k);
        return acc && ctx && to ? testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(acc.name), 'access_replace_ioas', { ioas_id: new Ref(to.name) }, NONE) : undefined;
      },
      after: (m, _k, t, step) => {
        const f = (t.fields['arg'] as { fields: { id: Ref; access_replace_ioas: { ioas_id: Ref } } }).fields;
        const acc = ok(step) ? m.accs.find((a) => a.name === f.id.name) : undefined;
        if (!acc) return;
        acc.ioas = f.access_replace_ioas.ioas_id.name;
        for (const i of m.items) if (i.acc === acc.name) i.alive = false;
      },
    } satisfies CommandSpec<number>);

    // A pinning access created on an IOAS whose area sits at a byte offset into a page: refused
    // (EADDRINUSE). Then that area is unmapped, and an access comes and goes there (each
    // recomputes the alignment from the IOAS's holders): the refused one must have left nothing,
    // so the alignment IOVA_RANGES reports after is the remaining holders' (1: none).
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_CREATE_ACCESS/unaligned',
      weight: 1,
      arb: k16,
      needs: ['unalignedIoas'], ready: () => true,
      build: (m, k) => {
        const t = pick(unalignedTargets(m), k);
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx && x.open);
        return t && ctx && testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(t.to), 'create_access', { flags: MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES }, NONE, { [m.fresh('afd')]: 'out.create_access.out_access_fd' });
      },
      follow: (m, k, _t, step) => {
        const t = step.status === 'failed' ? pick(unalignedTargets(m), k) : undefined;
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx && x.open);
        const area = t && m.liveAreas(t.acc.ctx, t.to).find((a) => a.iova % PAGE !== 0n);
        if (!t || !ctx || !area || m.liveAreas(t.acc.ctx, t.to).length > 1 || m.accs.some((a) => a.open && a.ioas === t.to)) return undefined;
        const unmap = unmapAreaStep(env, area);
        area.alive = false;
        const afd = m.fresh('afd');
        const create = testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(t.to), 'create_access', { flags: 0 }, NONE, { [afd]: 'out.create_access.out_access_fd' });
        const ranges = supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES') ? rangesOf(env, ctx.name, t.to) : undefined;
        return [unmap, create, { op: 'close', fields: { fd: new Ref(afd) } }, ranges].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
    // A pinning access moved to an IOAS whose area sits at a byte offset into a page: refused
    // (EADDRINUSE), and the access stays on its IOAS — a pin of a page that IOAS maps, right after,
    // must work (an unwind that dropped the access's IOAS answers ENOENT).
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS/unaligned',
      weight: 1,
      arb: k16,
      needs: ['unalignedIoas'], ready: () => true,
      build: (m, k) => {
        const t = pick(unalignedTargets(m), k);
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx);
        return t && ctx && testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(t.acc.name), 'access_replace_ioas', { ioas_id: new Ref(t.to) }, NONE);
      },
      after: (m, k, _t, step) => {
        const t = ok(step) ? pick(unalignedTargets(m), k) : undefined;
        if (t) t.acc.ioas = t.to;
      },
      follow: (m, k, _t, step) => {
        const t = step.status === 'failed' ? pick(unalignedTargets(m), k) : undefined;
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx);
        if (!t?.area.buf || !ctx) return undefined;
        const pin = testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.area.name), length: PAGE, uptr: new Ref(t.area.buf, 'va', BigInt(t.area.bufOff)) }, NONE);
        if (m.accs.some((a) => a.open && a.ioas === t.to)) return pin;
        // Then once more with an access already on the target (one that pins nothing, so the
        // target's byte offsets still suit it): its list numbers the mover apart from where it sits
        // in its own IOAS's (iopt_add_access's slot, taken and given back), and the mover must leave
        // its own IOAS from the slot it holds there when it goes (at the latest, at the case's end).
        const other = m.fresh('afd');
        return [
          pin,
          testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(t.to), 'create_access', { flags: 0 }, NONE, { [other]: 'out.create_access.out_access_fd' }),
          testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(t.acc.name), 'access_replace_ioas', { ioas_id: new Ref(t.to) }, NONE),
        ].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS') && supported(env.caps, 'IOMMU_IOAS_UNMAP')) {
    // One of two accesses of an IOAS moves to another while the other holds pages; then the
    // first IOAS is unmapped: the access left behind must still be told to let go
    // (iommufd_access_notify_unmap walks the IOAS's access list).
    const sibling = (m: GenModel, k: number): { a1: AccEntry; a2: AccEntry; to: string } | undefined => {
      const pairs = m.accs.flatMap((a1) => {
        if (!a1.open || !m.items.some((i) => i.alive && i.acc === a1.name)) return [];
        const a2 = m.accs.find((x) => x !== a1 && x.open && x.ctx === a1.ctx && x.ioas === a1.ioas);
        const to = m.live('ioas', a1.ctx).find((o) => o.name !== a1.ioas);
        return a2 && to ? [{ a1, a2, to: to.name }] : [];
      });
      return pick(pairs, k);
    };
    /** The access a step of this kind moves (its id). */
    const moved = (m: GenModel, t: StepTemplate): AccEntry | undefined => {
      const id = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
      return id instanceof Ref ? m.accs.find((a) => a.name === id.name) : undefined;
    };
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS/sibling',
      weight: 1,
      arb: k16,
      needs: ['accSiblings'], ready: () => true,
      build: (m, k) => {
        const p = sibling(m, k);
        const ctx = p && m.ctxs.find((x) => x.name === p.a1.ctx);
        if (!p || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(p.a2.name), 'access_replace_ioas', { ioas_id: new Ref(p.to) }, NONE);
      },
      after: (m, _k, t, step) => {
        const a2 = moved(m, t);
        const to = (t.fields['arg'] as { fields: { access_replace_ioas: { ioas_id: Tmpl } } }).fields.access_replace_ioas.ioas_id;
        if (ok(step) && a2 && to instanceof Ref) a2.ioas = to.name;
      },
      follow: (m, _k, t, step) => {
        const a2 = moved(m, t);
        const a1 = ok(step) && a2 ? m.accs.find((a) => a !== a2 && a.open && a.ctx === a2.ctx && a.ioas !== a2.ioas && m.items.some((i) => i.alive && i.acc === a.name)) : undefined;
        if (!a1) return undefined;
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a1.ctx), { ioas_id: new Ref(a1.ioas), iova: 0n, length: U64_MAX }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }
  test('IOMMU_TEST_OP_MD_CHECK_MAP', {
    weight: 1,
    // half: the range starts half a page in (2 KiB, the mock's own page; the 7.3 huge table's
    // smallest page is 4 KiB, so there it is refused).
    arb: fc.record({ ctx: ctxK, hwpt: k16, area: k16, off: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }), half: fc.nat(3).map((x) => x === 0), abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['hwpt', 'area'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      // Half a page in, a huge-table mock first: the one table whose smallest page is larger.
      const h = (c.half ? pick(m.live('hwpt').filter((x) => x.mockHuge && m.liveAreas(x.ctx, x.ioas).length > 0), c.hwpt) : undefined) ?? pick(m.live('hwpt', ctx.name), c.hwpt) ?? pick(m.live('hwpt'), c.hwpt);
      if (!h) return undefined;
      const a = pick(m.liveAreas(h.ctx, h.ioas), c.area) ?? pick(m.liveAreas(h.ctx), c.area);
      if (!a || !a.buf) return undefined;
      const total = a.length / PAGE;
      const first = total > 0n ? BigInt(c.off) % total : 0n;
      const n = BigInt(c.pages) <= total - first ? BigInt(c.pages) : total - first || 1n;
      const hctx = m.ctxs.find((x) => x.name === h.ctx) as CtxEntry;
      const half = c.half ? PAGE / 2n : 0n;
      return testStep(m, hctx, 'IOMMU_TEST_OP_MD_CHECK_MAP', new Ref(h.name), 'check_map', { iova: new Ref(a.name, '', first * PAGE + half), length: n * PAGE - half, uptr: new Ref(a.buf, 'va', BigInt(a.bufOff) + first * PAGE + half) }, c.abi);
    },
    // A check that took is asked again (every other time) with its user range moved to end exactly
    // at the top of the address space, 2^64 (EINVAL: check_add_overflow), and otherwise followed by
    // MD_CHECK_IOTLB on the same HWPT, which looks its id up as a nested HWPT (a paging one is
    // ENOENT).
    follow: (m, c, t, step) => {
      const f = t.fields['arg'] as { fields: { id: Tmpl; check_map: { iova: Tmpl; length: Tmpl; uptr: Tmpl } } };
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      if (!ok(step) || !ctx || typeof f.fields.check_map.length !== 'bigint') return undefined;
      const length = f.fields.check_map.length;
      if (c.hwpt % 2 === 0) return testStep(m, ctx, 'IOMMU_TEST_OP_MD_CHECK_MAP', f.fields.id, 'check_map', { ...f.fields.check_map, uptr: (1n << 64n) - length }, NONE);
      return testOpSupported(env, 'IOMMU_TEST_OP_MD_CHECK_IOTLB') ? testStep(m, ctx, 'IOMMU_TEST_OP_MD_CHECK_IOTLB', f.fields.id, 'check_iotlb', { id: 0, iotlb: 0 }, NONE) : undefined;
    },
  });
  test('IOMMU_TEST_OP_MD_CHECK_REFS', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, buf: k16, page: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }), refs: fc.constantFrom(0, 1, 1, 2), edge: fc.option(fc.record({ area: k16, below: fc.boolean() }), { freq: 2 }), skew: fc.constantFrom(0, 0, 0, 0, 0, 0, 8, -8), abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['buf', 'ctx'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      // Half the time a range across an area's edge, its first page given the
      // count it likely holds (none just below the area, one at its last
      // page): pages pinned differently, the first as asked, are what tells a
      // check of every page from one that looks at the first only.
      const edge = c.edge && pick(m.liveAreas().filter((x) => x.buf !== undefined && x.bufOff % 4096 === 0), c.edge.area);
      const b = (edge ? m.bufs.find((x) => x.name === edge.buf) : undefined) ?? (pick(m.bufs, c.buf) as { name: string; length: number });
      const total = Math.max(1, Math.floor(b.length / 4096));
      const areaFirst = edge ? edge.bufOff / 4096 : 0;
      const areaLast = edge ? areaFirst + Math.max(1, Number(edge.length / PAGE)) - 1 : 0;
      const atEdge = edge && c.edge && (c.edge.below ? areaFirst > 0 : areaLast + 1 < total);
      // A skewed check is of a page no area maps (none pinned, refs 0), when the buffer has one:
      // every page it reaches then holds what it is asked, so only the alignment test refuses it.
      const idle = c.skew !== 0 && !atEdge ? idlePage(m, b.name, total, c.page) : undefined;
      const first = atEdge ? (c.edge?.below ? areaFirst - 1 : areaLast) : (idle ?? c.page % total);
      const refs = atEdge ? (c.edge?.below ? 0 : 1) : idle !== undefined ? 0 : c.refs;
      // A skewed range is one page (the first's count as asked, when at an edge): the check of its
      // alignment is all that can refuse it.
      const n = c.skew !== 0 ? 1 : Math.min(atEdge ? Math.max(2, c.pages) : c.pages, total - first);
      // Now and then an address 8 bytes into the page, or a length 8 bytes short of whole pages.
      return testStep(m, ctx, 'IOMMU_TEST_OP_MD_CHECK_REFS', 0, 'check_refs', { length: BigInt(n * 4096 + Math.min(0, c.skew)), uptr: new Ref(b.name, 'va', BigInt(first * 4096 + Math.max(0, c.skew))), refs }, c.abi);
    },
    // A skewed check is followed by one whose uptr and length are whole pages but whose range runs
    // past the top of the address space: only the overflow test refuses it (EINVAL).
    follow: (m, c, t) => {
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      return c.skew !== 0 && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_MD_CHECK_REFS', 0, 'check_refs', { length: 2n * PAGE, uptr: U64_MAX - PAGE + 1n, refs: 0 }, NONE, undefined, [{ what: 'a range past the top of the address space', errno: 'EINVAL' }]) : undefined;
    },
  });
  /** A page of the buffer no live area maps (from page `from` on, wrapping), if it has one. */
  const idlePage = (m: GenModel, buf: string, pages: number, from: number): number | undefined => {
    const mapped = (i: number): boolean => m.liveAreas().some((a) => a.buf === buf && i * PAGE_BYTES + PAGE_BYTES > a.bufOff && i * PAGE_BYTES < a.bufOff + Number(a.length));
    for (let k = 0; k < pages; k++) {
      const i = (from + k) % pages;
      if (!mapped(i)) return i;
    }
    return undefined;
  };
  return specs;
}
