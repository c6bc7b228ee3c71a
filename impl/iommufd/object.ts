/**
 * The per-file object table: mirrors drivers/iommu/iommufd/main.c
 * (_iommufd_object_alloc, iommufd_object_finalize, iommufd_object_abort,
 * iommufd_object_abort_and_destroy, iommufd_get_object, iommufd_object_remove).
 *
 * Ids: xa_alloc with XA_FLAGS_ALLOC1 and xa_limit_31b, i.e. the lowest free id
 * from 1, reused after destroy. An allocated but unfinalized object holds its id
 * as a reserved slot (XA_ZERO_ENTRY): lookups of it give ENOENT.
 *
 * `users`: 1 for the table's slot, +1 per long-lived reference another object
 * or driver holds (the kernel's §1 table). Callers take and drop references
 * with `refcount_inc(obj)` / `refcount_dec(obj)`. iommufd_get_object's
 * short-term ioctl reference is not modelled: the reference runs one ioctl at
 * a time, so no destroy can race a lookup.
 *
 * Conventions (impl/README.md): functions return 0 or a negative errno
 * (`-ENOENT`), as kernel code does; functions that produce a value return
 * `Result<T>`: `{ errno: 0, value } | { errno: -Exxx }` (the kernel's ERR_PTR).
 *
 * Public API: type ObjType, interface IommufdObject, class ObjectTable,
 * iommufdObjectAlloc, iommufdObjectFinalize, iommufdObjectAbort,
 * iommufdObjectAbortAndDestroy, iommufdGetObject, iommufdObjectRemove,
 * refcount_inc, refcount_dec, type Result, ok, err.
 */
import { EBUSY, ENOENT, ENOMEM } from '../lib/errno.ts';
import type { FaultInjector } from '../lib/fail_nth.ts';
import { Unwind } from '../lib/unwind.ts';

export type ObjType =
  | 'ANY'
  | 'DEVICE'
  | 'HWPT_PAGING'
  | 'HWPT_NESTED'
  | 'IOAS'
  | 'ACCESS'
  | 'FAULT'
  | 'VIOMMU'
  | 'VDEVICE'
  | 'SELFTEST';

/** A value or a negative errno (the kernel's ERR_PTR). */
export type Result<T> = { readonly errno: 0; readonly value: T } | { readonly errno: number; readonly value?: undefined };

export const ok = <T>(value: T): Result<T> => ({ errno: 0, value });
/** A failed Result: `errno` is negative (-ENOMEM). */
export const err = <T>(errno: number): Result<T> => ({ errno });

export interface IommufdObject {
  readonly type: Exclude<ObjType, 'ANY'>;
  /** Set by iommufdObjectAlloc. */
  id: number;
  /** refcount users: 1 held by the table slot. */
  users: number;
  /** iommufd_object_ops.destroy: drop every reference this object holds. */
  destroy(): void;
  /** iommufd_object_ops.abort, when it differs from destroy. */
  abort?(): void;
}

/** The objects xarray. A slot is an object or `null` while reserved. */
export class ObjectTable {
  private readonly slots = new Map<number, IommufdObject | null>();
  static readonly ID_LIMIT = 0x7fffffff; // xa_limit_31b

  /** xa_alloc: the lowest free id >= 1, or 0 when the id space is full. */
  allocId(): number {
    for (let id = 1; id <= ObjectTable.ID_LIMIT; id++) {
      if (!this.slots.has(id)) {
        this.slots.set(id, null);
        return id;
      }
    }
    return 0;
  }

  store(id: number, obj: IommufdObject): void {
    this.slots.set(id, obj);
  }

  erase(id: number): void {
    this.slots.delete(id);
  }

  /** xa_load: the finalized object at id, if any. */
  load(id: number): IommufdObject | undefined {
    return this.slots.get(id) ?? undefined;
  }

  /** True when the slot exists (finalized or reserved). */
  has(id: number): boolean {
    return this.slots.has(id);
  }

  get empty(): boolean {
    return this.slots.size === 0;
  }

  get size(): number {
    return this.slots.size;
  }

  /** Finalized objects in id order (xa_for_each). */
  entries(): [number, IommufdObject][] {
    const out: [number, IommufdObject][] = [];
    for (const [id, o] of this.slots) if (o) out.push([id, o]);
    return out.sort((a, b) => a[0] - b[0]);
  }
}

/** The part of iommufd_ctx the object functions need. */
export interface ObjectCtx {
  readonly objects: ObjectTable;
  readonly faults: FaultInjector;
  /** Cleared when the compat IOAS is destroyed. */
  vfioIoas: IommufdObject | null;
  /** The context's file: in-kernel users (accesses, devices) hold it (iommufd_ctx_get/put). */
  readonly file?: { get(): unknown; put(): void } | null;
}

export function refcount_inc(obj: IommufdObject): void {
  obj.users++;
}

export function refcount_dec(obj: IommufdObject): void {
  if (obj.users <= 1) throw new Error(`refcount underflow on ${obj.type} ${obj.id}`);
  obj.users--;
}

/**
 * _iommufd_object_alloc: the kzalloc and the xa_alloc of a reserved id (both
 * fallible). The object is invisible until iommufdObjectFinalize.
 */
export function iommufdObjectAlloc(ctx: ObjectCtx, obj: IommufdObject): number {
  if (ctx.faults.shouldFail()) return -ENOMEM; // kzalloc
  obj.users = 1;
  if (ctx.faults.shouldFail()) return -ENOMEM; // xa_alloc
  const id = ctx.objects.allocId();
  if (id === 0) return -ENOMEM;
  obj.id = id;
  return 0;
}

/** iommufd_object_finalize: publish the object at its reserved id. */
export function iommufdObjectFinalize(ctx: ObjectCtx, obj: IommufdObject): void {
  ctx.objects.store(obj.id, obj);
}

/** iommufd_object_abort: release the reserved id of an object never finalized. */
export function iommufdObjectAbort(ctx: ObjectCtx, obj: IommufdObject): void {
  ctx.objects.erase(obj.id);
}

/** iommufd_object_abort_and_destroy: undo a fully initialized, unfinalized object. */
export function iommufdObjectAbortAndDestroy(ctx: ObjectCtx, obj: IommufdObject): void {
  if (obj.abort) obj.abort();
  else obj.destroy();
  iommufdObjectAbort(ctx, obj);
}

/**
 * iommufd_get_object: ENOENT when absent, reserved, or of another type
 * (`type` 'ANY' matches all). Like the kernel, the lookup is itself a
 * fault-injection site (iommufd_should_fail -> ENOENT).
 */
export function iommufdGetObject<T extends IommufdObject = IommufdObject>(ctx: ObjectCtx, id: number, type: ObjType): Result<T> {
  if (ctx.faults.shouldFail()) return err(-ENOENT);
  const obj = ctx.objects.load(id);
  if (!obj || (type !== 'ANY' && obj.type !== type)) return err(-ENOENT);
  return ok(obj as T);
}

/**
 * iommufd_object_remove (as IOMMU_DESTROY calls it, to_destroy = NULL):
 * ENOENT when the id is absent or reserved; EBUSY unless users == 1
 * (refcount_dec_if_one); else unpublish, clear ctx->vfio_ioas if it is the
 * compat IOAS, and destroy.
 */
export function iommufdObjectRemove(ctx: ObjectCtx, id: number): number {
  const obj = ctx.objects.load(id);
  if (!obj) return -ENOENT;
  if (obj.users !== 1) return -EBUSY;
  obj.users = 0;
  ctx.objects.erase(id);
  if (ctx.vfioIoas === obj) ctx.vfioIoas = null;
  obj.destroy();
  return 0;
}

/**
 * iommufd_object_destroy_user for objects a driver holds (e.g. an access or a
 * device being unbound): drops the driver's reference and removes the object.
 * Returns -EBUSY if other references remain (a bug in the caller).
 */
export function iommufdObjectDestroyUser(ctx: ObjectCtx, obj: IommufdObject): number {
  const unwind = new Unwind();
  refcount_dec(obj);
  unwind.onError('refcount_inc (the caller still holds it)', () => refcount_inc(obj));
  return unwind.exit(iommufdObjectRemove(ctx, obj.id));
}
