#!/usr/bin/env python3
"""Benchmark TLS: shale-server against redis-server, both with a plain port
and a TLS port, driven by `redis-benchmark --tls` in one invocation.

Reports, with the median over the rounds per server:
  - TLS requests/s at pipeline 1 and 16, and the shale/redis ratio;
  - the same workloads on the plain ports, and each server's TLS/plain
    ratio (how much of its plain throughput survives encryption);
  - new TLS connections per second (redis-benchmark -k 0: every request on
    a new connection, so each one pays a full handshake), with plain TCP
    connections per second beside it.

Certificates are made by scripts/gen-certs.sh in a temp dir; the servers
require client certificates (tls-auth-clients yes, Redis's default) and
redis-benchmark presents one.  The harness (server start/stop, CPU from
/proc, CSV parsing) is scripts/bench.py's.  Standard library only.
"""

import argparse
import datetime
import os
import shlex
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared harness)
from bench import (BenchError, Server, capture, check_executable,  # noqa: E402
                   fmt, free_ports, log, median, quote_cmd, ratio)

REPO_ROOT = bench.REPO_ROOT

SETGET = ["-t", "set,get", "-c", "50", "-r", "100000", "-d", "64"]
# name, transport, redis-benchmark args, default -n
WORKLOADS = [
    ("tls-P1", "tls", SETGET + ["-P", "1"], 200_000),
    ("tls-P16", "tls", SETGET + ["-P", "16"], 2_000_000),
    ("plain-P1", "plain", SETGET + ["-P", "1"], 200_000),
    ("plain-P16", "plain", SETGET + ["-P", "16"], 2_000_000),
    ("tls-connect", "tls", ["-t", "ping_mbulk", "-c", "8", "-k", "0"], 10_000),
    ("plain-connect", "plain", ["-t", "ping_mbulk", "-c", "8", "-k", "0"], 20_000),
]


class Endpoint:
    """A server seen through one of its ports, for bench.run_throughput."""

    def __init__(self, server, port):
        self.server = server
        self.label = server.label
        self.port = port

    def cpu(self):
        return self.server.cpu()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shale", default=os.path.join(REPO_ROOT, "shale-server"))
    p.add_argument("--shale-args", default="", metavar="ARGS")
    p.add_argument("--io-threads", type=int, metavar="N")
    p.add_argument("--shards", type=int, metavar="M")
    p.add_argument("--redis", default="redis-server")
    p.add_argument("--redis-args", default="", metavar="ARGS")
    p.add_argument("--redis-benchmark", default="redis-benchmark")
    p.add_argument("--redis-cli", default="redis-cli")
    p.add_argument("--tests", default=",".join(w[0] for w in WORKLOADS),
                   help="comma-separated workloads (default: all)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests-scale", type=float, default=1.0, metavar="F")
    p.add_argument("--bench-args", default="", metavar="ARGS",
                   help="extra redis-benchmark arguments for every run")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--startup-timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    sel = [t.strip() for t in args.tests.split(",") if t.strip()]
    names = [w[0] for w in WORKLOADS]
    bad = [t for t in sel if t not in names]
    if bad or not sel:
        p.error(f"unknown workload(s) {bad}; choose from {names}")
    args.workloads = [w for w in WORKLOADS if w[0] in sel]
    args.shale_extra = shlex.split(args.shale_args)
    args.redis_extra = shlex.split(args.redis_args)
    args.bench_args = shlex.split(args.bench_args)
    return args


def main(argv):
    args = parse_args(argv)
    cmdline = quote_cmd(["python3", os.path.relpath(sys.argv[0])] + list(argv))
    for path, what, opt in ((args.shale, "shale server", "--shale"),
                            (args.redis, "redis-server", "--redis"),
                            (args.redis_benchmark, "redis-benchmark",
                             "--redis-benchmark"),
                            (args.redis_cli, "redis-cli", "--redis-cli"),
                            ("openssl", "openssl", "PATH")):
        check_executable(path, what, opt)
    if os.sep in args.shale:
        args.shale = os.path.abspath(args.shale)

    workdir = tempfile.TemporaryDirectory(prefix="shale-bench-tls-")
    certs = os.path.join(workdir.name, "certs")
    r = subprocess.run([os.path.join(REPO_ROOT, "scripts", "gen-certs.sh"), certs],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"gen-certs.sh failed:\n{r.stdout}{r.stderr}")

    def cert(name):
        return os.path.join(certs, name)

    tls_server = ["--tls-cert-file", cert("server.crt"), "--tls-key-file",
                  cert("server.key"), "--tls-ca-cert-file", cert("ca.crt")]
    tls_client = ["--tls", "--cacert", cert("ca.crt"), "--cert", cert("client.crt"),
                  "--key", cert("client.key")]

    p_shale, t_shale, p_redis, t_redis = free_ports(4)
    shale_argv = [args.shale, "--port", str(p_shale), "--tls-port", str(t_shale),
                  "--bind", "127.0.0.1"] + tls_server
    if args.io_threads is not None:
        shale_argv += ["--io-threads", str(args.io_threads)]
    if args.shards is not None:
        shale_argv += ["--shards", str(args.shards)]
    shale_argv += args.shale_extra
    redis_argv = [args.redis, "--port", str(p_redis), "--tls-port", str(t_redis),
                  "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis_argv += tls_server + args.redis_extra
    servers = {"shale": Server("shale", shale_argv, p_shale, args.redis_cli),
               "redis": Server("redis", redis_argv, p_redis, args.redis_cli)}
    ports = {"shale": {"plain": p_shale, "tls": t_shale},
             "redis": {"plain": p_redis, "tls": t_redis}}

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    results = {w[0]: {"shale": [], "redis": []} for w in args.workloads}
    requests = {w[0]: max(1, round(w[3] * args.requests_scale)) for w in args.workloads}
    try:
        for s in servers.values():
            log(f"starting {s.label}: {quote_cmd(s.argv)}")
            s.start(workdir.name)
        for s in servers.values():
            s.wait_ready(args.startup_timeout)
        for rnd in range(args.rounds):
            order = bench.SERVERS if rnd % 2 == 0 else bench.SERVERS[::-1]
            for name, transport, wl_args, _ in args.workloads:
                for label in order:
                    wl = {"args": (tls_client if transport == "tls" else []) + wl_args}
                    ep = Endpoint(servers[label], ports[label][transport])
                    log(f"round {rnd + 1}/{args.rounds} {name} {label} "
                        f"(-n {requests[name]}) ...")
                    res = bench.run_throughput(ep, wl, requests[name], args)
                    res["order"] = order[0]
                    results[name][label].append(res)
                    log("    " + ", ".join(f"{t} {x['rps']:,.0f} rps"
                                           for t, x in res["tests"].items())
                        + f"; CPU {res['cpu_us_per_req']:.2f} us/req"
                        + f", client {res['client_cpu_pct']:.0f}% of a core")
                for s in servers.values():
                    s.check_alive()
    finally:
        for s in servers.values():
            s.stop()
        workdir.cleanup()

    # One row per workload and test: medians per server, their ratio, and
    # the median of the per-round ratios (paired within a round, so less
    # moved by load that drifts between rounds on a shared machine).
    rows = []
    rps = {}
    for name, transport, wl_args, _ in args.workloads:
        res = results[name]
        for test in res["shale"][0]["tests"]:
            s = median(x["tests"][test]["rps"] for x in res["shale"])
            d = median(x["tests"][test]["rps"] for x in res["redis"])
            rps[(name, test)] = {label: [x["tests"][test]["rps"] for x in res[label]]
                                 for label in bench.SERVERS}
            per_round = [ratio(a["tests"][test]["rps"], b["tests"][test]["rps"])
                         for a, b in zip(res["shale"], res["redis"])]
            rows.append((f"{name} {test} rps", s, d, ratio(s, d), per_round, "rps"))
        s = median(x["cpu_us_per_req"] for x in res["shale"])
        d = median(x["cpu_us_per_req"] for x in res["redis"])
        per_round = [ratio(a["cpu_us_per_req"], b["cpu_us_per_req"])
                     for a, b in zip(res["shale"], res["redis"])]
        rows.append((f"{name} CPU us/req", s, d, ratio(s, d), per_round, "us"))
        # The one-threaded client at ~100% of a core is the ceiling: then
        # the rps ratio measures the client, the CPU ratio the servers.
        s = median(x["client_cpu_pct"] for x in res["shale"])
        d = median(x["client_cpu_pct"] for x in res["redis"])
        per_round = [ratio(a["client_cpu_pct"], b["client_cpu_pct"])
                     for a, b in zip(res["shale"], res["redis"])]
        rows.append((f"{name} client CPU, % of a core", s, d, ratio(s, d), per_round, "pct"))
    # TLS/plain per server: the same test at the same pipeline depth, TLS
    # run over plain run of the same round, median over the rounds.
    tls_plain = []
    for depth in ("P1", "P16", "connect"):
        for (name, test), runs in rps.items():
            plain = rps.get((f"plain-{depth}", test))
            if name != f"tls-{depth}" or plain is None:
                continue
            tls_plain.append((f"{depth} {test}",) + tuple(
                (median(ratio(t, p) for t, p in zip(runs[label], plain[label])),
                 [ratio(t, p) for t, p in zip(runs[label], plain[label])])
                for label in bench.SERVERS))

    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": capture(["git", "rev-parse", "--short", "HEAD"], "unknown"),
        "nproc": capture(["nproc"], str(os.cpu_count())),
        "redis_version": capture([args.redis, "--version"], "version unknown"),
    }
    out = [f"### TLS, {meta['date']} -- commit `{meta['commit']}`, nproc {meta['nproc']}",
           "",
           f"- command: `{cmdline}`",
           f"- shale: `{quote_cmd(shale_argv)}`",
           f"- redis: `{quote_cmd(redis_argv)}` ({meta['redis_version']})",
           f"- client: `redis-benchmark {quote_cmd(tls_client)} ...` on the TLS ports",
           f"- {args.rounds} round(s), order alternated, median per server",
           ""]
    for name, transport, wl_args, _ in args.workloads:
        out.append(f"- {name}: `redis-benchmark {quote_cmd(wl_args)} -n {requests[name]}`")
    out += ["", "| workload | shale | redis | shale/redis | median of per-round ratios "
            "| per round |", "|---|---:|---:|---:|---:|---|"]
    for label, s, d, rr, per_round, kind in rows:
        out.append(f"| {label} | {fmt(s, kind)} | {fmt(d, kind)} | {fmt(rr, 'ratio')} "
                   f"| {fmt(median(per_round), 'ratio')} "
                   f"| {', '.join(fmt(x, 'ratio') for x in per_round)} |")
    if tls_plain:
        out += ["", "| TLS/plain rps (median of per-round ratios) | shale | per round "
                "| redis | per round |", "|---|---:|---|---:|---|"]
        for label, (sm, sr), (dm, dr) in tls_plain:
            out.append(f"| {label} | {fmt(sm, 'ratio')} | "
                       f"{', '.join(fmt(x, 'ratio') for x in sr)} | {fmt(dm, 'ratio')} | "
                       f"{', '.join(fmt(x, 'ratio') for x in dr)} |")
    text = "\n".join(out)
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        log(f"bench_tls.py: error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("bench_tls.py: interrupted; servers stopped")
        sys.exit(130)
