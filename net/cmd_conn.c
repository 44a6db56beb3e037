/* cmd_conn: see cmd_conn.h. Replies and errors follow Redis 7.0 word for
 * word, because clients parse them. I/O thread only. */
#include "net/cmd_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "net/cmd_client.h"
#include "net/conn.h"
#include "net/io_thread.h"
#include "net/multi.h"
#include "net/request.h"
#include "server/clock.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/info.h"
#include "server/server.h"
#include "server/strconv.h"

static const struct config *cfg_of(const struct conn *c)
{
    return c->t->srv->cfg;
}

void shale_cmd_ping(struct conn *c, struct request *r)
{
    if (r->argc > 2)
        shale_resp_add_errorf(&r->reply, "ERR wrong number of arguments for 'ping' command");
    else if (r->argc == 2)
        shale_resp_add_bulk(&r->reply, r->argv[1].ptr, r->argv[1].len);
    else
        shale_resp_add_status(&r->reply, "PONG");
}

void shale_cmd_echo(struct conn *c, struct request *r)
{
    shale_resp_add_bulk(&r->reply, r->argv[1].ptr, r->argv[1].len);
}

static int password_matches(const struct conn *c, struct slice user, struct slice pass)
{
    const char *want = config_live(cfg_of(c), requirepass);
    if (!slice_eq_nocase(user, "default"))
        return 0;
    if (!want || !*want)
        return 1; /* the default user is "nopass" */
    return pass.len == strlen(want) && memcmp(pass.ptr, want, pass.len) == 0;
}

void shale_cmd_auth(struct conn *c, struct request *r)
{
    if (r->argc > 3) {
        shale_resp_add_error(&r->reply, "ERR syntax error");
        return;
    }
    const char *want = config_live(cfg_of(c), requirepass);
    if (r->argc == 2 && (!want || !*want)) {
        shale_resp_add_error(&r->reply,
                             "ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?");
        return;
    }
    struct slice user = r->argc == 3 ? r->argv[1] : (struct slice){"default", 7};
    if (password_matches(c, user, r->argv[r->argc - 1])) {
        shale_conn_set_authenticated(c, 1);
        shale_resp_add_status(&r->reply, "OK");
    } else {
        shale_resp_add_error(&r->reply,
                             "WRONGPASS invalid username-password pair or user is disabled.");
    }
}

static int valid_client_name(struct slice name)
{
    for (size_t i = 0; i < name.len; i++)
        if (name.ptr[i] < '!' || name.ptr[i] > '~')
            return 0;
    return 1;
}

static const char bad_name_error[] =
    "ERR Client names cannot contain spaces, newlines or special characters.";

void shale_cmd_hello(struct conn *c, struct request *r)
{
    long long ver = c->proto;
    int i = 1;
    if (r->argc >= 2) {
        if (!shale_strconv_ll(r->argv[1], &ver)) {
            shale_resp_add_error(&r->reply,
                                 "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            shale_resp_add_error(&r->reply, "NOPROTO unsupported protocol version");
            return;
        }
        i = 2;
    }
    struct slice auth_user = {0}, auth_pass = {0}, name = {0};
    int has_auth = 0, has_name = 0;
    for (; i < r->argc; i++) {
        int more = r->argc - i - 1;
        if (slice_eq_nocase(r->argv[i], "AUTH") && more >= 2) {
            has_auth = 1;
            auth_user = r->argv[i + 1];
            auth_pass = r->argv[i + 2];
            i += 2;
        } else if (slice_eq_nocase(r->argv[i], "SETNAME") && more >= 1) {
            has_name = 1;
            name = r->argv[i + 1];
            i += 1;
        } else {
            shale_resp_add_errorf(&r->reply, "ERR Syntax error in HELLO option '%.*s'",
                                  (int)r->argv[i].len, r->argv[i].ptr);
            return;
        }
    }
    if (has_auth) {
        if (!password_matches(c, auth_user, auth_pass)) {
            shale_resp_add_error(&r->reply,
                                 "WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
        shale_conn_set_authenticated(c, 1);
    }
    if (!(c->flags & CONN_AUTHENTICATED)) {
        shale_resp_add_error(&r->reply,
                             "NOAUTH HELLO must be called with the client already authenticated, "
                             "otherwise the HELLO AUTH <user> <pass> option can be used "
                             "to authenticate the client and select the RESP protocol version at "
                             "the same time");
        return;
    }
    if (has_name) {
        if (!valid_client_name(name)) {
            shale_resp_add_error(&r->reply, bad_name_error);
            return;
        }
        shale_clients_set_name(&c->t->srv->clients, &c->info, name.ptr, name.len);
    }
    c->proto = (uint8_t)ver;
    r->reply.proto = (int)ver;
    atomic_store_explicit(&c->info.proto, (int)ver, memory_order_relaxed);
    struct resp_buf *b = &r->reply;
    shale_resp_add_map_len(b, 7);
    shale_resp_add_bulk_cstr(b, "server");
    shale_resp_add_bulk_cstr(b, "redis");
    shale_resp_add_bulk_cstr(b, "version");
    shale_resp_add_bulk_cstr(b, SHALE_REDIS_VERSION);
    shale_resp_add_bulk_cstr(b, "proto");
    shale_resp_add_integer(b, ver);
    shale_resp_add_bulk_cstr(b, "id");
    shale_resp_add_integer(b, (long long)c->info.id);
    shale_resp_add_bulk_cstr(b, "mode");
    shale_resp_add_bulk_cstr(b, "standalone");
    shale_resp_add_bulk_cstr(b, "role");
    shale_resp_add_bulk_cstr(b, "master");
    shale_resp_add_bulk_cstr(b, "modules");
    shale_resp_add_array_len(b, 0);
}

void shale_cmd_quit(struct conn *c, struct request *r)
{
    shale_resp_add_status(&r->reply, "OK");
    c->flags |= CONN_CLOSE_AFTER_REPLY;
}

void shale_cmd_reset(struct conn *c, struct request *r)
{
    c->db = 0;
    c->proto = 2;
    r->reply.proto = 2;
    atomic_store_explicit(&c->info.db, 0, memory_order_relaxed);
    atomic_store_explicit(&c->info.proto, 2, memory_order_relaxed);
    shale_clients_set_name(&c->t->srv->clients, &c->info, NULL, 0);
    shale_client_reset_modes(c, r);
    const char *pass = config_live(cfg_of(c), requirepass);
    shale_conn_set_authenticated(c, !pass || !*pass);
    shale_multi_reset(c);
    shale_resp_add_status(&r->reply, "RESET");
}

void shale_cmd_select(struct conn *c, struct request *r)
{
    long long db;
    if (!shale_strconv_ll(r->argv[1], &db) || db < INT32_MIN || db > INT32_MAX) {
        shale_resp_add_error(&r->reply, "ERR value is not an integer or out of range");
        return;
    }
    if (db < 0 || db >= cfg_of(c)->databases) {
        shale_resp_add_error(&r->reply, "ERR DB index is out of range");
        return;
    }
    c->db = (uint8_t)db;
    atomic_store_explicit(&c->info.db, (int)db, memory_order_relaxed);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_time(struct conn *c, struct request *r)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    shale_resp_add_array_len(&r->reply, 2);
    shale_resp_add_bulk_ll(&r->reply, (long long)tv.tv_sec);
    shale_resp_add_bulk_ll(&r->reply, (long long)tv.tv_usec);
}

/* ---- CLIENT ---- */

void shale_cmd_client_id(struct conn *c, struct request *r)
{
    shale_resp_add_integer(&r->reply, (long long)c->info.id);
}

void shale_cmd_client_setname(struct conn *c, struct request *r)
{
    if (!valid_client_name(r->argv[2])) {
        shale_resp_add_error(&r->reply, bad_name_error);
        return;
    }
    shale_clients_set_name(&c->t->srv->clients, &c->info, r->argv[2].ptr, r->argv[2].len);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_client_getname(struct conn *c, struct request *r)
{
    char name[256];
    shale_clients_get_name(&c->t->srv->clients, &c->info, name, sizeof(name));
    if (*name)
        shale_resp_add_bulk_cstr(&r->reply, name);
    else
        shale_resp_add_null(&r->reply);
}

void shale_cmd_client_setinfo(struct conn *c, struct request *r)
{
    /* lib-name / lib-ver are accepted for client libraries, not kept. */
    if (slice_eq_nocase(r->argv[2], "lib-name") || slice_eq_nocase(r->argv[2], "lib-ver"))
        shale_resp_add_status(&r->reply, "OK");
    else
        shale_resp_add_errorf(&r->reply, "ERR Unrecognized option '%.*s'", (int)r->argv[2].len,
                              r->argv[2].ptr);
}

/* ---- COMMAND ---- */

static void add_command_info(struct resp_buf *b, const struct command *cmd)
{
    static const struct {
        uint32_t flag;
        const char *name;
    } flag_names[] = {
        {CMD_WRITE, "write"}, {CMD_READONLY, "readonly"}, {CMD_DENYOOM, "denyoom"},
        {CMD_ADMIN, "admin"}, {CMD_LOADING, "loading"},   {CMD_STALE, "stale"},
        {CMD_FAST, "fast"},   {CMD_NO_AUTH, "no_auth"},
    };
    int nflags = 0;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        nflags += (cmd->flags & flag_names[i].flag) != 0;
    shale_resp_add_array_len(b, 10);
    shale_resp_add_bulk_cstr(b, cmd->name);
    shale_resp_add_integer(b, cmd->arity);
    shale_resp_add_set_len(b, nflags);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        if (cmd->flags & flag_names[i].flag)
            shale_resp_add_status(b, flag_names[i].name);
    shale_resp_add_integer(b, cmd->first_key);
    shale_resp_add_integer(b, cmd->last_key);
    shale_resp_add_integer(b, cmd->key_step);
    char category[32];
    snprintf(category, sizeof(category), "@%s", cmd->group);
    shale_resp_add_set_len(b, 1);
    shale_resp_add_status(b, category);
    shale_resp_add_set_len(b, 0);   /* tips */
    shale_resp_add_array_len(b, 0); /* key specs */
    shale_resp_add_array_len(b, 0); /* subcommands */
}

static void add_command_docs(struct resp_buf *b, const struct command *cmd)
{
    shale_resp_add_bulk_cstr(b, cmd->name);
    shale_resp_add_map_len(b, 2);
    shale_resp_add_bulk_cstr(b, "summary");
    shale_resp_add_bulk_cstr(b, "");
    shale_resp_add_bulk_cstr(b, "group");
    shale_resp_add_bulk_cstr(b, cmd->group);
}

/* Top-level rows only: subcommands are reached through their container. */
static int top_level_count(void)
{
    int n = 0;
    for (int i = 0; i < shale_command_count(); i++)
        n += !(shale_command_at(i)->flags & CMD_SUBCOMMAND);
    return n;
}

static void add_all(struct resp_buf *b, int as_docs)
{
    int n = top_level_count();
    if (as_docs)
        shale_resp_add_map_len(b, n);
    else
        shale_resp_add_array_len(b, n);
    for (int i = 0; i < shale_command_count(); i++) {
        const struct command *cmd = shale_command_at(i);
        if (cmd->flags & CMD_SUBCOMMAND)
            continue;
        if (as_docs)
            add_command_docs(b, cmd);
        else
            add_command_info(b, cmd);
    }
}

void shale_cmd_command(struct conn *c, struct request *r)
{
    add_all(&r->reply, 0);
}

void shale_cmd_command_count(struct conn *c, struct request *r)
{
    shale_resp_add_integer(&r->reply, top_level_count());
}

void shale_cmd_command_list(struct conn *c, struct request *r)
{
    shale_resp_add_array_len(&r->reply, top_level_count());
    for (int i = 0; i < shale_command_count(); i++)
        if (!(shale_command_at(i)->flags & CMD_SUBCOMMAND))
            shale_resp_add_bulk_cstr(&r->reply, shale_command_at(i)->name);
}

void shale_cmd_command_info(struct conn *c, struct request *r)
{
    if (r->argc == 2) {
        add_all(&r->reply, 0);
        return;
    }
    shale_resp_add_array_len(&r->reply, r->argc - 2);
    for (int i = 2; i < r->argc; i++) {
        const struct command *cmd = shale_command_lookup(r->argv[i]);
        if (cmd)
            add_command_info(&r->reply, cmd);
        else
            shale_resp_add_null_array(&r->reply);
    }
}

void shale_cmd_command_docs(struct conn *c, struct request *r)
{
    if (r->argc == 2) {
        add_all(&r->reply, 1);
        return;
    }
    int known = 0;
    for (int i = 2; i < r->argc; i++)
        known += shale_command_lookup(r->argv[i]) != NULL;
    shale_resp_add_map_len(&r->reply, known);
    for (int i = 2; i < r->argc; i++) {
        const struct command *cmd = shale_command_lookup(r->argv[i]);
        if (cmd)
            add_command_docs(&r->reply, cmd);
    }
}

/* ---- INFO, CONFIG ---- */

void shale_cmd_info(struct conn *c, struct request *r)
{
    struct resp_buf text;
    shale_resp_buf_init(&text, 2);
    shale_info_build(c->t->srv, &text, r->argc - 1, r->argv + 1);
    shale_resp_add_verbatim(&r->reply, "txt", text.data, text.len);
    shale_resp_buf_release(&text);
}

struct config_get_ctx {
    struct resp_buf pairs;
    int count;
    const char *seen[64];
};

static void config_emit(void *arg, const char *name, const char *value)
{
    struct config_get_ctx *ctx = arg;
    for (int i = 0; i < ctx->count; i++)
        if (ctx->seen[i] == name)
            return; /* matched by an earlier pattern */
    if (ctx->count < (int)(sizeof(ctx->seen) / sizeof(ctx->seen[0])))
        ctx->seen[ctx->count] = name;
    ctx->count++;
    shale_resp_add_bulk_cstr(&ctx->pairs, name);
    shale_resp_add_bulk_cstr(&ctx->pairs, value);
}

void shale_cmd_config_get(struct conn *c, struct request *r)
{
    struct config_get_ctx ctx;
    ctx.count = 0;
    shale_resp_buf_init(&ctx.pairs, r->proto);
    for (int i = 2; i < r->argc; i++)
        shale_config_get(cfg_of(c), r->argv[i].ptr, r->argv[i].len, config_emit, &ctx);
    shale_resp_add_map_len(&r->reply, ctx.count);
    shale_resp_add_raw(&r->reply, ctx.pairs.data, ctx.pairs.len);
    shale_resp_buf_release(&ctx.pairs);
}

void shale_cmd_config_set(struct conn *c, struct request *r)
{
    int nargs = r->argc - 2;
    const char *args[nargs];
    size_t lens[nargs];
    for (int i = 0; i < nargs; i++) {
        args[i] = r->argv[i + 2].ptr;
        lens[i] = r->argv[i + 2].len;
    }
    char err[1024];
    if (shale_config_set_live(c->t->srv->cfg, args, lens, nargs, err, sizeof(err)) < 0)
        shale_resp_add_error(&r->reply, err);
    else
        shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_config_resetstat(struct conn *c, struct request *r)
{
    shale_cmdstats_reset(c->t->srv);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_config_rewrite(struct conn *c, struct request *r)
{
    char err[1024];
    if (shale_config_rewrite(c->t->srv->cfg, err, sizeof(err)) < 0)
        shale_resp_add_error(&r->reply, err);
    else
        shale_resp_add_status(&r->reply, "OK");
}
