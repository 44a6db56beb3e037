/* info: the INFO command's text, section by section, with Redis's field
 * names so redis_exporter and dashboards read it unchanged. Built on the
 * calling I/O thread from counters other threads publish (relaxed atomics). */
#ifndef SHALE_INFO_H
#define SHALE_INFO_H

#include "net/resp_write.h"
#include "server/slice.h"

struct server;

/* Appends the sections named in args (none: the default set; "all",
 * "everything", "default" as in Redis) to out. */
void shale_info_build(struct server *srv, struct resp_buf *out, int nargs,
                      const struct slice *args);

#endif
