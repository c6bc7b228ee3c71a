/** A fake implementation module for the CLI tests (see fake.test-support.ts). */
import { fakeImplementation } from '../fake.test-support.ts';

export const createAdapter = () => fakeImplementation({ name: 'fake-a', idBase: 1, fdBase: 3 });
