/*
 * Prometheus text format parser (see prom.h).
 */
#include "tests/support/prom.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool fail(char *err, size_t errlen, int lineno, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, errlen, "line %d: ", lineno);
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static bool name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* Reads a metric name at *p into out; false when there is none. */
static bool read_name(const char **p, char *out, size_t cap, bool colon_ok)
{
    size_t n = 0;
    const char *s = *p;
    if (!name_char(*s, true) || (!colon_ok && *s == ':')) {
        return false;
    }
    while (name_char(*s, n == 0) && (colon_ok || *s != ':')) {
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = s;
    return true;
}

/* {name="value",...}: checks names, escapes and duplicates; copies the text. */
static bool read_labels(const char **p, char *out, size_t cap, int lineno, char *err, size_t errlen)
{
    const char *s = *p;
    if (*s != '{') {
        out[0] = '\0';
        return true;
    }
    const char *start = s++;
    char seen[16][64];
    int nseen = 0;
    while (*s != '}') {
        char lname[64];
        if (!read_name(&s, lname, sizeof lname, false)) {
            return fail(err, errlen, lineno, "bad label name");
        }
        for (int i = 0; i < nseen; i++) {
            if (strcmp(seen[i], lname) == 0) {
                return fail(err, errlen, lineno, "label %s repeated", lname);
            }
        }
        if (nseen < 16) {
            snprintf(seen[nseen++], sizeof seen[0], "%s", lname);
        }
        if (*s++ != '=' || *s++ != '"') {
            return fail(err, errlen, lineno, "label %s: expected =\"", lname);
        }
        while (*s != '"') {
            if (*s == '\0' || *s == '\n') {
                return fail(err, errlen, lineno, "unterminated label value");
            }
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n') {
                    return fail(err, errlen, lineno, "bad escape in label value");
                }
            }
            s++;
        }
        s++;
        if (*s == ',') {
            s++;
        } else if (*s != '}') {
            return fail(err, errlen, lineno, "expected , or } after a label");
        }
    }
    s++;
    size_t len = (size_t)(s - start);
    if (len >= cap) {
        return fail(err, errlen, lineno, "labels too long");
    }
    memcpy(out, start, len);
    out[len] = '\0';
    *p = s;
    return true;
}

static bool read_value(const char **p, double *v)
{
    const char *s = *p;
    if (strncmp(s, "+Inf", 4) == 0) {
        *v = INFINITY;
        *p = s + 4;
        return true;
    }
    if (strncmp(s, "-Inf", 4) == 0) {
        *v = -INFINITY;
        *p = s + 4;
        return true;
    }
    if (strncmp(s, "NaN", 3) == 0) {
        *v = NAN;
        *p = s + 3;
        return true;
    }
    char *end;
    *v = strtod(s, &end);
    if (end == s) {
        return false;
    }
    *p = end;
    return true;
}

static struct prom_family *find_family(struct prom_doc *doc, const char *name)
{
    for (size_t i = 0; i < doc->nfamilies; i++) {
        if (strcmp(doc->families[i].name, name) == 0) {
            return &doc->families[i];
        }
    }
    return NULL;
}

/* The family a sample belongs to: itself, or a histogram/summary base. */
static struct prom_family *family_of(struct prom_doc *doc, const char *sample)
{
    struct prom_family *f = find_family(doc, sample);
    if (f != NULL) {
        return f;
    }
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(sample), xl = strlen(suffixes[i]);
        if (sl > xl && strcmp(sample + sl - xl, suffixes[i]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(sl - xl), sample);
            f = find_family(doc, base);
            if (f != NULL &&
                (strcmp(f->type, "histogram") == 0 || (strcmp(f->type, "summary") == 0 && i > 0))) {
                return f;
            }
        }
    }
    return NULL;
}

/* For one histogram: buckets cumulative in le order, +Inf == _count. */
static bool check_histograms(struct prom_doc *doc, char *err, size_t errlen)
{
    for (size_t f = 0; f < doc->nfamilies; f++) {
        if (strcmp(doc->families[f].type, "histogram") != 0) {
            continue;
        }
        char bucket[160], count[160];
        snprintf(bucket, sizeof bucket, "%s_bucket", doc->families[f].name);
        snprintf(count, sizeof count, "%s_count", doc->families[f].name);
        for (size_t i = 0; i < doc->nsamples; i++) {
            const struct prom_sample *c = &doc->samples[i];
            if (strcmp(c->name, count) != 0) {
                continue;
            }
            /* The series' other labels: c->labels minus braces. */
            char inner[256] = "";
            if (c->labels[0]) {
                snprintf(inner, sizeof inner, "%.*s", (int)strlen(c->labels) - 2, c->labels + 1);
            }
            size_t il = strlen(inner);
            double last_le = -INFINITY, last_v = 0;
            bool saw_inf = false;
            for (size_t j = 0; j < doc->nsamples; j++) {
                const struct prom_sample *b = &doc->samples[j];
                if (strcmp(b->name, bucket) != 0 || strncmp(b->labels + 1, inner, il) != 0 ||
                    b->labels[1 + il] != (il ? ',' : 'l')) {
                    continue;
                }
                const char *le = strstr(b->labels, "le=\"");
                if (le == NULL) {
                    return fail(err, errlen, 0, "%s%s has no le", b->name, b->labels);
                }
                double bound = strncmp(le + 4, "+Inf", 4) == 0 ? INFINITY : strtod(le + 4, NULL);
                if (bound <= last_le || b->value < last_v) {
                    return fail(err, errlen, 0, "%s%s: buckets not cumulative", b->name, b->labels);
                }
                last_le = bound;
                last_v = b->value;
                if (isinf(bound)) {
                    saw_inf = true;
                    if (b->value != c->value) {
                        return fail(err, errlen, 0, "%s%s = %g but %s = %g", b->name, b->labels,
                                    b->value, c->name, c->value);
                    }
                }
            }
            if (!saw_inf) {
                return fail(err, errlen, 0, "%s%s: no le=\"+Inf\" bucket", bucket, c->labels);
            }
        }
    }
    return true;
}

bool shale_test_prom_parse(const char *text, struct prom_doc *doc, char *err, size_t errlen)
{
    memset(doc, 0, sizeof(*doc));
    size_t scap = 256, fcap = 64;
    doc->samples = malloc(scap * sizeof(*doc->samples));
    doc->families = malloc(fcap * sizeof(*doc->families));
    long current = -1; /* family (index) of the previous sample */
    int lineno = 0;
    for (const char *line = text; *line;) {
        lineno++;
        const char *eol = strchr(line, '\n');
        if (eol == NULL) {
            return fail(err, errlen, lineno, "last line has no newline");
        }
        char buf[1024];
        size_t ll = (size_t)(eol - line);
        if (ll >= sizeof buf) {
            return fail(err, errlen, lineno, "line too long");
        }
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        line = eol + 1;
        const char *p = buf;
        if (*p == '\0') {
            continue;
        }
        if (*p == '#') {
            char kind[8], name[128];
            if (sscanf(p, "# %7s", kind) != 1 || (strcmp(kind, "HELP") && strcmp(kind, "TYPE"))) {
                continue; /* a plain comment */
            }
            p += 2 + strlen(kind);
            if (*p++ != ' ' || !read_name(&p, name, sizeof name, true) || *p != ' ') {
                return fail(err, errlen, lineno, "malformed %s line", kind);
            }
            p++;
            struct prom_family *f = find_family(doc, name);
            if (strcmp(kind, "TYPE") == 0) {
                if (f != NULL && f->type[0]) {
                    return fail(err, errlen, lineno, "second TYPE for %s", name);
                }
                if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "histogram") &&
                    strcmp(p, "summary") && strcmp(p, "untyped")) {
                    return fail(err, errlen, lineno, "unknown type '%s'", p);
                }
            } else if (f != NULL && f->has_help) {
                return fail(err, errlen, lineno, "second HELP for %s", name);
            }
            if (f == NULL) {
                if (doc->nfamilies == fcap) {
                    fcap *= 2;
                    doc->families = realloc(doc->families, fcap * sizeof(*doc->families));
                }
                f = &doc->families[doc->nfamilies++];
                memset(f, 0, sizeof(*f));
                snprintf(f->name, sizeof f->name, "%s", name);
            }
            if (strcmp(kind, "TYPE") == 0) {
                snprintf(f->type, sizeof f->type, "%s", p);
            } else {
                f->has_help = true;
            }
            continue;
        }
        struct prom_sample s;
        if (!read_name(&p, s.name, sizeof s.name, true)) {
            return fail(err, errlen, lineno, "bad metric name");
        }
        if (!read_labels(&p, s.labels, sizeof s.labels, lineno, err, errlen)) {
            return false;
        }
        if (*p++ != ' ' || !read_value(&p, &s.value)) {
            return fail(err, errlen, lineno, "bad value");
        }
        if (*p == ' ') { /* optional timestamp */
            p++;
            char *end;
            strtoll(p, &end, 10);
            if (end == p) {
                return fail(err, errlen, lineno, "bad timestamp");
            }
            p = end;
        }
        if (*p != '\0') {
            return fail(err, errlen, lineno, "trailing text '%s'", p);
        }
        struct prom_family *f = family_of(doc, s.name);
        if (f == NULL || !f->type[0]) {
            return fail(err, errlen, lineno, "%s has no TYPE line before it", s.name);
        }
        if (f - doc->families != current) {
            if (f->closed) {
                return fail(err, errlen, lineno, "family %s split in two groups", f->name);
            }
            if (current >= 0) {
                doc->families[current].closed = true;
            }
            current = f - doc->families;
        }
        for (size_t i = 0; i < doc->nsamples; i++) {
            if (strcmp(doc->samples[i].name, s.name) == 0 &&
                strcmp(doc->samples[i].labels, s.labels) == 0) {
                return fail(err, errlen, lineno, "duplicate series %s%s", s.name, s.labels);
            }
        }
        if (doc->nsamples == scap) {
            scap *= 2;
            doc->samples = realloc(doc->samples, scap * sizeof(*doc->samples));
        }
        doc->samples[doc->nsamples++] = s;
    }
    return check_histograms(doc, err, errlen);
}

void shale_test_prom_free(struct prom_doc *doc)
{
    free(doc->samples);
    free(doc->families);
    memset(doc, 0, sizeof(*doc));
}

const struct prom_family *shale_test_prom_family(const struct prom_doc *doc, const char *name)
{
    return find_family((struct prom_doc *)doc, name);
}

const struct prom_sample *shale_test_prom_sample(const struct prom_doc *doc, const char *name,
                                                 const char *labels)
{
    for (size_t i = 0; i < doc->nsamples; i++) {
        if (strcmp(doc->samples[i].name, name) == 0 &&
            strcmp(doc->samples[i].labels, labels) == 0) {
            return &doc->samples[i];
        }
    }
    return NULL;
}
