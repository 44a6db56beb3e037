#!/usr/bin/env python3
"""Benchmark shale-server against redis-server: same workload, same machine,
one invocation, results reported as ratios shale/redis.

Both servers are started once and stay up for the whole run.  Each workload
is run with redis-benchmark against each server, alternating which server
goes first from round to round, and the median over the rounds is reported
per server.  Server CPU time per request is taken from /proc/PID/stat
(utime+stime, all threads) around each redis-benchmark run, and the
client's own CPU (as a share of one core: near 100% the one-threaded client,
not the server, limits the run).  After the runs each server's idle CPU is
measured.

Standard library only.  See docs/benchmarks.md for the method, and
`python3 scripts/bench.py --help` for the options.

Ratios are always shale/redis: for rps > 1 means shale is faster; for CPU
and latency < 1 means shale is better.
"""

import argparse
import csv
import datetime
import io
import os
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------
# Workloads.
#
# Each entry is one redis-benchmark invocation per server per round.
#   name      - what --tests selects on and what the report prints
#   kind      - "throughput": run redis-benchmark, report rps / CPU / latency.
#               (A "memory" kind -- bytes per key after loading N keys, read
#               from INFO memory / process RSS -- is planned; it will get its
#               own runner in RUNNERS below.  Not built yet.)
#   args      - redis-benchmark arguments, without -h/-p/-n/-q/--csv
#   requests  - default -n (per test in -t); scaled by --requests-scale,
#               replaced by --requests.  Pick it so one run takes a few
#               seconds on a small machine.
#   default   - part of the set run when --tests is not given
#
# To add a workload (MSET/MGET, HSET/HGET, ...) append a dict here.  For
# commands redis-benchmark has no -t test for, give the command and its
# arguments as "command": ["MGET", "key:__rand_int__", ...]; it goes last on
# the redis-benchmark line (after --bench-args: redis-benchmark takes the
# first non-option word as the command), and its CSV row is named after it.
# ---------------------------------------------------------------------------
WORKLOADS = [
    {
        "name": "set-get-P1",
        "kind": "throughput",
        "args": ["-t", "set,get", "-c", "50", "-r", "100000", "-d", "64",
                 "-P", "1"],
        "requests": 200_000,
        "default": True,
    },
    {
        "name": "set-get-P16",
        "kind": "throughput",
        "args": ["-t", "set,get", "-c", "50", "-r", "100000", "-d", "64",
                 "-P", "16"],
        "requests": 2_000_000,
        "default": True,
    },
    # Hashes.  Every __rand_int__ is drawn on its own from -r values, so
    # -r 100000 spreads fields over up to 100000 hashes (about 20 fields
    # each after 2M requests: the compact/listpack encoding in both
    # servers) and -r 1000 puts up to 1000 fields in each of 1000 hashes
    # (the table encoding in both).  HGET runs after the HSET of the same
    # shape in each round: with -r 1000 most fields it asks for exist (86%
    # after one round); with -r 100000 the hash exists but the field almost
    # never does, so it measures a miss, a full walk of a small hash.
    # Values are 15 bytes, as in scripts/bench_hash_memory.py.
    {
        "name": "hset-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "100000", "-P", "16"],
        "command": ["HSET", "h:__rand_int__", "f:__rand_int__", "v" * 15],
        "requests": 2_000_000,
        "default": False,
    },
    {
        "name": "hget-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "100000", "-P", "16"],
        "command": ["HGET", "h:__rand_int__", "f:__rand_int__"],
        "requests": 2_000_000,
        "default": False,
    },
    {
        "name": "hset-big-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "1000", "-P", "16"],
        "command": ["HSET", "h:__rand_int__", "f:__rand_int__", "v" * 15],
        "requests": 2_000_000,
        "default": False,
    },
    {
        "name": "hget-big-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "1000", "-P", "16"],
        "command": ["HGET", "h:__rand_int__", "f:__rand_int__"],
        "requests": 2_000_000,
        "default": False,
    },
    # Wide hashes: -r 3000 spreads 4.5M HSETs over 3000 hashes of up to
    # 3000 fields (~1200 each, 3.5M fields, ~120 MB: far past the cache),
    # so each HGET's chain of loads -- key, value, table, field bucket,
    # entry -- misses the cache, which the shard's batch prefetch is for.
    {
        "name": "hset-wide-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "3000", "-P", "16"],
        "command": ["HSET", "h:__rand_int__", "f:__rand_int__", "v" * 15],
        "requests": 4_500_000,
        "default": False,
    },
    {
        "name": "hget-wide-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "3000", "-P", "16"],
        "command": ["HGET", "h:__rand_int__", "f:__rand_int__"],
        "requests": 2_000_000,
        "default": False,
    },
    # Multi-key commands: 10 random keys each.  With more than one shard
    # (--shards 2) most of them span shards and run as atomic batches
    # (net/txn.c); with one shard they measure the plain path.
    {
        "name": "mset10-P16",
        "kind": "throughput",
        "args": ["-t", "mset", "-c", "50", "-r", "100000", "-d", "64",
                 "-P", "16"],
        "requests": 500_000,
        "default": False,
    },
    {
        "name": "mget10-P16",
        "kind": "throughput",
        "args": ["-c", "50", "-r", "100000", "-P", "16"],
        "command": ["MGET"] + ["key:__rand_int__"] * 10,
        "requests": 500_000,
        "default": False,
    },
    # {"name": "bytes-per-key", "kind": "memory", ...},   # TODO: memory mode
]

SERVERS = ("shale", "redis")

# CSV columns of redis-benchmark 7.0 `-q --csv`:
# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
# "p95_latency_ms","p99_latency_ms","max_latency_ms"
LAT_COLS = ("avg_latency_ms", "min_latency_ms", "p50_latency_ms",
            "p95_latency_ms", "p99_latency_ms", "max_latency_ms")


class BenchError(Exception):
    """A failure that ends the run with a message and a non-zero exit."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------

def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held open until all found)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """User + system CPU of the children this process has waited for (each
    redis-benchmark run, once subprocess.run returns)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def proc_cpu_seconds(pid):
    """utime+stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError as e:
        raise BenchError(f"cannot read /proc/{pid}/stat: {e}") from e
    # comm (field 2) may contain spaces or ')': split after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15
    return (utime + stime) / CLK_TCK


class Server:
    def __init__(self, label, argv, port, cli):
        self.label = label
        self.argv = argv
        self.port = port
        self.cli = cli
        self.proc = None
        self.logfile = None
        self.keep_log = False

    def start(self, cwd):
        self.logfile = tempfile.NamedTemporaryFile(
            prefix=f"bench-{self.label}-", suffix=".log", delete=False)
        try:
            # Own session: a Ctrl-C in the terminal reaches only us, and we
            # stop the servers ourselves (after the report if there is one).
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self.logfile,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
        except OSError as e:
            raise BenchError(f"{self.label}: cannot start "
                             f"{quote_cmd(self.argv)}: {e}") from e

    def log_tail(self, lines=20):
        self.keep_log = True  # an error message points at it
        try:
            with open(self.logfile.name, errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join("    " + l for l in tail)

    def check_alive(self):
        rc = self.proc.poll()
        if rc is not None:
            raise BenchError(
                f"{self.label} server exited (status {rc}); "
                f"command: {quote_cmd(self.argv)}\n"
                f"  log ({self.logfile.name}):\n{self.log_tail()}")

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                r = subprocess.run(
                    [self.cli, "-h", "127.0.0.1", "-p", str(self.port), "ping"],
                    capture_output=True, text=True, timeout=5)
                last = (r.stdout + r.stderr).strip()
                if r.returncode == 0 and last == "PONG":
                    return
            except subprocess.TimeoutExpired:
                last = "redis-cli ping timed out"
            time.sleep(0.1)
        raise BenchError(
            f"{self.label} server did not answer PING on port {self.port} "
            f"within {timeout:g}s (last reply: {last!r}); "
            f"command: {quote_cmd(self.argv)}\n"
            f"  log ({self.logfile.name}):\n{self.log_tail()}")

    def cpu(self):
        self.check_alive()
        return proc_cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        if self.logfile is not None:
            self.logfile.close()
            # Keep the log if an error message refers to it.
            if not self.keep_log:
                try:
                    os.unlink(self.logfile.name)
                except OSError:
                    pass


def check_executable(path, what, option):
    if os.sep in path:
        ok = os.path.isfile(path) and os.access(path, os.X_OK)
    else:
        ok = any(os.access(os.path.join(d, path), os.X_OK)
                 for d in os.environ.get("PATH", "").split(os.pathsep))
    if not ok:
        raise BenchError(f"{what} not found or not executable: {path} "
                         f"(set it with {option})")


# ---------------------------------------------------------------------------
# Running redis-benchmark
# ---------------------------------------------------------------------------

def parse_csv(text):
    """Rows of redis-benchmark -q --csv output as dicts of floats."""
    rows = []
    for rec in csv.DictReader(io.StringIO(text)):
        if not rec.get("test"):
            continue
        row = {"test": rec["test"]}
        for col in ("rps",) + LAT_COLS:
            v = rec.get(col)
            row[col] = float(v) if v not in (None, "") else None
        rows.append(row)
    return rows


def head(text, lines=12):
    ls = text.strip().splitlines()
    more = ["    ..."] if len(ls) > lines else []
    return "\n".join(["    " + l for l in ls[:lines]] + more) or "    (empty)"


def run_throughput(server, wl, requests, args):
    argv = ([args.redis_benchmark, "-h", "127.0.0.1", "-p", str(server.port),
             "-n", str(requests), "-q", "--csv"]
            + wl["args"] + args.bench_args + wl.get("command", []))
    cpu0 = server.cpu()
    client0 = children_cpu_seconds()
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"redis-benchmark timed out after {args.timeout}s "
                         f"against {server.label}: {quote_cmd(argv)}") from e
    wall = time.monotonic() - t0
    cpu1 = server.cpu()
    client_s = children_cpu_seconds() - client0
    # redis-benchmark 7 exits non-zero on the first error reply ("Error from
    # server: ..." on stderr), so a server answering errors cannot pass for a
    # fast one.  Drop such lines from the CSV anyway in case a version prints
    # them on stdout.
    out_lines = r.stdout.splitlines()
    errors = [l for l in out_lines + r.stderr.splitlines()
              if l.startswith("Error from server")]
    csv_text = "\n".join(l for l in out_lines
                         if not l.startswith("Error from server"))
    rows = parse_csv(csv_text)
    if (errors or r.returncode != 0 or not rows
            or any(x["rps"] is None for x in rows)):
        what = ("the server replied with errors" if errors
                else f"exit {r.returncode}")
        raise BenchError(
            f"redis-benchmark failed against {server.label} ({what}): "
            f"{quote_cmd(argv)}\n"
            f"  stdout:\n{head(r.stdout)}\n  stderr:\n{head(r.stderr)}")
    total = requests * len(rows)  # -n applies to each test of -t
    return {
        "tests": {x["test"]: x for x in rows},
        "cpu_s": cpu1 - cpu0,
        "cpu_us_per_req": (cpu1 - cpu0) * 1e6 / total,
        "requests": total,
        "wall_s": wall,
        # redis-benchmark is one thread: near 100% of a core, the client and
        # not the server sets the requests/s (what this ratio then shows).
        "client_cpu_pct": 100.0 * client_s / wall if wall > 0 else 0.0,
    }


RUNNERS = {
    "throughput": run_throughput,
    # "memory": run_memory,   # TODO: bytes-per-key mode goes here
}


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "rps":
        return f"{v:,.0f}"
    if kind == "us":
        return f"{v:.2f}"
    if kind == "ms":
        return f"{v:.3f}"
    if kind == "ratio":
        return f"{v:.2f}x"
    if kind == "pct":
        return f"{v:.0f}%"
    return str(v)


def summarize(results, workloads):
    """results[wl_name][server] = list of run dicts (one per round).
    Returns per workload a list of (metric, kind, shale, redis, ratio)."""
    summary = {}
    for wl in workloads:
        res = results[wl["name"]]
        rows = []
        tests = list(res["shale"][0]["tests"])
        for t in tests:
            for metric, col, kind in (("rps", "rps", "rps"),
                                      ("p50 ms", "p50_latency_ms", "ms"),
                                      ("p99 ms", "p99_latency_ms", "ms")):
                s = median(r["tests"].get(t, {}).get(col) for r in res["shale"])
                d = median(r["tests"].get(t, {}).get(col) for r in res["redis"])
                rows.append((f"{t} {metric}", kind, s, d, ratio(s, d)))
        s = median(r["cpu_us_per_req"] for r in res["shale"])
        d = median(r["cpu_us_per_req"] for r in res["redis"])
        rows.append(("CPU us/req (all tests)", "us", s, d, ratio(s, d)))
        s = median(r["client_cpu_pct"] for r in res["shale"])
        d = median(r["client_cpu_pct"] for r in res["redis"])
        rows.append(("client CPU, % of a core", "pct", s, d, ratio(s, d)))
        summary[wl["name"]] = rows
    return summary


def per_round_ratios(results, wl):
    """One line per round: rps ratio per test and CPU ratio."""
    res = results[wl["name"]]
    lines = []
    for i, (s, d) in enumerate(zip(res["shale"], res["redis"])):
        parts = []
        for t in s["tests"]:
            rr = ratio(s["tests"][t]["rps"], d["tests"].get(t, {}).get("rps"))
            parts.append(f"{t} rps {fmt(rr, 'ratio')}")
        parts.append("CPU/req "
                     + fmt(ratio(s["cpu_us_per_req"], d["cpu_us_per_req"]),
                           "ratio"))
        first = s.get("order", "")
        lines.append((i + 1, first, parts))
    return lines


def text_report(summary, results, workloads, idle, meta):
    out = []
    out.append(f"shale vs redis-server -- {meta['rounds']} round(s), "
               f"median per server; ratio = shale/redis "
               f"(rps: >1 better; CPU, latency: <1 better)")
    for wl in workloads:
        rows = summary[wl["name"]]
        out.append("")
        out.append(f"== {wl['name']}: redis-benchmark "
                   f"{quote_cmd(wl['args'] + wl.get('command', []))} "
                   f"-n {meta['requests'][wl['name']]}")
        w0 = max(len(r[0]) for r in rows + [("metric",)])
        out.append(f"  {'metric':<{w0}}  {'shale':>12}  {'redis':>12}  "
                   f"{'ratio':>7}")
        for name, kind, s, d, rr in rows:
            out.append(f"  {name:<{w0}}  {fmt(s, kind):>12}  "
                       f"{fmt(d, kind):>12}  {fmt(rr, 'ratio'):>7}")
        out.append("  per round:")
        for i, first, parts in per_round_ratios(results, wl):
            out.append(f"    round {i} ({first} first): " + ", ".join(parts))
    if idle:
        out.append("")
        out.append(f"Idle CPU over {meta['idle_seconds']:g}s "
                   f"(% of one core; resolution "
                   f"{100.0 / CLK_TCK / meta['idle_seconds']:.2f}%):")
        for label in SERVERS:
            out.append(f"  {label:<6} {idle[label]:6.2f}%")
    return "\n".join(out)


def markdown_report(summary, results, workloads, idle, meta):
    out = []
    out.append(f"### {meta['date']} -- commit `{meta['commit']}`, "
               f"nproc {meta['nproc']}")
    out.append("")
    out.append(f"- command: `{meta['cmdline']}`")
    out.append(f"- shale: `{meta['shale_cmd']}`")
    out.append(f"- redis: `{meta['redis_cmd']}` ({meta['redis_version']})")
    out.append(f"- {meta['rounds']} round(s), order alternated, median per "
               f"server; ratio = shale/redis (rps: >1 better; CPU, latency: "
               f"<1 better)")
    for wl in workloads:
        out.append("")
        out.append(f"**{wl['name']}** -- `redis-benchmark "
                   f"{quote_cmd(wl['args'] + wl.get('command', []))} "
                   f"-n {meta['requests'][wl['name']]}`")
        out.append("")
        out.append("| metric | shale | redis | shale/redis |")
        out.append("|---|---:|---:|---:|")
        for name, kind, s, d, rr in summary[wl["name"]]:
            out.append(f"| {name} | {fmt(s, kind)} | {fmt(d, kind)} | "
                       f"{fmt(rr, 'ratio')} |")
        rounds = per_round_ratios(results, wl)
        out.append("")
        out.append("Per round: " + "; ".join(
            f"{i} ({first} first): " + ", ".join(parts)
            for i, first, parts in rounds))
    if idle:
        out.append("")
        out.append(f"Idle CPU over {meta['idle_seconds']:g}s: "
                   + ", ".join(f"{l} {idle[l]:.2f}% of one core"
                               for l in SERVERS))
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def quote_cmd(argv):
    """Shell-quote argv for display, preferring "..." over '"'"'...'."""
    out = []
    for a in argv:
        q = shlex.quote(a)
        if q != a and not any(c in a for c in '"$`\\!'):
            q = '"' + a + '"'
        out.append(q)
    return " ".join(out)


def capture(argv, default):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                           cwd=REPO_ROOT)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return default


def parse_args(argv):
    names = [w["name"] for w in WORKLOADS]
    defaults = [w["name"] for w in WORKLOADS if w.get("default")]
    p = argparse.ArgumentParser(
        description="Benchmark shale-server against redis-server with "
                    "redis-benchmark; report medians and shale/redis ratios.",
        epilog="workloads: " + ", ".join(
            f"{w['name']}{' (default)' if w.get('default') else ''}"
            for w in WORKLOADS))
    p.add_argument("--shale", metavar="PATH", default=os.path.join(REPO_ROOT, "shale-server"),
                   help="shale server binary (default: %(default)s)")
    p.add_argument("--shale-args", metavar="ARGS", default="",
                   help="extra arguments for the shale server, one shell-"
                        "quoted string, e.g. \"--save '' --appendonly no\"")
    p.add_argument("--io-threads", metavar="N", type=int,
                   help="pass --io-threads N to shale")
    p.add_argument("--shards", metavar="M", type=int, help="pass --shards M to shale")
    p.add_argument("--redis", metavar="PATH", default="redis-server",
                   help="redis-server binary (default: %(default)s)")
    p.add_argument("--redis-args", metavar="ARGS", default="",
                   help="extra arguments for redis-server, e.g. "
                        "\"--io-threads 2\"")
    p.add_argument("--redis-benchmark", metavar="PATH", default="redis-benchmark",
                   help="redis-benchmark binary (default: %(default)s)")
    p.add_argument("--redis-cli", metavar="PATH", default="redis-cli",
                   help="redis-cli binary, used for PING (default: "
                        "%(default)s)")
    p.add_argument("--tests", metavar="LIST", default=",".join(defaults),
                   help="comma-separated workloads to run (default: "
                        "%(default)s; all: " + ",".join(names) + ")")
    p.add_argument("--rounds", metavar="K", type=int, default=3,
                   help="rounds; server order alternates each round "
                        "(default: %(default)s)")
    p.add_argument("--requests", metavar="N", type=int,
                   help="-n for every workload (overrides the per-workload "
                        "default and --requests-scale)")
    p.add_argument("--requests-scale", metavar="F", type=float, default=1.0,
                   help="multiply each workload's default -n (e.g. 0.1 for "
                        "a quick check; default: %(default)s)")
    p.add_argument("--bench-args", metavar="ARGS", default="",
                   help="extra redis-benchmark arguments for every run, e.g. "
                        "--bench-args=\"--threads 2\" (use = when ARGS "
                        "starts with -; same for --shale-args/--redis-args)")
    p.add_argument("--idle-seconds", metavar="S", type=float, default=5.0,
                   help="idle CPU measurement window, 0 to skip "
                        "(default: %(default)s)")
    p.add_argument("--startup-timeout", metavar="S", type=float, default=10.0,
                   help="seconds to wait for PING after start "
                        "(default: %(default)s)")
    p.add_argument("--timeout", metavar="S", type=float, default=300.0,
                   help="seconds one redis-benchmark run may take "
                        "(default: %(default)s)")
    p.add_argument("--markdown", action="store_true",
                   help="also print the results as markdown for "
                        "docs/benchmarks.md")
    p.add_argument("--list-tests", action="store_true",
                   help="list workloads and exit")
    args = p.parse_args(argv)

    if args.list_tests:
        for w in WORKLOADS:
            print(f"{w['name']:<16} {'default' if w.get('default') else '':<8}"
                  f" {w['kind']:<11} -n {w['requests']} "
                  f"{quote_cmd(w['args'] + w.get('command', []))}")
        sys.exit(0)
    sel = [t.strip() for t in args.tests.split(",") if t.strip()]
    unknown = [t for t in sel if t not in names]
    if unknown or not sel:
        p.error(f"unknown workload(s) {', '.join(unknown) or '(none)'}; "
                f"choose from {', '.join(names)}")
    args.workloads = [w for w in WORKLOADS if w["name"] in sel]
    for w in args.workloads:
        if w["kind"] not in RUNNERS:
            p.error(f"workload {w['name']}: kind {w['kind']!r} is not "
                    f"implemented yet")
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.requests is not None and args.requests < 1:
        p.error("--requests must be >= 1")
    if args.requests_scale <= 0:
        p.error("--requests-scale must be > 0")
    try:
        args.shale_extra = shlex.split(args.shale_args)
        args.redis_extra = shlex.split(args.redis_args)
        args.bench_args = shlex.split(args.bench_args)
    except ValueError as e:
        p.error(f"cannot parse quoted arguments: {e}")
    return args


def main(argv):
    args = parse_args(argv)
    cmdline = quote_cmd(["python3"] + [os.path.relpath(sys.argv[0])]
                         + list(argv))

    for path, what, opt in ((args.shale, "shale server", "--shale"),
                            (args.redis, "redis-server", "--redis"),
                            (args.redis_benchmark, "redis-benchmark",
                             "--redis-benchmark"),
                            (args.redis_cli, "redis-cli", "--redis-cli")):
        check_executable(path, what, opt)

    # Servers run in a scratch directory: make path-like binaries absolute.
    if os.sep in args.shale:
        args.shale = os.path.abspath(args.shale)
    if os.sep in args.redis:
        args.redis = os.path.abspath(args.redis)

    requests = {}
    for w in args.workloads:
        if args.requests is not None:
            requests[w["name"]] = args.requests
        else:
            requests[w["name"]] = max(1, round(w["requests"]
                                               * args.requests_scale))

    p_shale, p_redis = free_ports(2)
    shale_argv = [args.shale, "--port", str(p_shale), "--bind", "127.0.0.1"]
    if args.io_threads is not None:
        shale_argv += ["--io-threads", str(args.io_threads)]
    if args.shards is not None:
        shale_argv += ["--shards", str(args.shards)]
    shale_argv += args.shale_extra
    redis_argv = [args.redis, "--port", str(p_redis), "--bind", "127.0.0.1",
                  "--save", "", "--appendonly", "no"] + args.redis_extra

    servers = {
        "shale": Server("shale", shale_argv, p_shale, args.redis_cli),
        "redis": Server("redis", redis_argv, p_redis, args.redis_cli),
    }

    # SIGTERM/SIGHUP -> exception, so the finally below stops the servers.
    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    # Servers run in a scratch directory so nothing they write (an RDB
    # from a mis-configured redis, core files) lands in the repository.
    workdir = tempfile.TemporaryDirectory(prefix="shale-bench-")
    try:
        for s in servers.values():
            log(f"starting {s.label}: {quote_cmd(s.argv)}")
            s.start(workdir.name)
        for s in servers.values():
            s.wait_ready(args.startup_timeout)
        log(f"both servers answer PING (shale :{p_shale}, redis :{p_redis})")

        results = {w["name"]: {"shale": [], "redis": []}
                   for w in args.workloads}
        for rnd in range(args.rounds):
            order = SERVERS if rnd % 2 == 0 else SERVERS[::-1]
            for w in args.workloads:
                for label in order:
                    n = requests[w["name"]]
                    log(f"round {rnd + 1}/{args.rounds} {w['name']} "
                        f"{label} (-n {n}) ...")
                    res = RUNNERS[w["kind"]](servers[label], w, n, args)
                    res["order"] = order[0]
                    results[w["name"]][label].append(res)
                    log("    " + ", ".join(
                        f"{t} {x['rps']:,.0f} rps p50 {x['p50_latency_ms']} "
                        f"p99 {x['p99_latency_ms']} ms"
                        for t, x in res["tests"].items())
                        + f"; CPU {res['cpu_us_per_req']:.2f} us/req"
                        + f", client {res['client_cpu_pct']:.0f}% of a core"
                        + f" ({res['wall_s']:.1f}s)")
                for s in servers.values():
                    s.check_alive()

        idle = {}
        if args.idle_seconds > 0:
            log(f"measuring idle CPU for {args.idle_seconds:g}s ...")
            c0 = {l: servers[l].cpu() for l in SERVERS}
            t0 = time.monotonic()
            time.sleep(args.idle_seconds)
            c1 = {l: servers[l].cpu() for l in SERVERS}
            dt = time.monotonic() - t0
            idle = {l: (c1[l] - c0[l]) * 100.0 / dt for l in SERVERS}
    finally:
        for s in servers.values():
            s.stop()
        workdir.cleanup()

    meta = {
        "rounds": args.rounds,
        "requests": requests,
        "idle_seconds": args.idle_seconds,
        "date": datetime.datetime.now().astimezone().strftime(
            "%Y-%m-%d %H:%M %Z"),
        "commit": capture(["git", "rev-parse", "--short", "HEAD"], "unknown"),
        "nproc": capture(["nproc"], str(os.cpu_count())),
        "cmdline": cmdline,
        "shale_cmd": quote_cmd(shale_argv),
        "redis_cmd": quote_cmd(redis_argv),
        "redis_version": capture([args.redis, "--version"], "version unknown"),
    }
    summary = summarize(results, args.workloads)
    print(text_report(summary, results, args.workloads, idle, meta))
    if args.markdown:
        print()
        print(markdown_report(summary, results, args.workloads, idle, meta))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        log(f"bench.py: error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("bench.py: interrupted; servers stopped")
        sys.exit(130)
