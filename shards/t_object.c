/* t_object: OBJECT and DEBUG (see t_object.h). Shard handlers touch only
 * x->ks and r->reply. */
#include "shards/t_object.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/request.h"
#include "server/crc16.h"
#include "server/mem.h"
#include "server/strconv.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/t_hash.h"

/* Redis's OBJ_SHARED_REFCOUNT and OBJ_SHARED_INTEGERS. */
#define SHARED_REFCOUNT INT_MAX
#define SHARED_INTEGERS 10000

/* Redis's string2ll: a canonical decimal long long (no '+', no leading
 * zeros, no "-0"), up to 20 characters. */
static int string_is_int(struct slice s, long long *out)
{
    char buf[24];
    long long v;

    if (s.len == 0 || s.len > 20 || !shale_strconv_ll(s, &v))
        return 0;
    int n = snprintf(buf, sizeof(buf), "%lld", v);
    if ((size_t)n != s.len || memcmp(buf, s.ptr, s.len) != 0)
        return 0;
    *out = v;
    return 1;
}

/* Strings are always embedded in the key object; report what Redis's
 * tryObjectEncoding would have chosen for the same bytes after a SET. */
static const char *string_encoding(struct slice v)
{
    long long ll;

    if (string_is_int(v, &ll))
        return "int";
    return v.len <= 44 ? "embstr" : "raw";
}

/* OBJECT looks keys up without touching their LRU clock (LOOKUP_NOTOUCH)
 * and answers nil for a missing key. */
static struct kobj *object_lookup(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref = shale_keyspace_peek(x->ks, r->db, r->argv[2], x->now_ms);

    if (!ref)
        shale_resp_add_null(&r->reply);
    return ref ? keyspace_obj(ref) : NULL;
}

void shale_cmd_object_encoding(struct exec_ctx *x, struct request *r)
{
    struct kobj *o = object_lookup(x, r);
    const char *enc;

    if (!o)
        return;
    if (shale_kobj_type(o) == KOBJ_STRING)
        enc = string_encoding(shale_kobj_string(o));
    else
        enc = shale_hash_key_encoding(o);
    shale_resp_add_bulk_cstr(&r->reply, enc ? enc : "unknown");
}

/* The header's 24 bits hold an LFU counter under an LFU maxmemory policy
 * and an LRU clock otherwise (shards/keyspace.h); each subcommand answers
 * only in its mode, with Redis's errors. */
void shale_cmd_object_freq(struct exec_ctx *x, struct request *r)
{
    struct kobj *o = object_lookup(x, r);

    if (!o)
        return;
    if (!shale_keyspace_lfu(x->ks)) {
        shale_resp_add_error(&r->reply,
                             "ERR An LFU maxmemory policy is not selected, access frequency not "
                             "tracked. Please note that when switching between policies at "
                             "runtime LRU and LFU data will take some time to adjust.");
        return;
    }
    shale_resp_add_integer(&r->reply, shale_keyspace_lfu_freq(x->ks, o, x->now_ms));
}

void shale_cmd_object_idletime(struct exec_ctx *x, struct request *r)
{
    struct kobj *o = object_lookup(x, r);

    if (!o)
        return;
    if (shale_keyspace_lfu(x->ks)) {
        shale_resp_add_error(&r->reply,
                             "ERR An LFU maxmemory policy is selected, idle time not tracked. "
                             "Please note that when switching between policies at runtime LRU "
                             "and LFU data will take some time to adjust.");
        return;
    }
    shale_resp_add_integer(&r->reply, shale_keyspace_idle_ms(o, x->now_ms) / 1000);
}

/* Values are never shared, except that Redis would share small integers. */
void shale_cmd_object_refcount(struct exec_ctx *x, struct request *r)
{
    struct kobj *o = object_lookup(x, r);
    long long ll;

    if (!o)
        return;
    if (shale_kobj_type(o) == KOBJ_STRING && string_is_int(shale_kobj_string(o), &ll) && ll >= 0 &&
        ll < SHARED_INTEGERS)
        shale_resp_add_integer(&r->reply, SHARED_REFCOUNT);
    else
        shale_resp_add_integer(&r->reply, 1);
}

void shale_cmd_object_help(struct conn *c, struct request *r)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    size_t n = sizeof(lines) / sizeof(lines[0]);

    shale_resp_add_array_len(&r->reply, (long long)n);
    for (size_t i = 0; i < n; i++)
        shale_resp_add_status(&r->reply, lines[i]);
}

static void reply_debug_syntax(struct request *r)
{
    int n = r->argv[1].len > 128 ? 128 : (int)r->argv[1].len;
    shale_resp_add_errorf(&r->reply,
                          "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
                          "DEBUG HELP.",
                          n, r->argv[1].ptr);
}

/* Redis: strtod over the argument (garbage reads as 0), then nanosleep. */
void shale_cmd_debug_sleep(struct exec_ctx *x, struct request *r)
{
    char buf[64];

    if (r->argc != 3) {
        reply_debug_syntax(r);
        return;
    }
    size_t n = r->argv[2].len < sizeof(buf) - 1 ? r->argv[2].len : sizeof(buf) - 1;

    memcpy(buf, r->argv[2].ptr, n);
    buf[n] = '\0';
    /* Only a positive time sleeps. Converting nan, or seconds beyond what
     * microseconds in a long long hold, would be undefined: found by
     * fuzz_commands ("DEBUG SLEEP nan"). Anything longer than 10^12 s is
     * forever anyway. */
    double secs = strtod(buf, NULL);
    long long utime = secs > 0 ? (long long)((secs < 1e12 ? secs : 1e12) * 1000000) : 0;
    if (utime > 0) {
        struct timespec ts = {.tv_sec = utime / 1000000, .tv_nsec = (utime % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    shale_resp_add_status(&r->reply, "OK");
}

/* Redis's getPositiveLongFromObjectOrReply: one error for both a
 * non-integer and a negative value. */
static int positive_long(struct request *r, struct slice s, long long *out)
{
    if (!shale_strconv_ll(s, out) || *out < 0) {
        shale_resp_add_error(&r->reply, "ERR value is out of range, must be positive");
        return 0;
    }
    return 1;
}

void shale_cmd_debug_populate(struct exec_ctx *x, struct request *r)
{
    int argc = r->argc;
    long long keys, valsize = 0;

    if (argc < 3 || argc > 5) {
        reply_debug_syntax(r);
        return;
    }
    if (!positive_long(r, r->argv[2], &keys))
        return;
    if (argc == 5 && !positive_long(r, r->argv[4], &valsize))
        return;
    /* The prefix is read as a C string, as Redis does. */
    struct slice prefix = argc >= 4 ? r->argv[3] : (struct slice){"key", 3};
    const char *nul = memchr(prefix.ptr, '\0', prefix.len);
    int plen = (int)(nul ? (size_t)(nul - prefix.ptr) : prefix.len);
    char *val = valsize ? shale_calloc(1, (size_t)valsize) : NULL;
    char kbuf[128], vbuf[32];

    for (long long j = 0; j < keys; j++) {
        int klen =
            snprintf(kbuf, sizeof(kbuf), "%.*s:%llu", plen, prefix.ptr, (unsigned long long)j);
        struct slice key = {kbuf, klen < (int)sizeof(kbuf) ? (size_t)klen : sizeof(kbuf) - 1};
        if (x->slot_to_shard[shale_crc16_key_slot(key.ptr, key.len)] != x->shard)
            continue;
        if (shale_keyspace_find(x->ks, r->db, key, x->now_ms))
            continue;
        int vlen = snprintf(vbuf, sizeof(vbuf), "value:%llu", (unsigned long long)j);
        struct slice value = {vbuf, (size_t)vlen};
        if (valsize) {
            size_t copy = (size_t)vlen < (size_t)valsize ? (size_t)vlen : (size_t)valsize;
            /* Earlier values were no longer: clearing their span is enough. */
            memset(val, 0, (size_t)valsize < sizeof(vbuf) ? (size_t)valsize : sizeof(vbuf));
            memcpy(val, vbuf, copy);
            value = (struct slice){val, (size_t)valsize};
        }
        shale_keyspace_add(x->ks, r->db, shale_kobj_new_string(key, value, KOBJ_NO_EXPIRE));
    }
    shale_free(val);
    shale_resp_add_status(&r->reply, "OK");
}
