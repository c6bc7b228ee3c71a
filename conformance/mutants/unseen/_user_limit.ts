/**
 * Shared by the faults in the RLIMIT_MEMLOCK tests of pages.c: on the
 * process, which locked_vm counter was read last (the per-user one,
 * user->locked_vm, read by incr_user_locked_vm, or the mm's, read by
 * update_mm_locked_vm in MM accounting) is tracked, and the limit the
 * reference asks right after reading the chosen counter is the fault's,
 * given the limit and that counter. The other path keeps the reference's.
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
 * A mutant whose charge to `counter` is held against `limitOf(limit, locked)`
 * instead of RLIMIT_MEMLOCK (the reference reads the counter, adds npages,
 * then asks the limit).
 */
export function lockedLimitMutant(name: string, profile: Profile, counter: 'user' | 'mm', limitOf: (limit: number, locked: number) => number): Implementation {
  const patched = new WeakSet<Process>();
  return mutantImplementation(name, profile, {
    process: (proc: Process) => {
      if (patched.has(proc)) return;
      patched.add(proc);
      let lastRead: 'user' | 'mm' | undefined;
      const userLocked = watchCounter(proc.user, 'lockedVm', () => (lastRead = 'user'));
      const mmLocked = watchCounter(proc, 'lockedVm', () => (lastRead = 'mm'));
      patchOwn(proc, 'rlimitMemlockPages', (limit) => () => {
        const pages = limit();
        const read = lastRead;
        lastRead = undefined;
        return read === counter ? limitOf(pages, counter === 'user' ? userLocked() : mmLocked()) : pages;
      });
    },
  });
}

/** lockedLimitMutant of the per-user charge (IOPT_PAGES_ACCOUNT_USER). */
export function userLimitMutant(name: string, profile: Profile, userLimit: (limit: number, userLocked: number) => number): Implementation {
  return lockedLimitMutant(name, profile, 'user', userLimit);
}
