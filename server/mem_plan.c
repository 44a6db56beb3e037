/* mem_plan: see mem_plan.h. */
#include "server/mem_plan.h"

#include "net/conn.h"
#include "net/iobuf.h"
#include "net/request.h"
#include "server/config.h"
#include "server/ring.h"

void shale_mem_plan_compute(const struct config *cfg, int nio, int nshards, struct mem_plan *out)
{
    out->request_bytes = (size_t)cfg->io_thread_requests * sizeof(struct request);
    out->conn_slot_bytes = sizeof(struct conn);
    out->conn_bytes = (size_t)cfg->maxclients * out->conn_slot_bytes;
    out->iobuf_bytes = (size_t)cfg->io_buffers * (sizeof(struct iobuf) + IOBUF_SIZE);
    out->io_ring_bytes = shale_ring_bytes((size_t)cfg->maxclients + 1);
    out->per_io = out->request_bytes + out->conn_bytes + out->iobuf_bytes + out->io_ring_bytes;
    out->per_shard = 2 * (size_t)nio * shale_ring_bytes((size_t)cfg->io_thread_requests);
    out->static_bytes = (size_t)nio * out->per_io + (size_t)nshards * out->per_shard;
    unsigned long long max = (unsigned long long)config_live(cfg, maxmemory);
    out->data_budget = max > out->static_bytes ? max - out->static_bytes : 0;
}
