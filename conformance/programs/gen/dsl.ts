/**
 * A small builder for corpus programs, so the selftest ports read like the C
 * they come from (tools/testing/selftests/iommu/iommufd_utils.h helpers have
 * namesakes here). It only produces JSON in the program format; nothing here
 * runs anything.
 */
import type { Profile } from '../../../spec/contract/types.ts';
import { PROGRAM_FORMAT, type Json, type Program, type ProgramSource, type Step, type StepExpect } from '../types.ts';

export const PAGE_SIZE = 4096;
/** The selftests' global `buffer`: 16 pages, hugepage aligned. */
export const BUFFER_SIZE = PAGE_SIZE * 16;
export { MOCK_APERTURE_START, MOCK_PAGE_SIZE } from '../../../spec/uapi/constants.ts';

export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
export const ok: StepExpect = { ok: true };
export const err = (...errnos: string[]): StepExpect => ({ errno: errnos });

export interface StepOpts {
  readonly bind?: { readonly [name: string]: string };
  readonly expect?: StepExpect;
  readonly note?: string;
  readonly tail?: Json;
  readonly truncate?: number;
  readonly fd?: string;
}

/** A reference to a user VA: `$buf.va` plus an offset. */
export function va(buf: string, offset = 0): Json {
  return offset === 0 ? `$${buf}.va` : { $: buf, field: 'va', add: offset };
}

export class ProgramBuilder {
  readonly steps: Step[] = [];
  /** The iommufd the helpers issue on (selftests' self->fd). */
  fd = '$fd';

  constructor(readonly profile: Profile) {}

  step(op: string, fields: { readonly [k: string]: Json }, o: StepOpts = {}): this {
    const s: Record<string, unknown> = { op, ...fields };
    if (o.bind) s['bind'] = o.bind;
    if (o.expect) s['expect'] = o.expect;
    if (o.note) s['note'] = o.note;
    this.steps.push(s as unknown as Step);
    return this;
  }

  open(bind = 'fd', node: 'iommu' | 'vfio' = 'iommu'): this {
    return this.step('open', { node }, { bind: { [bind]: 'fd' }, expect: ok });
  }

  close(fd = this.fd, expect: StepExpect = ok): this {
    return this.step('close', { fd }, { expect });
  }

  ioctl(cmd: string, fields: { readonly [k: string]: Json }, o: StepOpts = {}): this {
    const s: Record<string, Json> = { fd: o.fd ?? this.fd, cmd, fields };
    if (o.tail !== undefined) s['tail'] = o.tail;
    if (o.truncate !== undefined) s['truncate'] = o.truncate;
    return this.step('ioctl', s, o);
  }

  /** An ioctl with a non-struct argument (VFIO int args, NULL). */
  ioctlArg(cmd: string | number, arg: Json, o: StepOpts = {}): this {
    return this.step('ioctl', { fd: o.fd ?? this.fd, cmd, arg }, o);
  }

  /** IOMMU_TEST_CMD with one union member: test('MOCK_DOMAIN', '$ioas', 'mock_domain', {...}). */
  test(op: string, id: Json, member: string | null, fields: { readonly [k: string]: Json } = {}, o: StepOpts = {}): this {
    const f: Record<string, Json> = { op: `IOMMU_TEST_OP_${op}` };
    if (id !== 0) f['id'] = id;
    if (member) f[member] = fields;
    return this.ioctl('IOMMU_TEST_CMD', f, o);
  }

  // --- iommufd_utils.h namesakes -------------------------------------------

  memAlloc(name = 'buf', length = BUFFER_SIZE): this {
    return this.step('mem_alloc', { length, hugeAligned: true }, { bind: { [name]: '.' } });
  }

  ioasAlloc(name: string, expect: StepExpect = ok): this {
    return this.ioctl('IOMMU_IOAS_ALLOC', {}, { bind: { [name]: 'out.out_ioas_id' }, expect });
  }

  destroy(id: Json, expect: StepExpect = ok): this {
    return this.ioctl('IOMMU_DESTROY', { id }, { expect });
  }

  /** test_cmd_mock_domain: binds <prefix>stdev, <prefix>hwpt, <prefix>idev. */
  mockDomain(ioas: Json, prefix = '', expect: StepExpect = ok): this {
    return this.test('MOCK_DOMAIN', ioas, 'mock_domain', {}, {
      expect,
      bind: expect.ok ? { [`${prefix}stdev`]: 'out.mock_domain.out_stdev_id', [`${prefix}hwpt`]: 'out.mock_domain.out_hwpt_id', [`${prefix}idev`]: 'out.mock_domain.out_idev_id' } : undefined,
    });
  }

  mockDomainFlags(ioas: Json, flags: Json, prefix = '', expect: StepExpect = ok): this {
    return this.test('MOCK_DOMAIN_FLAGS', ioas, 'mock_domain_flags', { dev_flags: flags }, {
      expect,
      bind: expect.ok
        ? { [`${prefix}stdev`]: 'out.mock_domain_flags.out_stdev_id', [`${prefix}hwpt`]: 'out.mock_domain_flags.out_hwpt_id', [`${prefix}idev`]: 'out.mock_domain_flags.out_idev_id' }
        : undefined,
    });
  }

  mockDomainReplace(stdev: Json, pt: Json, expect: StepExpect = ok): this {
    return this.test('MOCK_DOMAIN_REPLACE', stdev, 'mock_domain_replace', { pt_id: pt }, { expect });
  }

  setTempMemoryLimit(limit: number): this {
    return this.test('SET_TEMP_MEMORY_LIMIT', 0, 'memory_limit', { limit }, { expect: ok });
  }

  setDefaultMemoryLimit(): this {
    return this.setTempMemoryLimit(65536);
  }

  /** test_ioctl_ioas_map (automatic IOVA): binds `bindIova` to the chosen IOVA. */
  map(ioas: Json, user: Json, length: number | string, o: { bindIova?: string; expect?: StepExpect; flags?: string; outIova?: Json } = {}): this {
    const expect = o.expect ?? ok;
    return this.ioctl(
      'IOMMU_IOAS_MAP',
      { ioas_id: ioas, flags: o.flags ?? 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: user, length: String(length) },
      { expect: o.outIova !== undefined ? { ...expect, out: { iova: o.outIova } } : expect, bind: o.bindIova && expect.ok ? { [o.bindIova]: 'out.iova' } : undefined },
    );
  }

  /** test_ioctl_ioas_map_fixed. */
  mapFixed(ioas: Json, user: Json, length: number | string, iova: Json, expect: StepExpect = ok, flags = 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE'): this {
    return this.ioctl('IOMMU_IOAS_MAP', { ioas_id: ioas, flags, user_va: user, length: String(length), iova }, { expect });
  }

  unmap(ioas: Json, iova: Json, length: number | string, expect: StepExpect = ok, outLength?: Json): this {
    const e = outLength !== undefined ? { ...expect, out: { length: outLength } } : expect;
    return this.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: ioas, iova, length: String(length) }, { expect: e });
  }

  checkRefs(user: Json, length: number, refs: number, expect: StepExpect = ok): this {
    return this.test('MD_CHECK_REFS', 0, 'check_refs', { length: String(length), uptr: user, refs }, { expect });
  }

  checkMap(hwpt: Json, iova: Json, length: number, user: Json, expect: StepExpect = ok): this {
    return this.test('MD_CHECK_MAP', hwpt, 'check_map', { iova, length: String(length), uptr: user }, { expect });
  }

  /** teardown_iommufd: close, then check from a fresh fd that no page of the buffer is still referenced. */
  teardown(buf = 'buf'): this {
    this.close(this.fd);
    this.open('teardown_fd');
    this.test('MD_CHECK_REFS', 0, 'check_refs', { length: String(BUFFER_SIZE), uptr: va(buf), refs: 0 }, { expect: ok, fd: '$teardown_fd', note: 'teardown_iommufd: no page still referenced' });
    return this.close('$teardown_fd');
  }
}

export interface TestDef {
  /** <fixture>.<variant>.<test> or <fixture>.<test>. */
  readonly name: string;
  readonly description: string;
  readonly source: ProgramSource;
  /** Profiles the program applies to (default: source.kernels). */
  readonly profiles?: readonly Profile[];
  readonly requires?: Program['requires'];
  readonly build: (p: ProgramBuilder) => void;
}

/** Builds a test for each profile; one program when the steps agree, else one per profile (name@profile). */
export function programsOf(t: TestDef): Program[] {
  const profiles = t.profiles ?? t.source.kernels ?? ['6.12', '7.3'];
  const built = profiles.map((profile) => {
    const b = new ProgramBuilder(profile);
    t.build(b);
    return { profile, steps: b.steps };
  });
  const make = (name: string, ps: readonly Profile[], steps: Step[]): Program => ({
    format: PROGRAM_FORMAT,
    name,
    description: t.description,
    source: t.source,
    profiles: ps,
    ...(t.requires ? { requires: t.requires } : {}),
    steps,
  });
  const first = built[0];
  if (!first) return [];
  if (built.every((b) => JSON.stringify(b.steps) === JSON.stringify(first.steps))) return [make(t.name, profiles, first.steps)];
  return built.map((b) => make(`${t.name}@${b.profile}`, [b.profile], b.steps));
}
