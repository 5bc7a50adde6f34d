/* Four threads started through wasi-threads' `thread-spawn` add into one total under a
 * mutex built on memory.atomic.wait/notify; the main thread waits for all of them and
 * prints the total (expected: 4 * 2000 * 2001 / 2 + 2000 * 2000 * (0 + 1 + 2 + 3)).
 * `wasi_threads exit` makes the last thread call proc_exit(7), `wasi_threads trap` makes it
 * trap, while the main thread waits for ever: the whole program must end with it.
 * The workers use no shadow stack (no address-taken locals), so they need not set up
 * their own: zig cc's libc does not implement pthreads on wasi-threads, so this program
 * speaks the wasi-threads ABI itself. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((import_module("wasi"), import_name("thread-spawn")))
int32_t wasi_thread_spawn(void *start_arg);

#define NTHREADS 4
#define PER 2000

static int32_t lock;            /* 0 free, 1 held */
static int64_t total;
static int32_t done;
static int32_t seen_tid[NTHREADS];
static int32_t mode;            /* 0 normal, 1 exit, 2 trap */

static void mutex_lock(void) {
    while (__atomic_exchange_n(&lock, 1, __ATOMIC_SEQ_CST) != 0)
        __builtin_wasm_memory_atomic_wait32(&lock, 1, -1);
}

static void mutex_unlock(void) {
    __atomic_store_n(&lock, 0, __ATOMIC_SEQ_CST);
    __builtin_wasm_memory_atomic_notify(&lock, 1);
}

__attribute__((export_name("wasi_thread_start")))
void wasi_thread_start(int32_t tid, void *arg) {
    int32_t id = (int32_t)(intptr_t)arg;
    for (int32_t i = 1; i <= PER; i++) {
        mutex_lock();
        total += (int64_t)id * PER + i;
        mutex_unlock();
    }
    __atomic_store_n(&seen_tid[id], tid, __ATOMIC_SEQ_CST);
    if (id == NTHREADS - 1 && __atomic_load_n(&mode, __ATOMIC_SEQ_CST) == 1)
        _exit(7);
    if (id == NTHREADS - 1 && __atomic_load_n(&mode, __ATOMIC_SEQ_CST) == 2)
        __builtin_trap();
    __atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
    __builtin_wasm_memory_atomic_notify(&done, 1);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exit") == 0) mode = 1;
    if (argc > 1 && strcmp(argv[1], "trap") == 0) mode = 2;
    int32_t tids[NTHREADS];
    for (int32_t i = 0; i < NTHREADS; i++) {
        tids[i] = wasi_thread_spawn((void *)(intptr_t)i);
        if (tids[i] <= 0) {
            printf("thread-spawn failed: %d\n", tids[i]);
            return 1;
        }
    }
    for (;;) {
        int32_t d = __atomic_load_n(&done, __ATOMIC_SEQ_CST);
        if (d == NTHREADS) break;
        __builtin_wasm_memory_atomic_wait32(&done, d, -1);
    }
    int unique = 1;
    for (int32_t i = 0; i < NTHREADS; i++) {
        if (seen_tid[i] != tids[i]) unique = 0;
        for (int32_t j = 0; j < i; j++)
            if (tids[i] == tids[j]) unique = 0;
    }
    printf("threads=%d total=%lld tids %s\n", NTHREADS, (long long)total,
           unique ? "positive, unique, matching" : "WRONG");
    return 0;
}
