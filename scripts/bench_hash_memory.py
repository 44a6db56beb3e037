#!/usr/bin/env python3
"""Bytes per hash field: shale-server against redis-server, in one run.

Loads H hashes x F fields (default 1000 x 1000: field `f<N>`, a 15-byte
value; --value-size changes it) into each server with pipelined HSETs, one field per command, and
reports the growth of INFO `used_memory` (the allocator's allocated bytes:
jemalloc's stats.allocated in both servers) and of the process RSS
(/proc/PID/status VmRSS) per field. The memory counterpart of bench.py's
throughput workloads; it reuses bench.py's server handling (same command
lines, scratch directory, PING wait, clean stop).

    python3 scripts/bench_hash_memory.py                 # 1000 x 1000
    python3 scripts/bench_hash_memory.py --hashes 100 --fields 100 --markdown

Both servers keep their default hash-max-listpack-* settings unless given
--shale-args/--redis-args; a hash above the limits (128 entries in shale,
512 in redis 7.0) is in the table encoding, so 1000 fields compare the two
hash tables. Standard library only.
"""

import argparse
import datetime
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (scripts/bench.py: Server, free_ports, ...)

BATCH = 2000  # HSETs in flight per round trip


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    """A minimal blocking RESP2 client: enough for INFO, HSET and friends."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise bench.BenchError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise bench.BenchError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise bench.BenchError(f"server error: {rest.decode(errors='replace')}")
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise bench.BenchError(f"unexpected reply {line!r}")

    def command(self, *args):
        self.sock.sendall(resp(*args))
        return self.reply()

    def pipeline(self, payload, count):
        self.sock.sendall(payload)
        for _ in range(count):
            self.reply()


def info_field(client, name):
    text = client.command("INFO", "memory").decode()
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    raise bench.BenchError(f"INFO memory has no {name}")


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def settle(client, pid):
    """used_memory and RSS once they stop moving (jemalloc purges lazily)."""
    last = None
    for _ in range(20):
        now = (info_field(client, "used_memory"), rss(pid))
        if now == last:
            break
        last = now
        time.sleep(0.25)
    return last


def value_of(h, f, size):
    """A value of `size` bytes: hash and field numbers, padded with x."""
    v = f"{h:07d}-{f:07d}"
    return (v + "x" * size)[:size]


def load(client, hashes, fields, size):
    cmds = []
    for h in range(hashes):
        for f in range(fields):
            cmds.append(resp("HSET", f"h:{h}", f"f{f}", value_of(h, f, size)))
            if len(cmds) == BATCH:
                client.pipeline(b"".join(cmds), len(cmds))
                cmds = []
    if cmds:
        client.pipeline(b"".join(cmds), len(cmds))


def measure(server, args):
    client = Client(server.port)
    # A throwaway round first, so that buffers the server keeps once used
    # (I/O buffers, reply buffers, request slots) are in the baseline.
    load(client, 1, BATCH, args.value_size)
    client.command("FLUSHALL")
    before_used, before_rss = settle(client, server.proc.pid)
    t0 = time.monotonic()
    load(client, args.hashes, args.fields, args.value_size)
    load_s = time.monotonic() - t0
    after_used, after_rss = settle(client, server.proc.pid)
    n = args.hashes * args.fields
    if int(client.command("HLEN", "h:0")) != args.fields:
        raise bench.BenchError(f"{server.label}: h:0 does not hold {args.fields} fields")
    try:
        encoding = client.command("OBJECT", "ENCODING", "h:0").decode()
    except bench.BenchError:
        encoding = "n/a"
    client.command("FLUSHALL")
    return {
        "used_per_field": (after_used - before_used) / n,
        "rss_per_field": (after_rss - before_rss) / n,
        "used_mb": (after_used - before_used) / 1e6,
        "rss_mb": (after_rss - before_rss) / 1e6,
        "load_s": load_s,
        "encoding": encoding,
    }


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hashes", type=int, default=1000)
    p.add_argument("--fields", type=int, default=1000)
    p.add_argument("--value-size", type=int, default=15,
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
            bench.log(f"loading {args.hashes} x {args.fields} fields into {label} ...")
            results[label] = measure(servers[label], args)
            servers[label].check_alive()
    finally:
        for s in servers.values():
            s.stop()
        workdir.cleanup()

    n = args.hashes * args.fields
    rows = [("used_memory bytes/field", "used_per_field", "{:.1f}"),
            ("RSS bytes/field", "rss_per_field", "{:.1f}"),
            ("used_memory growth MB", "used_mb", "{:.1f}"),
            ("RSS growth MB", "rss_mb", "{:.1f}"),
            ("load time s (pipelined HSET)", "load_s", "{:.1f}")]
    print(f"{args.hashes} hashes x {args.fields} fields (f<N> -> {args.value_size}-byte "
          f"value), "
          f"{n:,} HSETs; ratio = shale/redis")
    print(f"  {'metric':<30} {'shale':>10} {'redis':>10} {'ratio':>7}")
    for name, key, f in rows:
        s, r = results["shale"][key], results["redis"][key]
        print(f"  {name:<30} {f.format(s):>10} {f.format(r):>10} "
              f"{bench.fmt(bench.ratio(s, r), 'ratio'):>7}")
    print(f"  encoding of h:0: shale {results['shale']['encoding']}, "
          f"redis {results['redis']['encoding']}")
    if args.markdown:
        date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        commit = bench.capture(["git", "rev-parse", "--short", "HEAD"], "unknown")
        nproc = bench.capture(["nproc"], str(os.cpu_count()))
        version = bench.capture([args.redis, "--version"], "version unknown")
        print()
        print(f"### {date} -- commit `{commit}`, nproc {nproc}")
        print()
        print(f"- command: `{bench.quote_cmd(['python3', 'scripts/bench_hash_memory.py'] + argv)}`")
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
        bench.log(f"bench_hash_memory.py: error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        bench.log("bench_hash_memory.py: interrupted; servers stopped")
        sys.exit(130)
