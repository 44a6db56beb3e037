/* clients: see clients.h. */
#include "server/clients.h"

#include <string.h>

#include "server/mem.h"

void shale_clients_init(struct clients *reg)
{
    memset(reg, 0, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    atomic_init(&reg->next_id, 1);
}

void shale_clients_deinit(struct clients *reg)
{
    pthread_mutex_destroy(&reg->lock);
}

void shale_clients_add(struct clients *reg, struct client_info *ci)
{
    pthread_mutex_lock(&reg->lock);
    ci->prev = NULL;
    ci->next = reg->head;
    if (reg->head)
        reg->head->prev = ci;
    reg->head = ci;
    pthread_mutex_unlock(&reg->lock);
}

void shale_clients_remove(struct clients *reg, struct client_info *ci)
{
    pthread_mutex_lock(&reg->lock);
    if (ci->prev)
        ci->prev->next = ci->next;
    else
        reg->head = ci->next;
    if (ci->next)
        ci->next->prev = ci->prev;
    ci->prev = ci->next = NULL;
    shale_free(ci->name);
    ci->name = NULL;
    pthread_mutex_unlock(&reg->lock);
}

void shale_clients_set_name(struct clients *reg, struct client_info *ci, const char *name,
                            size_t len)
{
    char *copy = name && len ? shale_strndup(name, len) : NULL;
    pthread_mutex_lock(&reg->lock);
    char *old = ci->name;
    ci->name = copy;
    pthread_mutex_unlock(&reg->lock);
    shale_free(old);
}

void shale_clients_get_name(struct clients *reg, struct client_info *ci, char *out, size_t outlen)
{
    pthread_mutex_lock(&reg->lock);
    const char *name = ci->name ? ci->name : "";
    size_t n = strlen(name);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, name, n);
    out[n] = '\0';
    pthread_mutex_unlock(&reg->lock);
}

void shale_clients_foreach(struct clients *reg, const struct client_info *only,
                           void (*fn)(void *ctx, struct client_info *ci), void *ctx)
{
    pthread_mutex_lock(&reg->lock);
    for (struct client_info *ci = reg->head; ci; ci = ci->next)
        if (!only || ci == only)
            fn(ctx, ci);
    pthread_mutex_unlock(&reg->lock);
}
