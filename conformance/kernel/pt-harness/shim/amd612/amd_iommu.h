/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stands in for drivers/iommu/amd/amd_iommu.h (6.12): the inline helpers
 * io_pgtable.c uses are the kernel's (amd612_inl.h, cut by build.ts); the two
 * flush entry points are the harness's (there is no IOTLB to flush).
 */
#ifndef KSHIM_AMD_IOMMU_H
#define KSHIM_AMD_IOMMU_H
#include "amd_iommu_types.h"

extern unsigned long amd_iommu_pgsize_bitmap;
extern bool amd_iommu_np_cache;
void amd_iommu_update_and_flush_device_table(struct protection_domain *domain);
void amd_iommu_domain_flush_pages(struct protection_domain *domain, u64 address, size_t size);

#include "amd612_inl.h"
#endif
