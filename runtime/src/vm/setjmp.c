/*
 * The non-local exit used when generated code traps.
 *
 * kiln_call_catching sets a jump buffer, publishes its address through *jmp_out, and calls
 * an array-call trampoline. If generated code traps, the signal handler (in Rust) records
 * the trap and calls kiln_unwind with that buffer, which resumes here returning 0. Only
 * generated-code frames and the signal handler frame are skipped by the jump; no Rust
 * frame with destructors lies between the two.
 *
 * The signal mask is not saved (sigsetjmp(buf, 0)): handlers are installed with
 * SA_NODEFER, so nothing stays blocked after the jump.
 */
#include <setjmp.h>

typedef void (*kiln_array_call)(void *func_ref, void *caller_vmctx, void *values);

int kiln_call_catching(void **jmp_out, kiln_array_call f, void *func_ref,
                       void *caller_vmctx, void *values) {
    sigjmp_buf buf;
    if (sigsetjmp(buf, 0) == 0) {
        *jmp_out = &buf;
        f(func_ref, caller_vmctx, values);
        return 1;
    }
    return 0;
}

void kiln_unwind(void *jmp) {
    siglongjmp(*(sigjmp_buf *)jmp, 1);
}
