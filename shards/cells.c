/* cells: pages of 24-byte cells, per thread's current heap (cells.h). Runs
 * on the thread that owns the heap; no locking, never blocks. */
#include "shards/cells.h"

#include <string.h>

#include "server/mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define CELLS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CELLS_ASAN 1
#endif
#endif
#ifdef CELLS_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define NO_CELL 0xffffu
/* Evacuate pages used below this many eighths of the open pages' average
 * (1.5x, the margin of server/defrag_hint.h). */
#define EVACUATE_MARGIN_8THS 12

enum page_list { PAGE_OPEN, PAGE_FULL, PAGE_EVACUATING, PAGE_LISTS };

/* Cell 0 of every page. */
struct cell_page {
    struct cell_page *prev, *next; /* in the heap's list named by `list` */
    uint16_t free_head;            /* index of the first free cell, or NO_CELL */
    uint16_t used;                 /* cells handed out */
    uint16_t bump;                 /* cells [bump, CELLS) never used yet */
    uint8_t list;                  /* enum page_list */
    uint8_t pad;
};
_Static_assert(sizeof(struct cell_page) <= CELL_SIZE, "page header fits in cell 0");

struct cell_heap {
    /* open: pages with a free cell, the first serves allocations; full;
     * evacuating: pages being emptied by defrag. */
    struct cell_page *lists[PAGE_LISTS];
    uint64_t pages;
    uint64_t cells_used;
    uint64_t pages_evacuating;
};

static _Thread_local struct cell_heap default_heap;
static _Thread_local struct cell_heap *current_heap;

static struct cell_heap *heap(void)
{
    return current_heap ? current_heap : &default_heap;
}

static struct cell_page *page_of(const void *cell)
{
    return (struct cell_page *)((uintptr_t)cell & ~(uintptr_t)(CELL_PAGE_SIZE - 1));
}

static uint8_t *cell_at(struct cell_page *p, unsigned i)
{
    return (uint8_t *)p + CELL_SIZE * (1 + i);
}

static unsigned index_of(struct cell_page *p, const void *cell)
{
    return (unsigned)(((const uint8_t *)cell - (uint8_t *)p) / CELL_SIZE - 1);
}

/* ---- the page lists ------------------------------------------------------- */

static void list_push(struct cell_heap *h, struct cell_page *p, enum page_list l)
{
    struct cell_page **head = &h->lists[l];
    p->list = (uint8_t)l;
    p->prev = NULL;
    p->next = *head;
    if (*head)
        (*head)->prev = p;
    *head = p;
    if (l == PAGE_EVACUATING)
        h->pages_evacuating++;
}

static void list_remove(struct cell_heap *h, struct cell_page *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        h->lists[p->list] = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->list == PAGE_EVACUATING)
        h->pages_evacuating--;
}

static void list_move(struct cell_heap *h, struct cell_page *p, enum page_list l)
{
    list_remove(h, p);
    list_push(h, p, l);
}

/* ---- pages ---------------------------------------------------------------- */

static struct cell_page *page_create(struct cell_heap *h)
{
    struct cell_page *p = shale_malloc_aligned_counted(CELL_PAGE_SIZE, CELL_PAGE_SIZE);
    memset(p, 0, sizeof(*p));
    p->free_head = NO_CELL;
    POISON(cell_at(p, 0), CELL_PAGE_CELLS * CELL_SIZE);
    h->pages++;
    list_push(h, p, PAGE_OPEN);
    return p;
}

static void page_destroy(struct cell_heap *h, struct cell_page *p)
{
    list_remove(h, p);
    UNPOISON(p, CELL_PAGE_SIZE);
    h->pages--;
    shale_free_counted(p);
}

/* ---- heaps ------------------------------------------------------------------ */

struct cell_heap *shale_cell_heap_create(void)
{
    return shale_calloc(1, sizeof(struct cell_heap));
}

static void free_list(struct cell_heap *h, struct cell_page *p)
{
    while (p) {
        struct cell_page *next = p->next;
        page_destroy(h, p);
        p = next;
    }
}

void shale_cell_heap_destroy(struct cell_heap *h)
{
    if (!h)
        return;
    for (int l = 0; l < PAGE_LISTS; l++)
        free_list(h, h->lists[l]);
    if (current_heap == h)
        current_heap = NULL;
    shale_free(h);
}

void shale_cell_heap_use(struct cell_heap *h)
{
    current_heap = h;
}

/* ---- cells -------------------------------------------------------------------- */

void *shale_cell_alloc(void)
{
    struct cell_heap *h = heap();
    struct cell_page *p = h->lists[PAGE_OPEN] ? h->lists[PAGE_OPEN] : page_create(h);
    uint8_t *cell;
    if (p->free_head != NO_CELL) {
        cell = cell_at(p, p->free_head);
        UNPOISON(cell, CELL_SIZE);
        uint16_t next;
        memcpy(&next, cell, sizeof(next));
        p->free_head = next;
    } else {
        cell = cell_at(p, p->bump++);
        UNPOISON(cell, CELL_SIZE);
    }
    p->used++;
    h->cells_used++;
    if (p->used == CELL_PAGE_CELLS)
        list_move(h, p, PAGE_FULL);
    return cell;
}

void shale_cell_free(void *cell)
{
    if (!cell)
        return;
    struct cell_heap *h = heap();
    struct cell_page *p = page_of(cell);
    uint16_t next = p->free_head;
    memcpy(cell, &next, sizeof(next));
    POISON(cell, CELL_SIZE);
    p->free_head = (uint16_t)index_of(p, cell);
    p->used--;
    h->cells_used--;
    if (p->used == 0) {
        page_destroy(h, p);
        return;
    }
    if (p->list == PAGE_FULL)
        list_move(h, p, PAGE_OPEN);
}

/* ---- figures and defrag ---------------------------------------------------------- */

void shale_cell_heap_stats(struct cell_heap_stats *out)
{
    struct cell_heap *h = heap();
    out->pages = h->pages;
    out->cells_used = h->cells_used;
    out->pages_evacuating = h->pages_evacuating;
}

uint64_t shale_cell_heap_free_bytes(void)
{
    struct cell_heap *h = heap();
    return (h->pages * CELL_PAGE_CELLS - h->cells_used) * CELL_SIZE;
}

uint64_t shale_cell_heap_evacuate_begin(void)
{
    struct cell_heap *h = heap();
    uint64_t open = 0, used = 0;
    for (struct cell_page *p = h->lists[PAGE_OPEN]; p; p = p->next) {
        open++;
        used += p->used;
    }
    if (open < 2 || open * CELL_PAGE_CELLS - used < CELL_PAGE_CELLS)
        return 0; /* not a page to win */
    /* used / open is the average; a page goes when
     * p->used * 8 < average * EVACUATE_MARGIN_8THS. */
    struct cell_page *p = h->lists[PAGE_OPEN];
    while (p) {
        struct cell_page *next = p->next;
        if ((uint64_t)p->used * 8 * open < used * EVACUATE_MARGIN_8THS)
            list_move(h, p, PAGE_EVACUATING);
        p = next;
    }
    return h->pages_evacuating;
}

void shale_cell_heap_evacuate_end(void)
{
    struct cell_heap *h = heap();
    while (h->lists[PAGE_EVACUATING])
        list_move(h, h->lists[PAGE_EVACUATING], PAGE_OPEN);
}

int shale_cell_evacuating(const void *cell)
{
    return page_of(cell)->list == PAGE_EVACUATING;
}

void *shale_cell_move(void *cell)
{
    void *moved = shale_cell_alloc();
    memcpy(moved, cell, CELL_SIZE);
    shale_cell_free(cell);
    return moved;
}
