/* The toolchain probe in C (zig cc, wasm32-wasi): every probe prints the same report.
 *   probe FILE CODE [WORDS...]
 * reads FILE (under a preopened directory), prints the arguments after argv[0] (a runtime
 * chooses argv[0]), the environment variable GREETING and that PROBE_ABSENT is unset, checks
 * that the monotonic clock does not go back and the realtime clock is past 2020, draws 16
 * random bytes, writes one line to stderr and exits with CODE.  Only deterministic facts are
 * printed, so the output can be compared byte for byte with another runtime's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __EMSCRIPTEN__
/* Emscripten (3.1.6) leaves getentropy to its JavaScript library (an `env` import even with
 * STANDALONE_WASM) and has no random_get in its WASI layer: the standalone probe imports
 * WASI's random_get itself. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("random_get")))
unsigned short wasi_random_get(void *buf, unsigned long len);
#define getentropy(buf, len) (wasi_random_get((buf), (len)) ? -1 : 0)
#endif

#ifndef TOOLCHAIN
#define TOOLCHAIN "c"
#endif

static int report(int argc, char **argv) {
    printf("toolchain: %s\n", TOOLCHAIN);
    if (argc < 3) {
        fprintf(stderr, "usage: probe FILE CODE [WORDS...]\n");
        return 2;
    }
    printf("args: %d\n", argc - 1);
    for (int i = 1; i < argc; i++)
        printf("arg %d: %s\n", i, argv[i]);

    const char *greeting = getenv("GREETING");
    printf("env GREETING: %s\n", greeting ? greeting : "(unset)");
    printf("env PROBE_ABSENT: %s\n", getenv("PROBE_ABSENT") ? "set" : "(unset)");

#ifdef PROBE_EXTRA
    PROBE_EXTRA();                /* a variant's own checks (sjlj.c) */
#endif

    /* A file that cannot be opened is reported and the probe goes on: Emscripten's
     * standalone libc opens nothing but the standard streams (open() is EPERM). */
    FILE *f = fopen(argv[1], "rb");
    if (f) {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        printf("file %s: %zu bytes\n", argv[1], n);
        fwrite(buf, 1, n, stdout);
    } else {
        printf("file %s: cannot open: %s\n", argv[1], strerror(errno));
    }

    struct timespec a, b, wall;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_MONOTONIC, &b);
    clock_gettime(CLOCK_REALTIME, &wall);
    int monotonic = b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec);
    printf("monotonic clock: %s\n", monotonic ? "ok" : "WENT BACK");
    printf("realtime clock: %s\n", wall.tv_sec > 1577836800 ? "ok" : "BEFORE 2020");

    unsigned char random[16];
    int got = getentropy(random, sizeof random) == 0;
    int nonzero = 0;
    for (size_t i = 0; i < sizeof random; i++)
        nonzero |= random[i];
    printf("random: %zu bytes%s\n", got ? sizeof random : (size_t)0,
           nonzero ? "" : " ALL ZERO");

    int code = atoi(argv[2]);
    fprintf(stderr, "probe: exiting with %d\n", code);
    return code;
}

int main(int argc, char **argv) {
    int code = report(argc, argv);
    fflush(stdout);
    exit(code);
}
