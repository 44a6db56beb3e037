/* keyspace: one shard's databases: a hash table of key objects per
 * database, lazy expiry on access, and the key/expire counts INFO needs.
 * Shard thread only. */
#ifndef SHALE_KEYSPACE_H
#define SHALE_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "server/slice.h"
#include "shards/object.h"
#include "shards/table.h"

struct keyspace;

/* A key is found as its slot in its database's table (shards/table.h): the
 * object is keyspace_obj(ref); a slot stays valid as table.h says. */
static inline struct kobj *keyspace_obj(const struct table_slot *ref)
{
    return table_slot_entry(ref);
}

struct keyspace *shale_keyspace_create(int databases, uint64_t seed);
void shale_keyspace_destroy(struct keyspace *ks);
int shale_keyspace_databases(const struct keyspace *ks);

/* The slot holding the live object for key, or NULL. An object whose expire
 * time is <= now_ms is deleted here (lazy expiry) and counted as expired.
 * Valid until the next call that adds or removes keys. */
struct table_slot *shale_keyspace_find(struct keyspace *ks, int db, struct slice key,
                                       int64_t now_ms);
/* Same as find without updating the key's LRU clock (Redis's
 * LOOKUP_NOTOUCH: OBJECT IDLETIME must not reset what it measures). */
struct table_slot *shale_keyspace_peek(struct keyspace *ks, int db, struct slice key,
                                       int64_t now_ms);

/* find, add and replace stamp the object's 24-bit LRU field with the wall
 * clock in seconds, as Redis's LRU_CLOCK (resolution 1000 ms); this is the
 * time since that stamp, in ms, wrap-around handled as Redis does. */
#define SHALE_KEYSPACE_LRU_MAX ((1u << 24) - 1)
int64_t shale_keyspace_idle_ms(const struct kobj *o, int64_t now_ms);
/* Under an LFU maxmemory policy the same 24 bits hold Redis's LFU counter
 * (shards/lfu.h) instead: find counts an access, add starts a key at 5,
 * replace keeps the old key's counter. Switching reinterprets the bits of
 * existing keys, as in Redis. The shard sets this from its live config. */
void shale_keyspace_set_lfu(struct keyspace *ks, int lfu, long long log_factor,
                            long long decay_time);
int shale_keyspace_lfu(const struct keyspace *ks);
/* The object's LFU counter after decay (OBJECT FREQ), without storing it. */
unsigned shale_keyspace_lfu_freq(const struct keyspace *ks, const struct kobj *o, int64_t now_ms);
/* Up to n eviction candidates of db (with_ttl: only keys with a TTL) into
 * out; returns how many. All keys: n independent uniform draws (a key may
 * come twice). Keys with a TTL: uniform draws while they are at least a
 * quarter of the keys, then (or when they are fewer) walks of consecutive
 * buckets from random ones, bounded (see keyspace.c), so with very few keys
 * with a TTL it may find fewer than n, or none. Expired
 * keys may be among them. The objects stay valid until keys are added or
 * removed. */
size_t shale_keyspace_sample(struct keyspace *ks, int db, int with_ttl, struct kobj **out, size_t n,
                             uint64_t *rng);
/* A uniformly random live key object of db, or NULL when there is none;
 * expired picks are deleted (counted as expired) and another drawn. */
struct kobj *shale_keyspace_random(struct keyspace *ks, int db, int64_t now_ms, uint64_t *rng);
/* db's table of key objects, for the batch prefetch (shards/prefetch.h),
 * which reads it and never changes it. */
struct table *shale_keyspace_table(struct keyspace *ks, int db);
/* Adds an object whose key is not present. */
void shale_keyspace_add(struct keyspace *ks, int db, struct kobj *o);
/* Puts a NEW object o (same key) into a slot returned by find and frees the
 * object that was there (SET over an existing key). */
void shale_keyspace_replace(struct keyspace *ks, int db, struct table_slot *ref, struct kobj *o);
/* The object in ref was reallocated by a function of object.h that returns a
 * moved pointer (shale_kobj_string_resize): record where it lives now. The
 * old pointer is already gone; nothing is freed. */
static inline void keyspace_moved(struct table_slot *ref, struct kobj *o)
{
    table_slot_set(ref, o);
}
/* Sets (ms >= 0) or removes (KOBJ_NO_EXPIRE) the TTL of the object in ref,
 * keeping the expire count right. Use this, not shale_kobj_set_expire. */
void shale_keyspace_set_expire(struct keyspace *ks, int db, struct table_slot *ref, int64_t ms);
/* Deletes key; returns 1 if it existed. */
int shale_keyspace_delete(struct keyspace *ks, int db, struct slice key);
/* Removes every key of db (db < 0: of every database). */
void shale_keyspace_flush(struct keyspace *ks, int db);

/* Moves pending incremental rehash forward for about budget_us; the shard's
 * timer calls it so a table that is only read still finishes resizing. */
void shale_keyspace_rehash(struct keyspace *ks, int64_t budget_us);

/* Deletes key, which the caller found expired (the active expiry cycle,
 * shards/expire.c), and counts it in shale_keyspace_expired exactly as lazy
 * expiry does. Returns 1 if it existed. */
int shale_keyspace_expire_key(struct keyspace *ks, int db, struct slice key);
/* shale_table_scan over db's table (see table.h): visits the key objects at
 * cursor, returns the next cursor (0 = done; start with 0). The cursor is a
 * position in hash space, so it survives resizes; fn gets the slot and must
 * not add or remove keys. */
uint64_t shale_keyspace_scan(struct keyspace *ks, int db, uint64_t cursor,
                             void (*fn)(void *ctx, struct table_slot *entry_ref), void *ctx);

/* The slot holding key's object, expired or not, without touching its LRU
 * clock or deleting it: for defrag, which must not change what it walks. */
struct table_slot *shale_keyspace_ref(struct keyspace *ks, int db, struct slice key);
/* Defrag of the keyspace's own blocks (each database's table, the database
 * array); `move` as in shale_table_defrag. Key objects are not touched. */
void shale_keyspace_defrag(struct keyspace *ks, void *(*move)(void *ptr, void *ctx), void *ctx);

uint64_t shale_keyspace_keys(const struct keyspace *ks, int db);
uint64_t shale_keyspace_expires(const struct keyspace *ks, int db);
/* Keys deleted by expiry (lazy on access, or the active cycle) since start. */
uint64_t shale_keyspace_expired(const struct keyspace *ks);

#endif
