/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * drivers/iommu/iommu-pages.h for the harness: table pages come from a
 * deterministic arena (harness.c) at a fixed low address, so a table pointer
 * always fits every format's output-address field and a stray dereference of a
 * non-table address is caught (phys_to_virt aborts outside the arena). Both
 * profiles' APIs are provided: 7.3 sizes allocations in bytes and frees
 * through struct iommu_pages_list; 6.12 uses orders and a plain list_head of
 * struct page.
 */
#ifndef KSHIM_IOMMU_PAGES_H
#define KSHIM_IOMMU_PAGES_H

#include "kshim.h"
#include <linux/iommu.h>

void *kshim_alloc_table(size_t size);
void kshim_free_table(void *virt);

/* ---- 7.3 ---- */
static inline void *iommu_alloc_pages_node_sz(int nid, gfp_t gfp, size_t size)
{
	(void)nid;
	(void)gfp;
	return kshim_alloc_table(size);
}
static inline void *iommu_alloc_pages_sz(gfp_t gfp, size_t size)
{
	return iommu_alloc_pages_node_sz(NUMA_NO_NODE, gfp, size);
}

#ifdef KSHIM_PAGES_LIST
static inline void iommu_pages_list_add(struct iommu_pages_list *list, void *virt)
{
	list_add_tail(&virt_to_page(virt)->lru, &list->pages);
}
static inline void iommu_pages_list_splice(struct iommu_pages_list *from, struct iommu_pages_list *to)
{
	list_splice(&from->pages, &to->pages);
}
static inline bool iommu_pages_list_empty(struct iommu_pages_list *list)
{
	return list_empty(&list->pages);
}
static inline void iommu_put_pages_list(struct iommu_pages_list *list)
{
	while (!list_empty(&list->pages)) {
		struct page *p = list_entry(list->pages.prev, struct page, lru);
		list_del(&p->lru);
		kshim_free_table(p->virt);
	}
}
static inline void iommu_free_pages(void *virt)
{
	if (virt)
		kshim_free_table(virt);
}
static inline int iommu_pages_start_incoherent(void *virt, struct device *dma_dev) { return 0; }
static inline int iommu_pages_start_incoherent_list(struct iommu_pages_list *list, struct device *dma_dev) { return 0; }
static inline void iommu_pages_flush_incoherent(struct device *dma_dev, void *virt, size_t offset, size_t len) { }
static inline void iommu_pages_stop_incoherent_list(struct iommu_pages_list *list, struct device *dma_dev) { }
static inline void iommu_pages_free_incoherent(void *virt, struct device *dma_dev) { iommu_free_pages(virt); }
#else
/* ---- 6.12 ---- */
static inline void *iommu_alloc_pages_node(int nid, gfp_t gfp, int order)
{
	(void)nid;
	(void)gfp;
	return kshim_alloc_table(PAGE_SIZE << order);
}
static inline void *iommu_alloc_pages(gfp_t gfp, int order) { return iommu_alloc_pages_node(NUMA_NO_NODE, gfp, order); }
static inline void *iommu_alloc_page_node(int nid, gfp_t gfp) { return iommu_alloc_pages_node(nid, gfp, 0); }
static inline void *iommu_alloc_page(gfp_t gfp) { return iommu_alloc_pages(gfp, 0); }
static inline void iommu_free_pages(void *virt, int order)
{
	(void)order;
	if (virt)
		kshim_free_table(virt);
}
static inline void iommu_free_page(void *virt) { iommu_free_pages(virt, 0); }
static inline void iommu_put_pages_list(struct list_head *head)
{
	while (!list_empty(head)) {
		struct page *p = list_entry(head->prev, struct page, lru);
		list_del(&p->lru);
		kshim_free_table(p->virt);
	}
}
#endif

#endif
