/* config: parsing and printing of the option table declared in config.h.
 * Main thread only (start-up, and CONFIG GET which reads a frozen table). */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/glob.h"
#include "server/mem.h"

struct option {
    const char *name;
    enum config_type type;
    const char *def;
    long long min, max;
    const char *choices;
    size_t offset;
};

static const struct option options[] = {
#define CONFIG_ROW(field, name, type, def, min, max, choices, help)                                \
    {name, type, def, min, max, choices, offsetof(struct config, field)},
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
    long long mul = 1;
    if (!*end)
        mul = 1;
    else if (!strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k"))
        mul = 1000;
    else if (!strcasecmp(end, "kb"))
        mul = 1024;
    else if (!strcasecmp(end, "m"))
        mul = 1000 * 1000;
    else if (!strcasecmp(end, "mb"))
        mul = 1024 * 1024;
    else if (!strcasecmp(end, "g"))
        mul = 1000LL * 1000 * 1000;
    else if (!strcasecmp(end, "gb"))
        mul = 1024LL * 1024 * 1024;
    else
        return -1;
    if (__builtin_mul_overflow(v, mul, out))
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

static int set_value(struct config *cfg, const struct option *o, const char *value, char *err,
                     size_t errlen)
{
    long long v = 0;
    char *end;
    switch (o->type) {
    case CONFIG_STRING: {
        char **f = str_field(cfg, o);
        shale_free(*f);
        *f = shale_strdup(value);
        return 0;
    }
    case CONFIG_BOOL:
        if (!strcasecmp(value, "yes"))
            v = 1;
        else if (!strcasecmp(value, "no"))
            v = 0;
        else
            return fail(err, errlen, "argument must be 'yes' or 'no'");
        break;
    case CONFIG_ENUM:
        v = choice_index(o->choices, value);
        if (v < 0)
            return fail(err, errlen, "argument(s) must be one of the following: %s", o->choices);
        break;
    case CONFIG_MEMORY:
        if (parse_memory(value, &v) < 0)
            return fail(err, errlen, "argument must be a memory value");
        goto bounds;
    case CONFIG_INT:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (end == value || *end || errno)
            return fail(err, errlen, "argument couldn't be parsed into an integer");
    bounds:
        if (v < o->min || v > o->max)
            return fail(err, errlen, "argument must be between %lld and %lld inclusive", o->min,
                        o->max);
        break;
    }
    *int_field(cfg, o) = v;
    return 0;
}

void shale_config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char err[256];
    for (size_t i = 0; i < NOPTIONS; i++)
        if (set_value(cfg, &options[i], options[i].def, err, sizeof(err)) < 0) {
            fprintf(stderr, "shale: bad default for %s: %s\n", options[i].name, err);
            abort();
        }
}

void shale_config_deinit(struct config *cfg)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].type == CONFIG_STRING) {
            shale_free(*str_field(cfg, &options[i]));
            *str_field(cfg, &options[i]) = NULL;
        }
}

int shale_config_set(struct config *cfg, const char *name, const char *const *values, int nvalues,
                     char *err, size_t errlen)
{
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
    if (o->type == CONFIG_BOOL && !strcasecmp(o->name, "appendonly") && !strcasecmp(joined, "yes"))
        return fail(err, errlen,
                    "appendonly is not supported: shale is a cache without persistence");
    return set_value(cfg, o, joined, err, errlen);
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

void shale_config_get(const struct config *cfg, const char *pattern, size_t patlen,
                      void (*emit)(void *ctx, const char *name, const char *value), void *ctx)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        if (!shale_glob_match(pattern, patlen, o->name, strlen(o->name), 1))
            continue;
        char buf[64];
        const char *value = buf;
        long long v = *int_field((struct config *)cfg, o);
        switch (o->type) {
        case CONFIG_STRING:
            value = *str_field((struct config *)cfg, o);
            break;
        case CONFIG_BOOL:
            value = v ? "yes" : "no";
            break;
        case CONFIG_ENUM:
            choice_name(o->choices, v, buf, sizeof(buf));
            break;
        case CONFIG_INT:
        case CONFIG_MEMORY:
            snprintf(buf, sizeof(buf), "%lld", v);
            break;
        }
        emit(ctx, o->name, value ? value : "");
    }
}
