/**
 * Allocation-failure injection, mirroring the kernel's fail-nth
 * (/proc/self/task/<tid>/fail-nth with failslab, fail_page_alloc and
 * fail_iommufd, as tools/testing/selftests/iommu/iommufd_fail_nth.c drives it).
 *
 * Every fallible step of the reference (each kzalloc/xa_alloc it mirrors, each
 * iommufd_should_fail() site, each page-table page allocation) calls
 * `shouldFail()` on the calling task's injector. When armed with n, the n-th
 * such call fails and the injector disarms itself, as fail-nth does.
 *
 * Some of the kernel's fallible allocations cannot fail the operation under
 * fail-nth: an xarray that needs a node allocates it GFP_NOWAIT under its
 * lock and, when that fails, again with the caller's gfp outside it (xas_nomem),
 * by which time fail-nth has fired. `absorbedStep()` models those: the step
 * counts, and when it is the n-th the injection is spent there (`absorbed`)
 * and the operation goes on.
 *
 * Public API: class FaultInjector { arm(n), disarm(), shouldFail(), absorbedStep(), calls, injected, absorbed }.
 */
export class FaultInjector {
  private nth = 0;
  /** Fallible steps seen since the last arm(). */
  calls = 0;
  /** True once the armed failure has been injected. */
  injected = false;
  /** True when the injection fell on an absorbedStep (the operation did not fail because of it). */
  absorbed = false;

  /** Fail the n-th fallible step from now (n >= 1); 0 disarms. */
  arm(nth: number): void {
    this.nth = nth;
    this.calls = 0;
    this.injected = false;
    this.absorbed = false;
  }

  disarm(): void {
    this.nth = 0;
  }

  get armed(): boolean {
    return this.nth > 0;
  }

  /** A fallible step whose failure the kernel retries away (see above): counted, never failing. */
  absorbedStep(): void {
    if (this.shouldFail()) this.absorbed = true;
  }

  /** Mirrors should_fail(): one call per fallible step. */
  shouldFail(): boolean {
    if (this.nth === 0) return false;
    this.calls++;
    if (this.calls === this.nth) {
      this.nth = 0;
      this.injected = true;
      return true;
    }
    return false;
  }
}
