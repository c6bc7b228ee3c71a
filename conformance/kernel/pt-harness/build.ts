/**
 * Builds the page-table harness of a profile from the kernel's own sources:
 *   1. `scripts/kernel/source.sh <profile>` fetches/unpacks the Debian tree and prints its path;
 *   2. the page-table files are copied unmodified into a build directory (and
 *      checked byte for byte against the tree), pieces of files too entangled to
 *      compile whole are cut out verbatim (extract.ts);
 *   3. gcc compiles them with the shim headers (shim/) and the harness
 *      translation units (tu/) into one binary per profile.
 * The build is cached under $IOMMUFD_SPEC_CACHE/pt-harness/<profile>-<key>,
 * key = sha256 of the profile, every input file and this script.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { extract, fn, macro, struct, type Piece, enumOf, enumWith } from './extract.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, '..', '..', '..');

/** Headers the kernel files include that the shim answers (each forwards to shim/kshim.h). */
const SHIM_HEADERS = [
  'linux/args.h', 'linux/atomic.h', 'linux/bitfield.h', 'linux/bitops.h', 'linux/bits.h', 'linux/bug.h',
  'linux/build_bug.h', 'linux/cacheflush.h', 'linux/cleanup.h', 'linux/container_of.h', 'linux/dma-mapping.h',
  'linux/export.h', 'linux/kconfig.h', 'linux/kernel.h', 'linux/limits.h', 'linux/log2.h',
  'linux/mem_encrypt.h', 'linux/minmax.h', 'linux/mm_types.h', 'linux/sizes.h', 'linux/slab.h', 'linux/string.h',
  'linux/stringify.h', 'linux/types.h', 'linux/seqlock.h', 'linux/spinlock.h', 'linux/list.h', 'linux/overflow.h',
  'linux/iova_bitmap.h', 'asm/barrier.h', 'asm/page.h',
];

interface Plan {
  /** Tree-relative files copied unmodified to the same relative path under src/. */
  copy: string[];
  /** Tree-relative files copied unmodified to inc/ (their include path). */
  copyInclude: [string, string][];
  /** Generated headers: name -> [tree-relative source file, pieces]. */
  gen: Record<string, [string, Piece[]][]>;
  /** Harness translation units (tu/). */
  units: string[];
  defines: string[];
}

const IOMMU_H_TYPES_73: Piece[] = [
  macro('IOMMU_READ'), macro('IOMMU_WRITE'), macro('IOMMU_CACHE'), macro('IOMMU_NOEXEC'), macro('IOMMU_MMIO'),
  macro('IOMMU_PRIV'), macro('IOMMU_DIRTY_NO_CLEAR'), macro('__IOMMU_DOMAIN_PAGING'),
  struct('iommu_domain_geometry'), struct('iommu_pages_list'), macro('IOMMU_PAGES_LIST_INIT'),
  struct('iommu_iotlb_gather'), struct('iommu_dirty_bitmap'),
];
const IOMMU_H_TYPES_612: Piece[] = [
  macro('IOMMU_READ'), macro('IOMMU_WRITE'), macro('IOMMU_CACHE'), macro('IOMMU_NOEXEC'), macro('IOMMU_MMIO'),
  macro('IOMMU_PRIV'), macro('IOMMU_DIRTY_NO_CLEAR'), macro('__IOMMU_DOMAIN_PAGING'),
  struct('iommu_domain_geometry'), struct('iommu_iotlb_gather'), struct('iommu_dirty_bitmap'),
];
const IOMMU_H_FNS: Piece[] = [
  fn('iommu_iotlb_gather_init'), fn('iommu_iotlb_sync'), fn('iommu_iotlb_gather_is_disjoint'),
  fn('iommu_iotlb_gather_add_range'), fn('iommu_iotlb_gather_add_page'), fn('iommu_iotlb_gather_queued'),
  fn('iommu_dirty_bitmap_init'), fn('iommu_dirty_bitmap_record'),
];

function plan(profile: Profile): Plan {
  if (profile === '7.3') {
    return {
      copy: [
        'drivers/iommu/generic_pt/iommu_pt.h', 'drivers/iommu/generic_pt/pt_common.h', 'drivers/iommu/generic_pt/pt_defs.h',
        'drivers/iommu/generic_pt/pt_fmt_defaults.h', 'drivers/iommu/generic_pt/pt_iter.h', 'drivers/iommu/generic_pt/pt_log2.h',
        'drivers/iommu/generic_pt/fmt/iommu_template.h', 'drivers/iommu/generic_pt/fmt/amdv1.h', 'drivers/iommu/generic_pt/fmt/defs_amdv1.h',
        'drivers/iommu/generic_pt/fmt/vtdss.h', 'drivers/iommu/generic_pt/fmt/defs_vtdss.h', 'drivers/iommu/generic_pt/fmt/x86_64.h',
        'drivers/iommu/generic_pt/fmt/defs_x86_64.h', 'drivers/iommu/generic_pt/fmt/iommu_amdv1.c', 'drivers/iommu/generic_pt/fmt/iommu_mock.c',
        'drivers/iommu/generic_pt/fmt/iommu_vtdss.c', 'drivers/iommu/generic_pt/fmt/iommu_x86_64.c',
        'drivers/iommu/io-pgtable-arm.c', 'drivers/iommu/io-pgtable-arm.h',
      ],
      copyInclude: [
        ['include/linux/generic_pt/common.h', 'linux/generic_pt/common.h'],
        ['include/linux/generic_pt/iommu.h', 'linux/generic_pt/iommu.h'],
        ['include/linux/io-pgtable.h', 'linux/io-pgtable.h'],
      ],
      gen: {
        'kshim_iommu_types.h': [['include/linux/iommu.h', IOMMU_H_TYPES_73]],
        'kshim_iommu_fns.h': [['include/linux/iommu.h', IOMMU_H_FNS]],
        'mock_defs.h': [['drivers/iommu/iommufd/iommufd_test.h', [enumWith('MOCK_APERTURE_START')]]],
        'kshim_iommu_core.h': [
          [
            'drivers/iommu/iommu.c',
            [fn('iommu_pgsize'), fn('__iommu_map_domain_pgtbl'), fn('iommu_map_nosync'), fn('iommu_sync_map'), fn('iommu_map'),
              fn('__iommu_unmap_domain_pgtbl'), fn('__iommu_unmap'), fn('iommu_unmap')],
          ],
        ],
      },
      units: ['harness.c', 'tu/core_73.c', 'tu/fmt_amdv1.c', 'tu/fmt_mock.c', 'tu/fmt_vtdss.c', 'tu/fmt_x86_64.c', 'tu/fmt_arm.c'],
      defines: ['KSHIM_PAGES_LIST', 'KSHIM_PROFILE=73'],
    };
  }
  return {
    copy: ['drivers/iommu/io-pgtable-arm.c', 'drivers/iommu/io-pgtable-arm.h', 'drivers/iommu/amd/io_pgtable.c'],
    copyInclude: [['include/linux/io-pgtable.h', 'linux/io-pgtable.h']],
    gen: {
      'kshim_iommu_types.h': [['include/linux/iommu.h', IOMMU_H_TYPES_612]],
      'kshim_iommu_fns.h': [['include/linux/iommu.h', IOMMU_H_FNS]],
      'kshim_iommu_core.h': [
        ['drivers/iommu/iommu.c', [fn('iommu_pgsize'), fn('__iommu_map'), fn('iommu_map'), fn('__iommu_unmap'), fn('iommu_unmap')]],
      ],
      ...AMD_612_GEN,
      ...VTD_612_GEN,
    },
    units: ['harness.c', 'tu/core_612.c', 'tu/fmt_arm.c', 'tu/fmt_amd612.c', 'tu/fmt_vtd612.c'],
    defines: ['KSHIM_PROFILE=612'],
  };
}

/** 6.12 AMD v1 (drivers/iommu/amd/io_pgtable.c): its two local headers are stood in for by these cuts. */
const AMD_612_GEN: Plan['gen'] = {
  'amd612_types.h': [
    [
      'drivers/iommu/amd/amd_iommu_types.h',
      [
        ...['IOMMU_IN_ADDR_BIT_SIZE', 'IOMMU_OUT_ADDR_BIT_SIZE', 'AMD_IOMMU_PGSIZES'].map(macro),
        ...['PAGE_MODE_NONE', 'PAGE_MODE_1_LEVEL', 'PAGE_MODE_2_LEVEL', 'PAGE_MODE_3_LEVEL', 'PAGE_MODE_4_LEVEL', 'PAGE_MODE_5_LEVEL',
          'PAGE_MODE_6_LEVEL', 'PAGE_MODE_7_LEVEL'].map(macro),
        ...['PM_LEVEL_SHIFT', 'PM_LEVEL_SIZE', 'PM_LEVEL_INDEX', 'PM_LEVEL_ENC', 'PM_LEVEL_PDE', 'PM_PTE_LEVEL', 'PM_MAP_4k', 'PM_ADDR_MASK',
          'PM_MAP_MASK', 'PM_ALIGNED', 'PAGE_SIZE_LEVEL', 'PAGE_SIZE_PTE_COUNT', 'PAGE_SIZE_ALIGN', 'PAGE_SIZE_PTE', 'PTE_PAGE_SIZE',
          'PTE_LEVEL_PAGE_SIZE', 'IOMMU_PTE_HD_BIT', 'IOMMU_PTE_PR', 'IOMMU_PTE_HD', 'IOMMU_PTE_U', 'IOMMU_PTE_FC', 'IOMMU_PTE_IR',
          'IOMMU_PTE_IW', 'IOMMU_PAGE_MASK', 'IOMMU_PTE_PRESENT', 'IOMMU_PTE_DIRTY', 'IOMMU_PTE_PAGE', 'IOMMU_PTE_MODE',
          'IOMMU_PROT_MASK', 'IOMMU_PROT_IR', 'IOMMU_PROT_IW', 'io_pgtable_to_data', 'io_pgtable_ops_to_data', 'io_pgtable_ops_to_domain',
          'io_pgtable_cfg_to_data'].map(macro),
        struct('amd_io_pgtable'),
        enumOf('protection_domain_mode'),
      ],
    ],
  ],
  'amd612_inl.h': [['drivers/iommu/amd/amd_iommu.h', [fn('iommu_virt_to_phys'), fn('iommu_phys_to_virt'), fn('to_pdomain')]]],
  'amd612_drv.h': [
    ['drivers/iommu/amd/iommu.c', [fn('amd_iommu_map_pages'), fn('amd_iommu_iotlb_gather_add_page'), fn('amd_iommu_unmap_pages'),
      fn('amd_iommu_iova_to_phys')]],
  ],
};

/** 6.12 VT-d (drivers/iommu/intel/iommu.c): the PTE building and clearing, cut out of iommu.c and iommu.h. */
const VTD_612_GEN: Plan['gen'] = {
  'vtd612_defs.h': [
    [
      'drivers/iommu/intel/iommu.h',
      [
        ...['VTD_PAGE_SHIFT', 'VTD_PAGE_SIZE', 'VTD_PAGE_MASK', 'VTD_PAGE_ALIGN', 'VTD_STRIDE_SHIFT', 'VTD_STRIDE_MASK',
          'DMA_PTE_READ', 'DMA_PTE_WRITE', 'DMA_PTE_LARGE_PAGE', 'DMA_PTE_SNP', 'DMA_FL_PTE_PRESENT', 'DMA_FL_PTE_US',
          'DMA_FL_PTE_ACCESS', 'DMA_FL_PTE_DIRTY', 'DMA_SL_PTE_DIRTY_BIT', 'DMA_SL_PTE_DIRTY',
          'LEVEL_STRIDE', 'LEVEL_MASK', 'MAX_AGAW_WIDTH', 'MAX_AGAW_PFN_WIDTH'].map(macro),
        struct('dma_pte'),
      ],
    ],
    ['drivers/iommu/intel/iommu.c', ['__DOMAIN_MAX_PFN', '__DOMAIN_MAX_ADDR', 'DOMAIN_MAX_PFN', 'DOMAIN_MAX_ADDR'].map(macro)],
  ],
  'vtd612_fns.h': [
    [
      'drivers/iommu/intel/iommu.h',
      [
        'dma_clear_pte', 'dma_pte_addr', 'dma_pte_present', 'dma_sl_pte_test_and_clear_dirty', 'dma_pte_superpage',
        'first_pte_in_page', 'nr_pte_to_next_page', 'agaw_to_level', 'agaw_to_width', 'width_to_agaw', 'level_to_offset_bits',
        'pfn_level_offset', 'level_mask', 'level_size', 'align_to_level', 'lvl_to_nr_pages', 'mm_to_dma_pfn_start', 'page_to_dma_pfn',
        'virt_to_dma_pfn', 'aligned_nrpages',
        'to_dmar_domain',
      ].map(fn),
    ],
    [
      'drivers/iommu/intel/iommu.c',
      [
        'domain_pfn_supported', 'domain_flush_cache', 'pfn_to_dma_pte', 'dma_pfn_level_pte', 'dma_pte_clear_range', 'dma_pte_free_level',
        'dma_pte_free_pagetable', 'dma_pte_list_pagetables', 'dma_pte_clear_level', 'domain_unmap', 'hardware_largepage_caps',
        'switch_to_super_page', '__domain_mapping', 'intel_iommu_map', 'intel_iommu_map_pages', 'intel_iommu_unmap',
        'intel_iommu_unmap_pages', 'intel_iommu_tlb_sync', 'intel_iommu_iova_to_phys', 'intel_iommu_read_and_clear_dirty',
      ].map(fn),
    ],
  ],
};

/** The machine's cache root (the same one the kernel lanes use). */
export function cacheRoot(): string {
  return process.env.IOMMUFD_SPEC_CACHE ?? join(homedir(), '.cache', 'iommufd-spec');
}

/** The unpacked Debian tree of a profile, fetched by the project's own script if needed. */
export function kernelTree(profile: Profile): string {
  const out = execFileSync(join(REPO, 'scripts', 'kernel', 'source.sh'), [profile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const tree = out.trim().split('\n').pop() ?? '';
  if (!existsSync(join(tree, 'Makefile'))) throw new Error(`source.sh ${profile} printed '${tree}', which is not a kernel tree`);
  return tree;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

export interface HarnessBuild {
  readonly binary: string;
  readonly dir: string;
  readonly tree: string;
  /** Tree-relative kernel files compiled (whole) or cut from, with their sha256. */
  readonly sources: Record<string, string>;
}

function sha(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Build (or reuse) the harness of `profile`; progress goes to `log`. */
export function buildHarness(profile: Profile, log: (line: string) => void = () => {}): HarnessBuild {
  const tree = kernelTree(profile);
  const p = plan(profile);
  const sources: Record<string, string> = {};
  const read = (rel: string): string => {
    const text = readFileSync(join(tree, rel), 'utf8');
    sources[rel] = sha(text);
    return text;
  };
  for (const f of p.copy) read(f);
  for (const [f] of p.copyInclude) read(f);
  const generated: Record<string, string> = {};
  for (const [name, parts] of Object.entries(p.gen)) {
    generated[name] =
      `/* Generated by conformance/kernel/pt-harness/build.ts from the ${profile} tree: kernel text, cut verbatim. */\n` +
      parts.map(([file, pieces]) => extract(read(file), pieces, file)).join('\n');
  }
  const ownFiles = [...listFiles(join(HERE, 'shim')), ...listFiles(join(HERE, 'tu')), join(HERE, 'harness.c'), join(HERE, 'harness.h'),
    join(HERE, 'build.ts'), join(HERE, 'extract.ts')];
  const h = createHash('sha256').update(profile);
  for (const [k, v] of Object.entries(sources).sort()) h.update(`${k}:${v}\n`);
  for (const f of ownFiles) h.update(`${relative(HERE, f)}:${sha(readFileSync(f))}\n`);
  const key = h.digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), 'pt-harness', `${profile}-${key}`);
  const binary = join(dir, 'pt-harness');
  if (existsSync(binary)) return { binary, dir, tree, sources };

  log(`[pt-harness ${profile}] building in ${dir}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    compile(profile, p, tree, generated, tmp, log);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  writeFileSync(join(tmp, 'SOURCES.json'), JSON.stringify({ profile, tree, sources }, null, 2) + '\n');
  // Older builds of this profile are stale once a new key is built.
  const root = join(cacheRoot(), 'pt-harness');
  for (const e of existsSync(root) ? readdirSync(root) : []) {
    if (e.startsWith(`${profile}-`) && join(root, e) !== dir && join(root, e) !== tmp) rmSync(join(root, e), { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { binary, dir, tree, sources };
}

function compile(profile: Profile, p: Plan, tree: string, generated: Record<string, string>, tmp: string, log: (line: string) => void): void {
  const src = join(tmp, 'src');
  const inc = join(tmp, 'inc');
  const gen = join(tmp, 'gen');
  for (const f of p.copy) {
    mkdirSync(dirname(join(src, f)), { recursive: true });
    copyFileSync(join(tree, f), join(src, f));
  }
  for (const [f, to] of p.copyInclude) {
    mkdirSync(dirname(join(inc, to)), { recursive: true });
    copyFileSync(join(tree, f), join(inc, to));
  }
  // The copies are the kernel's bytes: check, so a later edit of the build cannot slip in.
  for (const f of p.copy) if (!readFileSync(join(src, f)).equals(readFileSync(join(tree, f)))) throw new Error(`copy of ${f} differs`);
  for (const [f, to] of p.copyInclude) if (!readFileSync(join(inc, to)).equals(readFileSync(join(tree, f)))) throw new Error(`copy of ${f} differs`);
  mkdirSync(gen, { recursive: true });
  for (const [name, text] of Object.entries(generated)) writeFileSync(join(gen, name), text);
  const shim = join(HERE, 'shim');
  for (const hdr of SHIM_HEADERS) {
    mkdirSync(dirname(join(inc, hdr)), { recursive: true });
    writeFileSync(join(inc, hdr), `#include "${join(shim, 'kshim.h')}"\n`);
  }
  writeFileSync(join(inc, 'linux', 'iommu.h'), `#include "${join(shim, 'iommu.h')}"\n`);
  mkdirSync(join(src, 'drivers', 'iommu'), { recursive: true });
  copyFileSync(join(shim, 'iommu-pages.h'), join(src, 'drivers', 'iommu', 'iommu-pages.h'));
  if (profile === '6.12') {
    // io_pgtable.c includes these two by quotes: the stand-ins sit beside it.
    for (const f of ['amd_iommu_types.h', 'amd_iommu.h']) copyFileSync(join(shim, 'amd612', f), join(src, 'drivers', 'iommu', 'amd', f));
  }
  const cflags = [
    '-std=gnu11', '-O1', '-g', '-fno-strict-aliasing', '-fno-strict-overflow', '-fno-delete-null-pointer-checks', '-fno-common',
    '-Wno-unused-function', '-Wno-address-of-packed-member', '-Werror=implicit-function-declaration', '-Werror=implicit-int',
    ...p.defines.map((d) => `-D${d}`),
    `-I${inc}`, `-I${gen}`, `-I${shim}`, `-I${src}`, `-I${HERE}`, `-I${join(HERE, 'tu')}`,
  ];
  const objs: string[] = [];
  for (const u of p.units) {
    const obj = join(tmp, u.replace(/\//g, '_').replace(/\.c$/, '.o'));
    log(`[pt-harness ${profile}] cc ${u}`);
    const r = spawnSync('gcc', [...cflags, '-c', join(HERE, u), '-o', obj], { encoding: 'utf8' });
    if (r.error !== undefined) throw new Error(`gcc ${u} could not run (${profile})`, { cause: r.error });
    if (r.status !== 0) throw new Error(`gcc ${u} failed (${profile}):\n${r.stderr}`);
    if (r.stderr) writeFileSync(join(tmp, 'warnings.txt'), `== ${u}\n${r.stderr}`, { flag: 'a' });
    objs.push(obj);
  }
  execFileSync('gcc', ['-o', join(tmp, 'pt-harness'), ...objs], { stdio: ['ignore', 'pipe', 'pipe'] });
}
