/* cells: a slab of 24-byte cells for the keyspace's smallest blocks.
 *
 * Why. jemalloc's small classes go 8, 16, 32, 48 (quantum 16, Debian's
 * build), so a 17-24 byte block costs 32 bytes. That is the size of the
 * commonest hash entry -- a short field and a short value in one block
 * (shards/hash_entry.h): `f<N>` and a 15-byte value is 21 bytes. A cell
 * holds it in 24, and a page of cells costs 4096/169 = 24.2 bytes per
 * cell: a quarter less memory per field for that entry.
 *
 * Layout. A page is one 4096-byte, 4096-aligned allocation (a small class
 * of its own in jemalloc, so no rounding): a 24-byte header in cell 0,
 * then 169 cells. A cell's page is its address rounded down, so freeing
 * needs no lookup. Free cells are a per-page list of 16-bit indexes; cells
 * never used yet are handed out from a bump index, so a new page touches
 * only what it gives out.
 *
 * Heaps. A heap is a set of pages owned by one thread. The calling thread
 * allocates from and frees into its current heap (shale_cell_heap_use):
 * the hash code that owns these blocks takes no context, as with the
 * counted allocations (server/mem.h), whose count the pages join. A shard
 * makes its heap current on its thread, and again on the main thread when
 * it frees its keyspace at shutdown; any other thread has a default heap.
 * A cell must be freed into the heap it came from.
 *
 * Pages with a free cell sit on the heap's open list; the first of them
 * serves allocations. A page that empties is freed at once.
 *
 * Defrag (DESIGN §6). Free cells are space the allocator holds but nothing
 * uses, so the heap reports them (shale_cell_heap_free_bytes) and the shard
 * counts them as fragmentation, as jemalloc counts free regions of a slab.
 * Winning them back is our own decision, made per page as jemalloc's hint
 * is per slab (server/defrag_hint.h): at the start of a defrag cycle
 * shale_cell_heap_evacuate_begin takes out of the open list every page
 * whose use is below 1.5x the open pages' average, and the walk moves the
 * cells of those pages (shale_cell_evacuating / shale_cell_move) into the
 * others, so they empty and are freed. Nothing is taken out unless the open
 * pages' free cells add up to a page. shale_cell_heap_evacuate_end puts
 * back what is left.
 *
 * Under ASan free cells are poisoned, so a stale pointer into a freed or
 * moved cell fails as it would for a freed allocation. */
#ifndef SHALE_CELLS_H
#define SHALE_CELLS_H

#include <stddef.h>
#include <stdint.h>

#define CELL_SIZE      24
#define CELL_PAGE_SIZE 4096
/* Cells per page: all 24-byte slots but the header's. */
#define CELL_PAGE_CELLS (CELL_PAGE_SIZE / CELL_SIZE - 1)

struct cell_heap;

struct cell_heap *shale_cell_heap_create(void);
/* Frees the heap's pages; every cell in them is gone. */
void shale_cell_heap_destroy(struct cell_heap *h);
/* Makes h this thread's current heap (NULL: the thread's default heap). */
void shale_cell_heap_use(struct cell_heap *h);

/* A cell of CELL_SIZE bytes, 8-aligned, from the current heap. */
void *shale_cell_alloc(void);
/* Returns a cell to the current heap (the one it came from). */
void shale_cell_free(void *cell);

/* Figures of the current heap. */
struct cell_heap_stats {
    uint64_t pages;
    uint64_t cells_used;
    uint64_t pages_evacuating;
};
void shale_cell_heap_stats(struct cell_heap_stats *out);
/* Bytes of free cells in the current heap's pages. */
uint64_t shale_cell_heap_free_bytes(void);

/* Defrag, current heap: begin takes the sparse pages out of service (see
 * above) and returns how many; end returns them. */
uint64_t shale_cell_heap_evacuate_begin(void);
void shale_cell_heap_evacuate_end(void);
/* True when the cell's page is being evacuated. */
int shale_cell_evacuating(const void *cell);
/* A new cell (never on an evacuating page) with the old one's bytes; the
 * old one is freed. */
void *shale_cell_move(void *cell);

#endif
