/* fixture: the per-test set-up and tear-down every integration test file
 * shares (see server.h). */
#include "tests/support/reply.h"
#include "tests/support/server.h"

int shale_test_begin(struct test_server *server, redisContext **c)
{
    if (!shale_test_server_alive(server))
        return -1;
    redisContext *conn = shale_test_connect(server);
    shale_test_assert_status(conn, "OK", "FLUSHALL");
    if (c)
        *c = conn;
    else
        redisFree(conn);
    return 0;
}

int shale_test_end(struct test_server *server, redisContext **c)
{
    if (c && *c) {
        redisFree(*c);
        *c = NULL;
    }
    return shale_test_server_alive(server) ? 0 : -1;
}
