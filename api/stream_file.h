/* Send a file as a chunked response body, read with uv_fs_read (never on
 * the loop thread) and paced by the client: reading pauses while the
 * connection's backlog is past its high mark. Takes fd (closed at the end). */
#ifndef BERTH_API_STREAM_FILE_H
#define BERTH_API_STREAM_FILE_H

#include "api/api.h"

int api_stream_file(struct api_req *rq, int fd, const char *ctype);

#endif
