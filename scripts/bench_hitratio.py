#!/usr/bin/env python3
"""Cache hit ratio under eviction: shale-server against redis-server, in one run.

A cache-aside workload: GET key:R with R drawn from Zipf(theta) over K keys
(default 10,000,000, theta 0.99; R zero-padded to 8 digits, so all keys
weigh the same), and SET key:R <16-byte value> on a miss,
64 GETs per pipeline round trip (scripts/bench_zipf.c, compiled here with
cc and hiredis). maxmemory is set so that each server holds about
--fraction (10%) of the key space: the script first loads fraction x K keys
into each server and takes its used_memory
then as that server's maxmemory ("--budget keys", the default: the policies
compare on equal key counts), or gives both servers redis's figure
("--budget bytes": equal memory, where shale's smaller keys hold more of
them). For every policy in
--policies (default allkeys-lru,allkeys-lfu) and each server, in alternating
order: FLUSHALL, CONFIG SET the policy and maxmemory, --warmup GETs to fill
the cache, then --ops GETs measured. Reported: hit ratio, the keys held at
the end (DBSIZE, as a share of K), evicted_keys, used_memory vs maxmemory.

    python3 scripts/bench_hitratio.py                          # ~10 minutes
    python3 scripts/bench_hitratio.py --keys 1000000 --warmup 500000 --ops 1000000
    python3 scripts/bench_hitratio.py --budget bytes --markdown

Standard library only (plus cc and libhiredis-dev for the client).
"""

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import bench_hash_memory as hm  # noqa: E402

def build_client(workdir):
    exe = os.path.join(workdir, "bench_zipf")
    src = os.path.join(bench.REPO_ROOT, "scripts", "bench_zipf.c")
    subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-o", exe, src, "-lhiredis", "-lm"],
                   check=True)
    return exe


def info(client, section, field):
    text = client.command("INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise bench.BenchError(f"INFO {section} has no {field}")


def settled_used(client, pid):
    return hm.settle(client, pid)[0]


def calibrate(exe, server, args):
    """used_memory holding fraction x K keys, and per key above the empty
    server's."""
    client = hm.Client(server.port)
    client.command("CONFIG", "SET", "maxmemory", "0")
    subprocess.run([exe, "load", str(server.port), "2000", str(args.value_size)], check=True)
    client.command("FLUSHALL")
    empty = settled_used(client, server.proc.pid)
    n = int(args.fraction * args.keys)
    subprocess.run([exe, "load", str(server.port), str(n), str(args.value_size)], check=True)
    loaded = settled_used(client, server.proc.pid)
    client.command("FLUSHALL")
    return loaded, (loaded - empty) / n


def run_one(exe, server, policy, maxmemory, args, seed):
    client = hm.Client(server.port)
    client.command("CONFIG", "SET", "maxmemory", "0")
    client.command("FLUSHALL")
    client.command("CONFIG", "SET", "maxmemory-policy", policy)
    client.command("CONFIG", "SET", "maxmemory", str(int(maxmemory)))
    evicted0 = int(info(client, "stats", "evicted_keys"))
    out = subprocess.run([exe, "run", str(server.port), str(args.keys), str(args.theta),
                          str(args.warmup), str(args.ops), str(args.value_size), str(seed)],
                         check=True, capture_output=True, text=True).stdout.split()
    fields = dict(zip(out[0::2], out[1::2]))
    time.sleep(0.3)
    result = {
        "hit_ratio": int(fields["hits"]) / int(fields["gets"]),
        "oom": int(fields["oom"]),
        "seconds": float(fields["seconds"]),
        "keys_held": int(client.command("DBSIZE")),
        "evicted": int(info(client, "stats", "evicted_keys")) - evicted0,
        "used": int(info(client, "memory", "used_memory")),
        "maxmemory": int(maxmemory),
    }
    client.command("CONFIG", "SET", "maxmemory", "0")
    client.command("FLUSHALL")
    server.check_alive()
    return result


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=10000000, help="distinct keys (Zipf ranks)")
    p.add_argument("--theta", type=float, default=0.99)
    p.add_argument("--fraction", type=float, default=0.10,
                   help="share of the keys maxmemory should hold")
    p.add_argument("--warmup", type=int, default=3000000, help="GETs before measuring")
    p.add_argument("--ops", type=int, default=5000000, help="GETs measured")
    p.add_argument("--value-size", type=int, default=16)
    p.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    p.add_argument("--budget", choices=("keys", "bytes"), default="keys")
    p.add_argument("--seed", type=int, default=1)
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
    policies = args.policies.split(",")

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
    calib, budget, results = {}, {}, {}
    try:
        exe = build_client(workdir.name)
        for s in servers.values():
            s.start(workdir.name)
        for s in servers.values():
            s.wait_ready(args.startup_timeout)
        for label in bench.SERVERS:
            calib[label] = calibrate(exe, servers[label], args)
            bench.log(f"{label}: {calib[label][0]:,} bytes hold {args.fraction:.0%} of the "
                      f"keys, {calib[label][1]:.1f} bytes/key")
        for label in bench.SERVERS:
            budget[label] = calib[label if args.budget == "keys" else "redis"][0]
        for i, policy in enumerate(policies):
            order = bench.SERVERS if i % 2 == 0 else tuple(reversed(bench.SERVERS))
            for label in order:
                bench.log(f"{label} {policy}: maxmemory {int(budget[label]):,} ...")
                results[(policy, label)] = run_one(exe, servers[label], policy, budget[label],
                                                   args, args.seed)
                r = results[(policy, label)]
                bench.log(f"  hit ratio {r['hit_ratio']:.4f}, {r['keys_held']:,} keys held, "
                          f"{r['seconds']:.1f} s")
    finally:
        for s in servers.values():
            s.stop()
        workdir.cleanup()

    head = (f"Zipf({args.theta}) over {args.keys:,} keys, {args.value_size}-byte values, "
            f"warmup {args.warmup:,} GETs, {args.ops:,} GETs measured, budget: "
            + ("each server holds ~%d%% of the keys" % round(args.fraction * 100)
               if args.budget == "keys" else "both get redis's ~%d%% budget"
               % round(args.fraction * 100)))
    print(head)
    for label in bench.SERVERS:
        print(f"  {label}: {calib[label][1]:.1f} bytes/key, maxmemory {int(budget[label]):,}")
    rows = []
    for policy in policies:
        s, r = results[(policy, "shale")], results[(policy, "redis")]
        rows.append((policy, s, r))
        print(f"  {policy}: hit ratio shale {s['hit_ratio']:.4f} redis {r['hit_ratio']:.4f} "
              f"(ratio {s['hit_ratio'] / r['hit_ratio']:.3f}); keys held shale "
              f"{s['keys_held'] / args.keys:.1%} redis {r['keys_held'] / args.keys:.1%}; "
              f"used/maxmemory shale {s['used'] / s['maxmemory']:.3f} "
              f"redis {r['used'] / r['maxmemory']:.3f}; OOM shale {s['oom']} redis {r['oom']}")
    if args.markdown:
        date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        commit = bench.capture(["git", "rev-parse", "--short", "HEAD"], "unknown")
        nproc = bench.capture(["nproc"], str(os.cpu_count()))
        version = bench.capture([args.redis, "--version"], "version unknown")
        print()
        print(f"### {date} -- commit `{commit}`, nproc {nproc}")
        print()
        print(f"- command: `{bench.quote_cmd(['python3', 'scripts/bench_hitratio.py'] + argv)}`")
        print(f"- {head}")
        print(f"- shale: `{bench.quote_cmd(servers['shale'].argv)}`, "
              f"{calib['shale'][1]:.1f} bytes/key, maxmemory {int(budget['shale']):,}")
        print(f"- redis: `{bench.quote_cmd(servers['redis'].argv)}` ({version}), "
              f"{calib['redis'][1]:.1f} bytes/key, maxmemory {int(budget['redis']):,}")
        print()
        print("| policy | shale hit ratio | redis hit ratio | shale/redis | keys held shale / "
              "redis | evicted shale / redis | used/maxmemory shale / redis |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for policy, s, r in rows:
            print(f"| {policy} | {s['hit_ratio']:.4f} | {r['hit_ratio']:.4f} | "
                  f"{s['hit_ratio'] / r['hit_ratio']:.3f}x | "
                  f"{s['keys_held'] / args.keys:.1%} / {r['keys_held'] / args.keys:.1%} | "
                  f"{s['evicted']:,} / {r['evicted']:,} | "
                  f"{s['used'] / s['maxmemory']:.3f} / {r['used'] / r['maxmemory']:.3f} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except bench.BenchError as e:
        print(f"bench_hitratio: {e}", file=sys.stderr)
        sys.exit(1)
