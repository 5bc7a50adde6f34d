/* The toolchain probe with setjmp/longjmp (zig cc, wasm32-wasi, -mllvm -wasm-enable-sjlj):
 * clang lowers setjmp/longjmp to the WebAssembly exception-handling proposal (a longjmp
 * throws a tag that wasi-libc's __wasm_longjmp defines; each function that calls setjmp
 * catches it), so the module needs an engine with exceptions.  It prints the setjmp checks,
 * then the same report as probe.c. */
#include <setjmp.h>
#include <stdio.h>

static jmp_buf outer;
static int unwound;

/* Recurse DEPTH frames, then longjmp straight back to the setjmp in main's caller. */
static void dive(int depth, int value) {
    if (depth == 0)
        longjmp(outer, value);
    unwound++;
    dive(depth - 1, value);
    unwound = -1000;              /* never reached: the longjmp skips every frame */
}

/* A function with its own jmp_buf that recovers from an error inside itself and returns
 * normally, so a later longjmp to `outer` must not land here. */
static int recovers(int fail) {
    jmp_buf local;
    int r = setjmp(local);
    if (r)
        return r * 10;
    if (fail)
        longjmp(local, fail);
    return 1;
}

static void sjlj_checks(void) {
    volatile int counter = 0;     /* volatile: its value after longjmp is defined */
    int r = setjmp(outer);
    counter++;
    if (r == 0) {
        dive(5, 42);
        puts("setjmp: NOT UNWOUND");
        return;
    }
    printf("setjmp: longjmp from depth 5 returned %d after %d frames, counter %d\n",
           r, unwound, counter);
    printf("setjmp: nested recovery returned %d and %d\n", recovers(0), recovers(7));
    if (setjmp(outer) == 0)
        longjmp(outer, 0);        /* C says longjmp(.., 0) makes setjmp return 1 */
    else
        puts("setjmp: longjmp with 0 returned nonzero");
}

#define TOOLCHAIN "c setjmp/longjmp (zig cc -mllvm -wasm-enable-sjlj)"
#define PROBE_EXTRA sjlj_checks
#include "probe.c"
