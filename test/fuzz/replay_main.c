/* Runs the fuzz target over files given on the command line (the corpus),
 * so `make check` exercises every corpus entry with the normal build. */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0, failed = 0;

    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *buf;
        long len;

        if (!f) {
            perror(argv[i]);
            failed++;
            continue;
        }
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc(len > 0 ? (size_t)len : 1);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            LLVMFuzzerTestOneInput(buf, (size_t)len);
            n++;
        } else {
            failed++;
        }
        free(buf);
        fclose(f);
    }
    printf("%d passed, %d failed\n", n, failed);
    return failed ? 1 : 0;
}
