// SPDX-License-Identifier: GPL-2.0-only
/*
 * Arm LPAE stage 1 / stage 2 (drivers/iommu/io-pgtable-arm.c of the profile,
 * included unmodified), set up the way arm-smmu-v3 does
 * (arm_smmu_domain_finalise + alloc_io_pgtable_ops): the cfg's page sizes,
 * ias/oas and quirks, a coherent walk, and the domain's pgsize_bitmap and
 * map_pages/unmap_pages taken from the io-pgtable (arm_smmu_map_pages and
 * arm_smmu_unmap_pages are plain forwards).
 */
#include "drivers/iommu/io-pgtable-arm.c"
#include "harness.h"

struct arm_domain {
	struct iommu_domain domain;
	struct io_pgtable_ops *ops;
	struct io_pgtable_cfg cfg;
};

static void arm_tlb_flush_all(void *cookie) { }
static void arm_tlb_flush(unsigned long iova, size_t size, size_t granule, void *cookie) { }
static void arm_tlb_add_page(struct iommu_iotlb_gather *gather, unsigned long iova, size_t granule, void *cookie) { }

static const struct iommu_flush_ops arm_tlb_ops = {
	.tlb_flush_all = arm_tlb_flush_all,
	.tlb_flush_walk = arm_tlb_flush,
	.tlb_add_page = arm_tlb_add_page,
};

static struct arm_domain *to_arm(struct iommu_domain *d)
{
	return container_of(d, struct arm_domain, domain);
}

static int arm_map_pages(struct iommu_domain *d, unsigned long iova, phys_addr_t paddr, size_t pgsize, size_t pgcount,
			 int prot, gfp_t gfp, size_t *mapped)
{
	struct io_pgtable_ops *ops = to_arm(d)->ops;

	return ops->map_pages(ops, iova, paddr, pgsize, pgcount, prot, gfp, mapped);
}

static size_t arm_unmap_pages(struct iommu_domain *d, unsigned long iova, size_t pgsize, size_t pgcount,
			      struct iommu_iotlb_gather *gather)
{
	struct io_pgtable_ops *ops = to_arm(d)->ops;

	return ops->unmap_pages(ops, iova, pgsize, pgcount, gather);
}

static phys_addr_t arm_iova_to_phys(struct iommu_domain *d, dma_addr_t iova)
{
	struct io_pgtable_ops *ops = to_arm(d)->ops;

	return ops->iova_to_phys(ops, iova);
}

static const struct iommu_domain_ops arm_domain_ops = {
	.map_pages = arm_map_pages,
	.unmap_pages = arm_unmap_pages,
	.iotlb_sync = hiotlb_sync,
	.iova_to_phys = arm_iova_to_phys,
};

/* drivers/iommu/io-pgtable.c alloc_io_pgtable_ops, for the two LPAE formats. */
static struct iommu_domain *arm_create(const struct hparams *p)
{
	struct arm_domain *a = calloc(1, sizeof(*a));
	struct device *dev = calloc(1, sizeof(*dev));
	enum io_pgtable_fmt fmt = p->stage == 2 ? ARM_64_LPAE_S2 : ARM_64_LPAE_S1;
	struct io_pgtable_init_fns *fns = p->stage == 2 ? &io_pgtable_arm_64_lpae_s2_init_fns : &io_pgtable_arm_64_lpae_s1_init_fns;
	struct io_pgtable *iop;

	a->cfg.pgsize_bitmap = p->pgsizes;
	a->cfg.ias = p->ias;
	a->cfg.oas = p->oas;
	a->cfg.quirks = p->quirks;
	a->cfg.coherent_walk = true;
	a->cfg.tlb = &arm_tlb_ops;
	a->cfg.iommu_dev = dev;
	iop = fns->alloc(&a->cfg, a);
	if (!iop) {
		free(a);
		return ERR_PTR(-EINVAL);
	}
	iop->fmt = fmt;
	iop->cookie = a;
	iop->cfg = a->cfg;
	a->ops = &iop->ops;
	a->domain.type = __IOMMU_DOMAIN_PAGING;
	a->domain.ops = &arm_domain_ops;
	a->domain.pgsize_bitmap = a->cfg.pgsize_bitmap;
	a->domain.geometry.aperture_end = (1ULL << a->cfg.ias) - 1;
	return &a->domain;
}

static void arm_dump_level(struct arm_lpae_io_pgtable *data, int lvl, arm_lpae_iopte *table)
{
	unsigned int n = lvl == data->start_level ? 1u << data->pgd_bits : 1u << data->bits_per_level;
	unsigned int i;

	/* Print with generic_pt level numbering (0 = the leaf-most table). */
	hdump_table_begin(ARM_LPAE_MAX_LEVELS - 1 - lvl, n);
	for (i = 0; i < n; i++) {
		arm_lpae_iopte pte = table[i];

		if (!pte)
			continue;
		if (iopte_table(pte, lvl)) {
			hdump_table_ptr(i, pte & ~(arm_lpae_iopte)ARM_LPAE_PTE_ADDR_MASK);
			arm_dump_level(data, lvl + 1, iopte_deref(pte, data));
		} else {
			hdump_entry(i, pte);
		}
	}
	hdump_table_end();
}

static void arm_dump(struct iommu_domain *d)
{
	struct arm_lpae_io_pgtable *data = io_pgtable_ops_to_data(to_arm(d)->ops);

	arm_dump_level(data, data->start_level, data->pgd);
}

static void arm_destroy(struct iommu_domain *d)
{
	struct arm_domain *a = to_arm(d);
	struct io_pgtable *iop = io_pgtable_ops_to_pgtable(a->ops);

	arm_lpae_free_pgtable(iop);
	free(a);
}

/* What SMMU HTTU does on a write through a DBM leaf: clear AP[2] (stage 1). */
static int arm_set_dirty(struct iommu_domain *d, u64 iova)
{
	struct arm_lpae_io_pgtable *data = io_pgtable_ops_to_data(to_arm(d)->ops);
	arm_lpae_iopte *ptep = data->pgd;
	int lvl;

	for (lvl = data->start_level; lvl < ARM_LPAE_MAX_LEVELS; lvl++) {
		arm_lpae_iopte pte;

		ptep += ARM_LPAE_LVL_IDX(iova, lvl, data);
		pte = *ptep;
		if (!pte)
			return -ENOENT;
		if (iopte_leaf(pte, lvl, data->iop.fmt)) {
			if (!(pte & ARM_LPAE_PTE_DBM))
				return -EINVAL;
			*ptep = pte & ~ARM_LPAE_PTE_AP_RDONLY;
			return 0;
		}
		ptep = iopte_deref(pte, data);
	}
	return -ENOENT;
}

static int arm_read_and_clear_dirty(struct iommu_domain *d, u64 iova, u64 size, unsigned long flags)
{
	struct io_pgtable_ops *ops = to_arm(d)->ops;
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	int rc;

	iommu_dirty_bitmap_init(&dirty, (struct iova_bitmap *)1, &gather);
	rc = ops->read_and_clear_dirty(ops, iova, size, flags, &dirty);
	iommu_iotlb_sync(d, &gather);
	return rc;
}

static const struct hdriver arm_driver = {
	.name = "arm",
	.create = arm_create,
	.dump = arm_dump,
	.destroy = arm_destroy,
	.set_dirty = arm_set_dirty,
	.read_and_clear_dirty = arm_read_and_clear_dirty,
};
HREGISTER(arm_driver)
