/* static_coexist: shale's objects share one fully static executable with
 * libz.a, libssl.a, libcrypto.a, libevent*.a and libjemalloc.a.
 *
 * The build links every object of libshale.a into this program
 * (--whole-archive), so a shale global that clashed with a name in one of
 * those archives would fail the link. At run time it checks that zlib still
 * works with its own allocator (a compress/uncompress round trip and a
 * streamed inflate through inflateInit_), that OpenSSL initialises and builds
 * a TLS context, and that shale's allocator gateway works beside them.
 * Prints one line per failed check; exit 0 when all pass. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include <openssl/ssl.h>

#include "server/mem.h"

#define PLAIN_LEN (64 * 1024)

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("static_coexist: FAILED: %s\n", what);
        failures++;
    }
}

/* Inflates src in small chunks so inflate allocates its window through
 * zlib's default allocator (zalloc = Z_NULL). */
static int inflate_streamed(const unsigned char *src, size_t src_len, unsigned char *dst,
                            size_t dst_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return -1;
    zs.next_out = dst;
    zs.avail_out = (uInt)dst_len;
    int rc = Z_OK;
    for (size_t off = 0; off < src_len && rc == Z_OK; off += 512) {
        zs.next_in = (unsigned char *)src + off;
        zs.avail_in = (uInt)(src_len - off < 512 ? src_len - off : 512);
        rc = inflate(&zs, Z_NO_FLUSH);
    }
    size_t produced = zs.total_out;
    inflateEnd(&zs);
    return rc == Z_STREAM_END && produced == dst_len ? 0 : -1;
}

int main(void)
{
    check(strcmp(zlibVersion(), ZLIB_VERSION) == 0, "zlibVersion() matches zlib.h");

    unsigned char *plain = shale_malloc(PLAIN_LEN);
    for (size_t i = 0; i < PLAIN_LEN; i++)
        plain[i] = (unsigned char)("shale_"[i % 6] + (i / 4096));
    uLongf packed_len = compressBound(PLAIN_LEN);
    unsigned char *packed = shale_malloc(packed_len);
    unsigned char *back = shale_malloc(PLAIN_LEN);

    check(compress2(packed, &packed_len, plain, PLAIN_LEN, Z_BEST_COMPRESSION) == Z_OK,
          "compress2");
    uLongf back_len = PLAIN_LEN;
    check(uncompress(back, &back_len, packed, packed_len) == Z_OK && back_len == PLAIN_LEN &&
              memcmp(back, plain, PLAIN_LEN) == 0,
          "uncompress round trip gives the original bytes");
    memset(back, 0, PLAIN_LEN);
    check(inflate_streamed(packed, packed_len, back, PLAIN_LEN) == 0 &&
              memcmp(back, plain, PLAIN_LEN) == 0,
          "streamed inflate gives the original bytes");

    check(OPENSSL_init_ssl(0, NULL) == 1, "OPENSSL_init_ssl");
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    check(ctx != NULL, "SSL_CTX_new");
    SSL_CTX_free(ctx);

    check(strncmp(shale_mem_allocator_name(), "jemalloc", 8) == 0,
          "shale's gateway is built on jemalloc");
    check(shale_malloc_usable_size(plain) >= PLAIN_LEN, "shale_malloc_usable_size");
    shale_free(back);
    shale_free(packed);
    shale_free(plain);

    if (failures == 0)
        printf("static_coexist: zlib %s, %s and shale's objects work in one static binary\n",
               zlibVersion(), OpenSSL_version(OPENSSL_VERSION));
    return failures == 0 ? 0 : 1;
}
