/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stands in for drivers/iommu/amd/amd_iommu_types.h (6.12) next to the copied
 * io_pgtable.c: the page-table macros and struct amd_io_pgtable are the
 * kernel's, cut verbatim by build.ts into amd612_types.h; struct
 * protection_domain is reduced to the members io_pgtable.c and the
 * map/unmap entry points of amd/iommu.c touch.
 */
#ifndef KSHIM_AMD_IOMMU_TYPES_H
#define KSHIM_AMD_IOMMU_TYPES_H
#include <linux/types.h>
#include <linux/iommu.h>
#include <linux/io-pgtable.h>

#include "amd612_types.h"

struct protection_domain {
	struct list_head dev_list;
	struct iommu_domain domain;
	struct amd_io_pgtable iop;
	spinlock_t lock;
	u16 id;
	enum protection_domain_mode pd_mode;
	bool dirty_tracking;
};
#endif
