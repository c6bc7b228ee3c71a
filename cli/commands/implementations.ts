/**
 * Every named implementation an `--impl` flag accepts beyond `ref` and
 * `stub`: the kernel lanes (`linux-6.12`, `linux-7.3`) and the mutants
 * (`mutant:<name>`). Registration is a side effect of these imports; every
 * command that takes `--impl` imports this module, so a name works the same
 * in each (commands are loaded one at a time, see index.ts).
 */
import '../../conformance/kernel/register.ts';
import '../../conformance/mutants/register.ts';
