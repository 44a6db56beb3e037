/* config: parsing and printing of the option table declared in config.h.
 * Start-up runs on the main thread; CONFIG GET/SET/REWRITE run on I/O
 * threads, SET and REWRITE under set_lock, GET with relaxed atomic loads. */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/glob.h"
#include "server/mem.h"
#include "server/obuf_limit.h"
#include "server/strconv.h"

struct option {
    const char *name;
    enum config_type type;
    const char *def;
    long long min, max;
    const char *choices;
    enum config_mode mode;
    size_t offset;
};

struct config_retired {
    struct config_retired *next;
    char *str;
};

static const struct option options[] = {
#define CONFIG_ROW(field, name, type, def, min, max, choices, mode, help)                          \
    {name, type, def, min, max, choices, mode, offsetof(struct config, field)},
    SHALE_CONFIG_OPTIONS(CONFIG_ROW)
#undef CONFIG_ROW
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static long long *int_field(struct config *cfg, const struct option *o)
{
    return (long long *)((char *)cfg + o->offset);
}

static char **str_field(struct config *cfg, const struct option *o)
{
    return (char **)((char *)cfg + o->offset);
}

static const struct option *find_option(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcasecmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Redis's memtoll: a number with an optional k/kb/m/mb/g/gb unit. */
static int parse_memory(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno)
        return -1;
    unsigned long long mul;
    if (shale_strconv_memory_unit(end, &mul) < 0)
        return -1;
    if (__builtin_mul_overflow(v, (long long)mul, out))
        return -1;
    return 0;
}

static int choice_index(const char *choices, const char *word)
{
    int idx = 0;
    size_t wlen = strlen(word);
    for (const char *p = choices; *p;) {
        size_t n = strcspn(p, " ");
        if (n == wlen && strncasecmp(p, word, n) == 0)
            return idx;
        idx++;
        p += n;
        while (*p == ' ')
            p++;
    }
    return -1;
}

static void choice_name(const char *choices, long long idx, char *out, size_t outlen)
{
    const char *p = choices;
    for (long long i = 0; i < idx && *p; i++) {
        p += strcspn(p, " ");
        while (*p == ' ')
            p++;
    }
    size_t n = strcspn(p, " ");
    snprintf(out, outlen, "%.*s", (int)n, p);
}

/* An option's value parsed from text, not yet stored. */
struct parsed {
    long long num;
    char *str; /* CONFIG_STRING: owned until stored */
};

/* Strings with a syntax of their own are checked, merged into the current
 * value as Redis does (client-output-buffer-limit changes only the classes
 * named) and kept in canonical form. */
static int parse_string(const struct config *cfg, const struct option *o, const char *text,
                        struct parsed *out, char *err, size_t errlen)
{
    if (o->offset == offsetof(struct config, client_output_buffer_limit))
        return shale_obuf_limit_normalize(
            __atomic_load_n(&cfg->client_output_buffer_limit, __ATOMIC_ACQUIRE), text, &out->str,
            err, errlen);
    out->str = shale_strdup(text);
    return 0;
}

static int parse_value(const struct config *cfg, const struct option *o, const char *text,
                       struct parsed *out, char *err, size_t errlen)
{
    long long v = 0;
    char *end;
    out->str = NULL;
    switch (o->type) {
    case CONFIG_STRING:
        return parse_string(cfg, o, text, out, err, errlen);
    case CONFIG_BOOL:
        if (!strcasecmp(text, "yes"))
            v = 1;
        else if (!strcasecmp(text, "no"))
            v = 0;
        else
            return fail(err, errlen, "argument must be 'yes' or 'no'");
        if (v && !strcmp(o->name, "appendonly"))
            return fail(err, errlen,
                        "appendonly is not supported: shale is a cache without persistence");
        if (v && !strcmp(o->name, "activedefrag") && !shale_mem_defrag_supported())
            return fail(err, errlen,
                        "Active defragmentation cannot be enabled: it requires a shale server "
                        "compiled with jemalloc (the default MALLOC=jemalloc build) or with "
                        "DEFRAG=force");
        break;
    case CONFIG_ENUM:
        v = choice_index(o->choices, text);
        if (v < 0) {
            char list[512] = "";
            size_t used = 0;
            for (const char *p = o->choices; *p && used < sizeof(list);) {
                size_t n = strcspn(p, " ");
                int w = snprintf(list + used, sizeof(list) - used, "%s%.*s", used ? ", " : "",
                                 (int)n, p);
                used += w > 0 ? (size_t)w : 0;
                p += n;
                p += strspn(p, " ");
            }
            return fail(err, errlen, "argument(s) must be one of the following: %s", list);
        }
        break;
    case CONFIG_MEMORY:
        if (parse_memory(text, &v) < 0)
            return fail(err, errlen, "argument must be a memory value");
        goto bounds;
    case CONFIG_INT:
        errno = 0;
        v = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            return fail(err, errlen, "argument couldn't be parsed into an integer");
    bounds:
        if (v < o->min || v > o->max)
            return fail(err, errlen, "argument must be between %lld and %lld inclusive", o->min,
                        o->max);
        break;
    }
    out->num = v;
    return 0;
}

/* Stores a parsed value. A replaced string may still be read by another
 * thread (config_live), so at run time it is retired, not freed. */
static void store_value(struct config *cfg, const struct option *o, struct parsed *p, int running)
{
    if (o->type != CONFIG_STRING) {
        __atomic_store_n(int_field(cfg, o), p->num, __ATOMIC_RELAXED);
        return;
    }
    char *old = *str_field(cfg, o);
    __atomic_store_n(str_field(cfg, o), p->str, __ATOMIC_RELEASE);
    p->str = NULL;
    if (!old)
        return;
    if (!running) {
        shale_free(old);
        return;
    }
    struct config_retired *r = shale_malloc(sizeof(*r));
    r->str = old;
    r->next = cfg->retired;
    cfg->retired = r;
}

/* A copy of an option's value, in the form store_value takes. */
static struct parsed current_value(struct config *cfg, const struct option *o)
{
    struct parsed p = {0, NULL};
    if (o->type == CONFIG_STRING) {
        const char *v = *str_field(cfg, o);
        p.str = shale_strdup(v ? v : "");
    } else {
        p.num = *int_field(cfg, o);
    }
    return p;
}

void shale_config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    pthread_mutex_init(&cfg->set_lock, NULL);
    char err[256];
    for (size_t i = 0; i < NOPTIONS; i++) {
        struct parsed p;
        if (parse_value(cfg, &options[i], options[i].def, &p, err, sizeof(err)) < 0) {
            fprintf(stderr, "shale: bad default for %s: %s\n", options[i].name, err);
            abort();
        }
        store_value(cfg, &options[i], &p, 0);
    }
}

void shale_config_deinit(struct config *cfg)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].type == CONFIG_STRING) {
            shale_free(*str_field(cfg, &options[i]));
            *str_field(cfg, &options[i]) = NULL;
        }
    while (cfg->renames) {
        struct config_rename *r = cfg->renames;
        cfg->renames = r->next;
        shale_free(r->from);
        shale_free(r->to);
        shale_free(r);
    }
    while (cfg->retired) {
        struct config_retired *r = cfg->retired;
        cfg->retired = r->next;
        shale_free(r->str);
        shale_free(r);
    }
    shale_free(cfg->file);
    cfg->file = NULL;
    pthread_mutex_destroy(&cfg->set_lock);
}

/* rename-command is a directive, not an option: it may repeat, and CONFIG
 * GET does not show it (as in Redis). */
static int add_rename(struct config *cfg, const char *const *values, int nvalues, char *err,
                      size_t errlen)
{
    if (nvalues != 2)
        return fail(err, errlen, "Bad directive or wrong number of arguments");
    struct config_rename *r = shale_calloc(1, sizeof(*r));
    r->from = shale_strdup(values[0]);
    r->to = shale_strdup(values[1]);
    struct config_rename **tail = &cfg->renames;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return 0;
}

int shale_config_set(struct config *cfg, const char *name, const char *const *values, int nvalues,
                     char *err, size_t errlen)
{
    if (!strcasecmp(name, "rename-command"))
        return add_rename(cfg, values, nvalues, err, errlen);
    const struct option *o = find_option(name);
    if (!o)
        return fail(err, errlen, "Bad directive or wrong number of arguments");
    if (nvalues < 1 && o->type != CONFIG_STRING)
        return fail(err, errlen, "wrong number of arguments");
    /* Multi-word values (bind, save) are kept as one space-joined string. */
    char joined[4096] = "";
    size_t used = 0;
    for (int i = 0; i < nvalues; i++) {
        int n = snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? " " : "", values[i]);
        if (n < 0 || (size_t)n >= sizeof(joined) - used)
            return fail(err, errlen, "value too long");
        used += (size_t)n;
    }
    if (nvalues > 1 && o->type != CONFIG_STRING)
        return fail(err, errlen, "wrong number of arguments");
    struct parsed p;
    if (parse_value(cfg, o, joined, &p, err, errlen) < 0)
        return -1;
    store_value(cfg, o, &p, 0);
    return 0;
}

/* Copies a protocol argument into a NUL-terminated string. */
static char *arg_dup(const char *ptr, size_t len)
{
    char *s = shale_malloc(len + 1);
    memcpy(s, ptr, len);
    s[len] = '\0';
    return s;
}

int shale_config_set_live(struct config *cfg, const char *const *args, const size_t *lens,
                          int nargs, char *err, size_t errlen)
{
    if (nargs < 2 || nargs % 2)
        return fail(err, errlen, "ERR wrong number of arguments for 'config|set' command");
    int npairs = nargs / 2;
    const struct option *opts[npairs];
    struct parsed values[npairs];
    char msg[512];
    int rc = 0, parsed = 0;
    for (int i = 0; i < npairs && rc == 0; i++) {
        char *name = arg_dup(args[2 * i], lens[2 * i]);
        opts[i] = find_option(name);
        if (!opts[i]) {
            rc = fail(err, errlen,
                      "ERR Unknown option or number of arguments for CONFIG SET - '%s'", name);
        } else if (opts[i]->mode != CONFIG_LIVE) {
            rc = fail(err, errlen,
                      "ERR CONFIG SET failed (possibly related to argument '%s') - can't set "
                      "immutable config",
                      opts[i]->name);
        } else {
            for (int j = 0; j < i; j++)
                if (opts[j] == opts[i])
                    rc = fail(err, errlen,
                              "ERR CONFIG SET failed (possibly related to argument '%s') - "
                              "duplicate parameter",
                              opts[i]->name);
        }
        if (rc == 0) {
            char *text = arg_dup(args[2 * i + 1], lens[2 * i + 1]);
            if (parse_value(cfg, opts[i], text, &values[i], msg, sizeof(msg)) < 0)
                rc = fail(err, errlen,
                          "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                          opts[i]->name, msg);
            else
                parsed = i + 1;
            shale_free(text);
        }
        shale_free(name);
    }
    if (rc < 0) {
        for (int i = 0; i < parsed; i++)
            shale_free(values[i].str);
        return -1;
    }
    /* Like Redis: when a side effect fails (a TLS reload), every value goes
     * back to what it was, side effects already applied are applied again
     * for the old values, and the command fails naming the option. */
    struct parsed old[npairs];
    pthread_mutex_lock(&cfg->set_lock);
    for (int i = 0; i < npairs; i++) {
        old[i] = current_value(cfg, opts[i]);
        store_value(cfg, opts[i], &values[i], 1);
    }
    int failed = -1;
    for (int i = 0; i < npairs && failed < 0; i++)
        if (cfg->changed && cfg->changed(cfg->changed_ctx, opts[i]->name, msg, sizeof(msg)) < 0)
            failed = i;
    if (failed >= 0) {
        for (int i = 0; i < npairs; i++)
            store_value(cfg, opts[i], &old[i], 1);
        for (int i = 0; i < failed; i++)
            cfg->changed(cfg->changed_ctx, opts[i]->name, err, errlen);
        fail(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
             opts[failed]->name, msg);
    } else {
        for (int i = 0; i < npairs; i++)
            shale_free(old[i].str);
    }
    pthread_mutex_unlock(&cfg->set_lock);
    return failed >= 0 ? -1 : 0;
}

/* Splits a conf line into words, honouring "double" and 'single' quotes. */
static int split_line(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            break;
        if (n == max)
            return -1;
        if (*p == '"' || *p == '\'') {
            char quote = *p++;
            char *out = p;
            words[n++] = out;
            while (*p && *p != quote) {
                if (*p == '\\' && quote == '"' && p[1])
                    p++;
                *out++ = *p++;
            }
            if (*p != quote)
                return -1;
            p++;
            *out = '\0';
        } else {
            words[n++] = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            if (*p)
                *p++ = '\0';
        }
    }
    return n;
}

int shale_config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "can't open config file '%s': %s", path, strerror(errno));
    char resolved[PATH_MAX]; /* REWRITE must find the file after a chdir */
    shale_free(cfg->file);
    cfg->file = shale_strdup(realpath(path, resolved) ? resolved : path);
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *words[64];
        char msg[256];
        int n = split_line(line, words, 64);
        if (n < 0) {
            rc = fail(err, errlen, "%s:%d: unbalanced quotes or too many arguments", path, lineno);
        } else if (n > 0 && shale_config_set(cfg, words[0], (const char *const *)words + 1, n - 1,
                                             msg, sizeof(msg)) < 0) {
            rc = fail(err, errlen, "%s:%d: '%s': %s", path, lineno, words[0], msg);
        }
    }
    fclose(f);
    return rc;
}

int shale_config_load_args(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 0; i < argc;) {
        if (strncmp(argv[i], "--", 2) != 0)
            return fail(err, errlen, "unexpected argument '%s' (options are --name value)",
                        argv[i]);
        const char *name = argv[i] + 2;
        int first = ++i;
        while (i < argc && strncmp(argv[i], "--", 2) != 0)
            i++;
        char msg[256];
        if (shale_config_set(cfg, name, (const char *const *)argv + first, i - first, msg,
                             sizeof(msg)) < 0)
            return fail(err, errlen, "option '--%s': %s", name, msg);
    }
    return 0;
}

/* The text form of an option's current value; returns buf or the string. */
static const char *format_value(const struct config *cfg, const struct option *o, char *buf,
                                size_t buflen)
{
    if (o->type == CONFIG_STRING) {
        const char *v = __atomic_load_n(str_field((struct config *)cfg, o), __ATOMIC_ACQUIRE);
        return v ? v : "";
    }
    long long v = __atomic_load_n(int_field((struct config *)cfg, o), __ATOMIC_RELAXED);
    switch (o->type) {
    case CONFIG_BOOL:
        return v ? "yes" : "no";
    case CONFIG_ENUM:
        choice_name(o->choices, v, buf, buflen);
        return buf;
    default:
        snprintf(buf, buflen, "%lld", v);
        return buf;
    }
}

void shale_config_get(const struct config *cfg, const char *pattern, size_t patlen,
                      void (*emit)(void *ctx, const char *name, const char *value), void *ctx)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        if (!shale_glob_match(pattern, patlen, o->name, strlen(o->name), 1))
            continue;
        char buf[64];
        emit(ctx, o->name, format_value(cfg, o, buf, sizeof(buf)));
    }
}

/* One conf-file line for an option: multi-word strings (bind, save) stay
 * unquoted words; other strings are quoted. */
static void write_option_line(FILE *f, const struct config *cfg, const struct option *o)
{
    char buf[64];
    const char *v = format_value(cfg, o, buf, sizeof(buf));
    if (o->type != CONFIG_STRING ||
        (*v && !strpbrk(v, "\"'\\#") &&
         (!strchr(v, ' ') || !strcmp(o->name, "bind") || !strcmp(o->name, "save"))))
        fprintf(f, "%s %s\n", o->name, v);
    else
        fprintf(f, "%s \"%s\"\n", o->name, v); /* empty, or needs quoting */
}

static int is_default(const struct config *cfg, const struct option *o)
{
    char buf[64];
    const char *v = format_value(cfg, o, buf, sizeof(buf));
    struct parsed p;
    char err[256];
    if (parse_value(cfg, o, o->def, &p, err, sizeof(err)) < 0)
        return 0;
    int same;
    if (o->type == CONFIG_STRING) {
        same = strcmp(v, p.str) == 0;
        shale_free(p.str);
    } else {
        same = p.num == __atomic_load_n(int_field((struct config *)cfg, o), __ATOMIC_RELAXED);
    }
    return same;
}

/* Like Redis: an option line already in the file is replaced in place (its
 * repeats dropped); an option that differs from its default and is not in the
 * file is appended; comments and unknown lines are kept. Written to a
 * temporary file and renamed over the original. */
int shale_config_rewrite(struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->file)
        return fail(err, errlen, "ERR The server is running without a config file");
    pthread_mutex_lock(&cfg->set_lock);
    int rc = -1;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.rewrite.%d", cfg->file, (int)getpid());
    FILE *in = fopen(cfg->file, "r");
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fail(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
        goto done;
    }
    unsigned char written[NOPTIONS];
    memset(written, 0, sizeof(written));
    char line[4096];
    while (in && fgets(line, sizeof(line), in)) {
        char copy[4096];
        char *words[64];
        snprintf(copy, sizeof(copy), "%s", line);
        int n = split_line(copy, words, 64);
        const struct option *o = n > 0 ? find_option(words[0]) : NULL;
        if (!o) {
            fputs(line, out);
            continue;
        }
        size_t idx = (size_t)(o - options);
        if (!written[idx])
            write_option_line(out, cfg, o);
        written[idx] = 1;
    }
    int header = 0;
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (written[i] || is_default(cfg, &options[i]))
            continue;
        if (!header++)
            fputs("\n# Generated by CONFIG REWRITE\n", out);
        write_option_line(out, cfg, &options[i]);
    }
    if (fflush(out) != 0 || fsync(fileno(out)) != 0 || rename(tmp, cfg->file) != 0) {
        fail(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = 0;
done:
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    pthread_mutex_unlock(&cfg->set_lock);
    return rc;
}
