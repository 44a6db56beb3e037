/* test_ring: unit tests for the SPSC ring (server/ring.h) and the sleep/wake
 * protocol of server/waker.h. The single-threaded tests check FIFO order,
 * batching and capacity; the threaded ones run one producer and one consumer
 * thread, as an I/O thread and a shard do. Items are sequence numbers + 1,
 * because ring_pop returns NULL for "empty". */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/ring.h"
#include "server/waker.h"

static void *item_of(uintptr_t seq)
{
    return (void *)(seq + 1);
}

static uintptr_t seq_of(void *item)
{
    return (uintptr_t)item - 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Pops one item and checks it is the expected sequence number. */
static void expect_pop(struct ring *r, uintptr_t seq)
{
    void *item = ring_pop(r);
    if (!item)
        fail_msg("ring_pop returned NULL, expected item %zu", (size_t)seq);
    if (seq_of(item) != seq)
        fail_msg("ring_pop returned item %zu, expected %zu", (size_t)seq_of(item), (size_t)seq);
}

static void test_ring_empty(void **state)
{
    struct ring *r = shale_ring_create(8);
    assert_null(ring_pop(r));
    assert_false(ring_has_items(r));
    assert_false(ring_publish(r)); /* nothing staged */
    shale_ring_destroy(r);
    shale_ring_destroy(NULL);
}

static void test_ring_fifo(void **state)
{
    struct ring *r = shale_ring_create(64);
    for (uintptr_t i = 0; i < 50; i++)
        assert_true(ring_push(r, item_of(i)));
    assert_true(ring_has_items(r));
    for (uintptr_t i = 0; i < 50; i++)
        expect_pop(r, i);
    assert_null(ring_pop(r));
    assert_false(ring_has_items(r));
    shale_ring_destroy(r);
}

static void test_ring_staged_items_invisible_until_publish(void **state)
{
    struct ring *r = shale_ring_create(16);
    assert_true(ring_stage(r, item_of(0)));
    assert_true(ring_stage(r, item_of(1)));
    assert_true(ring_stage(r, item_of(2)));
    assert_false(ring_has_items(r));
    assert_null(ring_pop(r));

    assert_true(ring_publish(r));
    assert_false(ring_publish(r)); /* already published */
    assert_true(ring_has_items(r));
    expect_pop(r, 0);

    /* A second batch stays hidden behind the rest of the first. */
    assert_true(ring_stage(r, item_of(3)));
    expect_pop(r, 1);
    expect_pop(r, 2);
    assert_null(ring_pop(r));
    assert_false(ring_has_items(r));
    assert_true(ring_publish(r));
    expect_pop(r, 3);
    assert_null(ring_pop(r));
    shale_ring_destroy(r);
}

static void test_ring_create_is_aligned(void **state)
{
    /* struct ring keeps head and tail on separate cache lines with
     * _Alignas(64); the allocation must honour that alignment, or every
     * access is undefined (UBSan: "misaligned address"). */
    struct ring *r[8];
    for (size_t i = 0; i < 8; i++) {
        r[i] = shale_ring_create(16 << i);
        if ((uintptr_t)r[i] % alignof(struct ring) != 0)
            fail_msg("shale_ring_create returned %p, expected a multiple of %zu", (void *)r[i],
                     alignof(struct ring));
    }
    for (size_t i = 0; i < 8; i++)
        shale_ring_destroy(r[i]);
}

/* Fills an empty ring and returns how many items it took. */
static size_t fill(struct ring *r)
{
    size_t n = 0;
    while (ring_push(r, item_of(n)))
        n++;
    return n;
}

static void test_ring_capacity_rounding(void **state)
{
    static const size_t asked[] = {0, 1, 15, 16, 17, 100, 1000, 1024, 1025};
    static const size_t expected[] = {16, 16, 16, 16, 32, 128, 1024, 1024, 2048};
    for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
        struct ring *r = shale_ring_create(asked[i]);
        size_t got = fill(r);
        if (got != expected[i])
            fail_msg("shale_ring_create(%zu) held %zu items, expected %zu (the next power of "
                     "two, at least 16)",
                     asked[i], got, expected[i]);
        shale_ring_destroy(r);
    }
}

static void test_ring_full(void **state)
{
    struct ring *r = shale_ring_create(100);
    size_t cap = fill(r);
    assert_true(cap >= 100);
    /* Full: neither push nor stage succeeds, and nothing is overwritten. */
    assert_false(ring_push(r, item_of(999999)));
    assert_false(ring_stage(r, item_of(999999)));
    /* One pop makes room for exactly one more. */
    expect_pop(r, 0);
    assert_true(ring_push(r, item_of(cap)));
    assert_false(ring_push(r, item_of(999999)));
    for (size_t i = 1; i <= cap; i++)
        expect_pop(r, i);
    assert_null(ring_pop(r));
    shale_ring_destroy(r);
}

static void test_ring_wraps_around(void **state)
{
    struct ring *r = shale_ring_create(16);
    uintptr_t pushed = 0, popped = 0;
    /* Uneven batch sizes so head and tail cross the end at every offset. */
    for (int round = 0; round < 5000; round++) {
        size_t batch = 1 + (size_t)round % 8; /* fits: at most 8 are left queued */
        for (size_t i = 0; i < batch; i++)
            assert_true(ring_stage(r, item_of(pushed++)));
        assert_true(ring_publish(r));
        size_t take = 1 + (size_t)(round * 7) % 16;
        for (size_t i = 0; i < take && popped < pushed; i++)
            expect_pop(r, popped++);
        while (pushed - popped > 8)
            expect_pop(r, popped++);
    }
    while (popped < pushed)
        expect_pop(r, popped++);
    assert_null(ring_pop(r));
    assert_true(pushed > 16 * 1000); /* the indices wrapped over 1000 times */
    shale_ring_destroy(r);
}

/* ---- two threads ---- */

/* Sanitizers slow every atomic access ten-fold; a million items still
 * wraps the ring a thousand times. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SPSC_ITEMS 1000000u
#else
#define SPSC_ITEMS 10000000u
#endif
#define SPSC_TIMEOUT 10000 /* ms */

struct spsc {
    struct ring *ring;
    struct waker waker;
    uintptr_t count;
    unsigned burst;       /* producer: items staged per ring_publish */
    unsigned pause_every; /* producer: naps after this many bursts (0: never) */
    bool use_waker;       /* consumer sleeps in poll(); producer notifies */
    long long deadline;
    _Atomic bool stop; /* set by the consumer when it gives up */
    /* Written by the consumer, read after join. */
    uintptr_t received;
    uintptr_t bad_seq, bad_got;
    bool out_of_order, timed_out;
    unsigned long sleeps;
};

static void *spsc_producer(void *arg)
{
    struct spsc *t = arg;
    uintptr_t seq = 0;
    unsigned long bursts = 0;
    while (seq < t->count && !atomic_load(&t->stop)) {
        unsigned n = 0;
        while (n < t->burst && seq < t->count && ring_stage(t->ring, item_of(seq))) {
            seq++;
            n++;
        }
        if (ring_publish(t->ring) && t->use_waker)
            waker_notify(&t->waker);
        if (n == 0) {
            sched_yield(); /* full: retry once the consumer has made room */
        } else if (t->pause_every && ++bursts % t->pause_every == 0) {
            /* Let the consumer run dry and go to sleep. */
            struct timespec nap = {0, 20000};
            nanosleep(&nap, NULL);
        }
    }
    return NULL;
}

/* Waits on the eventfd the way an event loop would. False on timeout. */
static bool consumer_sleep(struct spsc *t)
{
    struct pollfd pfd = {.fd = t->waker.efd, .events = POLLIN};
    for (;;) {
        int left = (int)(t->deadline - now_ms());
        if (left <= 0)
            return false;
        int rc = poll(&pfd, 1, left);
        if (rc > 0) {
            shale_waker_drain(&t->waker);
            return true;
        }
        if (rc < 0 && errno != EINTR)
            return false;
    }
}

static void *spsc_consumer(void *arg)
{
    struct spsc *t = arg;
    unsigned long idle = 0;
    while (t->received < t->count) {
        void *item = ring_pop(t->ring);
        if (item) {
            if (seq_of(item) != t->received) {
                t->out_of_order = true;
                t->bad_seq = t->received;
                t->bad_got = seq_of(item);
                break;
            }
            t->received++;
            continue;
        }
        if (now_ms() > t->deadline) {
            t->timed_out = true;
            break;
        }
        if (!t->use_waker) {
            if (++idle % 64 == 0)
                sched_yield(); /* in case both threads share one CPU */
            continue;
        }
        waker_prepare_sleep(&t->waker);
        if (ring_has_items(t->ring)) {
            waker_awake(&t->waker);
            continue;
        }
        t->sleeps++;
        bool woke = consumer_sleep(t);
        waker_awake(&t->waker);
        if (!woke && !ring_has_items(t->ring)) {
            t->timed_out = true;
            break;
        }
    }
    atomic_store(&t->stop, true);
    return NULL;
}

static void run_spsc(struct spsc *t)
{
    t->deadline = now_ms() + SPSC_TIMEOUT;
    pthread_t prod, cons;
    assert_int_equal(pthread_create(&cons, NULL, spsc_consumer, t), 0);
    assert_int_equal(pthread_create(&prod, NULL, spsc_producer, t), 0);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    if (t->out_of_order)
        fail_msg("consumer got item %zu where it expected %zu", (size_t)t->bad_got,
                 (size_t)t->bad_seq);
    if (t->timed_out)
        fail_msg("consumer stalled: received %zu of %zu items within %d ms%s", (size_t)t->received,
                 (size_t)t->count, SPSC_TIMEOUT,
                 t->use_waker ? " (a wake-up was lost: items stranded while it slept)" : "");
    assert_int_equal(t->received, t->count);
    assert_null(ring_pop(t->ring));
}

static void test_ring_two_threads_keep_order(void **state)
{
    struct spsc t = {.count = SPSC_ITEMS, .burst = 1};
    t.ring = shale_ring_create(1024);
    run_spsc(&t);
    shale_ring_destroy(t.ring);
}

static void test_ring_two_threads_batched(void **state)
{
    struct spsc t = {.count = SPSC_ITEMS / 4, .burst = 64};
    t.ring = shale_ring_create(1024);
    run_spsc(&t);
    shale_ring_destroy(t.ring);
}

static void test_waker_init_drain(void **state)
{
    struct waker w;
    shale_waker_init(&w);
    assert_true(w.efd >= 0);
    struct pollfd pfd = {.fd = w.efd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0);
    shale_waker_drain(&w); /* nothing pending: must not block */

    /* No sleeper: notify costs no write. */
    waker_notify(&w);
    assert_int_equal(poll(&pfd, 1, 0), 0);

    /* A sleeper is woken once; the flag is cleared by the notifier. */
    waker_prepare_sleep(&w);
    waker_notify(&w);
    assert_int_equal(atomic_load(&w.sleeping), 0);
    assert_int_equal(poll(&pfd, 1, 0), 1);
    waker_notify(&w); /* a second producer does not write again */
    uint64_t count = 0;
    assert_int_equal(read(w.efd, &count, sizeof(count)), sizeof(count));
    assert_int_equal(count, 1);
    assert_int_equal(poll(&pfd, 1, 0), 0);

    /* The owner found work before sleeping: no write either. */
    waker_prepare_sleep(&w);
    waker_awake(&w);
    waker_notify(&w);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    shale_waker_deinit(&w);
    assert_int_equal(w.efd, -1);
}

static void test_waker_no_item_stranded(void **state)
{
    /* Small bursts through a small ring so the consumer runs dry and goes
     * to sleep many times while the producer keeps publishing. */
    struct spsc t = {.count = 100000, .burst = 7, .pause_every = 32, .use_waker = true};
    t.ring = shale_ring_create(16);
    shale_waker_init(&t.waker);
    run_spsc(&t);
    if (t.sleeps == 0)
        fail_msg("the consumer never went to sleep, expected it to (the protocol went untested)");
    shale_waker_deinit(&t.waker);
    shale_ring_destroy(t.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_empty),
        cmocka_unit_test(test_ring_fifo),
        cmocka_unit_test(test_ring_staged_items_invisible_until_publish),
        cmocka_unit_test(test_ring_create_is_aligned),
        cmocka_unit_test(test_ring_capacity_rounding),
        cmocka_unit_test(test_ring_full),
        cmocka_unit_test(test_ring_wraps_around),
        cmocka_unit_test(test_ring_two_threads_keep_order),
        cmocka_unit_test(test_ring_two_threads_batched),
        cmocka_unit_test(test_waker_init_drain),
        cmocka_unit_test(test_waker_no_item_stranded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
