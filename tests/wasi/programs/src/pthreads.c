/* A wasm32-wasip1-threads program built against wasi-libc's own pthreads (no hand-made
 * wasi-threads calls): NTHREADS workers made with pthread_create, each summing its own range
 * of numbers, adding each number to a shared total under a pthread mutex and counting with a
 * C11 atomic; a producer/consumer hand-off through a condition variable; pthread_join
 * collects each worker's return value.  Everything it prints is deterministic, and the exit
 * code is 0 only when every check holds (else the number of failed checks).
 *
 *   pthreads          the run above
 *   pthreads exit N   a worker calls exit(N) while the main thread waits on the condition
 *                     variable for ever: the whole program ends with status N. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 6
#define PER 5000
#define ROUNDS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int64_t total;                  /* under lock */
static atomic_long additions;          /* lock-free */
static int mailbox, mailbox_full;      /* under lock: the producer/consumer hand-off */
static int64_t consumed;               /* consumer only */

struct work { int index; int64_t own; };

static void *worker(void *arg) {
    struct work *w = arg;
    for (int k = 1; k <= PER; k++) {
        int64_t v = (int64_t)w->index * PER + k;
        pthread_mutex_lock(&lock);
        total += v;
        pthread_mutex_unlock(&lock);
        atomic_fetch_add(&additions, 1);
        w->own += v;
    }
    return (void *)(intptr_t)(w->index + 100);
}

static void *producer(void *arg) {
    (void)arg;
    for (int r = 1; r <= ROUNDS; r++) {
        pthread_mutex_lock(&lock);
        while (mailbox_full)
            pthread_cond_wait(&cond, &lock);
        mailbox = r;
        mailbox_full = 1;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    for (int r = 1; r <= ROUNDS; r++) {
        pthread_mutex_lock(&lock);
        while (!mailbox_full)
            pthread_cond_wait(&cond, &lock);
        consumed += (int64_t)mailbox * mailbox;
        mailbox_full = 0;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *exiter(void *arg) {
    exit((int)(intptr_t)arg);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exit") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, exiter, (void *)(intptr_t)atoi(argv[2])) != 0)
            return 90;
        pthread_mutex_lock(&lock);
        for (;;)                       /* nobody signals: only the exit ends this */
            pthread_cond_wait(&cond, &lock);
    }
    pthread_t threads[NTHREADS], prod, cons;
    struct work works[NTHREADS];
    int failed = 0;
    for (int i = 0; i < NTHREADS; i++) {
        works[i].index = i;
        works[i].own = 0;
        if (pthread_create(&threads[i], NULL, worker, &works[i]) != 0) {
            printf("pthread_create failed\n");
            return 99;
        }
    }
    if (pthread_create(&prod, NULL, producer, NULL) != 0
        || pthread_create(&cons, NULL, consumer, NULL) != 0) {
        printf("pthread_create failed\n");
        return 99;
    }
    int64_t expected = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        pthread_join(threads[i], &ret);
        int64_t own = (int64_t)i * PER * PER + (int64_t)PER * (PER + 1) / 2;
        expected += own;
        int ok = (intptr_t)ret == i + 100 && works[i].own == own;
        failed += !ok;
        printf("worker %d returned %d, summed %lld: %s\n", i, (int)(intptr_t)ret,
               (long long)works[i].own, ok ? "ok" : "WRONG");
    }
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    int64_t squares = (int64_t)ROUNDS * (ROUNDS + 1) * (2 * ROUNDS + 1) / 6;
    long adds = atomic_load(&additions);
    failed += total != expected;
    failed += adds != (long)NTHREADS * PER;
    failed += consumed != squares;
    printf("threads=%d total=%lld expected=%lld atomic additions=%ld\n", NTHREADS + 2,
           (long long)total, (long long)expected, adds);
    printf("condition variable hand-offs=%d sum of squares=%lld expected=%lld\n", ROUNDS,
           (long long)consumed, (long long)squares);
    printf("%s\n", failed ? "FAILED" : "all checks passed");
    return failed;
}
