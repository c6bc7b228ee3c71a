/**
 * The page-table configurations the differential test covers: for each profile
 * and each format the core models, how the kernel's driver sets the table up
 * (harness driver + parameters, as intel/iommu.c, amd/iommu.c,
 * arm-smmu-v3.c and iommufd/selftest.c do) and the FormatConfig that asks our
 * core for the same table.
 */
import type { Profile } from '../../../spec/uapi/profiles.ts';
import type { FormatConfig } from '../../../impl/pagetable/format.ts';

/** How sequences may be generated for a driver: which kernel behaviours are defined enough to record. */
export type Family =
  /** 7.3 generic_pt (iommu_pt.h): overlap -EADDRINUSE, partial unmaps defined. */
  | 'gpt'
  /** io-pgtable-arm through the iommu core's map_pages/unmap_pages loop. */
  | 'arm'
  /** 6.12 intel/iommu.c: a map over a superpage or an unmap cutting one walks into data: only whole maps/unmaps. */
  | 'vtd612'
  /** 6.12 amd/io_pgtable.c: overlapping maps replace, unmaps clear whole leaves. */
  | 'amd612';

export interface PtConfig {
  readonly name: string;
  readonly profile: Profile;
  readonly family: Family;
  /** Harness driver and `new` parameters. */
  readonly driver: string;
  readonly params: Readonly<Record<string, number | bigint>>;
  /** The same table in our core. */
  readonly core: FormatConfig;
  /** VA bits the generator aims at (top-of-VA cases), and whether the upper half is sign extended. */
  readonly vaBits: number;
  readonly signExtend?: boolean;
  /** OA bits the generator may use. */
  readonly oaBits: number;
  /** Dirty tracking exercised (set_dirty + read_and_clear_dirty). */
  readonly dirty: boolean;
}

// enum pt_features (include/linux/generic_pt/common.h)
const PT_FEAT_DYNAMIC_TOP = 1 << 2;
const PT_FEAT_SIGN_EXTEND = 1 << 3;
const PT_FEAT_FLUSH_RANGE = 1 << 4;
const PT_FEAT_FMT_START = 7;
const PT_FEAT_AMDV1_ENCRYPT_TABLES = 1 << PT_FEAT_FMT_START;
const PT_FEAT_AMDV1_FORCE_COHERENCE = 1 << (PT_FEAT_FMT_START + 1);
const PT_FEAT_VTDSS_FORCE_COHERENCE = 1 << PT_FEAT_FMT_START;
const PT_FEAT_VTDSS_FORCE_WRITEABLE = 1 << (PT_FEAT_FMT_START + 1);
const SZ_4K = 0x1000n;
const SZ_2M = 0x200000n;
const SZ_1G = 0x40000000n;
const SZ_16K = 0x4000n;
const SZ_32M = 0x2000000n;
const SZ_64K = 0x10000n;
const SZ_512M = 0x20000000n;
const SZ_4T = 1n << 42n;
/** IO_PGTABLE_QUIRK_ARM_HD (include/linux/io-pgtable.h): stage-1 dirty tracking with DBM. */
const IO_PGTABLE_QUIRK_ARM_HD = 1 << 7;

function vtdss73(): PtConfig[] {
  const out: PtConfig[] = [];
  // intel_iommu_domain_alloc_second_stage: top_level/vasz from SAGAW, FLUSH_RANGE, sslps trims 2M/1G.
  for (const [levels, vasz] of [[3, 39], [4, 48], [5, 57]] as const) {
    out.push({
      name: `vtdss-${vasz}`, profile: '7.3', family: 'gpt', driver: 'vtdss',
      params: { top: levels - 1, vasz, oasz: 52, feat: PT_FEAT_FLUSH_RANGE },
      core: { format: 'vtd-ss', levels, profile: '7.3' }, vaBits: vasz, oaBits: 52, dirty: true,
    });
  }
  out.push(
    {
      name: 'vtdss-48-4k', profile: '7.3', family: 'gpt', driver: 'vtdss',
      params: { top: 3, vasz: 48, oasz: 52, feat: PT_FEAT_FLUSH_RANGE, pgmask: SZ_4K },
      core: { format: 'vtd-ss', levels: 4, pg2M: false, pg1G: false, profile: '7.3' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    {
      name: 'vtdss-48-2m', profile: '7.3', family: 'gpt', driver: 'vtdss',
      params: { top: 3, vasz: 48, oasz: 52, feat: PT_FEAT_FLUSH_RANGE, pgmask: ~SZ_1G & 0xffffffffffffffffn },
      core: { format: 'vtd-ss', levels: 4, pg1G: false, profile: '7.3' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    {
      name: 'vtdss-48-snp', profile: '7.3', family: 'gpt', driver: 'vtdss',
      params: { top: 3, vasz: 48, oasz: 52, feat: PT_FEAT_FLUSH_RANGE | PT_FEAT_VTDSS_FORCE_COHERENCE },
      core: { format: 'vtd-ss', levels: 4, coherent: true, profile: '7.3' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    {
      name: 'vtdss-48-nestparent', profile: '7.3', family: 'gpt', driver: 'vtdss',
      params: { top: 3, vasz: 48, oasz: 52, feat: PT_FEAT_FLUSH_RANGE | PT_FEAT_VTDSS_FORCE_WRITEABLE },
      core: { format: 'vtd-ss', levels: 4, forceWriteable: true, profile: '7.3' }, vaBits: 48, oaBits: 52, dirty: false,
    },
  );
  return out;
}

function x8673(): PtConfig[] {
  return [
    // intel_iommu_domain_alloc_first_stage: SIGN_EXTEND | FLUSH_RANGE, 4 or 5 levels.
    {
      name: 'x86_64-48', profile: '7.3', family: 'gpt', driver: 'x86_64',
      params: { top: 3, vasz: 48, oasz: 52, feat: PT_FEAT_SIGN_EXTEND | PT_FEAT_FLUSH_RANGE },
      core: { format: 'x86-64', levels: 4, signExtend: true, profile: '7.3' }, vaBits: 48, signExtend: true, oaBits: 52, dirty: false,
    },
    {
      name: 'x86_64-57', profile: '7.3', family: 'gpt', driver: 'x86_64',
      params: { top: 4, vasz: 57, oasz: 52, feat: PT_FEAT_SIGN_EXTEND | PT_FEAT_FLUSH_RANGE },
      core: { format: 'x86-64', levels: 5, signExtend: true, profile: '7.3' }, vaBits: 57, signExtend: true, oaBits: 52, dirty: false,
    },
    // amd_iommu_domain_alloc_paging_v2: no sign extension, the top VA bit chopped off (47 bits).
    {
      name: 'x86_64-47-amdv2', profile: '7.3', family: 'gpt', driver: 'x86_64',
      params: { top: 3, vasz: 47, oasz: 52, feat: PT_FEAT_FLUSH_RANGE },
      core: { format: 'x86-64', levels: 4, vasz: 47, profile: '7.3' }, vaBits: 47, oaBits: 52, dirty: false,
    },
  ];
}

function amd73(): PtConfig[] {
  // amd_iommu_domain_alloc_paging_v1: starting level 2, DYNAMIC_TOP, ENCRYPT_TABLES, FORCE_COHERENCE, FLUSH_RANGE.
  const feat = PT_FEAT_DYNAMIC_TOP | PT_FEAT_AMDV1_ENCRYPT_TABLES | PT_FEAT_AMDV1_FORCE_COHERENCE | PT_FEAT_FLUSH_RANGE;
  return [
    {
      name: 'amdv1-64', profile: '7.3', family: 'gpt', driver: 'amdv1',
      params: { top: 2, vasz: 64, oasz: 52, feat },
      core: { format: 'amd-v1', levels: 3, profile: '7.3' }, vaBits: 64, oaBits: 52, dirty: true,
    },
  ];
}

function mock73(): PtConfig[] {
  // iommufd/selftest.c mock_domain_alloc_pgtable.
  return [
    {
      name: 'mock', profile: '7.3', family: 'gpt', driver: 'mock',
      params: { top: 2, vasz: 56, oasz: 51 },
      core: { format: 'mock-amdv1', mockVariant: 'default', profile: '7.3' }, vaBits: 38, oaBits: 51, dirty: true,
    },
    {
      name: 'mock-huge', profile: '7.3', family: 'gpt', driver: 'mock',
      params: { top: 2, vasz: 56, oasz: 51, pgmask: 0x100000n | SZ_4K, huge: 1 },
      core: { format: 'mock-amdv1', mockVariant: 'huge', profile: '7.3' }, vaBits: 38, oaBits: 51, dirty: true,
    },
  ];
}

/** arm_smmu_domain_finalise: the SMMU's page sizes, ias/oas; stage 2 concatenates per the profile's rule. */
function arm(profile: Profile): PtConfig[] {
  const out: PtConfig[] = [];
  const grans: [number, bigint, number][] = [
    [4096, SZ_4K | SZ_2M | SZ_1G, 48],
    [16384, SZ_16K | SZ_32M, 48],
    [65536, SZ_64K | SZ_512M | SZ_4T, 52],
  ];
  for (const [granule, pgsizes, maxBits] of grans) {
    const g = granule / 1024;
    const combos: [number, number][] = [[48, 48], [40, 40], [42, 44], [32, 36], [36, 48]];
    if (maxBits === 52) combos.push([52, 52], [48, 52]);
    for (const stage of [1, 2] as const) {
      for (const [ias, oas] of combos) {
        out.push({
          name: `arm-s${stage}-${g}k-${ias}-${oas}`, profile, family: 'arm', driver: 'arm',
          params: { stage, pgsizes, ias, oas },
          core: { format: stage === 1 ? 'arm-s1' : 'arm-s2', granule, ias, oas, profile }, vaBits: ias, oaBits: oas, dirty: false,
        });
      }
    }
  }
  // Stage-1 HTTU dirty tracking (IO_PGTABLE_QUIRK_ARM_HD, arm_smmu_domain_finalise with dirty tracking).
  out.push({
    name: 'arm-s1-4k-48-48-hd', profile, family: 'arm', driver: 'arm',
    params: { stage: 1, pgsizes: SZ_4K | SZ_2M | SZ_1G, ias: 48, oas: 48, quirks: IO_PGTABLE_QUIRK_ARM_HD },
    core: { format: 'arm-s1', granule: 4096, ias: 48, oas: 48, dirty: true, profile }, vaBits: 48, oaBits: 48, dirty: true,
  });
  return out;
}

function vtd612(): PtConfig[] {
  const out: PtConfig[] = [];
  // paging_domain_alloc: gaw/agaw from the unit, SZ_4K plus the superpage sizes.
  for (const [levels, gaw] of [[3, 39], [4, 48], [5, 57]] as const) {
    out.push({
      name: `vtdss-${gaw}`, profile: '6.12', family: 'vtd612', driver: 'vtd612',
      params: { top: gaw, sp: 2 },
      core: { format: 'vtd-ss', levels, profile: '6.12' }, vaBits: gaw, oaBits: 52, dirty: true,
    });
  }
  out.push(
    {
      name: 'vtdss-48-4k', profile: '6.12', family: 'vtd612', driver: 'vtd612', params: { top: 48, sp: 0 },
      core: { format: 'vtd-ss', levels: 4, pg2M: false, pg1G: false, profile: '6.12' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    {
      name: 'vtdss-48-2m', profile: '6.12', family: 'vtd612', driver: 'vtd612', params: { top: 48, sp: 1 },
      core: { format: 'vtd-ss', levels: 4, pg1G: false, profile: '6.12' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    {
      name: 'vtdss-48-snp', profile: '6.12', family: 'vtd612', driver: 'vtd612', params: { top: 48, sp: 2, snp: 1 },
      core: { format: 'vtd-ss', levels: 4, coherent: true, profile: '6.12' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    {
      name: 'vtdss-48-nestparent', profile: '6.12', family: 'vtd612', driver: 'vtd612', params: { top: 48, sp: 2, np: 1 },
      core: { format: 'vtd-ss', levels: 4, forceWriteable: true, profile: '6.12' }, vaBits: 48, oaBits: 52, dirty: false,
    },
    // First stage (use_first_level): the x86-64 format as 6.12's __domain_mapping writes it.
    {
      name: 'x86_64-48', profile: '6.12', family: 'vtd612', driver: 'vtd612', params: { top: 48, sp: 2, fl: 1 },
      core: { format: 'x86-64', levels: 4, signExtend: true, profile: '6.12' }, vaBits: 47, oaBits: 52, dirty: false,
    },
    {
      name: 'x86_64-57', profile: '6.12', family: 'vtd612', driver: 'vtd612', params: { top: 57, sp: 2, fl: 1 },
      core: { format: 'x86-64', levels: 5, signExtend: true, profile: '6.12' }, vaBits: 56, oaBits: 52, dirty: false,
    },
  );
  return out;
}

function amd612(): PtConfig[] {
  return [
    {
      name: 'amdv1-64', profile: '6.12', family: 'amd612', driver: 'amd612', params: {},
      core: { format: 'amd-v1', levels: 3, profile: '6.12' }, vaBits: 64, oaBits: 52, dirty: true,
    },
  ];
}

export function configs(profile: Profile): PtConfig[] {
  return profile === '7.3' ? [...vtdss73(), ...x8673(), ...amd73(), ...mock73(), ...arm('7.3')] : [...vtd612(), ...amd612(), ...arm('6.12')];
}
