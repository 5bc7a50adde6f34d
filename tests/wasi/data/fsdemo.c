/* A wasm32-wasi guest exercising wasi-libc's file-system, clock, random and sleep paths over
 * WASI preview1.  Run with a preopen named "/box" (read-write) and, optionally, "/ro"
 * (read-only) holding a file "given.txt".  Prints one deterministic line per step.
 * Build: python -m ziglang cc --target=wasm32-wasi -O2 -s fsdemo.c -o fsdemo.wasm */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { printf("opendir %s: %s\n", dir, strerror(errno)); return; }
    char *names[64]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("ls %s:", dir);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

static void try_open(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (f) { printf("open %s %s: ok\n", path, mode); fclose(f); }
    else printf("open %s %s: %s\n", path, mode, strerror(errno));
}

int main(int argc, char **argv) {
    printf("argc=%d argv1=%s env=%s\n", argc, argc > 1 ? argv[1] : "-", getenv("GREETING") ? getenv("GREETING") : "-");

    FILE *f = fopen("/box/a.txt", "w");
    fputs("hello\n", f); fclose(f);
    f = fopen("/box/a.txt", "a"); fputs("world\n", f); fclose(f);
    char buf[64] = {0};
    f = fopen("/box/a.txt", "r"); fread(buf, 1, sizeof buf - 1, f);
    fseek(f, 0, SEEK_END); long size = ftell(f); fclose(f);
    printf("read %ld bytes: %s", size, buf);

    struct stat st;
    stat("/box/a.txt", &st);
    printf("stat size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));

    mkdir("/box/sub", 0777);
    rename("/box/a.txt", "/box/sub/b.txt");
    symlink("sub/b.txt", "/box/link");
    char target[64] = {0};
    readlink("/box/link", target, sizeof target - 1);
    printf("readlink: %s\n", target);
    list("/box");
    list("/box/sub");

    int fd = open("/box/sub/b.txt", O_RDWR);
    ftruncate(fd, 3);
    lseek(fd, 0, SEEK_SET);
    memset(buf, 0, sizeof buf);
    read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("after truncate: %s\n", buf);

    try_open("/box/../etc/passwd", "r");
    try_open("/etc/passwd", "r");
    try_open("/box/sub/../../escape.txt", "w");
    symlink("../../outside", "/box/out");
    try_open("/box/out/secret", "r");
    try_open("/ro/given.txt", "r");
    try_open("/ro/new.txt", "w");

    unlink("/box/link");
    unlink("/box/out");
    unlink("/box/sub/b.txt");
    printf("rmdir: %d\n", rmdir("/box/sub"));
    list("/box");

    struct timespec t0, t1, pause = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("slept at least 20ms: %d\n", ms >= 20);

    unsigned char rnd[16] = {0};
    arc4random_buf(rnd, sizeof rnd);
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero |= rnd[i];
    printf("random: %d\n", nonzero != 0);

    fprintf(stderr, "to stderr\n");
    return 3;
}
