/* slowlog: see slowlog.h.
 *
 * A log is a list of immutable entries, newest first, published through
 * `head` and each entry's `older` pointer. Only the owning I/O thread adds
 * (at the head) and trims (at the tail). Readers on other I/O threads walk
 * the list without a lock; what keeps a trimmed entry alive while a reader
 * may still be on it is the log's `readers` count:
 *
 *   reader: readers++ ; walk head -> older ... ; readers--
 *   writer: unlink the tail (older = NULL) ; if readers == 0, free it,
 *           else keep it on `retired` and try again later
 *
 * Both sides use sequentially consistent operations, so either the writer
 * sees the reader's increment (and defers the free) or the reader's walk
 * starts after the unlink (and cannot reach the entry). Retired entries are
 * freed on the next add or cron tick that finds no reader inside.
 *
 * SLOWLOG RESET does not touch other threads' logs: it raises the
 * server-wide `slowlog_reset_below` to the next id, so every older entry is
 * invisible at once; each owner frees them on its next add or cron tick.
 * SLOWLOG LEN and GET count at most slowlog-max-len entries over all logs,
 * the newest, like Redis's one log. */
#include "net/slowlog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/request.h"
#include "server/command.h"
#include "server/mem.h"
#include "server/server.h"
#include "server/strconv.h"

/* Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING. */
#define ENTRY_MAX_ARGC   32
#define ENTRY_MAX_STRING 128

struct slowlog_entry {
    struct slowlog_entry *_Atomic older; /* toward the tail; NULL for the last */
    struct slowlog_entry *newer;         /* owner only (trimming, retiring) */
    uint64_t id;
    int64_t time; /* unix seconds */
    uint64_t duration_us;
    int argc;
    struct slice *argv; /* into the same allocation, like the strings below */
    struct slice peer;
    struct slice name;
};

struct slowlog {
    struct slowlog_entry *_Atomic head; /* newest */
    struct slowlog_entry *tail;         /* owner only */
    uint64_t len;                       /* owner only */
    struct slowlog_entry *retired;      /* owner only, through `newer` */
    _Atomic int readers;
};

struct slowlog *shale_slowlog_create(void)
{
    return shale_calloc(1, sizeof(struct slowlog));
}

static void free_chain(struct slowlog_entry *e)
{
    while (e) {
        struct slowlog_entry *next = e->newer;
        shale_free(e);
        e = next;
    }
}

void shale_slowlog_destroy(struct slowlog *log)
{
    if (!log)
        return;
    struct slowlog_entry *e = atomic_load(&log->head);
    while (e) {
        struct slowlog_entry *older = atomic_load(&e->older);
        shale_free(e);
        e = older;
    }
    free_chain(log->retired);
    shale_free(log);
}

static void reclaim(struct slowlog *log)
{
    if (log->retired && atomic_load(&log->readers) == 0) {
        free_chain(log->retired);
        log->retired = NULL;
    }
}

/* Drops entries past max_len, or older than the last SLOWLOG RESET. */
static void trim(struct slowlog *log, uint64_t max_len, uint64_t reset_below)
{
    while (log->tail && (log->len > max_len || log->tail->id < reset_below)) {
        struct slowlog_entry *e = log->tail;
        log->tail = e->newer;
        if (log->tail)
            atomic_store(&log->tail->older, NULL);
        else
            atomic_store(&log->head, NULL);
        log->len--;
        e->newer = log->retired;
        log->retired = e;
    }
    reclaim(log);
}

static uint64_t max_len_of(const struct server *srv)
{
    return (uint64_t)config_live(srv->cfg, slowlog_max_len);
}

void shale_slowlog_tidy(struct io_thread *t)
{
    trim(t->slowlog, max_len_of(t->srv), atomic_load(&t->srv->slowlog_reset_below));
}

/* ---- making an entry ---- */

static const struct slice redacted = {"(redacted)", 10};

/* Options whose value CONFIG SET must not show (Redis's sensitive ones). */
static int sensitive_option(struct slice name)
{
    return slice_eq_nocase(name, "requirepass") || slice_eq_nocase(name, "masterauth") ||
           slice_eq_nocase(name, "tls-key-file-pass") ||
           slice_eq_nocase(name, "tls-client-key-file-pass");
}

/* Which arguments Redis replaces by "(redacted)" before logging: passwords
 * of AUTH, HELLO ... AUTH and CONFIG SET of a sensitive option. */
static void mark_redacted(const struct request *r, uint8_t *hide)
{
    const char *name = r->cmd->name;
    if (!strcmp(name, "auth")) {
        for (int i = 1; i < r->argc; i++)
            hide[i] = 1;
    } else if (!strcmp(name, "hello")) {
        for (int i = 2; i < r->argc; i++) {
            int more = r->argc - i - 1;
            if (slice_eq_nocase(r->argv[i], "AUTH") && more >= 2) {
                hide[i + 1] = hide[i + 2] = 1;
                i += 2;
            } else if (slice_eq_nocase(r->argv[i], "SETNAME") && more >= 1) {
                i++;
            } else {
                break;
            }
        }
    } else if (!strcmp(name, "config|set")) {
        for (int i = 2; i + 1 < r->argc; i += 2)
            if (sensitive_option(r->argv[i]))
                hide[i + 1] = 1;
    }
}

/* Bytes an argument takes in the entry, as Redis's slowlogCreateEntry
 * shapes it: at most 128 bytes, then "... (N more bytes)". */
static size_t shaped_len(struct slice a, char *suffix, size_t suffix_cap)
{
    if (a.len <= ENTRY_MAX_STRING)
        return a.len;
    int n = snprintf(suffix, suffix_cap, "... (%zu more bytes)", a.len - ENTRY_MAX_STRING);
    return ENTRY_MAX_STRING + (size_t)n;
}

static struct slowlog_entry *make_entry(struct request *r, uint64_t us)
{
    struct conn *c = r->conn;
    int argc = r->argc > ENTRY_MAX_ARGC ? ENTRY_MAX_ARGC : r->argc;
    uint8_t hide[ENTRY_MAX_ARGC + 2] = {0};
    uint8_t *hide_all =
        r->argc + 2 > (int)sizeof(hide) ? shale_calloc((size_t)r->argc + 2, 1) : hide;
    mark_redacted(r, hide_all);
    char more_args[48], suffix[48];
    snprintf(more_args, sizeof(more_args), "... (%d more arguments)", r->argc - argc + 1);
    /* The owner thread is the only writer of its clients' names, so it may
     * read one without the registry lock. */
    const char *name = c->info.name ? c->info.name : "";
    size_t peer_len = strlen(c->info.addr), name_len = strlen(name);

    size_t bytes =
        sizeof(struct slowlog_entry) + sizeof(struct slice) * (size_t)argc + peer_len + name_len;
    for (int i = 0; i < argc; i++) {
        if (argc != r->argc && i == argc - 1)
            bytes += strlen(more_args);
        else if (hide_all[i])
            bytes += redacted.len;
        else
            bytes += shaped_len(r->argv[i], suffix, sizeof(suffix));
    }
    struct slowlog_entry *e = shale_malloc(bytes);
    memset(e, 0, sizeof(*e));
    e->argv = (struct slice *)(e + 1);
    char *p = (char *)(e->argv + argc);
    e->argc = argc;
    for (int i = 0; i < argc; i++) {
        struct slice a = r->argv[i];
        char *start = p;
        if (argc != r->argc && i == argc - 1) {
            memcpy(p, more_args, strlen(more_args));
            p += strlen(more_args);
        } else if (hide_all[i]) {
            memcpy(p, redacted.ptr, redacted.len);
            p += redacted.len;
        } else {
            size_t len = shaped_len(a, suffix, sizeof(suffix));
            size_t keep = a.len <= ENTRY_MAX_STRING ? a.len : ENTRY_MAX_STRING;
            memcpy(p, a.ptr, keep);
            memcpy(p + keep, suffix, len - keep);
            p += len;
        }
        e->argv[i] = (struct slice){start, (size_t)(p - start)};
    }
    memcpy(p, c->info.addr, peer_len);
    e->peer = (struct slice){p, peer_len};
    p += peer_len;
    memcpy(p, name, name_len);
    e->name = (struct slice){p, name_len};
    if (hide_all != hide)
        shale_free(hide_all);
    e->duration_us = us;
    e->time = (int64_t)time(NULL);
    return e;
}

void shale_slowlog_add(struct io_thread *t, struct request *r, uint64_t us)
{
    if (r->cmd->flags & CMD_SKIP_SLOWLOG)
        return;
    struct slowlog *log = t->slowlog;
    struct slowlog_entry *e = make_entry(r, us);
    e->id = atomic_fetch_add(&t->srv->slowlog_next_id, 1);
    struct slowlog_entry *head = atomic_load(&log->head);
    atomic_store(&e->older, head);
    if (head)
        head->newer = e;
    else
        log->tail = e;
    atomic_store(&log->head, e); /* publishes the entry's contents */
    log->len++;
    trim(log, max_len_of(t->srv), atomic_load(&t->srv->slowlog_reset_below));
}

/* ---- reading every log ---- */

struct snapshot {
    struct slowlog_entry **entries;
    size_t n, cap;
};

static int newest_first(const void *a, const void *b)
{
    uint64_t x = (*(struct slowlog_entry *const *)a)->id;
    uint64_t y = (*(struct slowlog_entry *const *)b)->id;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Enters every log as a reader and collects up to `want` visible entries
 * of each (a log is newest first), merged newest first. The entries stay
 * valid until leave(). */
static void enter(struct server *srv, uint64_t want, struct snapshot *snap)
{
    uint64_t below = atomic_load(&srv->slowlog_reset_below);
    snap->n = snap->cap = 0;
    snap->entries = NULL;
    for (int i = 0; i < srv->nio; i++) {
        struct slowlog *log = srv->io[i]->slowlog;
        atomic_fetch_add(&log->readers, 1);
        uint64_t taken = 0;
        for (struct slowlog_entry *e = atomic_load(&log->head); e && taken < want;
             e = atomic_load(&e->older)) {
            if (e->id < below)
                break; /* the rest is older still */
            if (snap->n == snap->cap) {
                snap->cap = snap->cap ? snap->cap * 2 : 64;
                snap->entries = shale_realloc(snap->entries, snap->cap * sizeof(*snap->entries));
            }
            snap->entries[snap->n++] = e;
            taken++;
        }
    }
    if (snap->n > 1)
        qsort(snap->entries, snap->n, sizeof(*snap->entries), newest_first);
}

static void leave(struct server *srv, struct snapshot *snap)
{
    for (int i = 0; i < srv->nio; i++)
        atomic_fetch_sub(&srv->io[i]->slowlog->readers, 1);
    shale_free(snap->entries);
}

static void add_entry(struct resp_buf *b, const struct slowlog_entry *e)
{
    shale_resp_add_array_len(b, 6);
    shale_resp_add_integer(b, (long long)e->id);
    shale_resp_add_integer(b, (long long)e->time);
    shale_resp_add_integer(b, (long long)e->duration_us);
    shale_resp_add_array_len(b, e->argc);
    for (int i = 0; i < e->argc; i++)
        shale_resp_add_bulk(b, e->argv[i].ptr, e->argv[i].len);
    shale_resp_add_bulk(b, e->peer.ptr, e->peer.len);
    shale_resp_add_bulk(b, e->name.ptr, e->name.len);
}

void shale_cmd_slowlog_get(struct conn *c, struct request *r)
{
    struct server *srv = c->t->srv;
    uint64_t max_len = max_len_of(srv);
    uint64_t want = 10;
    if (r->argc > 3) {
        shale_resp_add_errorf(&r->reply,
                              "ERR unknown subcommand or wrong number of arguments for '%.*s'. "
                              "Try SLOWLOG HELP.",
                              r->argv[1].len > 128 ? 128 : (int)r->argv[1].len, r->argv[1].ptr);
        return;
    }
    if (r->argc == 3) {
        long long count;
        if (!shale_strconv_ll(r->argv[2], &count) || count < -1) {
            shale_resp_add_error(&r->reply, "ERR count should be greater than or equal to -1");
            return;
        }
        want = count == -1 ? UINT64_MAX : (uint64_t)count;
    }
    if (want > max_len)
        want = max_len;
    struct snapshot snap;
    enter(srv, want, &snap);
    size_t n = snap.n < want ? snap.n : (size_t)want;
    shale_resp_add_array_len(&r->reply, (long long)n);
    for (size_t i = 0; i < n; i++)
        add_entry(&r->reply, snap.entries[i]);
    leave(srv, &snap);
}

void shale_cmd_slowlog_len(struct conn *c, struct request *r)
{
    struct server *srv = c->t->srv;
    uint64_t max_len = max_len_of(srv);
    struct snapshot snap;
    enter(srv, max_len, &snap);
    size_t n = snap.n < max_len ? snap.n : (size_t)max_len;
    leave(srv, &snap);
    shale_resp_add_integer(&r->reply, (long long)n);
}

void shale_cmd_slowlog_reset(struct conn *c, struct request *r)
{
    struct server *srv = c->t->srv;
    atomic_store(&srv->slowlog_reset_below, atomic_load(&srv->slowlog_next_id));
    shale_slowlog_tidy(c->t);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_slowlog_help(struct conn *c, struct request *r)
{
    static const char *const lines[] = {
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    };
    size_t n = sizeof(lines) / sizeof(lines[0]);
    shale_resp_add_array_len(&r->reply, (long long)n);
    for (size_t i = 0; i < n; i++)
        shale_resp_add_status(&r->reply, lines[i]);
}
