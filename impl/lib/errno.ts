/**
 * Linux errno numbers used by the page-table core and the simulated IOMMU, from
 * the spec's errno table (spec/ sits below every layer of impl/). Functions here
 * return `-Exxx` (a negative number) or 0, as kernel code does.
 */
import { ERRNO } from '../../spec/uapi/errno.ts';

export const ENOENT = ERRNO.ENOENT;
export const EFAULT = ERRNO.EFAULT;
export const EEXIST = ERRNO.EEXIST;
export const ENODEV = ERRNO.ENODEV;
export const EINVAL = ERRNO.EINVAL;
export const ENOMEM = ERRNO.ENOMEM;
export const ERANGE = ERRNO.ERANGE;
export const ENXIO = ERRNO.ENXIO;
export const EOVERFLOW = ERRNO.EOVERFLOW;
export const EOPNOTSUPP = ERRNO.EOPNOTSUPP;
export const EADDRINUSE = ERRNO.EADDRINUSE;
