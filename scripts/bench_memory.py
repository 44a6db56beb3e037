#!/usr/bin/env python3
"""Bytes per string key: shale-server against redis-server, in one run.

Loads N keys (default 1,000,000: `SET key:<N> <16-byte value>`, pipelined
2000 commands per round trip) into each server and reports the growth of
INFO `used_memory` (the allocator's allocated bytes: jemalloc's
stats.allocated in both servers) and of the process RSS (VmRSS) per key.
A throwaway round and FLUSHALL come first, so buffers a server keeps once
used are in the baseline (bench_hash_memory.py's method, whose client and
server handling this reuses).

    python3 scripts/bench_memory.py                    # 1M keys, 16-byte values
    python3 scripts/bench_memory.py --keys 100000 --value-size 64 --markdown

Standard library only.
"""

import argparse
import datetime
import os
import shlex
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (scripts/bench.py: Server, free_ports, ...)
import bench_hash_memory as hm  # noqa: E402  (Client, resp, settle)

BATCH = 2000


def load(client, first, count, size):
    value = b"v" * size
    cmds = []
    for i in range(first, first + count):
        cmds.append(hm.resp("SET", f"key:{i}", value))
        if len(cmds) == BATCH:
            client.pipeline(b"".join(cmds), len(cmds))
            cmds = []
    if cmds:
        client.pipeline(b"".join(cmds), len(cmds))


def measure(server, args):
    client = hm.Client(server.port)
    load(client, 0, BATCH, args.value_size)
    client.command("FLUSHALL")
    before_used, before_rss = hm.settle(client, server.proc.pid)
    t0 = time.monotonic()
    load(client, 0, args.keys, args.value_size)
    load_s = time.monotonic() - t0
    after_used, after_rss = hm.settle(client, server.proc.pid)
    if int(client.command("DBSIZE")) != args.keys:
        raise bench.BenchError(f"{server.label}: DBSIZE is not {args.keys}")
    client.command("FLUSHALL")
    n = args.keys
    return {
        "used_per_key": (after_used - before_used) / n,
        "rss_per_key": (after_rss - before_rss) / n,
        "used_mb": (after_used - before_used) / 1e6,
        "rss_mb": (after_rss - before_rss) / 1e6,
        "load_s": load_s,
    }


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=1000000)
    p.add_argument("--value-size", type=int, default=16,
                   help="bytes per value (default: %(default)s)")
    p.add_argument("--shale", default=os.path.join(bench.REPO_ROOT, "shale-server"))
    p.add_argument("--shale-args", default="", metavar="ARGS")
    p.add_argument("--redis", default="redis-server")
    p.add_argument("--redis-args", default="", metavar="ARGS")
    p.add_argument("--redis-cli", default="redis-cli", help="used for PING")
    p.add_argument("--startup-timeout", type=float, default=10.0)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    bench.check_executable(args.shale, "shale server", "--shale")
    bench.check_executable(args.redis, "redis-server", "--redis")
    args.shale = os.path.abspath(args.shale) if os.sep in args.shale else args.shale

    p_shale, p_redis = bench.free_ports(2)
    servers = {
        "shale": bench.Server("shale", [args.shale, "--port", str(p_shale), "--bind",
                                        "127.0.0.1"] + shlex.split(args.shale_args),
                              p_shale, args.redis_cli),
        "redis": bench.Server("redis", [args.redis, "--port", str(p_redis), "--bind",
                                        "127.0.0.1", "--save", "", "--appendonly", "no"]
                              + shlex.split(args.redis_args), p_redis, args.redis_cli),
    }
    workdir = tempfile.TemporaryDirectory(prefix="shale-bench-")
    results = {}
    try:
        for s in servers.values():
            s.start(workdir.name)
        for s in servers.values():
            s.wait_ready(args.startup_timeout)
        for label in bench.SERVERS:
            bench.log(f"loading {args.keys:,} keys into {label} ...")
            results[label] = measure(servers[label], args)
            servers[label].check_alive()
    finally:
        for s in servers.values():
            s.stop()
        workdir.cleanup()

    rows = [("used_memory bytes/key", "used_per_key", "{:.1f}"),
            ("RSS bytes/key", "rss_per_key", "{:.1f}"),
            ("used_memory growth MB", "used_mb", "{:.1f}"),
            ("RSS growth MB", "rss_mb", "{:.1f}"),
            ("load time s (pipelined SET)", "load_s", "{:.1f}")]
    print(f"{args.keys:,} x SET key:<N> <{args.value_size}-byte value>; ratio = shale/redis")
    print(f"  {'metric':<30} {'shale':>10} {'redis':>10} {'ratio':>7}")
    for name, key, f in rows:
        s, r = results["shale"][key], results["redis"][key]
        print(f"  {name:<30} {f.format(s):>10} {f.format(r):>10} "
              f"{bench.fmt(bench.ratio(s, r), 'ratio'):>7}")
    if args.markdown:
        date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        commit = bench.capture(["git", "rev-parse", "--short", "HEAD"], "unknown")
        nproc = bench.capture(["nproc"], str(os.cpu_count()))
        version = bench.capture([args.redis, "--version"], "version unknown")
        print()
        print(f"### {date} -- commit `{commit}`, nproc {nproc}")
        print()
        print(f"- command: `{bench.quote_cmd(['python3', 'scripts/bench_memory.py'] + argv)}`")
        print(f"- shale: `{bench.quote_cmd(servers['shale'].argv)}`")
        print(f"- redis: `{bench.quote_cmd(servers['redis'].argv)}` ({version})")
        print()
        print("| metric | shale | redis | shale/redis |")
        print("|---|---:|---:|---:|")
        for name, key, f in rows:
            s, r = results["shale"][key], results["redis"][key]
            print(f"| {name} | {f.format(s)} | {f.format(r)} | "
                  f"{bench.fmt(bench.ratio(s, r), 'ratio')} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except bench.BenchError as e:
        print(f"bench_memory: {e}", file=sys.stderr)
        sys.exit(1)
