/*
 * Integration-test harness: the server under test as a child process.
 *
 * Owns: the child's pid, its port, its temp dir and log file.  Runs on the
 * test's main thread.  Must never leave a server running: the child asks the
 * kernel to kill it when the test process dies (PR_SET_PDEATHSIG), and stop
 * escalates to SIGKILL.
 */
#include "tests/support/server.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#define START_TIMEOUT_MS  10000
#define STOP_GRACE_MS     5000
#define START_ATTEMPTS    3
#define MAX_ARGS          64
#define LOG_TAIL_BYTES    4096
#define CLIENT_TIMEOUT_MS 10000

struct test_server {
    pid_t pid;
    int port;
    bool exited;        /* child reaped */
    int wait_status;    /* valid when exited */
    bool reported;      /* death already printed */
    bool expected_exit; /* the test made it exit (wait_exit saw status 0) */
    char dir[PATH_MAX];
    char log_path[PATH_MAX + 16];
    struct test_server *next;
};

/*
 * Every running server, so that a failing assertion anywhere can show the
 * logs of the servers involved without each helper being handed a server.
 * Test code is single-threaded around cmocka; nothing else touches this.
 */
static struct test_server *live_servers;

long long shale_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void shale_test_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

bool shale_test_server_is_redis(void)
{
    const char *kind = getenv("SHALE_SERVER_KIND");
    return kind != NULL && strcmp(kind, "redis") == 0;
}

int shale_test_server_port(const struct test_server *server)
{
    return server->port;
}

const char *shale_test_server_log_path(const struct test_server *server)
{
    return server->log_path;
}

static void describe_wait_status(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status)) {
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, cap, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, cap, "wait status 0x%x", status);
    }
}

void shale_test_server_print_log(const struct test_server *server, size_t tail_bytes)
{
    FILE *f = fopen(server->log_path, "rb");
    if (f == NULL) {
        fprintf(stderr, "[server] cannot open log %s: %s\n", server->log_path, strerror(errno));
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)tail_bytes ? size - (long)tail_bytes : 0;
    fseek(f, from, SEEK_SET);
    fprintf(stderr, "---- tail of server log %s (port %d, pid %d) ----\n", server->log_path,
            server->port, (int)server->pid);
    char buf[1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        fwrite(buf, 1, n, stderr);
    }
    fprintf(stderr, "---- end of server log ----\n");
    fclose(f);
}

/* Reaps the child if it has exited; true when it has (now or earlier). */
static bool poll_exit(struct test_server *server)
{
    if (server->exited) {
        return true;
    }
    int status;
    pid_t r = waitpid(server->pid, &status, WNOHANG);
    if (r == server->pid) {
        server->exited = true;
        server->wait_status = status;
        return true;
    }
    return false;
}

bool shale_test_server_alive(struct test_server *server)
{
    if (!poll_exit(server)) {
        return true;
    }
    if (!server->reported) {
        char how[128];
        describe_wait_status(server->wait_status, how, sizeof how);
        fprintf(stderr, "[server] SERVER DIED: pid %d on port %d %s\n", (int)server->pid,
                server->port, how);
        shale_test_server_print_log(server, LOG_TAIL_BYTES);
        server->reported = true;
    }
    return false;
}

void shale_test_server_report_failure(void)
{
    for (struct test_server *s = live_servers; s != NULL; s = s->next) {
        if (shale_test_server_alive(s)) {
            shale_test_server_print_log(s, 2048);
        }
    }
}

static int find_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* The temp dir holds the log and whatever the server chose to write there. */
static void remove_dir(struct test_server *server)
{
    if (nftw(server->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "[server] could not remove %s: %s\n", server->dir, strerror(errno));
    }
}

static void unlink_live(struct test_server *server)
{
    for (struct test_server **p = &live_servers; *p != NULL; p = &(*p)->next) {
        if (*p == server) {
            *p = server->next;
            return;
        }
    }
}

/* Child side of fork: never returns. */
static void exec_child(const struct test_server *server, char *const *argv, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127);
    }
    int log = open(server->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log < 0 || chdir(server->dir) != 0) {
        _exit(127);
    }
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    /* Sockets of the test's other clients must not stay open in the server. */
    long max_fd = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); fd++) {
        close((int)fd);
    }
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/*
 * Waits for the server to answer PING.  An error reply (NOAUTH under
 * requirepass) still proves it is serving.  Returns 0 when ready, 1 when the
 * child exited, -1 on timeout.
 */
static int wait_ready(struct test_server *server)
{
    long long deadline = shale_test_now_ms() + START_TIMEOUT_MS;
    while (shale_test_now_ms() < deadline) {
        if (poll_exit(server)) {
            return 1;
        }
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", server->port, tv);
        if (c != NULL && c->err == 0) {
            redisSetTimeout(c, tv);
            redisReply *r = redisCommand(c, "PING");
            bool ready =
                r != NULL && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
            if (r != NULL) {
                freeReplyObject(r);
            }
            redisFree(c);
            if (ready) {
                return 0;
            }
        } else if (c != NULL) {
            redisFree(c);
        }
        shale_test_sleep_ms(20);
    }
    return -1;
}

static bool log_says_port_busy(const struct test_server *server)
{
    FILE *f = fopen(server->log_path, "r");
    if (f == NULL) {
        return false;
    }
    char line[1024];
    bool busy = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "in use") != NULL) {
            busy = true;
        }
    }
    fclose(f);
    return busy;
}

/* Kills and reaps a child that never became ready. */
static void kill_and_reap(struct test_server *server)
{
    if (!poll_exit(server)) {
        kill(server->pid, SIGKILL);
        int status;
        if (waitpid(server->pid, &status, 0) == server->pid) {
            server->exited = true;
            server->wait_status = status;
        }
    }
}

struct test_server *shale_test_server_start(const char *const *common_args,
                                            const char *const *shale_only_args)
{
    return shale_test_server_start_conf(NULL, common_args, shale_only_args);
}

struct test_server *shale_test_server_start_conf(const char *conf_file,
                                                 const char *const *common_args,
                                                 const char *const *shale_only_args)
{
    const char *env = getenv("SHALE_SERVER");
    if (env == NULL || env[0] == '\0') {
        fprintf(stderr, "[server] SHALE_SERVER is not set: give the path of the server binary "
                        "(SHALE_SERVER_KIND=redis for redis-server)\n");
        return NULL;
    }
    /*
     * Made absolute (the child runs in its temp dir) but not resolved:
     * redis-server is a symlink and picks its mode from argv[0].
     */
    char binary[PATH_MAX * 2];
    char cwd[PATH_MAX];
    if (env[0] == '/') {
        snprintf(binary, sizeof binary, "%s", env);
    } else if (getcwd(cwd, sizeof cwd) != NULL) {
        snprintf(binary, sizeof binary, "%s/%s", cwd, env);
    } else {
        binary[0] = '\0';
    }
    if (access(binary, X_OK) != 0) {
        fprintf(stderr, "[server] SHALE_SERVER=%s is not an executable file\n", env);
        return NULL;
    }
    /* A test writing to a socket the server closed must see EPIPE, not die. */
    signal(SIGPIPE, SIG_IGN);

    bool redis = shale_test_server_is_redis();
    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        struct test_server *server = calloc(1, sizeof *server);
        if (server == NULL) {
            return NULL;
        }
        const char *tmp = getenv("TMPDIR");
        snprintf(server->dir, sizeof server->dir, "%s/shale-test-XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (mkdtemp(server->dir) == NULL) {
            fprintf(stderr, "[server] mkdtemp %s: %s\n", server->dir, strerror(errno));
            free(server);
            return NULL;
        }
        snprintf(server->log_path, sizeof server->log_path, "%s/server.log", server->dir);
        server->port = find_free_port();
        if (server->port < 0) {
            fprintf(stderr, "[server] no free port: %s\n", strerror(errno));
            remove_dir(server);
            free(server);
            return NULL;
        }

        char port_str[16];
        snprintf(port_str, sizeof port_str, "%d", server->port);
        char *argv[MAX_ARGS];
        int argc = 0;
        argv[argc++] = binary;
        if (conf_file)
            argv[argc++] = (char *)conf_file;
        argv[argc++] = "--port";
        argv[argc++] = port_str;
        argv[argc++] = "--bind";
        argv[argc++] = "127.0.0.1";
        if (redis) {
            argv[argc++] = "--save";
            argv[argc++] = "";
            argv[argc++] = "--appendonly";
            argv[argc++] = "no";
        }
        for (size_t i = 0; common_args != NULL && common_args[i] != NULL; i++) {
            if (argc < MAX_ARGS - 1) {
                argv[argc++] = (char *)common_args[i];
            }
        }
        for (size_t i = 0; !redis && shale_only_args != NULL && shale_only_args[i] != NULL; i++) {
            if (argc < MAX_ARGS - 1) {
                argv[argc++] = (char *)shale_only_args[i];
            }
        }
        /* SHALE_TEST_SERVER_ARGS: more shale options for every server a
         * suite starts (make defrag-test runs suites with defrag on). */
        char extra[1024];
        const char *env_args = getenv("SHALE_TEST_SERVER_ARGS");
        snprintf(extra, sizeof extra, "%s", env_args != NULL && !redis ? env_args : "");
        for (char *save = NULL, *word = strtok_r(extra, " ", &save); word != NULL;
             word = strtok_r(NULL, " ", &save)) {
            if (argc < MAX_ARGS - 1) {
                argv[argc++] = word;
            }
        }
        argv[argc] = NULL;

        fflush(NULL);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "[server] fork: %s\n", strerror(errno));
            remove_dir(server);
            free(server);
            return NULL;
        }
        if (pid == 0) {
            exec_child(server, argv, parent);
        }
        server->pid = pid;

        int ready = wait_ready(server);
        if (ready == 0) {
            server->next = live_servers;
            live_servers = server;
            return server;
        }
        kill_and_reap(server);
        if (ready == 1 && attempt < START_ATTEMPTS && log_says_port_busy(server)) {
            remove_dir(server);
            free(server);
            continue;
        }
        fprintf(stderr, "[server] %s on port %d %s; command line:\n   ", binary, server->port,
                ready == 1 ? "exited during start-up" : "did not answer PING within 10 s");
        for (int i = 0; i < argc; i++) {
            fprintf(stderr, " '%s'", argv[i]);
        }
        fprintf(stderr, "\n");
        if (server->exited) {
            char how[128];
            describe_wait_status(server->wait_status, how, sizeof how);
            fprintf(stderr, "[server] %s\n", how);
        }
        shale_test_server_print_log(server, LOG_TAIL_BYTES);
        remove_dir(server);
        free(server);
        return NULL;
    }
    return NULL;
}

int shale_test_server_stop(struct test_server *server)
{
    if (server == NULL) {
        return 0;
    }
    unlink_live(server);
    int rc = 0;
    bool log_shown = server->reported;
    if (poll_exit(server) && server->expected_exit) {
        rc = 0;
    } else if (poll_exit(server)) {
        shale_test_server_alive(server); /* prints the death once */
        log_shown = true;
        fprintf(stderr, "[server] server on port %d had died before the tests finished\n",
                server->port);
        rc = -1;
    } else {
        kill(server->pid, SIGTERM);
        long long deadline = shale_test_now_ms() + STOP_GRACE_MS;
        while (!poll_exit(server) && shale_test_now_ms() < deadline) {
            shale_test_sleep_ms(5);
        }
        if (!server->exited) {
            fprintf(stderr, "[server] server on port %d ignored SIGTERM for %d ms; SIGKILL\n",
                    server->port, STOP_GRACE_MS);
            kill_and_reap(server);
            rc = -1;
        } else if (!(WIFEXITED(server->wait_status) && WEXITSTATUS(server->wait_status) == 0)) {
            char how[128];
            describe_wait_status(server->wait_status, how, sizeof how);
            fprintf(stderr, "[server] server on port %d %s after SIGTERM\n", server->port, how);
            rc = -1;
        }
    }
    if (rc != 0) {
        if (!log_shown) {
            shale_test_server_print_log(server, LOG_TAIL_BYTES);
        }
        fprintf(stderr, "[server] log kept in %s\n", server->log_path);
    } else {
        remove_dir(server);
    }
    free(server);
    return rc;
}

redisContext *shale_test_connect_at(const char *file, int line, struct test_server *server)
{
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_MS / 1000, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", server->port, tv);
    if (c == NULL || c->err != 0) {
        print_error("cannot connect to the server on port %d: %s\n", server->port,
                    c != NULL ? c->errstr : "out of memory");
        if (c != NULL) {
            redisFree(c);
        }
        shale_test_server_report_failure();
        _fail(file, line);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

void shale_test_skip_on_redis_at(const char *file, int line, const char *reason)
{
    if (shale_test_server_is_redis()) {
        print_message("[  SKIP    ] shale-only test (SHALE_SERVER_KIND=redis): %s\n", reason);
        _skip(file, line);
    }
}

int shale_test_free_port(void)
{
    return find_free_port();
}

void shale_test_server_kill(struct test_server *server, int sig)
{
    if (!poll_exit(server)) {
        kill(server->pid, sig);
    }
}

int shale_test_server_wait_exit(struct test_server *server, long timeout_ms)
{
    long long deadline = shale_test_now_ms() + timeout_ms;
    while (!poll_exit(server) && shale_test_now_ms() < deadline) {
        shale_test_sleep_ms(5);
    }
    if (!server->exited) {
        return -1;
    }
    int status = server->wait_status;
    if (WIFEXITED(status)) {
        server->expected_exit = WEXITSTATUS(status) == 0;
        server->reported = server->expected_exit;
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}
