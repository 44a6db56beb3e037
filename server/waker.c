/* waker: eventfd set-up for the sleep/wake protocol in waker.h. */
#include "server/waker.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>

void shale_waker_init(struct waker *w)
{
    atomic_init(&w->sleeping, 0);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        perror("shale: eventfd");
        abort();
    }
}

void shale_waker_deinit(struct waker *w)
{
    if (w->efd >= 0)
        close(w->efd);
    w->efd = -1;
}

void shale_waker_drain(struct waker *w)
{
    uint64_t count;
    ssize_t n = read(w->efd, &count, sizeof(count));
    (void)n;
}
