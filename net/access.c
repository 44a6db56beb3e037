/* access: see access.h. */
#include "net/access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const char denied_reply[] =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to Redis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to Redis from the same host "
    "the server is running, however MAKE SURE Redis is not publicly accessible from internet if "
    "you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and setting the "
    "protected mode option to 'no', and then restarting the server. 3) If you started the "
    "server manually just for testing, restart it with the '--protected-mode no' option. 4) "
    "Setup a an authentication password for the default user. NOTE: You only need to do one of "
    "the above things in order for the server to start accepting connections from the "
    "outside.\r\n";

static const char debug_denied_error[] =
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you "
    "can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.";

/* Functions, not global arrays: sanitizers add unprefixed symbols for
 * globals (make check-symbols). */
const char *shale_access_denied_reply(void)
{
    return denied_reply;
}

const char *shale_access_debug_denied_error(void)
{
    return debug_denied_error;
}

int shale_access_is_loopback(const struct sockaddr *peer)
{
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        return in->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    }
    if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        return memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback)) == 0;
    }
    return 0;
}

int shale_access_refuse_peer(int protected_mode, const char *requirepass,
                             const struct sockaddr *peer)
{
    if (!protected_mode || (requirepass && *requirepass))
        return 0;
    return !shale_access_is_loopback(peer);
}

int shale_access_protected_allowed(long long setting, int is_local)
{
    return setting == ACCESS_ALLOW_YES || (setting == ACCESS_ALLOW_LOCAL && is_local);
}
