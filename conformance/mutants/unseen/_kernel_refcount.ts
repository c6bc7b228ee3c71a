/**
 * The kernel's refcount_t on an object of the reference, for the faults that
 * make a count underflow: refcount_dec() hitting zero (or below) WARNs and
 * saturates the count, so the object is leaked and never freed (IOMMU_DESTROY
 * answers EBUSY), where the reference's model of refcount_dec throws. The
 * underflow check is told apart from every other read of `users` by its
 * caller (the frames right above the getter).
 */
import type { IommufdObject } from '../../../impl/iommufd/object.ts';

/** REFCOUNT_SATURATED (include/linux/refcount.h). */
export const REFCOUNT_SATURATED = 0xc0000000;

/** Whether the users count is being read by refcount_dec (its underflow check). */
function readByRefcountDec(): boolean {
  const frames = (new Error().stack ?? '').split('\n');
  return frames.slice(2, 4).some((f) => /\bat refcount_dec\b/.test(f));
}

/** Gives `obj` the kernel's refcount_t: a refcount_dec() that would reach zero saturates the count instead. */
export function kernelRefcount(obj: IommufdObject): void {
  let n = obj.users;
  Object.defineProperty(obj, 'users', {
    configurable: true,
    enumerable: true,
    get: () => (n <= 1 && readByRefcountDec() ? REFCOUNT_SATURATED : n),
    set: (v: number) => {
      n = v === REFCOUNT_SATURATED - 1 ? REFCOUNT_SATURATED : v;
    },
  });
}
