/**
 * observe.* — programs that look at what the iommufd selftests can only
 * check indirectly: device DMA and translations through a mapping's
 * permissions, pin counts and the process's locked/pinned memory across
 * map/unmap/close in each accounting mode, a multi-device iommu group,
 * the IOTLB across map and unmap, and KVM's WBINVD requirement through
 * kvm-vfio. Not ports of one selftest: each step's expectation names the
 * kernel code that decides it.
 *
 * Each program `requires` what it observes through, so an implementation
 * without it (the kernel lanes' mock driver has no DMA engine, no VFIO cdev,
 * no multi-device groups, no KVM) skips it with its reason; the accounting
 * and read-only-buffer programs use only the mock domain and process_info,
 * which the kernel lanes serve, and run there too.
 */
import type { Json, StepExpect } from '../types.ts';
import { err, hex, MOCK_APERTURE_START, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';
import { createAccess } from './fixture-ioas.ts';

const BOTH = ['6.12', '7.3'] as const;
const IOVA = 0x1000000;
const NPAGES = 4;
const LENGTH = NPAGES * PAGE_SIZE;
const RW = 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE';
const RO = 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE';
const WO = 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE';
/** The VFIO cdev path: a device of the environment, bound and attached like a VMM does. */
const CDEV_COMMANDS = ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'];

/** device_create + open_device + VFIO_DEVICE_BIND_IOMMUFD: binds <name>, <name>_grp, <name>_fd, <name>_id. */
function cdevDevice(p: ProgramBuilder, name: string, spec: { readonly [k: string]: Json }, bindExpect: StepExpect = ok): void {
  p.step('device_create', { spec }, { bind: { [name]: 'device', [`${name}_grp`]: 'group' } });
  p.step('open_device', { device: `$${name}` }, { bind: { [`${name}_fd`]: 'fd' }, expect: ok });
  p.ioctl('VFIO_DEVICE_BIND_IOMMUFD', { iommufd: '$fd' }, { fd: `$${name}_fd`, expect: bindExpect, bind: bindExpect.ok ? { [`${name}_id`]: 'out.out_devid' } : undefined });
}

function attach(p: ProgramBuilder, dev: string, pt: Json, expect: StepExpect = ok, bindHwpt?: string): void {
  p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: pt }, { fd: `$${dev}_fd`, expect, bind: bindHwpt && expect.ok ? { [bindHwpt]: 'out.pt_id' } : undefined });
}

function dmaRead(p: ProgramBuilder, dev: string, iova: number, length: number, result: { readonly [k: string]: Json }, note?: string): void {
  p.step('dma', { device: `$${dev}`, iova: hex(iova), dir: 'read', length }, { expect: { ok: true, result }, note });
}

function dmaWrite(p: ProgramBuilder, dev: string, iova: number, data: Json, result: { readonly [k: string]: Json }, note?: string): void {
  p.step('dma', { device: `$${dev}`, iova: hex(iova), dir: 'write', data }, { expect: { ok: true, result }, note });
}

function processInfo(p: ProgramBuilder, locked: Json, pinned: Json, note: string): void {
  p.step('process_info', {}, { expect: { ok: true, result: { lockedVmPages: locked, pinnedVmPages: pinned } }, note });
}

function pins(p: ProgramBuilder, buf: string, counts: readonly number[], note: string): void {
  p.step('pin_count', { buffer: `$${buf}.buffer`, offset: 0, length: counts.length * PAGE_SIZE }, { expect: { ok: true, result: { pins: [...counts] } }, note });
}

const PERMISSIONS: TestDef = {
  name: 'observe.permissions.read_write_only',
  description:
    'A read-only mapping (IOMMU_IOAS_MAP_READABLE) and a write-only one (IOMMU_IOAS_MAP_WRITEABLE) seen by the device: DMA reads and writes, and translate, succeed only in the direction the mapping allows; a write-only mapping on an AMD v1 unit (separate IR/IW bits) cannot be read.',
  source: { kernels: BOTH },
  requires: { ops: ['device_create', 'open_device', 'dma', 'translate', 'mem_write', 'mem_read'], commands: CDEV_COMMANDS },
  build: (p) => {
    p.memAlloc('buf', LENGTH);
    p.step('mem_write', { buffer: '$buf.buffer', offset: 0, data: { hex: 'c0ffee' } });
    p.open();
    p.ioasAlloc('ioas');
    // iommufd_ioas_map → iopt_map_user_pages: READABLE alone is IOMMU_READ; the device's domain maps it read-only.
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(IOVA), ok, RO);
    p.mapFixed('$ioas', va('buf', PAGE_SIZE), PAGE_SIZE, hex(IOVA + PAGE_SIZE), ok, WO);
    p.mapFixed('$ioas', va('buf', 2 * PAGE_SIZE), PAGE_SIZE, hex(IOVA + 2 * PAGE_SIZE), ok, RW);
    cdevDevice(p, 'vtd', { iommu: 'vtd0' });
    attach(p, 'vtd', '$ioas');
    dmaRead(p, 'vtd', IOVA, 3, { ok: true, data: { hex: 'c0ffee' }, touched: [{ buffer: '$buf.buffer', offset: 0, length: 3 }] }, 'a read-only mapping reads');
    dmaWrite(p, 'vtd', IOVA, { hex: '00' }, { ok: false, fault: 'permission' }, 'and refuses a write (DMA_PTE_WRITE clear)');
    p.step('translate', { device: '$vtd', iova: hex(IOVA) }, { expect: { ok: true, result: { mapped: true, buffer: '$buf.buffer', offset: 0, read: true, write: false } } });
    p.step('mem_read', { buffer: '$buf.buffer', offset: 0, length: 3 }, { expect: { ok: true, result: { data: { hex: 'c0ffee' } } }, note: 'the refused write changed nothing' });
    dmaWrite(p, 'vtd', IOVA + 2 * PAGE_SIZE, { hex: 'beef' }, { ok: true, touched: [{ buffer: '$buf.buffer', offset: 2 * PAGE_SIZE, length: 2 }] }, 'a read-write mapping takes writes');
    p.step('mem_read', { buffer: '$buf.buffer', offset: 2 * PAGE_SIZE, length: 2 }, { expect: { ok: true, result: { data: { hex: 'beef' } } } });
    // A write-only mapping on AMD v1: amd/io_pgtable.c (6.12) and generic_pt/fmt/amdv1.h (7.3) set IR and IW separately.
    p.ioasAlloc('ioas2');
    p.mapFixed('$ioas2', va('buf', PAGE_SIZE), PAGE_SIZE, hex(IOVA), ok, WO);
    cdevDevice(p, 'amd', { iommu: 'amd0' });
    attach(p, 'amd', '$ioas2');
    dmaWrite(p, 'amd', IOVA, { hex: '5a5a' }, { ok: true, touched: [{ buffer: '$buf.buffer', offset: PAGE_SIZE, length: 2 }] }, 'a write-only mapping takes writes');
    dmaRead(p, 'amd', IOVA, 2, { ok: false, fault: 'permission' }, 'and refuses reads (IR clear)');
    p.step('translate', { device: '$amd', iova: hex(IOVA) }, { expect: { ok: true, result: { mapped: true, read: false, write: true } } });
    p.step('translate', { device: '$amd', iova: hex(IOVA + PAGE_SIZE) }, { expect: { ok: true, result: { mapped: false } }, note: 'nothing mapped there' });
    dmaRead(p, 'amd', IOVA + PAGE_SIZE, 1, { ok: false, fault: 'unmapped' });
    p.step('mem_read', { buffer: '$buf.buffer', offset: PAGE_SIZE, length: 2 }, { expect: { ok: true, result: { data: { hex: '5a5a' } } } });
    p.close('$amd_fd');
    p.close('$vtd_fd');
    p.close();
  },
};

/**
 * A read-only user buffer (mmap PROT_READ): mapping it READABLE pins it for
 * reading; mapping it WRITEABLE into an IOAS with a domain fails with EFAULT,
 * because iopt_pages pins with FOLL_WRITE (pfn_reader_user_pin:
 * pin_user_pages_fast(…, FOLL_WRITE …) on a read-only VMA). Only the mock
 * domain: the kernel lanes run it too.
 */
const READONLY_BUFFER: TestDef = {
  name: 'observe.permissions.readonly_buffer',
  description: 'A read-only user buffer (mmap PROT_READ) maps READABLE into an IOAS with a domain (the domain then holds it, MD_CHECK_MAP), and mapping it WRITEABLE fails with EFAULT (the pin asks FOLL_WRITE).',
  source: { kernels: BOTH },
  requires: { testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MD_CHECK_MAP', 'IOMMU_TEST_OP_MD_CHECK_REFS'] },
  build: (p) => {
    p.step('mem_alloc', { length: LENGTH, hugeAligned: true, prot: 'r' }, { bind: { ro: '.' } });
    p.open();
    p.ioasAlloc('ioas');
    p.mockDomain('$ioas');
    p.mapFixed('$ioas', va('ro'), LENGTH, hex(MOCK_APERTURE_START), err('EFAULT'), RW);
    p.checkRefs(va('ro'), LENGTH, 0, ok);
    p.mapFixed('$ioas', va('ro'), LENGTH, hex(MOCK_APERTURE_START), ok, RO);
    p.checkMap('$hwpt', hex(MOCK_APERTURE_START), LENGTH, va('ro'));
    p.checkRefs(va('ro'), LENGTH, 1, ok);
    p.unmap('$ioas', hex(MOCK_APERTURE_START), LENGTH);
    p.checkRefs(va('ro'), LENGTH, 0, ok);
    p.close();
  },
};

/**
 * The selftest's user-page probes (MD_CHECK_REFS here; MD_CHECK_PA and the
 * access pages check alike) look a page up with get_user_pages_fast(uptr, 1,
 * 0, ..), a read GUP: a PROT_NONE page is EFAULT (check_vma_flags: no
 * VM_READ, no FOLL_FORCE), a read-only one is found. The random suite met
 * this on linux-7.3, where the reference answered ok.
 */
const GUP_PROTNONE: TestDef = {
  name: 'observe.permissions.gup_protnone',
  description: 'MD_CHECK_REFS reads a page with a read GUP (get_user_pages_fast(uptr, 1, 0, ..)): a PROT_NONE page is EFAULT (check_vma_flags), a read-only or read-write one is found.',
  source: { kernels: BOTH },
  requires: { testOps: ['IOMMU_TEST_OP_MD_CHECK_REFS'], ops: ['mem_protect'] },
  build: (p) => {
    p.memAlloc('buf', 16384);
    p.step('mem_protect', { buffer: '$buf.buffer', offset: 4096, length: 4096, prot: 'none' }, { expect: ok });
    p.step('mem_protect', { buffer: '$buf.buffer', offset: 8192, length: 4096, prot: 'r' }, { expect: ok });
    p.open();
    p.checkRefs(va('buf'), 4096, 0, ok);
    p.checkRefs(va('buf', 4096), 4096, 0, err('EFAULT'));
    p.checkRefs(va('buf', 8192), 4096, 0, ok);
    p.close();
  },
};

/**
 * iommufd_access_change_ioas reads the access's slot in the old IOAS's
 * access list before iopt_add_access gives it one in the new list, and
 * iopt_remove_access erases that old slot: the access that moved leaves, the
 * one that stayed stays. Seen through the IOVA alignment: only an access that
 * pins pages (MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) asks for PAGE_SIZE
 * (iommufd_access_create), so once it moves away the old IOAS is back to 1.
 * The random suite met this on linux-7.3: the reference erased the new slot's
 * index in the old list, i.e. the access that stayed.
 */
const ACCESS_REPLACE_SLOT: TestDef = {
  name: 'observe.access.replace_leaves_old_slot',
  description: 'An access that pins pages moves to another IOAS (ACCESS_REPLACE_IOAS) while an access that does not pin stays: the old IOAS forgets the one that moved (its IOVA alignment falls back from PAGE_SIZE to 1) and keeps the one that stayed; the new IOAS takes PAGE_SIZE.',
  source: { kernels: BOTH },
  requires: { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'] },
  build: (p) => {
    const alignment = (ioas: string, a: number): void => {
      p.ioctl('IOMMU_IOAS_IOVA_RANGES', { ioas_id: ioas, num_iovas: 0, allowed_iovas: 0 }, { expect: { errno: ['EMSGSIZE'], out: { num_iovas: 1, out_iova_alignment: a } } });
    };
    p.open();
    p.ioasAlloc('ioas');
    p.ioasAlloc('other');
    createAccess(p, '$ioas', 'stays');
    createAccess(p, '$ioas', 'moves', 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES');
    alignment('$ioas', PAGE_SIZE);
    p.test('ACCESS_REPLACE_IOAS', '$moves', 'access_replace_ioas', { ioas_id: '$other' }, { expect: ok });
    alignment('$ioas', 1);
    alignment('$other', PAGE_SIZE);
    p.close();
  },
};

type AccountingMode = 'none' | 'user' | 'mm_vfio' | 'mm_option';

/**
 * Locked and pinned memory across map, unmap and close
 * (pages.c: iopt_pages_update_pinned). With CAP_IPC_LOCK the pages are
 * IOPT_PAGES_ACCOUNT_NONE (iopt_alloc_pages); without it /dev/iommu charges
 * the user (incr_user_locked_vm, invisible in /proc), and /dev/vfio/vfio or
 * IOMMU_OPTION_RLIMIT_MODE=1 charge mm->locked_vm (update_mm_locked_vm). In
 * every mode mm->pinned_vm counts the pinned pages. Pages are pinned only
 * while a domain (or access) needs them: the mock domain here.
 */
function accounting(mode: AccountingMode): TestDef {
  const charged = mode === 'mm_vfio' || mode === 'mm_option';
  const describe: Record<AccountingMode, string> = {
    none: 'with CAP_IPC_LOCK (the default) nothing is charged to locked_vm, not even by /dev/vfio/vfio, whose MM accounting applies only to pages that would be charged to the user (iopt_alloc_pages: IOPT_PAGES_ACCOUNT_NONE stays NONE), but pinned_vm counts the pinned pages',
    user: 'without CAP_IPC_LOCK, /dev/iommu charges the user (IOPT_PAGES_ACCOUNT_USER, not shown in /proc): locked_vm unchanged, pinned_vm counts the pages',
    mm_vfio: 'without CAP_IPC_LOCK, /dev/vfio/vfio charges mm->locked_vm (IOPT_PAGES_ACCOUNT_MM) as well as pinned_vm',
    mm_option: 'without CAP_IPC_LOCK, IOMMU_OPTION_RLIMIT_MODE=1 switches /dev/iommu to mm->locked_vm accounting (IOPT_PAGES_ACCOUNT_MM)',
  };
  return {
    name: `observe.accounting.${mode}`,
    description: `Locked and pinned memory across map, unmap, a second map and close: ${describe[mode]}; both return to their starting values.`,
    source: { kernels: BOTH },
    requires: { ops: ['set_process', 'process_info'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] },
    build: (p) => {
      p.memAlloc('buf', LENGTH);
      processInfo(p, 0, 0, 'a fresh session: nothing locked or pinned');
      if (mode !== 'none') p.step('set_process', { capIpcLock: false });
      p.open('fd', mode === 'mm_vfio' || mode === 'none' ? 'vfio' : 'iommu');
      if (mode === 'mm_option') {
        p.ioctl('IOMMU_OPTION', { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', val64: '1' }, { expect: ok, note: 'needs CAP_SYS_RESOURCE, held' });
      }
      p.ioasAlloc('ioas');
      p.mockDomain('$ioas');
      p.mapFixed('$ioas', va('buf'), LENGTH, hex(MOCK_APERTURE_START));
      processInfo(p, charged ? NPAGES : 0, NPAGES, 'the mock domain pinned every page');
      p.unmap('$ioas', hex(MOCK_APERTURE_START), LENGTH);
      processInfo(p, 0, 0, 'unmap unpins and uncharges');
      p.mapFixed('$ioas', va('buf'), 2 * PAGE_SIZE, hex(MOCK_APERTURE_START));
      processInfo(p, charged ? 2 : 0, 2, 'a smaller map');
      p.close();
      processInfo(p, 0, 0, 'closing the iommufd destroys the IOAS and its domain: everything is returned');
    },
  };
}

/**
 * Pin counts per page (pin_count): an IOAS pins a mapping's pages only once a
 * domain needs them (iopt_fill_domain); each IOAS_MAP has its own iopt_pages
 * and pins again, while IOAS_COPY shares the source area's iopt_pages (no
 * new pin); unmap and close unpin. The same numbers the selftests read with
 * MD_CHECK_REFS (page_ref_count / GUP_PIN_COUNTING_BIAS).
 */
const PINS: TestDef = {
  name: 'observe.pins.map_copy_unmap_close',
  description: 'Pin counts per page: none without a domain, one per IOAS_MAP once a device is attached, none added by IOAS_COPY (it shares the iopt_pages), released by unmap and by close.',
  source: { kernels: BOTH },
  requires: { ops: ['device_create', 'open_device', 'pin_count'], commands: CDEV_COMMANDS },
  build: (p) => {
    p.memAlloc('buf', LENGTH);
    p.open();
    p.ioasAlloc('ioas');
    p.mapFixed('$ioas', va('buf'), LENGTH, hex(IOVA));
    pins(p, 'buf', [0, 0, 0, 0], 'no domain yet: nothing pinned (iopt_map_user_pages only records the range)');
    cdevDevice(p, 'dev', { iommu: 'vtd0' });
    attach(p, 'dev', '$ioas');
    pins(p, 'buf', [1, 1, 1, 1], 'attaching filled the domain: each page pinned once');
    p.mapFixed('$ioas', va('buf'), 2 * PAGE_SIZE, hex(IOVA + LENGTH));
    pins(p, 'buf', [2, 2, 1, 1], 'a second IOAS_MAP of the first two pages pins them again (its own iopt_pages)');
    p.ioasAlloc('ioas2');
    p.ioctl('IOMMU_IOAS_COPY', { flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', dst_ioas_id: '$ioas2', src_ioas_id: '$ioas', length: String(LENGTH), dst_iova: hex(IOVA), src_iova: hex(IOVA) }, { expect: ok });
    pins(p, 'buf', [2, 2, 1, 1], 'IOAS_COPY shares the source iopt_pages; ioas2 has no domain');
    p.unmap('$ioas', hex(IOVA + LENGTH), 2 * PAGE_SIZE);
    pins(p, 'buf', [1, 1, 1, 1], 'unmapping the second map unpins its pages');
    p.close('$dev_fd');
    pins(p, 'buf', [0, 0, 0, 0], 'closing the device file detaches it: the domain goes, and with it the pins');
    p.close();
    pins(p, 'buf', [0, 0, 0, 0], 'and closing the iommufd leaves nothing behind');
  },
};

/**
 * A multi-device iommu group: iommufd_device_bind claims DMA ownership of
 * the whole group for one iommufd (iommu.c: iommu_device_claim_dma_owner, a
 * second owner gets EPERM); every device of a group attaches to the same HWPT
 * (device.c: iommufd_hw_pagetable_attach, igroup->hwpt (6.12) / the PASID
 * attach's hwpt (7.3) differs → EINVAL); and the group is attached once, for
 * its first device, so DMA of any device of the group goes through the
 * group's domain.
 */
const GROUP: TestDef = {
  name: 'observe.groups.multi_device',
  description:
    'Two devices in one iommu group: a second iommufd cannot bind the other device (EPERM: the group has one DMA owner); both attach only to the same HWPT (EINVAL otherwise); DMA from either reaches exactly what that HWPT maps; after detaching one, the other still translates.',
  source: { kernels: BOTH },
  requires: { ops: ['device_create', 'open_device', 'dma', 'translate'], commands: CDEV_COMMANDS, deviceFeatures: ['multiDeviceGroups'] },
  build: (p) => {
    p.memAlloc('buf', LENGTH);
    p.step('mem_write', { buffer: '$buf.buffer', offset: 0, data: { hex: '11223344' } });
    p.open();
    p.open('fd2');
    p.ioasAlloc('ioas');
    p.ioasAlloc('ioas_b');
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(IOVA));
    p.step('device_create', { spec: { iommu: 'vtd0' } }, { bind: { a: 'device', grp: 'group' } });
    p.step('device_create', { spec: { iommu: 'vtd0', group: '$grp' } }, { bind: { b: 'device', b_grp: 'group' }, expect: { ok: true, result: { group: '$grp' } } });
    p.step('open_device', { device: '$a' }, { bind: { a_fd: 'fd' }, expect: ok });
    p.step('open_device', { device: '$b' }, { bind: { b_fd: 'fd' }, expect: ok });
    p.ioctl('VFIO_DEVICE_BIND_IOMMUFD', { iommufd: '$fd' }, { fd: '$a_fd', expect: ok, bind: { a_id: 'out.out_devid' } });
    p.ioctl('VFIO_DEVICE_BIND_IOMMUFD', { iommufd: '$fd2' }, { fd: '$b_fd', expect: err('EPERM'), note: 'the group is owned by the first iommufd (iommu.c: iommu_device_claim_dma_owner, group->owner != owner)' });
    p.ioctl('VFIO_DEVICE_BIND_IOMMUFD', { iommufd: '$fd' }, { fd: '$b_fd', expect: ok, bind: { b_id: 'out.out_devid' }, note: 'the same owner may bind the rest of the group' });
    attach(p, 'a', '$ioas', ok, 'hwpt');
    attach(p, 'b', '$ioas_b', err('EINVAL'), undefined);
    attach(p, 'b', '$hwpt');
    dmaRead(p, 'b', IOVA, 4, { ok: true, data: { hex: '11223344' } }, 'device b reads through the group HWPT');
    dmaRead(p, 'a', IOVA + PAGE_SIZE, 1, { ok: false, fault: 'unmapped' }, 'and only what it maps');
    p.ioctl('VFIO_DEVICE_DETACH_IOMMUFD_PT', {}, { fd: '$a_fd', expect: ok });
    p.step('translate', { device: '$b', iova: hex(IOVA) }, { expect: { ok: true, result: { mapped: true, buffer: '$buf.buffer', offset: 0 } }, note: 'b is still attached' });
    p.close('$b_fd');
    p.close('$a_fd');
    p.close('$fd2');
    p.close();
  },
};

/**
 * The IOTLB across map and unmap: a DMA caches the translation it used (with
 * the mapping's permission); IOAS_UNMAP unmaps the domain and flushes the
 * IOTLB before it returns (iopt_unmap_iova_range → iopt_area_unmap_domain →
 * iommu_unmap → iommu_iotlb_sync), so no entry for the range is left.
 */
const IOTLB: TestDef = {
  name: 'observe.iotlb.map_dma_unmap',
  description: 'A DMA through a read-only mapping caches its translation in the IOTLB with permission r; IOAS_UNMAP flushes it, so no entry for the IOVA remains and a later DMA faults as unmapped.',
  source: { kernels: BOTH },
  requires: { ops: ['device_create', 'open_device', 'dma', 'iotlb'], commands: CDEV_COMMANDS },
  build: (p) => {
    p.memAlloc('buf', LENGTH);
    p.open();
    p.ioasAlloc('ioas');
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(IOVA), ok, RO);
    cdevDevice(p, 'dev', { iommu: 'vtd0' });
    attach(p, 'dev', '$ioas');
    p.step('iotlb', { iommu: 'vtd0' }, { expect: { ok: true, result: { entries: { none: { iova: hex(IOVA) } } } }, note: 'nothing cached before the first DMA' });
    dmaRead(p, 'dev', IOVA, 8, { ok: true });
    p.step('iotlb', { iommu: 'vtd0' }, { expect: { ok: true, result: { entries: { some: { iova: hex(IOVA), perm: 'r' } } } }, note: 'the DMA cached the read-only translation' });
    p.unmap('$ioas', hex(IOVA), PAGE_SIZE);
    p.step('iotlb', { iommu: 'vtd0' }, { expect: { ok: true, result: { entries: { none: { iova: hex(IOVA) } } } }, note: 'unmap flushed it (iommu_iotlb_sync)' });
    dmaRead(p, 'dev', IOVA, 8, { ok: false, fault: 'unmapped' });
    p.close('$dev_fd');
    p.close();
  },
};

/**
 * KVM's WBINVD requirement through kvm-vfio (virt/kvm/vfio.c:
 * kvm_vfio_update_coherency): a registered file whose device is not
 * enforced-coherent (vfio_file_enforced_coherent → device_iommu_capable(…,
 * IOMMU_CAP_ENFORCE_CACHE_COHERENCY)) makes kvm_arch_register_noncoherent_dma;
 * removing it unregisters. A file that is not a VFIO file is EINVAL, one
 * registered twice EEXIST, one not registered ENOENT (kvm_vfio_file_add/_del).
 */
const KVM: TestDef = {
  name: 'observe.kvm.coherency',
  description:
    'kvm-vfio: a device behind a coherency-enforcing IOMMU (vtd0) leaves WBINVD unneeded; adding one behind an IOMMU that cannot enforce it (smmu0) requires it; deleting that file lifts it; double add is EEXIST, deleting an unregistered file ENOENT, a non-VFIO fd EINVAL.',
  source: { kernels: BOTH },
  requires: { ops: ['device_create', 'open_device', 'kvm_create', 'kvm_vfio_add', 'kvm_vfio_del', 'kvm_state', 'kvm_destroy'] },
  build: (p) => {
    p.open();
    p.step('kvm_create', {}, { bind: { vm: 'vm' } });
    p.step('device_create', { spec: { iommu: 'vtd0' } }, { bind: { coh: 'device' } });
    p.step('device_create', { spec: { iommu: 'smmu0' } }, { bind: { nc: 'device' } });
    p.step('open_device', { device: '$coh' }, { bind: { coh_fd: 'fd' }, expect: ok });
    p.step('open_device', { device: '$nc' }, { bind: { nc_fd: 'fd' }, expect: ok });
    p.step('kvm_state', { vm: '$vm' }, { expect: { ok: true, result: { noncoherentDma: false, registeredFds: [] } } });
    p.step('kvm_vfio_add', { vm: '$vm', fd: '$coh_fd' }, { expect: ok });
    p.step('kvm_state', { vm: '$vm' }, { expect: { ok: true, result: { noncoherentDma: false, registeredFds: ['$coh_fd'] } }, note: 'vtd0 enforces coherency' });
    p.step('kvm_vfio_add', { vm: '$vm', fd: '$coh_fd' }, { expect: err('EEXIST') });
    p.step('kvm_vfio_add', { vm: '$vm', fd: '$fd' }, { expect: err('EINVAL'), note: 'an iommufd is not a VFIO file (vfio_file_is_valid)' });
    p.step('kvm_vfio_add', { vm: '$vm', fd: '$nc_fd' }, { expect: ok });
    p.step('kvm_state', { vm: '$vm' }, { expect: { ok: true, result: { noncoherentDma: true } }, note: 'smmu0 cannot enforce coherency: WBINVD must be emulated' });
    p.step('kvm_vfio_del', { vm: '$vm', fd: '$nc_fd' }, { expect: ok });
    p.step('kvm_state', { vm: '$vm' }, { expect: { ok: true, result: { noncoherentDma: false, registeredFds: ['$coh_fd'] } } });
    p.step('kvm_vfio_del', { vm: '$vm', fd: '$nc_fd' }, { expect: err('ENOENT') });
    p.step('kvm_vfio_del', { vm: '$vm', fd: '$coh_fd' }, { expect: ok });
    p.step('kvm_destroy', { vm: '$vm' });
    p.close('$nc_fd');
    p.close('$coh_fd');
    p.close();
  },
};

export const OBSERVE_TESTS: readonly TestDef[] = [PERMISSIONS, READONLY_BUFFER, GUP_PROTNONE, ACCESS_REPLACE_SLOT, ...(['none', 'user', 'mm_vfio', 'mm_option'] as const).map(accounting), PINS, GROUP, IOTLB, KVM];
