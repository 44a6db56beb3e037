/* mem_plan: the static part of shale's memory, computed from config in one
 * place (DESIGN §3, "hybrid static allocation"). The bounded per-connection
 * machinery is allocated once at start-up and never grows; this module says
 * how many bytes that is, for the start-up log and INFO memory. Pure: any
 * thread may call it. It must be kept in step with io_thread.c and shard.c,
 * which do the allocations. */
#ifndef SHALE_MEM_PLAN_H
#define SHALE_MEM_PLAN_H

#include <stddef.h>

struct config;

struct mem_plan {
    size_t request_bytes; /* per I/O thread: request slots */
    size_t conn_bytes;    /* per I/O thread: connection slots */
    size_t iobuf_bytes;   /* per I/O thread: read buffers, header included */
    size_t io_ring_bytes; /* per I/O thread: its inbox of accepted sockets */
    size_t per_io;        /* the four above */
    size_t per_shard;     /* rings to and from every I/O thread */
    size_t static_bytes;  /* nio x per_io + nshards x per_shard */
    /* maxmemory - static_bytes: what data and the I/O side's dynamic part
     * share (0 with maxmemory 0: unlimited; see server/maxmemory.h). */
    size_t data_budget;
    /* One connection slot, its events included: all a connected client costs. */
    size_t conn_slot_bytes;
};

void shale_mem_plan_compute(const struct config *cfg, int nio, int nshards, struct mem_plan *out);

#endif
