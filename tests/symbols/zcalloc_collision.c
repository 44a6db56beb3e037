/* zcalloc_collision: the mistake that shale's `shale_` prefix and
 * `make check-symbols` exist to prevent (DESIGN.md sections 3 and 10).
 *
 * This file is deliberately careless: it defines zlib's internal allocator
 * names, zcalloc and zcfree, as globals, as a codebase with its own
 * "zcalloc" would. tests/symbols/run.sh uses it three ways:
 *  - scripts/check-symbols.sh run on its object must fail, naming zcalloc and
 *    zcfree: the check catches such a name before it ships;
 *  - this program is linked statically with all of libshale.a and libz.a and
 *    inflates a stream. Only inflate is used, so zlib's zutil.o (which holds
 *    the real zcalloc) is never pulled in: inflate produces the right bytes,
 *    but it allocated through the zcalloc below. The hijack is silent; with a
 *    different signature it would corrupt memory;
 *  - linked with deflate as well, zutil.o comes in and the link fails with
 *    "multiple definition of `zcalloc'".
 * Exit 0 when inflate is right and the hijack happened, as this test expects. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "server/mem.h"

/* As a careless codebase's header would declare them. */
void *zcalloc(void *opaque, unsigned items, unsigned size);
void zcfree(void *opaque, void *ptr);

static unsigned careless_allocs;

void *zcalloc(void *opaque, unsigned items, unsigned size)
{
    careless_allocs++;
    return shale_calloc(items, size);
}

void zcfree(void *opaque, void *ptr)
{
    shale_free(ptr);
}

/* PLAIN_LINE x 8 compressed by
 * python3 -c 'import zlib; print(zlib.compress(b"Every ... shale_.\n" * 8, 9))' */
#define PLAIN_LINE "Every global symbol shale defines starts with shale_.\n"
#define PLAIN_REPS 8
static const unsigned char deflated[] = {
    0x78, 0xda, 0x73, 0x2d, 0x4b, 0x2d, 0xaa, 0x54, 0x48, 0xcf, 0xc9, 0x4f, 0x4a, 0xcc, 0x51, 0x28,
    0xae, 0xcc, 0x4d, 0xca, 0x07, 0x52, 0x19, 0x89, 0x39, 0xa9, 0x0a, 0x29, 0xa9, 0x69, 0x99, 0x79,
    0xa9, 0xc5, 0x0a, 0xc5, 0x25, 0x89, 0x45, 0x25, 0xc5, 0x0a, 0xe5, 0x99, 0x25, 0x19, 0x10, 0x99,
    0x78, 0x3d, 0x2e, 0xd7, 0x51, 0x5d, 0x03, 0xa4, 0x0b, 0x00, 0xd5, 0xd2, 0x9e, 0xf1};

int main(void)
{
    char expected[sizeof(PLAIN_LINE) * PLAIN_REPS];
    size_t line_len = strlen(PLAIN_LINE);
    for (size_t i = 0; i < PLAIN_REPS; i++)
        memcpy(expected + i * line_len, PLAIN_LINE, line_len);
    size_t expected_len = line_len * PLAIN_REPS;

    unsigned char out[sizeof expected];
    uLongf out_len = sizeof out;
    int rc = uncompress(out, &out_len, deflated, sizeof deflated);
    if (rc != Z_OK || out_len != expected_len || memcmp(out, expected, expected_len) != 0) {
        printf("zcalloc_collision: inflate failed or gave wrong bytes (rc %d, %lu of %zu bytes)\n",
               rc, (unsigned long)out_len, expected_len);
        return 1;
    }
    printf("zcalloc_collision: inflate gave the right %zu bytes; zlib called this program's "
           "zcalloc %u times instead of its own\n",
           expected_len, careless_allocs);
    if (careless_allocs == 0) {
        printf("zcalloc_collision: expected zlib to be hijacked; the hazard no longer "
               "reproduces with this zlib (see DESIGN.md section 10)\n");
        return 1;
    }
    return 0;
}
