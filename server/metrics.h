/* metrics: the Prometheus text exposition (format 0.0.4) of shale's
 * counters for the admin endpoint's /metrics: server, clients and errors,
 * keyspace, memory (the static plan included), eviction, active defrag,
 * TLS, per-shard and per-I/O-thread figures, per-command calls and
 * reply-latency histograms. Main thread. */
#ifndef SHALE_METRICS_H
#define SHALE_METRICS_H

struct evbuffer;
struct server;

void shale_metrics_build(struct server *srv, struct evbuffer *out);

#endif
