/**
 * Linux errno numbers used by the page-table core and the simulated IOMMU.
 * Functions return `-Exxx` (a negative number) or 0, as kernel code does.
 * Kept here (not imported from impl/iommufd) because this layer sits below iommufd.
 */
export const ENOENT = 2;
export const EFAULT = 14;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOMEM = 12;
export const ERANGE = 34;
export const ENXIO = 6;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;
