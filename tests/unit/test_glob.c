/* test_glob: unit tests for the Redis-compatible glob (server/glob.c), the
 * matcher behind CONFIG GET, KEYS and SCAN MATCH. Expectations follow
 * Redis's stringmatchlen (util.c); the case-sensitive ones were checked with
 * KEYS against a Redis 7 server. The pathological-pattern tests run the
 * match in a child process so a super-linear matcher fails the test within
 * its time budget instead of hanging the suite. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/glob.h"

struct glob_case {
    const char *pattern;
    const char *str;
    int expect;
};

static void check_cases(const struct glob_case *cases, size_t n, int nocase)
{
    for (size_t i = 0; i < n; i++) {
        const struct glob_case *c = &cases[i];
        int got = shale_glob_match(c->pattern, strlen(c->pattern), c->str, strlen(c->str), nocase);
        if (!!got != c->expect)
            fail_msg("glob '%s' against '%s' (nocase=%d): expected %s, got %s", c->pattern, c->str,
                     nocase, c->expect ? "match" : "no match", got ? "match" : "no match");
    }
}

#define CHECK_CASES(cases, nocase) check_cases(cases, sizeof(cases) / sizeof(cases[0]), nocase)

static void test_glob_literal_and_empty(void **state)
{
    static const struct glob_case cases[] = {
        {"", "", 1},
        {"", "a", 0},
        {"a", "", 0},
        {"hello", "hello", 1},
        {"hello", "hell", 0},
        {"hell", "hello", 0},
        {"hello", "Hello", 0},
        {"?", "", 0},
        {"[a]", "", 0},
        /* Redis's stringmatchlen says no for "*" against "" (KEYS and SCAN
         * short-circuit a lone "*" so it never shows); shale says yes. */
        {"*", "", 1},
        {"**", "", 1},
        {"*?", "", 0},
    };
    CHECK_CASES(cases, 0);
}

static void test_glob_star(void **state)
{
    static const struct glob_case cases[] = {
        {"*", "anything", 1},
        {"h*llo", "hllo", 1},
        {"h*llo", "heeeello", 1},
        {"h*llo", "hello!", 0},
        {"*a", "ba", 1},
        {"*a", "ab", 0},
        {"a*", "a", 1},
        {"a**", "a", 1},
        {"a*b*c", "abc", 1},
        {"a*b*c", "aXbYc", 1},
        {"a*b*c", "acb", 0},
        {"*max*", "maxclients", 1},
        {"*max*", "proto-max-bulk-len", 1},
        {"*max*", "port", 0},
        {"a*a", "a", 0},
        {"a*a", "aa", 1},
        {"*.*", "a.b.c", 1},
    };
    CHECK_CASES(cases, 0);
}

static void test_glob_question_mark(void **state)
{
    static const struct glob_case cases[] = {
        {"h?llo", "hello", 1}, {"h?llo", "hallo", 1}, {"h?llo", "hllo", 0}, {"h?llo", "heello", 0},
        {"???", "abc", 1},     {"???", "ab", 0},      {"?*", "a", 1},       {"*?", "a", 1},
    };
    CHECK_CASES(cases, 0);
}

static void test_glob_classes(void **state)
{
    static const struct glob_case cases[] = {
        {"h[ae]llo", "hello", 1},
        {"h[ae]llo", "hallo", 1},
        {"h[ae]llo", "hillo", 0},
        {"h[^e]llo", "hallo", 1},
        {"h[^e]llo", "hello", 0},
        {"h[a-b]llo", "hbllo", 1},
        {"h[a-b]llo", "hcllo", 0},
        {"[a-z]", "q", 1},
        {"[a-z]", "Q", 0},
        {"[0-9][0-9]", "42", 1},
        {"[0-9][0-9]", "4x", 0},
        {"[^0-9]", "x", 1},
        {"[^0-9]", "5", 0},
        {"[a-c-e]", "d", 0},
        {"[a-c-e]", "-", 1},
        /* An empty class matches nothing; negated, it matches anything. */
        {"[]", "a", 0},
        {"a[]b", "ab", 0},
        {"[^]", "a", 1},
        /* An unclosed class runs to the end of the pattern. */
        {"[abc", "a", 1},
        {"[abc", "d", 0},
        {"[^a", "b", 1},
    };
    CHECK_CASES(cases, 0);
}

static void test_glob_reversed_range(void **state)
{
    /* Redis swaps the ends of a reversed range. */
    static const struct glob_case cases[] = {
        {"h[b-a]llo", "hallo", 1}, {"h[b-a]llo", "hbllo", 1}, {"h[b-a]llo", "hcllo", 0},
        {"[z-a]", "m", 1},         {"[z-a]", "A", 0},         {"[^z-a]", "m", 0},
    };
    CHECK_CASES(cases, 0);
}

static void test_glob_escapes(void **state)
{
    static const struct glob_case cases[] = {
        {"\\*", "*", 1},
        {"\\*", "a", 0},
        {"\\*", "", 0},
        {"a\\?", "a?", 1},
        {"a\\?", "ab", 0},
        {"\\[a]", "[a]", 1},
        {"\\[a]", "a", 0},
        {"\\\\", "\\", 1},
        {"[\\]]", "]", 1},
        {"[\\]]", "a", 0},
        {"[a\\-z]", "-", 1},
        {"[a\\-z]", "b", 0},
        {"*\\*", "abc*", 1},
        {"*\\*", "abc", 0},
        /* A trailing backslash matches itself. */
        {"a\\", "a\\", 1},
        {"a\\", "a", 0},
    };
    CHECK_CASES(cases, 0);
}

static void test_glob_nocase(void **state)
{
    static const struct glob_case cases[] = {
        {"PORT", "port", 1},        {"port", "PORT", 1},       {"P?RT", "port", 1},
        {"*MAX*", "maxclients", 1}, {"h[A-Z]llo", "hello", 1}, {"H[a-z]LLO", "HELLO", 1},
        {"[^E]", "e", 0},           {"[ABC]", "b", 1},         {"nomatch", "port", 0},
    };
    CHECK_CASES(cases, 1);
    /* The same patterns are case-sensitive without nocase. */
    assert_false(shale_glob_match("PORT", 4, "port", 4, 0));
    assert_false(shale_glob_match("h[A-Z]llo", 9, "hello", 5, 0));
}

static void test_glob_honours_lengths(void **state)
{
    /* Neither the pattern nor the string needs a NUL terminator. */
    assert_true(shale_glob_match("abXYZ", 2, "ab", 2, 0));
    assert_true(shale_glob_match("a*", 2, "abcdef", 3, 0));
    assert_false(shale_glob_match("abc", 3, "abcdef", 2, 0));
    /* Embedded NUL bytes are ordinary characters. */
    const char str[] = {'a', '\0', 'b'};
    assert_true(shale_glob_match("a?b", 3, str, 3, 0));
    assert_true(shale_glob_match("a*", 2, str, 3, 0));
    assert_false(shale_glob_match("a", 1, str, 3, 0));
    /* A class cut off by patlen does not read past it. */
    assert_true(shale_glob_match("[ab]", 3, "a", 1, 0));
}

static void test_glob_high_bytes(void **state)
{
    const char str[] = {(char)0xe9, 'x'}; /* Latin-1 'é' */
    assert_true(shale_glob_match("?x", 2, str, 2, 0));
    assert_true(shale_glob_match("[\xe0-\xef]x", 6, str, 2, 0));
    assert_false(shale_glob_match("[a-z]x", 6, str, 2, 0));
    assert_true(shale_glob_match("\xe9*", 2, str, 2, 1));
}

static long long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

#define EITHER_RESULT -1

/* Runs the match against n_a 'a's in a child process and fails unless the
 * child exits normally within budget_ms with `expect` (or EITHER_RESULT);
 * a runaway child is killed. */
static void check_match_within(const char *pattern, size_t patlen, size_t n_a, int expect,
                               long long budget_ms)
{
    char *str = malloc(n_a + 1);
    assert_non_null(str);
    memset(str, 'a', n_a);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A crash is reported below; no core file is wanted. */
        setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
        _exit(shale_glob_match(pattern, patlen, str, n_a, 0) ? 1 : 0);
    }
    free(str);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (elapsed_ms(&start) > budget_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("glob '%.40s' (%zu bytes) against %zu 'a's did not finish within %lld ms "
                     "(expected microseconds; '*' backtracking is super-linear)",
                     pattern, patlen, n_a, budget_ms);
        }
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
    if (WIFSIGNALED(status))
        fail_msg("glob '%.40s' (%zu bytes) against %zu 'a's killed the process with signal %d "
                 "(expected a normal return)",
                 pattern, patlen, n_a, WTERMSIG(status));
    assert_true(WIFEXITED(status));
    if (expect != EITHER_RESULT && WEXITSTATUS(status) != expect)
        fail_msg("glob '%s' against %zu 'a's: expected %s", pattern, n_a,
                 expect ? "match" : "no match");
}

static void check_within(const char *pattern, size_t n_a, int expect)
{
    check_match_within(pattern, strlen(pattern), n_a, expect, 250);
}

static void test_glob_many_stars_no_match_is_fast(void **state)
{
    /* Redis bounds this since CVE-2022-36021 (stringmatchlen's
     * skipLongerMatches): once a '*' tail fails against the whole rest of
     * the string, no longer prefix can succeed. */
    check_within("a*a*a*a*b", 4000, 0);
    check_within("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", 4000, 0);
}

static void test_glob_many_stars_match_is_fast(void **state)
{
    check_within("a*a*a*a*a", 4000, 1);
    check_within("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", 4000, 1);
    check_within("*************************a", 4000, 1);
}

static void test_glob_deep_star_nesting_is_bounded(void **state)
{
    /* "*a" repeated 100000 times: a matcher that recurses once per '*'
     * must cap its depth (Redis gives up past 1000 levels and answers no
     * match) rather than overflow the thread's stack. */
    enum { PAIRS = 100000 };
    static char pattern[2 * PAIRS];
    for (size_t i = 0; i < PAIRS; i++) {
        pattern[2 * i] = '*';
        pattern[2 * i + 1] = 'a';
    }
    check_match_within(pattern, 2 * PAIRS, PAIRS, EITHER_RESULT, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_literal_and_empty),
        cmocka_unit_test(test_glob_star),
        cmocka_unit_test(test_glob_question_mark),
        cmocka_unit_test(test_glob_classes),
        cmocka_unit_test(test_glob_reversed_range),
        cmocka_unit_test(test_glob_escapes),
        cmocka_unit_test(test_glob_nocase),
        cmocka_unit_test(test_glob_honours_lengths),
        cmocka_unit_test(test_glob_high_bytes),
        cmocka_unit_test(test_glob_many_stars_match_is_fast),
        cmocka_unit_test(test_glob_many_stars_no_match_is_fast),
        cmocka_unit_test(test_glob_deep_star_nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
