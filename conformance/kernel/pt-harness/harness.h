/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Interface between the harness driver (harness.c) and the translation units
 * that compile one kernel page-table implementation each (fmt_*.c).
 */
#ifndef PT_HARNESS_H
#define PT_HARNESS_H

#include "kshim.h"

struct iommu_domain;
struct iommu_iotlb_gather;

/* `new` parameters (key=value on the command line; 0 when absent). */
struct hparams {
	u64 top;	/* generic_pt top_level / starting_level; VT-d 6.12 agaw */
	u64 vasz;	/* hw_max_vasz_lg2 (generic_pt) */
	u64 oasz;	/* hw_max_oasz_lg2 (generic_pt) */
	u64 feat;	/* generic_pt feature bits (enum pt_features positions) */
	u64 pgmask;	/* AND mask applied to domain->pgsize_bitmap after init (the driver's adjustment); 0 = none */
	u64 pgsizes;	/* io-pgtable cfg.pgsize_bitmap */
	u64 ias, oas;	/* io-pgtable cfg */
	u64 stage;	/* Arm: 1 or 2 */
	u64 quirks;	/* io-pgtable quirks */
	u64 huge;	/* mock: MOCK_IOMMUPT_HUGE */
	u64 sp;		/* VT-d 6.12: iommu_superpage (0 none, 1 2M, 2 2M+1G) */
	u64 fl;		/* VT-d 6.12: use_first_level */
	u64 snp;	/* VT-d 6.12: set_pte_snp */
	u64 np;		/* VT-d 6.12 nested_parent / AMD 6.12 np_cache */
};

struct hdriver {
	const char *name;
	/* Returns the domain or ERR_PTR(-errno). */
	struct iommu_domain *(*create)(const struct hparams *p);
	/* Walks the table from the root with the format's own decoding (hdump_*). */
	void (*dump)(struct iommu_domain *d);
	void (*destroy)(struct iommu_domain *d);
	/* Optional: make the leaf at iova write-dirty (generic_pt set_dirty / the HW's dirty bit). */
	int (*set_dirty)(struct iommu_domain *d, u64 iova);
	/* Optional: the driver's read_and_clear_dirty. */
	int (*read_and_clear_dirty)(struct iommu_domain *d, u64 iova, u64 size, unsigned long flags);
};

void hregister(const struct hdriver *drv);
#define HREGISTER(drv) \
	static void __attribute__((constructor)) hreg_##drv(void) { hregister(&drv); }

/* Canonical dump (see README.md): tables in pre-order, table pointers without their address bits. */
void hdump_table_begin(unsigned int level, unsigned int nitems);
void hdump_entry(unsigned int index, u64 value);
void hdump_table_ptr(unsigned int index, u64 value_without_address);
void hdump_table_end(void);

/* The iommu core, compiled from the profile's drivers/iommu/iommu.c (core_*.c). */
int iommu_map(struct iommu_domain *domain, unsigned long iova, phys_addr_t paddr, size_t size, int prot, gfp_t gfp);
size_t iommu_unmap(struct iommu_domain *domain, unsigned long iova, size_t size);

/* Frees the gathered table pages (what every driver's iotlb_sync does after invalidating). */
void hiotlb_sync(struct iommu_domain *domain, struct iommu_iotlb_gather *gather);

#endif
