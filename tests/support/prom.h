/*
 * A strict parser for the Prometheus text exposition format 0.0.4, so the
 * admin endpoint's /metrics is checked the way a Prometheus server reads it:
 * HELP/TYPE lines, metric and label names, label value escapes, values
 * (+Inf, -Inf, NaN), one TYPE per family declared before its samples, a
 * family's lines kept together, no duplicate series, and histograms whose
 * buckets are cumulative and end with le="+Inf" equal to _count.
 */
#ifndef SHALE_TEST_PROM_H
#define SHALE_TEST_PROM_H

#include <stdbool.h>
#include <stddef.h>

struct prom_sample {
    char name[128];
    char labels[256]; /* as written, braces included, or "" */
    double value;
};

struct prom_family {
    char name[128];
    char type[16];
    bool has_help;
    bool closed; /* its samples are behind us (parser state) */
};

struct prom_doc {
    struct prom_sample *samples;
    size_t nsamples;
    struct prom_family *families;
    size_t nfamilies;
};

/* Parses text; on a violation returns false with a message naming the line. */
bool shale_test_prom_parse(const char *text, struct prom_doc *doc, char *err, size_t errlen);
void shale_test_prom_free(struct prom_doc *doc);

/* The family called name, or NULL. */
const struct prom_family *shale_test_prom_family(const struct prom_doc *doc, const char *name);
/* The sample with this name and labels ("" for none, else exactly as
 * written, e.g. "{cmd=\"get\"}"); NULL when absent. */
const struct prom_sample *shale_test_prom_sample(const struct prom_doc *doc, const char *name,
                                                 const char *labels);

#endif
