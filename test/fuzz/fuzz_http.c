/* libFuzzer target: arbitrary bytes into the real connection state machine
 * (llhttp, limits, router, handlers), split at a fuzzer-chosen point so
 * requests straddling reads are covered too. */
#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "berth/daemon.h"
#include "test/unit/memconn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct memconn m;
    size_t split;

    if (size == 0)
        return 0;
    split = data[0] % (size);
    data++;
    size--;
    if (split > size)
        split = size;
    memconn_init(&m, 0);
    memconn_feed(&m, (const char *)data, split);
    memconn_feed(&m, (const char *)data + split, size - split);
    if (!m.closed)
        api_conn_on_eof(&m.conn);
    memconn_done(&m);
    /* Finish work queued by handlers (/info) so nothing outlives the input. */
    uv_run(memconn_daemon()->loop, UV_RUN_DEFAULT);
    return 0;
}
