/**
 * Access (struct iommufd_access, IOMMUFD_OBJ_ACCESS): an in-kernel user of an
 * IOAS that pins pages or copies through it without DMA (a VFIO mdev driver;
 * here the selftest's access, created with IOMMU_TEST_OP_CREATE_ACCESS and
 * named by the fd it returns). Its driver holds it (IOMMU_DESTROY: EBUSY); it
 * holds the iommufd and, while attached, its IOAS. Pinned ranges ("items")
 * are dropped when the IOAS unmaps them (the access's unmap callback), when
 * the access moves to another IOAS, and when its fd is closed.
 * drivers/iommu/iommufd/device.c (iommufd_access_create, _change_ioas,
 * iommufd_access_notify_unmap), selftest.c (iommufd_test_create_access,
 * iommufd_test_access_pages, iommufd_test_access_item_destroy,
 * iommufd_test_access_unmap).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export interface AccessItem {
  readonly id: number;
  readonly start: bigint;
  readonly last: bigint;
}

export interface AccessContext {
  /** Created with MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES (selftest_access_ops_pin). */
  readonly pin: boolean;
  readonly items: readonly AccessItem[];
  /** staccess->next_id: the next item id. */
  readonly nextId: number;
}

interface Range {
  readonly start: bigint;
  readonly last: bigint;
}

export type AccessEvent =
  | { readonly type: 'IOMMU_TEST_OP_CREATE_ACCESS'; readonly pin: boolean }
  /** same: the IOAS it is already attached to. */
  | { readonly type: 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'; readonly same: boolean }
  | ({ readonly type: 'IOMMU_TEST_OP_ACCESS_PAGES'; readonly item: number } & Range)
  | { readonly type: 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES'; readonly item: number }
  | { readonly type: 'IOMMU_TEST_OP_ACCESS_RW' }
  /** The access's IOAS unmapped these areas (partial progress included). */
  | { readonly type: 'IOMMU_IOAS_UNMAP' | 'VFIO_IOMMU_UNMAP_DMA'; readonly removed: readonly Range[] }
  | { readonly type: 'IOMMU_DESTROY' }
  /** role file: its fd is closed; release: its iommufd is released. */
  | { readonly type: 'close'; readonly role: 'file' | 'release' };

type E<T extends AccessEvent['type']> = EventOf<AccessEvent, T>;

const overlaps = (a: Range, b: Range): boolean => !(a.last < b.start || a.start > b.last);

export const access = defineObjectMachine<AccessContext, AccessEvent>({
  id: 'access',
  title: 'Access',
  kernel: 'struct iommufd_access (IOMMUFD_OBJ_ACCESS), selftest struct selftest_access',
  description:
    'An in-kernel user of an IOAS (the selftest access, named by its fd). It is created attached to an IOAS, can move to another (ACCESS_REPLACE_IOAS, which unpins everything), pins ranges as items (ACCESS_PAGES, only for an access created with NEEDS_PIN_PAGES) that DESTROY_ACCESS_PAGES releases (ENOENT for an unknown item) and that an unmap of the IOAS drops through the unmap callback. Its driver holds it: IOMMU_DESTROY always fails with EBUSY; closing its fd destroys it and releases its IOAS.',
  context: { pin: false, items: [], nextId: 0 },
  events: [
    'IOMMU_TEST_OP_CREATE_ACCESS',
    'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS',
    'IOMMU_TEST_OP_ACCESS_PAGES',
    'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES',
    'IOMMU_TEST_OP_ACCESS_RW',
    'IOMMU_IOAS_UNMAP',
    'VFIO_IOMMU_UNMAP_DMA',
    'IOMMU_DESTROY',
    'close',
  ],
  guards: {
    notPinAccess: {
      fn: (c) => !c.pin,
      doc: 'the access was created without MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES',
      clauses: ['ACCESS.PIN_NEEDS_PIN_OPS'],
    },
    replacesWithSameIoas: {
      fn: (_c, e) => (e as E<'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'>).same,
      doc: 'the IOAS is the one the access is attached to: nothing changes, its items stay (iommufd_access_change_ioas returns 0 when cur_ioas == new_ioas)',
      clauses: ['ACCESS.REPLACE_IOAS'],
    },
    unknownItem: {
      fn: (c, e) => !c.items.some((i) => i.id === (e as E<'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES'>).item),
      doc: 'no pinned item has this id (never pinned, destroyed, or dropped by an unmap)',
      clauses: ['ACCESS.ITEMS'],
    },
  },
  actions: {
    create: (_c, e) => ({ pin: (e as E<'IOMMU_TEST_OP_CREATE_ACCESS'>).pin, items: [], nextId: 0 }),
    unpinAll: (c) => ({ ...c, items: [] }),
    pin: (c, e) => {
      const p = e as E<'IOMMU_TEST_OP_ACCESS_PAGES'>;
      return { ...c, items: [...c.items, { id: p.item, start: p.start, last: p.last }], nextId: Math.max(c.nextId, p.item + 1) };
    },
    unpin: (c, e) => ({ ...c, items: c.items.filter((i) => i.id !== (e as E<'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES'>).item) }),
    dropUnmapped: (c, e) => {
      const removed = (e as E<'IOMMU_IOAS_UNMAP'>).removed;
      return { ...c, items: c.items.filter((i) => !removed.some((r) => overlaps(i, r))) };
    },
  },
  initial: 'absent',
  states: {
    absent: {
      on: { IOMMU_TEST_OP_CREATE_ACCESS: { target: 'attached', actions: 'create', meta: { clauses: ['ACCESS.CREATE'] } } },
    },
    attached: {
      description: 'attached to an IOAS (it holds the IOAS and the iommufd)',
      on: {
        IOMMU_TEST_OP_ACCESS_REPLACE_IOAS: [
          { guard: 'replacesWithSameIoas', meta: { clauses: ['ACCESS.REPLACE_IOAS'] } },
          { actions: 'unpinAll', meta: { clauses: ['ACCESS.REPLACE_IOAS'] } },
        ],
        IOMMU_TEST_OP_ACCESS_PAGES: [
          { guard: 'notPinAccess', meta: { refuse: 'EOPNOTSUPP', clauses: ['ACCESS.PIN_NEEDS_PIN_OPS'] } },
          { actions: 'pin', meta: { clauses: ['ACCESS.PIN_PAGES'] } },
        ],
        IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: [
          { guard: 'unknownItem', meta: { refuse: 'ENOENT', clauses: ['ACCESS.ITEMS'] } },
          { actions: 'unpin', meta: { clauses: ['ACCESS.ITEMS'] } },
        ],
        IOMMU_TEST_OP_ACCESS_RW: { meta: { clauses: ['ACCESS.RW'] } },
        IOMMU_IOAS_UNMAP: { actions: 'dropUnmapped', meta: { clauses: ['ACCESS.UNMAP_NOTIFY'] } },
        VFIO_IOMMU_UNMAP_DMA: { actions: 'dropUnmapped', meta: { clauses: ['ACCESS.UNMAP_NOTIFY'] } },
        IOMMU_DESTROY: { meta: { refuse: 'EBUSY', clauses: ['ACCESS.CREATE', 'DESTROY.EBUSY'] } },
        close: { target: 'destroyed', meta: { clauses: ['ACCESS.CLOSE_DESTROYS'] } },
      },
    },
    destroyed: { type: 'final' },
  },
});
