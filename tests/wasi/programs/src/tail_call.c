/* Mutual recursion 3,000,000 calls deep: only tail calls (-mtail-call turns the musttail
 * returns into return_call) keep it in constant stack space. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) unsigned odd(unsigned n, unsigned acc);

__attribute__((noinline)) unsigned even(unsigned n, unsigned acc) {
    if (n == 0) return acc;
    __attribute__((musttail)) return odd(n - 1, acc * 31u + n);
}

__attribute__((noinline)) unsigned odd(unsigned n, unsigned acc) {
    if (n == 0) return acc ^ 0x80000000u;
    __attribute__((musttail)) return even(n - 1, acc ^ (n << 3));
}

int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 3000000u;
    unsigned r = even(n, 7);
    printf("even(%u) = %u (%s)\n", n, r, r & 0x80000000u ? "odd" : "even");
    return (int)(r & 0x7f);
}
