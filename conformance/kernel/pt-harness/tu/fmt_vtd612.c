// SPDX-License-Identifier: GPL-2.0-only
/*
 * 6.12 VT-d (second stage, and first stage with use_first_level): the
 * page-table functions of drivers/iommu/intel/iommu.c -- pfn_to_dma_pte,
 * __domain_mapping, switch_to_super_page, domain_unmap with
 * dma_pte_clear_level, the map/unmap/iova_to_phys/read_and_clear_dirty entry
 * points -- cut verbatim by build.ts into vtd612_fns.h (the file as a whole
 * needs most of the kernel). Set up as paging_domain_alloc does: agaw/gaw
 * from the unit's width, SZ_4K plus the superpage sizes.
 */
#include "vtd612.h"
#include "vtd612_fns.h"
#include "harness.h"

static const struct iommu_dirty_ops vtd612_dirty_ops = {
	.read_and_clear_dirty = intel_iommu_read_and_clear_dirty,
};

static const struct iommu_domain_ops vtd612_ops = {
	.map_pages = intel_iommu_map_pages,
	.unmap_pages = intel_iommu_unmap_pages,
	.iotlb_sync = intel_iommu_tlb_sync,
	.iova_to_phys = intel_iommu_iova_to_phys,
};

/* top = address width (39, 48, 57); sp = iommu_superpage (0, 1 = 2M, 2 = 2M+1G). */
static struct iommu_domain *vtd612_create(const struct hparams *p)
{
	struct dmar_domain *d = calloc(1, sizeof(*d));

	d->nid = NUMA_NO_NODE;
	d->use_first_level = p->fl;
	d->gaw = p->top;
	d->agaw = width_to_agaw(p->top);
	d->max_addr = 0;
	d->iommu_coherency = 1;
	d->iommu_superpage = p->sp;
	d->set_pte_snp = p->snp;
	d->nested_parent = p->np;
	d->dirty_tracking = 1;
	d->domain.type = __IOMMU_DOMAIN_PAGING;
	d->domain.ops = &vtd612_ops;
	d->domain.dirty_ops = &vtd612_dirty_ops;
	d->domain.pgsize_bitmap = SZ_4K | (p->sp >= 1 ? SZ_2M : 0) | (p->sp >= 2 ? SZ_1G : 0);
	d->domain.geometry.aperture_end = __DOMAIN_MAX_ADDR(d->gaw - (p->fl ? 1 : 0));
	d->pgd = iommu_alloc_page_node(d->nid, GFP_KERNEL);
	if (!d->pgd) {
		free(d);
		return ERR_PTR(-ENOMEM);
	}
	return &d->domain;
}

static void vtd612_dump_level(struct dma_pte *table, int level)
{
	unsigned int i;

	/* generic_pt numbering: the leaf-most table is level 0 (VT-d's level 1) */
	hdump_table_begin(level - 1, 512);
	for (i = 0; i < 512; i++) {
		struct dma_pte *pte = &table[i];

		if (!pte->val)
			continue;
		/* dma_pte_clear_level / pfn_to_dma_pte: present and not a superpage above level 1 is a table */
		if (level > 1 && dma_pte_present(pte) && !dma_pte_superpage(pte)) {
			hdump_table_ptr(i, pte->val & ~(u64)GENMASK_ULL(51, 12));
			vtd612_dump_level(phys_to_virt(dma_pte_addr(pte)), level - 1);
		} else {
			hdump_entry(i, pte->val);
		}
	}
	hdump_table_end();
}

static void vtd612_dump(struct iommu_domain *dom)
{
	struct dmar_domain *d = to_dmar_domain(dom);

	vtd612_dump_level(d->pgd, agaw_to_level(d->agaw));
}

/* domain_exit: unmap everything (frees every table after the flush), then the pgd. */
static void vtd612_destroy(struct iommu_domain *dom)
{
	struct dmar_domain *d = to_dmar_domain(dom);
	LIST_HEAD(freelist);

	domain_unmap(d, 0, DOMAIN_MAX_PFN(d->gaw), &freelist);
	iommu_put_pages_list(&freelist);
	free(d);
}

/* What the IOMMU does on a write with SSADE: set D (bit 9) in the second-stage leaf. */
static int vtd612_set_dirty(struct iommu_domain *dom, u64 iova)
{
	struct dmar_domain *d = to_dmar_domain(dom);
	int level = 0;
	struct dma_pte *pte = pfn_to_dma_pte(d, iova >> VTD_PAGE_SHIFT, &level, GFP_ATOMIC);

	if (!pte || !dma_pte_present(pte))
		return -ENOENT;
	pte->val |= DMA_SL_PTE_DIRTY;
	return 0;
}

static int vtd612_read_and_clear_dirty(struct iommu_domain *dom, u64 iova, u64 size, unsigned long flags)
{
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	int rc;

	iommu_dirty_bitmap_init(&dirty, (struct iova_bitmap *)1, &gather);
	rc = dom->dirty_ops->read_and_clear_dirty(dom, iova, size, flags, &dirty);
	iommu_iotlb_sync(dom, &gather);
	return rc;
}

static const struct hdriver vtd612_driver = {
	.name = "vtd612",
	.create = vtd612_create,
	.dump = vtd612_dump,
	.destroy = vtd612_destroy,
	.set_dirty = vtd612_set_dirty,
	.read_and_clear_dirty = vtd612_read_and_clear_dirty,
};
HREGISTER(vtd612_driver)
