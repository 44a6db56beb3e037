/* access: who may talk to the server. Protected mode (no password and a
 * client that is not on the loopback interface: refused at accept, with
 * Redis's reply) and the enable-debug-command gate. Pure functions, any
 * thread; the texts are Redis 7.0's, word for word, because clients and
 * operators recognise them. */
#ifndef SHALE_ACCESS_H
#define SHALE_ACCESS_H

#include <stddef.h>

struct sockaddr;

/* enable-debug-command values (the order of PROTECTED_ACTION_CHOICES). */
enum access_protected_action { ACCESS_ALLOW_NO = 0, ACCESS_ALLOW_YES, ACCESS_ALLOW_LOCAL };

/* The whole reply a refused client gets before the server closes it. */
const char *shale_access_denied_reply(void);
/* The error reply to DEBUG when enable-debug-command forbids it. */
const char *shale_access_debug_denied_error(void);

/* Redis's notion of a local client: the peer is exactly 127.0.0.1 or ::1
 * (so 127.0.0.2 or an IPv4-mapped address is not). */
int shale_access_is_loopback(const struct sockaddr *peer);

/* 1 when protected mode refuses this peer: protected-mode on, no password
 * for the default user, and a peer that is not local. */
int shale_access_refuse_peer(int protected_mode, const char *requirepass,
                             const struct sockaddr *peer);

/* enable-debug-command: may this client run a protected command? */
int shale_access_protected_allowed(long long setting, int is_local);

#endif
