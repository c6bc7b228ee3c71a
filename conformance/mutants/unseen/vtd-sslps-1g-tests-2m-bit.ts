/**
 * vtd-sslps-1g-tests-2m-bit — drivers/iommu/intel/iommu.c
 * intel_iommu_domain_alloc_second_stage (7.3 only).
 *
 * Correct kernel code (7.3):
 *
 *     sslps = cap_super_page_val(iommu->cap);
 *     if (!(sslps & BIT(0)))
 *             dmar_domain->domain.pgsize_bitmap &= ~(u64)SZ_2M;
 *     if (!(sslps & BIT(1)))
 *             dmar_domain->domain.pgsize_bitmap &= ~(u64)SZ_1G;
 *
 * THE FAULT: the 1G line tests BIT(0) (copy-paste of the line above):
 *
 *     if (!(sslps & BIT(0)))
 *             dmar_domain->domain.pgsize_bitmap &= ~(u64)SZ_1G;
 *
 * so a unit with 2M but without 1G second-stage superpages (vtd1: SLLPS=1)
 * gets domains advertising 4K|2M|1G. The kernel's own attach check,
 * paging_domain_compatible_second_stage ("Same page size support":
 * !(sslps & BIT(1)) && (pgsize_bitmap & SZ_1G) -> -EINVAL), then refuses
 * that domain for every vtd1 device — including the one it was made for.
 * (The reference leaves that attach check out, since its domains always
 * match their unit; this module adds it back, as the kernel has it, so the
 * fault shows as the kernel with the bug would behave.)
 *
 * What a user sees: every attach of a vtd1 device to a paging HWPT
 * (automatic domain or IOMMU_HWPT_ALLOC'd) fails with EINVAL; the
 * IOMMU_HWPT_ALLOC itself still succeeds.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const SZ_1G = 1n << 30n;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-sslps-1g-tests-2m-bit', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        const sllps = (dev: { iommu: { config: { regs: readonly bigint[] } } }): number => Number(((dev.iommu.config.regs[0] ?? 0n) >> 34n) & 0xfn);
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
          const cfg = dev.iommu.config;
          const dc = cfg.domainCfg;
          // THE FAULT: the 1G bit is kept whenever BIT(0) (2M) is set.
          if (dc.format !== 'vtd-ss' || dc.pg1G || !(sllps(dev) & 1)) return alloc(dev, flags, data);
          const c2 = { ...cfg, domainCfg: { ...dc, pg1G: true } };
          const proxy = Object.create(dev, { iommu: { value: Object.create(dev.iommu, { config: { value: c2 } }) } });
          return alloc(proxy, flags, data);
        });
        // paging_domain_compatible_second_stage, "Same page size support" (kernel code, unchanged).
        patchOwn(drv, 'attachDev', (attach) => (domain, dev) => {
          const s = sllps(dev);
          if (domain.config?.format === 'vtd-ss') {
            if (!(s & 1) && domain.pgsizeBitmap & (1n << 21n)) return -EINVAL;
            if (!(s & 2) && domain.pgsizeBitmap & SZ_1G) return -EINVAL;
          }
          return attach(domain, dev);
        });
      }
    },
  });
}
