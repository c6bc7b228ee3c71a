/**
 * Shared by the faults in incr_user_locked_vm's RLIMIT_MEMLOCK test (pages.c):
 * on the process, which locked_vm counter was read last (the per-user one,
 * user->locked_vm, or the mm's) is tracked, and the limit the reference asks
 * right after reading the per-user charge is the fault's, given the limit
 * and that charge. The MM path (update_mm_locked_vm) keeps the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** A counter of `obj` whose reads are reported to `read`; returns its value, read unreported. */
function watchCounter(obj: object, key: string, read: () => void): () => number {
  let value = (obj as Record<string, number>)[key] as number;
  Object.defineProperty(obj, key, {
    get: () => {
      read();
      return value;
    },
    set: (v: number) => {
      value = v;
    },
    configurable: true,
    enumerable: true,
  });
  return () => value;
}

/**
 * A mutant whose per-user charge is held against `userLimit(limit, userLocked)`
 * instead of RLIMIT_MEMLOCK (the reference reads user->locked_vm, adds npages,
 * then asks the limit).
 */
export function userLimitMutant(name: string, profile: Profile, userLimit: (limit: number, userLocked: number) => number): Implementation {
  const patched = new WeakSet<Process>();
  return mutantImplementation(name, profile, {
    process: (proc: Process) => {
      if (patched.has(proc)) return;
      patched.add(proc);
      let lastRead: 'user' | 'mm' | undefined;
      const userLocked = watchCounter(proc.user, 'lockedVm', () => (lastRead = 'user'));
      watchCounter(proc, 'lockedVm', () => (lastRead = 'mm'));
      patchOwn(proc, 'rlimitMemlockPages', (limit) => () => {
        const pages = limit();
        const read = lastRead;
        lastRead = undefined;
        return read === 'user' ? userLimit(pages, userLocked()) : pages;
      });
    },
  });
}
