/* Unit tests for shards/t_string and shards/t_keys: each test builds an
 * exec_ctx around a real keyspace, calls command handlers directly with
 * hand-made requests and checks the exact reply bytes (Redis 7.0's).
 * The clock is fixed (NOW) and moved by hand to test expiry.
 * Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/request.h"
#include "net/resp_write.h"
#include "server/mem.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/t_keys.h"
#include "shards/t_string.h"

/* A string literal as (pointer, length), so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

#define NOW    1700000000000LL /* unix ms; NOW / 1000 = 1700000000 */
#define MAXARG 16

#define WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
#define NOT_INT   "-ERR value is not an integer or out of range\r\n"
#define NOT_FLOAT "-ERR value is not a valid float\r\n"
#define SYNTAX    "-ERR syntax error\r\n"
#define TOO_LONG  "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"

struct fx {
    struct exec_ctx x;
    int db;
    int proto;
};

static int setup(void **state)
{
    struct fx *f = shale_calloc(1, sizeof(*f));

    f->x.ks = shale_keyspace_create(16, 42);
    f->x.now_ms = NOW;
    f->proto = 2;
    *state = f;
    return 0;
}

static void unfake_hashes(struct fx *f);

static int teardown(void **state)
{
    struct fx *f = *state;

    unfake_hashes(f);
    shale_keyspace_destroy(f->x.ks);
    shale_free(f);
    return 0;
}

/* ---- calling handlers -------------------------------------------------- */

static void print_escaped(const char *label, const char *p, size_t n)
{
    print_message("%s \"", label);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '\r')
            print_message("\\r");
        else if (c == '\n')
            print_message("\\n");
        else if (c < 32 || c >= 127)
            print_message("\\x%02x", c);
        else
            print_message("%c", c);
    }
    print_message("\"\n");
}

/* Runs handler h on argv and checks that the reply is exactly want. */
static void run_slices(struct fx *f, void (*h)(struct exec_ctx *, struct request *), int argc,
                       struct slice *argv, const char *want, size_t wantlen)
{
    struct request r;

    memset(&r, 0, sizeof(r));
    r.argc = argc;
    r.argv = argv;
    r.db = (uint8_t)f->db;
    r.proto = (uint8_t)f->proto;
    shale_resp_buf_init(&r.reply, f->proto);
    h(&f->x, &r);
    if (r.reply.len != wantlen || memcmp(r.reply.data, want, wantlen) != 0) {
        print_message("command:");
        for (int i = 0; i < argc; i++)
            print_message(" %.*s", (int)argv[i].len, argv[i].ptr);
        print_message("\n");
        print_escaped("expected", want, wantlen);
        print_escaped("got     ", r.reply.data, r.reply.len);
    }
    assert_int_equal(r.reply.len, wantlen);
    assert_memory_equal(r.reply.data, want, wantlen);
    shale_resp_buf_release(&r.reply);
}

static void run_cstr(struct fx *f, void (*h)(struct exec_ctx *, struct request *), const char *want,
                     size_t wantlen, const char *const *args)
{
    struct slice argv[MAXARG];
    int argc = 0;

    for (; args[argc]; argc++) {
        assert_true(argc < MAXARG);
        argv[argc] = (struct slice){args[argc], strlen(args[argc])};
    }
    run_slices(f, h, argc, argv, want, wantlen);
}

/* RUN(f, shale_cmd_get, "$-1\r\n", "GET", "k"): argv as C strings. */
#define RUN(f, h, want, ...) run_cstr((f), (h), S(want), (const char *const[]){__VA_ARGS__, NULL})

static struct slice slice_of(const char *s)
{
    return (struct slice){s, strlen(s)};
}

/* GET's value of key as a fresh heap string (NULL when missing), for values
 * too long to spell out. */
static char *get_value(struct fx *f, const char *key, size_t *len)
{
    struct table_slot *ref = shale_keyspace_find(f->x.ks, f->db, slice_of(key), f->x.now_ms);
    struct slice v;
    char *copy;

    if (!ref)
        return NULL;
    v = shale_kobj_string(keyspace_obj(ref));
    copy = shale_malloc(v.len + 1);
    memcpy(copy, v.ptr, v.len);
    copy[v.len] = '\0';
    *len = v.len;
    return copy;
}

static int key_exists(struct fx *f, const char *key)
{
    return shale_keyspace_find(f->x.ks, f->db, slice_of(key), f->x.now_ms) != NULL;
}

/* No type but strings can be created yet, so a "hash" is a string object
 * whose type bits (bits 0-3 of byte 0, as object.h documents the layout)
 * say hash; the WRONGTYPE paths never read its value. Teardown turns it
 * back into a string so freeing it never takes the hash path. Replace with
 * a real hash once t_hash lands. */
#define FAKE_HASH "hashkey"

static void add_fake_hash(struct fx *f)
{
    struct kobj *o =
        shale_kobj_new_string(slice_of(FAKE_HASH), slice_of("01234567"), KOBJ_NO_EXPIRE);
    uint8_t *b = (uint8_t *)o;

    b[0] = (uint8_t)((b[0] & 0xf0) | KOBJ_HASH);
    shale_keyspace_add(f->x.ks, f->db, o);
}

static void unfake_hashes(struct fx *f)
{
    for (int db = 0; db < 16; db++) {
        struct table_slot *ref = shale_keyspace_find(f->x.ks, db, slice_of(FAKE_HASH), f->x.now_ms);
        if (ref && shale_kobj_type(keyspace_obj(ref)) == KOBJ_HASH) {
            uint8_t *b = (uint8_t *)keyspace_obj(ref);
            b[0] = (uint8_t)((b[0] & 0xf0) | KOBJ_STRING);
        }
    }
}

/* ---- GET / SET --------------------------------------------------------- */

static void test_get_set(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_get, "$-1\r\n", "GET", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "bar");
    RUN(f, shale_cmd_get, "$3\r\nbar\r\n", "GET", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "");
    RUN(f, shale_cmd_get, "$0\r\n\r\n", "GET", "k");
    assert_int_equal(f->x.stats.keyspace_hits, 2);
    assert_int_equal(f->x.stats.keyspace_misses, 1);

    /* Binary-safe keys and values. */
    struct slice argv[3] = {slice_of("SET"), {"a\0b", 3}, {"\0\r\n", 3}};
    run_slices(f, shale_cmd_set, 3, argv, S("+OK\r\n"));
    struct slice get[2] = {slice_of("GET"), {"a\0b", 3}};
    run_slices(f, shale_cmd_get, 2, get, S("$3\r\n\0\r\n\r\n"));

    f->proto = 3;
    RUN(f, shale_cmd_get, "_\r\n", "GET", "missing");
}

static void test_get_wrongtype(void **state)
{
    struct fx *f = *state;

    add_fake_hash(f);
    RUN(f, shale_cmd_get, WRONGTYPE, "GET", FAKE_HASH);
    RUN(f, shale_cmd_getdel, WRONGTYPE, "GETDEL", FAKE_HASH);
    RUN(f, shale_cmd_getex, WRONGTYPE, "GETEX", FAKE_HASH, "EX", "10");
    RUN(f, shale_cmd_getset, WRONGTYPE, "GETSET", FAKE_HASH, "v");
    RUN(f, shale_cmd_set, WRONGTYPE, "SET", FAKE_HASH, "v", "GET");
    RUN(f, shale_cmd_append, WRONGTYPE, "APPEND", FAKE_HASH, "v");
    RUN(f, shale_cmd_strlen, WRONGTYPE, "STRLEN", FAKE_HASH);
    RUN(f, shale_cmd_getrange, WRONGTYPE, "GETRANGE", FAKE_HASH, "0", "-1");
    RUN(f, shale_cmd_setrange, WRONGTYPE, "SETRANGE", FAKE_HASH, "0", "v");
    RUN(f, shale_cmd_incr, WRONGTYPE, "INCR", FAKE_HASH);
    RUN(f, shale_cmd_decrby, WRONGTYPE, "DECRBY", FAKE_HASH, "2");
    RUN(f, shale_cmd_incrbyfloat, WRONGTYPE, "INCRBYFLOAT", FAKE_HASH, "1.5");
    RUN(f, shale_cmd_mget, "*1\r\n$-1\r\n", "MGET", FAKE_HASH);
    RUN(f, shale_cmd_type, "+hash\r\n", "TYPE", FAKE_HASH);
}

static void test_set_nx_xx(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "$-1\r\n", "SET", "k", "v", "XX");
    assert_false(key_exists(f, "k"));
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "nx");
    RUN(f, shale_cmd_set, "$-1\r\n", "SET", "k", "w", "NX");
    RUN(f, shale_cmd_get, "$1\r\nv\r\n", "GET", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "w", "xX");
    RUN(f, shale_cmd_get, "$1\r\nw\r\n", "GET", "k");
    /* Repeating an option is allowed. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "x", "XX", "XX");
    /* With GET, the old value is the reply whether or not NX/XX let it set. */
    RUN(f, shale_cmd_set, "$1\r\nx\r\n", "SET", "k", "y", "NX", "GET");
    RUN(f, shale_cmd_get, "$1\r\nx\r\n", "GET", "k");
    RUN(f, shale_cmd_set, "$-1\r\n", "SET", "n", "y", "XX", "GET");
    assert_false(key_exists(f, "n"));
}

static void test_set_syntax_errors(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "NX", "XX");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "XX", "NX");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "EX", "10", "PX", "100");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "EX", "10", "EXAT", "100");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "PXAT", "10", "PX", "100");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "EX");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "KEEPTTL", "EX", "10");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "PX", "10", "KEEPTTL");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "PERSIST");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "FOO");
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "NXX");
    /* A syntax error wins over a bad number that comes earlier. */
    RUN(f, shale_cmd_set, SYNTAX, "SET", "k", "v", "EX", "abc", "NOPE");
    assert_false(key_exists(f, "k"));
    assert_int_equal(f->x.stats.keyspace_hits + f->x.stats.keyspace_misses, 0);
}

static void test_set_expire_errors(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, NOT_INT, "SET", "k", "v", "EX", "abc");
    RUN(f, shale_cmd_set, NOT_INT, "SET", "k", "v", "EX", "+10");
    RUN(f, shale_cmd_set, NOT_INT, "SET", "k", "v", "EX", " 10");
    RUN(f, shale_cmd_set, NOT_INT, "SET", "k", "v", "PX", "010");
    RUN(f, shale_cmd_set, NOT_INT, "SET", "k", "v", "PX", "1.5");
    RUN(f, shale_cmd_set, NOT_INT, "SET", "k", "v", "EX", "9223372036854775808");
    RUN(f, shale_cmd_set, "-ERR invalid expire time in 'set' command\r\n", "SET", "k", "v", "EX",
        "0");
    RUN(f, shale_cmd_set, "-ERR invalid expire time in 'set' command\r\n", "SET", "k", "v", "PX",
        "-1");
    RUN(f, shale_cmd_set, "-ERR invalid expire time in 'set' command\r\n", "SET", "k", "v", "EXAT",
        "0");
    /* Seconds that overflow when made ms; ms that overflow when made absolute. */
    RUN(f, shale_cmd_set, "-ERR invalid expire time in 'set' command\r\n", "SET", "k", "v", "EX",
        "9223372036854776");
    RUN(f, shale_cmd_set, "-ERR invalid expire time in 'set' command\r\n", "SET", "k", "v", "PX",
        "9223372036854775807");
    /* The largest absolute ms is fine. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "PXAT", "9223372036854775807");
    RUN(f, shale_cmd_pexpiretime, ":9223372036854775807\r\n", "PEXPIRETIME", "k");
    /* An invalid expire stops SET ... GET before the GET. */
    RUN(f, shale_cmd_set, "-ERR invalid expire time in 'set' command\r\n", "SET", "k", "w", "GET",
        "EX", "-5");
    RUN(f, shale_cmd_get, "$1\r\nv\r\n", "GET", "k");
}

static void test_set_expire_options(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "ex", "100");
    RUN(f, shale_cmd_pttl, ":100000\r\n", "PTTL", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "PX", "1500");
    RUN(f, shale_cmd_pttl, ":1500\r\n", "PTTL", "k");
    RUN(f, shale_cmd_ttl, ":2\r\n", "TTL", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "EXAT", "1700000010");
    RUN(f, shale_cmd_ttl, ":10\r\n", "TTL", "k");
    RUN(f, shale_cmd_expiretime, ":1700000010\r\n", "EXPIRETIME", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "PXAT", "1700000000250");
    RUN(f, shale_cmd_pexpiretime, ":1700000000250\r\n", "PEXPIRETIME", "k");
    /* The last EX wins. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "EX", "5", "EX", "7");
    RUN(f, shale_cmd_ttl, ":7\r\n", "TTL", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "w", "KEEPTTL");
    RUN(f, shale_cmd_ttl, ":7\r\n", "TTL", "k");
    RUN(f, shale_cmd_get, "$1\r\nw\r\n", "GET", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "x");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    /* KEEPTTL on a new key: no TTL. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "n", "x", "KEEPTTL");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "n");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);
    RUN(f, shale_cmd_set, "$1\r\nx\r\n", "SET", "n", "x", "EX", "9", "GET", "XX");
    RUN(f, shale_cmd_ttl, ":9\r\n", "TTL", "n");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 1);
}

static void test_set_exat_in_the_past(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "EXAT", "1");
    RUN(f, shale_cmd_get, "$-1\r\n", "GET", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_set, "$1\r\nv\r\n", "SET", "k", "w", "PXAT", "1700000000000", "GET");
    RUN(f, shale_cmd_exists, ":0\r\n", "EXISTS", "k");
    assert_int_equal(shale_keyspace_keys(f->x.ks, 0), 0);
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);
}

static void test_setnx_setex_psetex(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_setnx, ":1\r\n", "SETNX", "k", "v");
    RUN(f, shale_cmd_setnx, ":0\r\n", "SETNX", "k", "w");
    RUN(f, shale_cmd_get, "$1\r\nv\r\n", "GET", "k");
    RUN(f, shale_cmd_setex, "+OK\r\n", "SETEX", "k", "10", "w");
    RUN(f, shale_cmd_pttl, ":10000\r\n", "PTTL", "k");
    RUN(f, shale_cmd_get, "$1\r\nw\r\n", "GET", "k");
    RUN(f, shale_cmd_psetex, "+OK\r\n", "PSETEX", "k", "1234", "x");
    RUN(f, shale_cmd_pttl, ":1234\r\n", "PTTL", "k");
    RUN(f, shale_cmd_setex, "-ERR invalid expire time in 'setex' command\r\n", "SETEX", "k", "0",
        "v");
    RUN(f, shale_cmd_setex, "-ERR invalid expire time in 'setex' command\r\n", "SETEX", "k", "-10",
        "v");
    RUN(f, shale_cmd_psetex, "-ERR invalid expire time in 'psetex' command\r\n", "PSETEX", "k", "0",
        "v");
    RUN(f, shale_cmd_setex, NOT_INT, "SETEX", "k", "ten", "v");
    RUN(f, shale_cmd_get, "$1\r\nx\r\n", "GET", "k");
}

static void test_getset_getdel(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_getset, "$-1\r\n", "GETSET", "k", "v");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v", "EX", "100");
    RUN(f, shale_cmd_getset, "$1\r\nv\r\n", "GETSET", "k", "w");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    RUN(f, shale_cmd_getdel, "$1\r\nw\r\n", "GETDEL", "k");
    RUN(f, shale_cmd_getdel, "$-1\r\n", "GETDEL", "k");
    assert_int_equal(shale_keyspace_keys(f->x.ks, 0), 0);
}

static void test_getex(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k", "EX", "100");
    RUN(f, shale_cmd_ttl, ":100\r\n", "TTL", "k");
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k", "px", "2500");
    RUN(f, shale_cmd_pttl, ":2500\r\n", "PTTL", "k");
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k", "EXAT", "1700000100");
    RUN(f, shale_cmd_ttl, ":100\r\n", "TTL", "k");
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k", "PERSIST");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k", "PERSIST");

    /* Errors: options first, then the key (nil), then the value. */
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "NX");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "KEEPTTL");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "GET");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "PERSIST", "EX", "10");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "EX", "10", "PERSIST");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "EX", "10", "PX", "10");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "k", "EX");
    RUN(f, shale_cmd_getex, SYNTAX, "GETEX", "missing", "NX");
    RUN(f, shale_cmd_getex, "$-1\r\n", "GETEX", "missing", "EX", "abc");
    RUN(f, shale_cmd_getex, NOT_INT, "GETEX", "k", "EX", "abc");
    RUN(f, shale_cmd_getex, "-ERR invalid expire time in 'getex' command\r\n", "GETEX", "k", "EX",
        "0");
    RUN(f, shale_cmd_getex, "-ERR invalid expire time in 'getex' command\r\n", "GETEX", "k", "PXAT",
        "-1");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");

    /* An absolute time already past deletes the key after replying. */
    RUN(f, shale_cmd_getex, "$1\r\nv\r\n", "GETEX", "k", "PXAT", "1");
    RUN(f, shale_cmd_exists, ":0\r\n", "EXISTS", "k");
}

/* ---- APPEND / STRLEN / GETRANGE / SETRANGE ----------------------------- */

static void test_append_and_strlen(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_strlen, ":0\r\n", "STRLEN", "k");
    RUN(f, shale_cmd_append, ":5\r\n", "APPEND", "k", "Hello");
    RUN(f, shale_cmd_append, ":11\r\n", "APPEND", "k", " World");
    RUN(f, shale_cmd_get, "$11\r\nHello World\r\n", "GET", "k");
    RUN(f, shale_cmd_strlen, ":11\r\n", "STRLEN", "k");
    /* APPEND of nothing to a missing key creates an empty string. */
    RUN(f, shale_cmd_append, ":0\r\n", "APPEND", "e", "");
    RUN(f, shale_cmd_exists, ":1\r\n", "EXISTS", "e");
    /* The TTL stays. */
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "50");
    RUN(f, shale_cmd_append, ":12\r\n", "APPEND", "k", "!");
    RUN(f, shale_cmd_ttl, ":50\r\n", "TTL", "k");
}

/* Grows one value a byte at a time to 10000 bytes (crossing the one- and
 * two-byte length headers and many reallocations), then by chunks of every
 * size 1..200, checking length and content along the way. */
static void test_append_growth(void **state)
{
    struct fx *f = *state;
    static char expect[10000 + 200 * 201 / 2];
    char chunk[200], want[32];
    size_t len = 0, got_len;
    char *got;

    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        struct slice argv[3] = {slice_of("APPEND"), slice_of("grow"), {&c, 1}};
        int n = snprintf(want, sizeof(want), ":%zu\r\n", len + 1);

        expect[len++] = c;
        run_slices(f, shale_cmd_append, 3, argv, want, (size_t)n);
        if (len == 127 || len == 128 || len % 1000 == 0) {
            got = get_value(f, "grow", &got_len);
            assert_int_equal(got_len, len);
            assert_memory_equal(got, expect, len);
            shale_free(got);
        }
    }
    for (size_t size = 1; size <= sizeof(chunk); size++) {
        memset(chunk, (int)('A' + size % 26), size);
        struct slice argv[3] = {slice_of("APPEND"), slice_of("grow"), {chunk, size}};
        int n = snprintf(want, sizeof(want), ":%zu\r\n", len + size);

        memcpy(expect + len, chunk, size);
        len += size;
        run_slices(f, shale_cmd_append, 3, argv, want, (size_t)n);
    }
    got = get_value(f, "grow", &got_len);
    assert_int_equal(got_len, sizeof(expect));
    assert_memory_equal(got, expect, sizeof(expect));
    shale_free(got);
}

static void test_getrange(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_getrange, "$0\r\n\r\n", "GETRANGE", "k", "0", "-1");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "This is a string");
    RUN(f, shale_cmd_getrange, "$4\r\nThis\r\n", "GETRANGE", "k", "0", "3");
    RUN(f, shale_cmd_getrange, "$3\r\ning\r\n", "GETRANGE", "k", "-3", "-1");
    RUN(f, shale_cmd_getrange, "$16\r\nThis is a string\r\n", "GETRANGE", "k", "0", "-1");
    RUN(f, shale_cmd_getrange, "$6\r\nstring\r\n", "GETRANGE", "k", "10", "100");
    RUN(f, shale_cmd_getrange, "$0\r\n\r\n", "GETRANGE", "k", "-1", "-5");
    RUN(f, shale_cmd_getrange, "$0\r\n\r\n", "GETRANGE", "k", "5", "3");
    RUN(f, shale_cmd_getrange, "$0\r\n\r\n", "GETRANGE", "k", "16", "20");
    RUN(f, shale_cmd_getrange, "$1\r\nT\r\n", "GETRANGE", "k", "-100", "-50");
    RUN(f, shale_cmd_getrange, "$16\r\nThis is a string\r\n", "GETRANGE", "k",
        "-9223372036854775808", "9223372036854775807");
    RUN(f, shale_cmd_getrange, "$1\r\ng\r\n", "GETRANGE", "k", "-1", "-1");
    RUN(f, shale_cmd_getrange, NOT_INT, "GETRANGE", "k", "a", "1");
    RUN(f, shale_cmd_getrange, NOT_INT, "GETRANGE", "missing", "0", "1.5");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "e", "");
    RUN(f, shale_cmd_getrange, "$0\r\n\r\n", "GETRANGE", "e", "0", "-1");
}

static void test_setrange(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "Hello World");
    RUN(f, shale_cmd_setrange, ":11\r\n", "SETRANGE", "k", "6", "Redis");
    RUN(f, shale_cmd_get, "$11\r\nHello Redis\r\n", "GET", "k");
    RUN(f, shale_cmd_setrange, ":13\r\n", "SETRANGE", "k", "10", "!!!");
    RUN(f, shale_cmd_get, "$13\r\nHello Redi!!!\r\n", "GET", "k");
    /* Zero padding, on a new key and past the end of an old one. */
    RUN(f, shale_cmd_setrange, ":8\r\n", "SETRANGE", "p", "5", "abc");
    RUN(f, shale_cmd_get, "$8\r\n\0\0\0\0\0abc\r\n", "GET", "p");
    RUN(f, shale_cmd_setrange, ":12\r\n", "SETRANGE", "p", "10", "xy");
    RUN(f, shale_cmd_get, "$12\r\n\0\0\0\0\0abc\0\0xy\r\n", "GET", "p");
    /* Past the one-byte length header. */
    RUN(f, shale_cmd_setrange, ":301\r\n", "SETRANGE", "p", "300", "z");
    RUN(f, shale_cmd_getrange, "$4\r\nxy\0\0\r\n", "GETRANGE", "p", "10", "13");
    RUN(f, shale_cmd_getrange, "$2\r\n\0z\r\n", "GETRANGE", "p", "-2", "-1");
    /* Setting nothing creates nothing, and reports the length. */
    RUN(f, shale_cmd_setrange, ":0\r\n", "SETRANGE", "n", "5", "");
    assert_false(key_exists(f, "n"));
    RUN(f, shale_cmd_setrange, ":301\r\n", "SETRANGE", "p", "1000", "");
    RUN(f, shale_cmd_setrange, ":0\r\n", "SETRANGE", "n", "536870912", "");
    /* Errors. */
    RUN(f, shale_cmd_setrange, "-ERR offset is out of range\r\n", "SETRANGE", "k", "-1", "x");
    RUN(f, shale_cmd_setrange, NOT_INT, "SETRANGE", "k", "one", "x");
    RUN(f, shale_cmd_setrange, TOO_LONG, "SETRANGE", "k", "536870912", "x");
    RUN(f, shale_cmd_setrange, TOO_LONG, "SETRANGE", "n", "536870911", "xy");
    RUN(f, shale_cmd_setrange, TOO_LONG, "SETRANGE", "n", "9223372036854775807", "x");
    assert_false(key_exists(f, "n"));
    /* The TTL stays. */
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "60");
    RUN(f, shale_cmd_setrange, ":13\r\n", "SETRANGE", "k", "0", "J");
    RUN(f, shale_cmd_ttl, ":60\r\n", "TTL", "k");
}

/* ---- INCR family ------------------------------------------------------- */

static void test_incr_decr(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_incr, ":1\r\n", "INCR", "n");
    RUN(f, shale_cmd_incrby, ":11\r\n", "INCRBY", "n", "10");
    RUN(f, shale_cmd_decr, ":10\r\n", "DECR", "n");
    RUN(f, shale_cmd_decrby, ":-5\r\n", "DECRBY", "n", "15");
    RUN(f, shale_cmd_incrby, ":95\r\n", "INCRBY", "n", "100");
    RUN(f, shale_cmd_get, "$2\r\n95\r\n", "GET", "n");
    RUN(f, shale_cmd_decrby, ":-1\r\n", "DECRBY", "m", "1");
    /* Growing across many digits and back. */
    RUN(f, shale_cmd_incrby, ":1000000000095\r\n", "INCRBY", "n", "1000000000000");
    RUN(f, shale_cmd_decrby, ":0\r\n", "DECRBY", "n", "1000000000095");
    RUN(f, shale_cmd_get, "$1\r\n0\r\n", "GET", "n");
    /* The TTL stays. */
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "n", "30");
    RUN(f, shale_cmd_incr, ":1\r\n", "INCR", "n");
    RUN(f, shale_cmd_ttl, ":30\r\n", "TTL", "n");
    /* Stored values that are not string2ll integers. */
    static const char *bad[] = {"abc", " 1", "1 ", "+1", "01", "1.0", "", "9223372036854775808"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        RUN(f, shale_cmd_set, "+OK\r\n", "SET", "b", bad[i]);
        RUN(f, shale_cmd_incr, NOT_INT, "INCR", "b");
    }
    RUN(f, shale_cmd_incrby, NOT_INT, "INCRBY", "n", "1.5");
    RUN(f, shale_cmd_decrby, NOT_INT, "DECRBY", "n", "x");
    RUN(f, shale_cmd_incrby, NOT_INT, "INCRBY", "n", "");
}

static void test_incr_overflow(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "n", "9223372036854775806");
    RUN(f, shale_cmd_incr, ":9223372036854775807\r\n", "INCR", "n");
    RUN(f, shale_cmd_incr, "-ERR increment or decrement would overflow\r\n", "INCR", "n");
    RUN(f, shale_cmd_incrby, "-ERR increment or decrement would overflow\r\n", "INCRBY", "n",
        "9223372036854775807");
    RUN(f, shale_cmd_get, "$19\r\n9223372036854775807\r\n", "GET", "n");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "n", "-9223372036854775807");
    RUN(f, shale_cmd_decr, ":-9223372036854775808\r\n", "DECR", "n");
    RUN(f, shale_cmd_decr, "-ERR increment or decrement would overflow\r\n", "DECR", "n");
    RUN(f, shale_cmd_incrby, ":-1\r\n", "INCRBY", "n", "9223372036854775807");
    RUN(f, shale_cmd_decrby, "-ERR decrement would overflow\r\n", "DECRBY", "n",
        "-9223372036854775808");
    RUN(f, shale_cmd_incrby, ":-9223372036854775807\r\n", "INCRBY", "n", "-9223372036854775806");
}

static void test_incrbyfloat(void **state)
{
    struct fx *f = *state;

    /* Redis documentation examples. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "mykey", "10.50");
    RUN(f, shale_cmd_incrbyfloat, "$4\r\n10.6\r\n", "INCRBYFLOAT", "mykey", "0.1");
    RUN(f, shale_cmd_incrbyfloat, "$3\r\n5.6\r\n", "INCRBYFLOAT", "mykey", "-5");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "mykey", "5.0e3");
    RUN(f, shale_cmd_incrbyfloat, "$4\r\n5200\r\n", "INCRBYFLOAT", "mykey", "2.0e2");
    RUN(f, shale_cmd_get, "$4\r\n5200\r\n", "GET", "mykey");

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "a", "10");
    RUN(f, shale_cmd_incrbyfloat, "$4\r\n20.5\r\n", "INCRBYFLOAT", "a", "10.5");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "b", "3.0e3");
    RUN(f, shale_cmd_incrbyfloat, "$4\r\n3200\r\n", "INCRBYFLOAT", "b", "200");
    RUN(f, shale_cmd_incrbyfloat, "$3\r\n1.5\r\n", "INCRBYFLOAT", "new", "1.5");
    RUN(f, shale_cmd_incrbyfloat, "$1\r\n0\r\n", "INCRBYFLOAT", "new", "-1.5");
    RUN(f, shale_cmd_incrbyfloat, "$5\r\n-0.25\r\n", "INCRBYFLOAT", "new", "-0.25");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "c", "0.1");
    RUN(f, shale_cmd_incrbyfloat, "$3\r\n0.3\r\n", "INCRBYFLOAT", "c", "0.2");
    RUN(f, shale_cmd_incrbyfloat, "$6\r\n100000\r\n", "INCRBYFLOAT", "c", "99999.7");
    /* Integers written by INCR read as floats, and back. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "i", "17");
    RUN(f, shale_cmd_incrbyfloat, "$2\r\n18\r\n", "INCRBYFLOAT", "i", "1.0");
    RUN(f, shale_cmd_incr, ":19\r\n", "INCR", "i");
    /* Shrinking a long stored float keeps the value right. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "l",
        "1.000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000");
    RUN(f, shale_cmd_incrbyfloat, "$1\r\n2\r\n", "INCRBYFLOAT", "l", "1");
    RUN(f, shale_cmd_get, "$1\r\n2\r\n", "GET", "l");
    /* The TTL stays. */
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "l", "20");
    RUN(f, shale_cmd_incrbyfloat, "$3\r\n2.5\r\n", "INCRBYFLOAT", "l", "0.5");
    RUN(f, shale_cmd_ttl, ":20\r\n", "TTL", "l");

    /* Errors. */
    RUN(f, shale_cmd_incrbyfloat, NOT_FLOAT, "INCRBYFLOAT", "a", "abc");
    RUN(f, shale_cmd_incrbyfloat, NOT_FLOAT, "INCRBYFLOAT", "a", " 1");
    RUN(f, shale_cmd_incrbyfloat, NOT_FLOAT, "INCRBYFLOAT", "a", "nan");
    RUN(f, shale_cmd_incrbyfloat, NOT_FLOAT, "INCRBYFLOAT", "a", "");
    RUN(f, shale_cmd_incrbyfloat, NOT_FLOAT, "INCRBYFLOAT", "a", "1e5000");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "s", "hello");
    RUN(f, shale_cmd_incrbyfloat, NOT_FLOAT, "INCRBYFLOAT", "s", "1");
    RUN(f, shale_cmd_incrbyfloat, "-ERR increment would produce NaN or Infinity\r\n", "INCRBYFLOAT",
        "a", "inf");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "big", "1e4932");
    RUN(f, shale_cmd_incrbyfloat, "-ERR increment would produce NaN or Infinity\r\n", "INCRBYFLOAT",
        "big", "1e4932");
    RUN(f, shale_cmd_get, "$4\r\n20.5\r\n", "GET", "a");
}

/* ---- MGET / MSET ------------------------------------------------------- */

static void test_mget_mset(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_mset, "+OK\r\n", "MSET", "a", "1", "b", "22");
    RUN(f, shale_cmd_mget, "*3\r\n$1\r\n1\r\n$2\r\n22\r\n$-1\r\n", "MGET", "a", "b", "c");
    RUN(f, shale_cmd_mget, "*2\r\n$1\r\n1\r\n$1\r\n1\r\n", "MGET", "a", "a");
    assert_int_equal(f->x.stats.keyspace_hits, 4);
    assert_int_equal(f->x.stats.keyspace_misses, 1);
    /* Later pairs win; MSET drops TTLs. */
    RUN(f, shale_cmd_setex, "+OK\r\n", "SETEX", "a", "100", "x");
    RUN(f, shale_cmd_mset, "+OK\r\n", "MSET", "a", "2", "a", "3");
    RUN(f, shale_cmd_get, "$1\r\n3\r\n", "GET", "a");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "a");
    RUN(f, shale_cmd_mset, "-ERR wrong number of arguments for 'mset' command\r\n", "MSET", "a",
        "1", "b");
    RUN(f, shale_cmd_get, "$1\r\n3\r\n", "GET", "a");
    f->proto = 3;
    RUN(f, shale_cmd_mget, "*2\r\n_\r\n$1\r\n3\r\n", "MGET", "zz", "a");
}

/* ---- key commands ------------------------------------------------------ */

static void test_del_exists_touch_type(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_mset, "+OK\r\n", "MSET", "a", "1", "b", "2", "c", "3");
    RUN(f, shale_cmd_exists, ":3\r\n", "EXISTS", "a", "a", "b", "nope");
    RUN(f, shale_cmd_touch, ":2\r\n", "TOUCH", "a", "c", "nope");
    RUN(f, shale_cmd_type, "+string\r\n", "TYPE", "a");
    RUN(f, shale_cmd_type, "+none\r\n", "TYPE", "nope");
    RUN(f, shale_cmd_del, ":2\r\n", "DEL", "a", "b", "a", "nope");
    RUN(f, shale_cmd_unlink, ":1\r\n", "UNLINK", "c", "c");
    RUN(f, shale_cmd_del, ":0\r\n", "DEL", "a");
    RUN(f, shale_cmd_exists, ":0\r\n", "EXISTS", "a");
    assert_int_equal(shale_keyspace_keys(f->x.ks, 0), 0);
}

static void test_expire_basic(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "10");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "10");
    RUN(f, shale_cmd_pttl, ":10000\r\n", "PTTL", "k");
    RUN(f, shale_cmd_pexpire, ":1\r\n", "PEXPIRE", "k", "2500");
    RUN(f, shale_cmd_pttl, ":2500\r\n", "PTTL", "k");
    RUN(f, shale_cmd_expireat, ":1\r\n", "EXPIREAT", "k", "1700000200");
    RUN(f, shale_cmd_ttl, ":200\r\n", "TTL", "k");
    RUN(f, shale_cmd_pexpireat, ":1\r\n", "PEXPIREAT", "k", "1700000000900");
    RUN(f, shale_cmd_pttl, ":900\r\n", "PTTL", "k");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 1);

    /* A time in the past (or now) deletes the key and answers 1. */
    RUN(f, shale_cmd_expireat, ":1\r\n", "EXPIREAT", "k", "1");
    RUN(f, shale_cmd_exists, ":0\r\n", "EXISTS", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "-5");
    RUN(f, shale_cmd_exists, ":0\r\n", "EXISTS", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_pexpire, ":1\r\n", "PEXPIRE", "k", "0");
    RUN(f, shale_cmd_exists, ":0\r\n", "EXISTS", "k");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);

    /* Errors. */
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_expire, NOT_INT, "EXPIRE", "k", "1.5");
    RUN(f, shale_cmd_expire, NOT_INT, "EXPIRE", "k", "+1");
    RUN(f, shale_cmd_expire, "-ERR invalid expire time in 'expire' command\r\n", "EXPIRE", "k",
        "9223372036854776");
    RUN(f, shale_cmd_expire, "-ERR invalid expire time in 'expire' command\r\n", "EXPIRE", "k",
        "-9223372036854776");
    RUN(f, shale_cmd_pexpire, "-ERR invalid expire time in 'pexpire' command\r\n", "PEXPIRE", "k",
        "9223372036854775807");
    RUN(f, shale_cmd_expireat, "-ERR invalid expire time in 'expireat' command\r\n", "EXPIREAT",
        "k", "9223372036854776");
    RUN(f, shale_cmd_pexpireat, ":1\r\n", "PEXPIREAT", "k", "9223372036854775807");
    RUN(f, shale_cmd_pexpire, ":0\r\n", "PEXPIRE", "missing", "9223372036854775");
    RUN(f, shale_cmd_ttl, ":9223370336854776\r\n", "TTL", "k");
    /* Rounding the largest expire to seconds must not overflow. */
    RUN(f, shale_cmd_expiretime, ":9223372036854776\r\n", "EXPIRETIME", "k");
}

static void test_expire_options(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    /* No TTL yet: XX and GT fail (no TTL counts as infinite), NX and LT set. */
    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "100", "XX");
    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "100", "gt");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "100", "lt");
    RUN(f, shale_cmd_persist, ":1\r\n", "PERSIST", "k");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "100", "nx");
    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "200", "NX");
    RUN(f, shale_cmd_ttl, ":100\r\n", "TTL", "k");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "200", "XX");
    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "200", "GT");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "300", "GT");
    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "300", "LT");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "50", "LT", "XX");
    RUN(f, shale_cmd_ttl, ":50\r\n", "TTL", "k");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "60", "GT", "XX");
    RUN(f, shale_cmd_ttl, ":60\r\n", "TTL", "k");
    /* A failed GT does not delete, even with a time in the past. */
    RUN(f, shale_cmd_expire, ":0\r\n", "EXPIRE", "k", "-1", "GT");
    RUN(f, shale_cmd_ttl, ":60\r\n", "TTL", "k");

    RUN(f, shale_cmd_expire,
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n", "EXPIRE", "k",
        "10", "NX", "XX");
    RUN(f, shale_cmd_expire,
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n", "EXPIRE", "k",
        "10", "GT", "NX");
    RUN(f, shale_cmd_pexpire, "-ERR GT and LT options at the same time are not compatible\r\n",
        "PEXPIRE", "k", "10", "GT", "LT");
    RUN(f, shale_cmd_expire, "-ERR Unsupported option foo\r\n", "EXPIRE", "k", "10", "foo");
    /* Options are checked before the time value. */
    RUN(f, shale_cmd_expire, "-ERR Unsupported option XXX\r\n", "EXPIRE", "k", "abc", "XXX");
    RUN(f, shale_cmd_expire, "-ERR GT and LT options at the same time are not compatible\r\n",
        "EXPIRE", "missing", "abc", "LT", "GT");
    RUN(f, shale_cmd_ttl, ":60\r\n", "TTL", "k");
}

static void test_ttl_and_persist(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_ttl, ":-2\r\n", "TTL", "k");
    RUN(f, shale_cmd_pttl, ":-2\r\n", "PTTL", "k");
    RUN(f, shale_cmd_expiretime, ":-2\r\n", "EXPIRETIME", "k");
    RUN(f, shale_cmd_pexpiretime, ":-2\r\n", "PEXPIRETIME", "k");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "v");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    RUN(f, shale_cmd_pttl, ":-1\r\n", "PTTL", "k");
    RUN(f, shale_cmd_expiretime, ":-1\r\n", "EXPIRETIME", "k");
    RUN(f, shale_cmd_pexpiretime, ":-1\r\n", "PEXPIRETIME", "k");
    RUN(f, shale_cmd_persist, ":0\r\n", "PERSIST", "k");
    RUN(f, shale_cmd_persist, ":0\r\n", "PERSIST", "missing");
    /* Seconds round to nearest: (ms + 500) / 1000. */
    RUN(f, shale_cmd_pexpire, ":1\r\n", "PEXPIRE", "k", "1499");
    RUN(f, shale_cmd_ttl, ":1\r\n", "TTL", "k");
    RUN(f, shale_cmd_pexpire, ":1\r\n", "PEXPIRE", "k", "1500");
    RUN(f, shale_cmd_ttl, ":2\r\n", "TTL", "k");
    RUN(f, shale_cmd_pexpire, ":1\r\n", "PEXPIRE", "k", "499");
    RUN(f, shale_cmd_ttl, ":0\r\n", "TTL", "k");
    RUN(f, shale_cmd_expiretime, ":1700000000\r\n", "EXPIRETIME", "k");
    RUN(f, shale_cmd_pexpiretime, ":1700000000499\r\n", "PEXPIRETIME", "k");
    RUN(f, shale_cmd_pexpireat, ":1\r\n", "PEXPIREAT", "k", "1700000001500");
    RUN(f, shale_cmd_expiretime, ":1700000002\r\n", "EXPIRETIME", "k");
    RUN(f, shale_cmd_persist, ":1\r\n", "PERSIST", "k");
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "k");
    RUN(f, shale_cmd_get, "$1\r\nv\r\n", "GET", "k");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);
}

static void test_lazy_expiry(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "a", "1", "PX", "100");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "b", "2", "PX", "100");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "c", "3", "PX", "100");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "keep", "4");
    f->x.now_ms += 99;
    RUN(f, shale_cmd_pttl, ":1\r\n", "PTTL", "a");
    RUN(f, shale_cmd_get, "$1\r\n1\r\n", "GET", "a");
    f->x.now_ms += 1; /* expire == now: gone */
    RUN(f, shale_cmd_get, "$-1\r\n", "GET", "a");
    RUN(f, shale_cmd_ttl, ":-2\r\n", "TTL", "a");
    RUN(f, shale_cmd_del, ":0\r\n", "DEL", "b");
    RUN(f, shale_cmd_exists, ":1\r\n", "EXISTS", "c", "keep");
    RUN(f, shale_cmd_incr, ":1\r\n", "INCR", "c"); /* a fresh key, without TTL */
    RUN(f, shale_cmd_ttl, ":-1\r\n", "TTL", "c");
    assert_int_equal(shale_keyspace_expired(f->x.ks), 3);
    assert_int_equal(shale_keyspace_keys(f->x.ks, 0), 2);
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);
}

static void test_dbsize_and_flush(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_mset, "+OK\r\n", "MSET", "a", "1", "b", "2");
    f->db = 3;
    RUN(f, shale_cmd_dbsize, ":0\r\n", "DBSIZE");
    RUN(f, shale_cmd_get, "$-1\r\n", "GET", "a");
    RUN(f, shale_cmd_mset, "+OK\r\n", "MSET", "a", "x", "c", "y", "d", "z");
    RUN(f, shale_cmd_dbsize, ":3\r\n", "DBSIZE");
    RUN(f, shale_cmd_flushdb, SYNTAX, "FLUSHDB", "NOW");
    RUN(f, shale_cmd_flushdb, SYNTAX, "FLUSHDB", "SYNC", "ASYNC");
    RUN(f, shale_cmd_flushdb, "+OK\r\n", "FLUSHDB", "async");
    RUN(f, shale_cmd_dbsize, ":0\r\n", "DBSIZE");
    f->db = 0;
    RUN(f, shale_cmd_dbsize, ":2\r\n", "DBSIZE");
    f->db = 5;
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "e", "1");
    RUN(f, shale_cmd_flushall, SYNTAX, "FLUSHALL", "everything");
    RUN(f, shale_cmd_flushall, "+OK\r\n", "FLUSHALL", "Sync");
    RUN(f, shale_cmd_dbsize, ":0\r\n", "DBSIZE");
    f->db = 0;
    RUN(f, shale_cmd_dbsize, ":0\r\n", "DBSIZE");
    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "a", "1", "EX", "10");
    RUN(f, shale_cmd_flushall, "+OK\r\n", "FLUSHALL");
    assert_int_equal(shale_keyspace_expires(f->x.ks, 0), 0);
}

static void test_stats_count_reads_only(void **state)
{
    struct fx *f = *state;

    RUN(f, shale_cmd_set, "+OK\r\n", "SET", "k", "1");
    RUN(f, shale_cmd_incr, ":2\r\n", "INCR", "k");
    RUN(f, shale_cmd_append, ":2\r\n", "APPEND", "k", "0");
    RUN(f, shale_cmd_expire, ":1\r\n", "EXPIRE", "k", "10");
    RUN(f, shale_cmd_del, ":0\r\n", "DEL", "nope");
    assert_int_equal(f->x.stats.keyspace_hits, 0);
    assert_int_equal(f->x.stats.keyspace_misses, 0);
    RUN(f, shale_cmd_strlen, ":2\r\n", "STRLEN", "k");
    RUN(f, shale_cmd_ttl, ":-2\r\n", "TTL", "nope");
    RUN(f, shale_cmd_exists, ":1\r\n", "EXISTS", "k", "nope");
    assert_int_equal(f->x.stats.keyspace_hits, 2);
    assert_int_equal(f->x.stats.keyspace_misses, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_get_set),
        T(test_get_wrongtype),
        T(test_set_nx_xx),
        T(test_set_syntax_errors),
        T(test_set_expire_errors),
        T(test_set_expire_options),
        T(test_set_exat_in_the_past),
        T(test_setnx_setex_psetex),
        T(test_getset_getdel),
        T(test_getex),
        T(test_append_and_strlen),
        T(test_append_growth),
        T(test_getrange),
        T(test_setrange),
        T(test_incr_decr),
        T(test_incr_overflow),
        T(test_incrbyfloat),
        T(test_mget_mset),
        T(test_del_exists_touch_type),
        T(test_expire_basic),
        T(test_expire_options),
        T(test_ttl_and_persist),
        T(test_lazy_expiry),
        T(test_dbsize_and_flush),
        T(test_stats_count_reads_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
