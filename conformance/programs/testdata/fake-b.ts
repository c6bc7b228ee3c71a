/** Like fake-a, with other ids and fds, and EINVAL where fake-a says ENOENT. */
import { fakeImplementation } from '../fake.test-support.ts';
import { ERRNO } from '../../../spec/uapi/errno.ts';

export const createAdapter = () => fakeImplementation({ name: 'fake-b', idBase: 50, fdBase: 7, destroyMissingErrno: ERRNO.EINVAL });
