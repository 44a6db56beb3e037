/* coord: the coordinators of SPLIT_COORDINATED commands (server/command.h)
 * whose keys span shards: RENAME, RENAMENX, COPY, MSETNX. Each runs in
 * rounds of parts while net/txn.c holds every shard involved, so no client
 * sees the key in both places or in neither; the shard side of each step is
 * in shards/t_keymove.c. I/O thread only. */
#ifndef SHALE_COORD_H
#define SHALE_COORD_H

struct io_thread;
struct request;

int shale_coord_rename(struct io_thread *t, struct request *r);
int shale_coord_renamenx(struct io_thread *t, struct request *r);
int shale_coord_copy(struct io_thread *t, struct request *r);
int shale_coord_msetnx(struct io_thread *t, struct request *r);

#endif
