/**
 * Kernel profiles: the real kernels this spec is checked against.
 *   6.12 = Debian bookworm linux-source-6.12 (6.12.117, with stable backports)
 *   7.3  = Debian trixie-backports linux-source-7.3 (7.3.4)
 * The kernel source of each profile is the truth, not its version number.
 */
export type Profile = '6.12' | '7.3';

export const PROFILES: readonly Profile[] = ['6.12', '7.3'];

export function isProfile(value: string): value is Profile {
  return (PROFILES as readonly string[]).includes(value);
}

/** The kernel release each profile's data was read from (Makefile VERSION.PATCHLEVEL.SUBLEVEL). */
export const PROFILE_KERNEL: { readonly [P in Profile]: string } = {
  '6.12': '6.12.117',
  '7.3': '7.3.4',
};
