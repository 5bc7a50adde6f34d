/* Counts lines, words and bytes of the files named on the command line, like `wc`.
 * Built for wasm32-wasi: it can open only what the host preopened for it.
 *   wasmforge run --dir examples::data examples/wc.wasm data/poem.txt
 * Rebuild: python -m ziglang cc --target=wasm32-wasi -O2 -s examples/wc.c -o examples/wc.wasm
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int status = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: wc FILE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "wc: %s: %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        long lines = 0, words = 0, bytes = 0;
        int c, in_word = 0;
        while ((c = fgetc(f)) != EOF) {
            bytes++;
            if (c == '\n') lines++;
            if (isspace(c)) in_word = 0;
            else if (!in_word) { in_word = 1; words++; }
        }
        fclose(f);
        printf("%7ld %7ld %7ld %s\n", lines, words, bytes, argv[i]);
    }
    return status;
}
