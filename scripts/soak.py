#!/usr/bin/python3
"""Soak test for shale (not part of `make test`): N minutes of mixed traffic
from many clients against a server this script starts, then a check that
every acknowledged write is still there.

Traffic (one thread per client, each owning its keys, so it knows the last
value it was acknowledged for every one of them):
  plain      SET/GET/DEL/APPEND on small values, reading its own writes back
  pipeline   batches of 64 SET/INCR/HSET in one round trip
  big        values of 64 KB to 1 MB
  expiring   SET ... PX 50..3000 ms, read back before and after the deadline
  reconnect  a new connection for every few commands
  hash       HSET/HDEL/HGETALL on hashes that grow past the compact encoding
Evictions are switched on (maxmemory with allkeys-lru) only if the server
has `maxmemory`; defragmentation (`activedefrag yes`) only if it has
`activedefrag`; otherwise the report says so.

Checks:
  - every acknowledged write is readable with the right value (checked as it
    goes and once more at the end), or legitimately gone: expired (its
    deadline passed; INFO expired_keys accounts for them) or evicted (INFO
    evicted_keys, only with maxmemory); a key past its deadline must not be
    readable;
  - the server never crashes (process alive, answers; exits 0 on SIGTERM);
  - RSS, sampled every second, stays within the plan:
    RSS <= shale_static_bytes + 1.5 x (used_memory - shale_static_bytes) + 64 MB
    (the static part, the data with allocator fragmentation, and the binary,
    thread stacks and libraries).
Outputs: a CSV of the samples and a gnuplot PNG of RSS over time, and a
Markdown summary on stdout. Exit status 0 only if every check passed.

Usage: scripts/soak.py [--minutes 10] [--port 7490] [--server ./shale-server]
                       [--png docs/soak-rss.png] [--csv build/soak.csv]
                       [--clients-scale 1] [-- server args...]
Needs python3-redis and gnuplot (scripts/deps.sh soak).
"""
import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

try:
    import redis
except ImportError:
    sys.exit("soak.py needs redis-py: scripts/deps.sh soak (python3-redis)")

MB = 1024 * 1024
SLACK_MS = 100  # clock and scheduling slack around TTL deadlines


class Lost(Exception):
    pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, name, n=1):
        with self.lock:
            self.c[name] = self.c.get(name, 0) + n


class Expect:
    """What a client was last acknowledged for one of its keys."""
    __slots__ = ("kind", "digest", "length", "sent_ms", "ack_ms", "ttl_ms", "fields")

    def __init__(self, kind, digest=None, length=0, sent_ms=0, ack_ms=0, ttl_ms=0, fields=None):
        self.kind = kind  # "string", "absent", "hash"
        self.digest = digest
        self.length = length
        self.sent_ms = sent_ms
        self.ack_ms = ack_ms
        self.ttl_ms = ttl_ms
        self.fields = fields


def now_ms():
    return time.time() * 1000.0


def digest(b):
    return hashlib.sha1(b).hexdigest()


def value_for(key, version, size):
    head = ("%s:%d:" % (key, version)).encode()
    if size <= len(head):
        return head
    body = (head * (size // len(head) + 1))[:size]
    return body


class Client(threading.Thread):
    def __init__(self, name, kind, port, stats, stop, nkeys, errors, evictions):
        super().__init__(name=name, daemon=True)
        self.kind, self.port, self.stats, self.stop = kind, port, stats, stop
        self.nkeys = nkeys
        self.evictions = evictions  # a key may vanish whole (allkeys-lru)
        self.expect = {}
        self.version = 0
        self.rng = random.Random(name)
        self.errors = errors
        self.r = None

    def connect(self):
        if self.r is not None:
            try:
                self.r.close()
            except Exception:
                pass
        self.r = redis.Redis(port=self.port, socket_timeout=30, socket_connect_timeout=10)
        self.stats.add("connections")

    def key(self):
        return "%s:%d" % (self.name, self.rng.randrange(self.nkeys))

    def fail(self, msg):
        self.errors.append("%s: %s" % (self.name, msg))
        self.stats.add("violations")

    # --- checking one key against what was acknowledged -----------------
    def check(self, r, key):
        e = self.expect.get(key)
        if e is None:
            return
        t0 = now_ms()
        if e.kind == "hash":
            got = r.hgetall(key)
            want = e.fields
            if got == want:
                return
            # Evicted, maybe written again since: every field there must
            # hold the value last acknowledged for it.
            if self.evictions and all(want.get(f) == v for f, v in got.items()):
                self.evicted(key, Expect("hash", fields=got) if got else None)
                return
            self.fail("hash %s: %d fields, expected %d" % (key, len(got), len(want)))
            return
        v = r.get(key)
        t1 = now_ms()
        self.stats.add("reads_checked")
        if e.kind == "absent":
            if v is not None:
                self.fail("%s deleted but reads back %d bytes" % (key, len(v)))
            return
        if v is None:
            if e.ttl_ms and t1 >= e.sent_ms + e.ttl_ms - SLACK_MS:
                self.stats.add("expired_seen")
                del self.expect[key]
                return
            if self.evictions:
                self.evicted(key, None)
                return
            self.fail("LOST %s (acknowledged %.0f ms ago, %d bytes)" % (key, t1 - e.ack_ms, e.length))
            return
        if e.ttl_ms and t0 > e.ack_ms + e.ttl_ms + SLACK_MS:
            self.fail("%s readable %.0f ms after its TTL" % (key, t0 - e.ack_ms - e.ttl_ms))
        if len(v) != e.length or digest(v) != e.digest:
            self.fail("WRONG VALUE %s: %d bytes, expected %d" % (key, len(v), e.length))

    def evicted(self, key, now_expected):
        """key was evicted (allowed with maxmemory): INFO evicted_keys must
        account for it; from now on expect what is there."""
        self.stats.add("evicted_seen")
        if now_expected is None:
            del self.expect[key]
        else:
            self.expect[key] = now_expected

    # --- one step of each kind of traffic ---------------------------------
    def step_plain(self):
        k = self.key()
        op = self.rng.random()
        if op < 0.55:
            self.version += 1
            v = value_for(k, self.version, self.rng.choice((8, 16, 40, 100, 300)))
            t = now_ms()
            assert self.r.set(k, v)
            self.expect[k] = Expect("string", digest(v), len(v), t, now_ms())
            self.stats.add("writes_acked")
        elif op < 0.65:
            t = now_ms()
            self.r.delete(k)
            self.expect[k] = Expect("absent", sent_ms=t, ack_ms=now_ms())
            self.stats.add("writes_acked")
        elif op < 0.72 and self.expect.get(k) is not None and self.expect[k].kind == "string":
            # APPEND: the new value is the old one plus the suffix.
            e = self.expect[k]
            cur = self.r.get(k)
            if cur is None or digest(cur) != e.digest:
                self.check(self.r, k)
                return
            suffix = b"+a"
            n = self.r.append(k, suffix)
            nv = cur + suffix
            if self.evictions and n == len(suffix):
                nv = suffix  # evicted between the GET and the APPEND
                self.stats.add("evicted_seen")
            if n != len(nv):
                self.fail("APPEND %s answered %d, expected %d" % (k, n, len(nv)))
            self.expect[k] = Expect("string", digest(nv), len(nv), now_ms(), now_ms())
            self.stats.add("writes_acked")
        else:
            self.check(self.r, k)

    def step_pipeline(self):
        p = self.r.pipeline(transaction=False)
        batch = []
        t = now_ms()
        for _ in range(64):
            k = self.key()
            self.version += 1
            v = value_for(k, self.version, self.rng.choice((10, 50, 200)))
            p.set(k, v)
            batch.append((k, v))
        res = p.execute()
        ack = now_ms()
        for (k, v), ok in zip(batch, res):
            if ok is not True:
                self.fail("pipelined SET %s answered %r" % (k, ok))
            self.expect[k] = Expect("string", digest(v), len(v), t, ack)
        self.stats.add("writes_acked", len(batch))
        p = self.r.pipeline(transaction=False)
        keys = [k for k, _ in batch[:16]]
        for k in keys:
            p.get(k)
        for k, v in zip(keys, p.execute()):
            e = self.expect.get(k)
            self.stats.add("reads_checked")
            if e is None:
                # The same key twice in the batch, seen evicted the first
                # time: nothing wrote it since.
                if v is not None:
                    self.fail("%s evicted but reads back %d bytes" % (k, len(v)))
            elif v is None and self.evictions:
                self.evicted(k, None)
            elif v is None or digest(v) != e.digest:
                self.fail("pipelined read %s differs" % k)

    def step_big(self):
        k = self.key()
        if self.rng.random() < 0.6:
            self.version += 1
            v = value_for(k, self.version, self.rng.randrange(64 * 1024, 1024 * 1024))
            t = now_ms()
            assert self.r.set(k, v)
            self.expect[k] = Expect("string", digest(v), len(v), t, now_ms())
            self.stats.add("writes_acked")
            self.stats.add("big_bytes", len(v))
        else:
            self.check(self.r, k)

    def step_expiring(self):
        k = self.key()
        if self.rng.random() < 0.6:
            self.version += 1
            v = value_for(k, self.version, 32)
            ttl = self.rng.randrange(50, 3000)
            t = now_ms()
            assert self.r.set(k, v, px=ttl)
            self.expect[k] = Expect("string", digest(v), len(v), t, now_ms(), ttl)
            self.stats.add("writes_acked")
            self.stats.add("expiring_writes")
        else:
            self.check(self.r, k)

    def step_reconnect(self):
        self.connect()
        for _ in range(self.rng.randrange(1, 6)):
            self.step_plain()
        self.r.close()
        self.r = None
        self.connect()

    def step_hash(self):
        k = self.key()
        e = self.expect.get(k)
        fields = dict(e.fields) if e is not None and e.kind == "hash" else {}
        op = self.rng.random()
        if op < 0.6:
            n = self.rng.randrange(1, 40)
            add = {}
            for _ in range(n):
                f = b"f%d" % self.rng.randrange(300)
                self.version += 1
                add[f] = value_for(k, self.version, self.rng.choice((4, 20, 90)))
            self.r.hset(k, mapping=add)
            fields.update(add)
        elif op < 0.75 and fields:
            f = self.rng.choice(list(fields))
            self.r.hdel(k, f)
            del fields[f]
        else:
            self.check(self.r, k)
            return
        self.expect[k] = Expect("hash", fields=fields) if fields else Expect("absent")
        self.stats.add("writes_acked")

    def run(self):
        step = getattr(self, "step_" + self.kind)
        self.connect()
        while not self.stop.is_set():
            try:
                step()
                self.stats.add("ops")
            except redis.exceptions.ConnectionError as ex:
                self.stats.add("connection_errors")
                self.errors.append("%s: connection error: %s" % (self.name, ex))
                time.sleep(0.2)
                try:
                    self.connect()
                except Exception:
                    pass
            except redis.exceptions.ResponseError as ex:
                self.fail("error reply: %s" % ex)

    def final_check(self):
        r = redis.Redis(port=self.port, socket_timeout=60)
        for k in list(self.expect):
            self.check(r, k)
        r.close()


def info(r):
    return r.info("all")


def config_has(r, name):
    try:
        return bool(r.config_get(name))
    except redis.exceptions.ResponseError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--port", type=int, default=7490)
    ap.add_argument("--server", default="./shale-server")
    ap.add_argument("--png", default="docs/soak-rss.png")
    ap.add_argument("--csv", default="build/soak.csv")
    ap.add_argument("--clients-scale", type=int, default=1)
    ap.add_argument("server_args", nargs="*")
    a = ap.parse_args()

    os.makedirs(os.path.dirname(a.csv) or ".", exist_ok=True)
    log = open(a.csv + ".server.log", "w")
    cmd = [a.server, "--port", str(a.port), "--bind", "127.0.0.1"] + a.server_args
    srv = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    r = redis.Redis(port=a.port, socket_timeout=30)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    else:
        srv.kill()
        sys.exit("server did not start: %s" % " ".join(cmd))

    notes = []
    if config_has(r, "maxmemory"):
        # Below what the traffic holds (~60 MB of used_memory, the static
        # plan included), so keys are evicted all along.
        r.config_set("maxmemory", str(40 * MB))
        r.config_set("maxmemory-policy", "allkeys-lru")
        notes.append("evictions on: maxmemory 40mb, allkeys-lru")
        evictions = True
    else:
        notes.append("evictions skipped: the server has no `maxmemory` option yet")
        evictions = False
    if config_has(r, "activedefrag"):
        try:
            r.config_set("activedefrag", "yes")
            # The default (100mb of fragmentation before a cycle starts) is
            # more than this workload holds.
            r.config_set("active-defrag-ignore-bytes", str(MB))
            r.config_set("active-defrag-threshold-lower", "1")
            notes.append("active defragmentation on (active-defrag-ignore-bytes 1mb, "
                         "active-defrag-threshold-lower 1)")
        except redis.exceptions.ResponseError as ex:
            notes.append("activedefrag exists but could not be enabled: %s" % ex)
    else:
        notes.append("defragmentation skipped: the server has no `activedefrag` option yet")
    for n in notes:
        print("soak: " + n, flush=True)

    stats, stop, errors = Stats(), threading.Event(), []
    mix = [("plain", 4, 2000), ("pipeline", 2, 5000), ("big", 1, 40), ("expiring", 2, 2000),
           ("reconnect", 2, 500), ("hash", 2, 300)]
    clients = []
    for kind, n, nkeys in mix:
        for i in range(n * a.clients_scale):
            clients.append(Client("%s%d" % (kind, i), kind, a.port, stats, stop, nkeys, errors,
                                  evictions))
    for c in clients:
        c.start()

    static = None
    samples = []  # (seconds, rss, used_memory, ops/s, connected)
    t0 = time.time()
    end = t0 + a.minutes * 60
    crashed = False
    last_cmds = None
    while time.time() < end:
        time.sleep(1)
        if srv.poll() is not None:
            crashed = True
            errors.append("server exited with %s" % srv.returncode)
            break
        try:
            i = info(r)
        except redis.exceptions.ConnectionError as ex:
            errors.append("INFO failed: %s" % ex)
            continue
        static = i.get("shale_static_bytes", static)
        cmds = i["total_commands_processed"]
        rate = 0 if last_cmds is None else cmds - last_cmds
        last_cmds = cmds
        samples.append((time.time() - t0, i["used_memory_rss"], i["used_memory"], rate,
                        i["connected_clients"]))
        if len(samples) % 30 == 0:
            s = samples[-1]
            print("soak: %4.0fs rss %.1f MB used %.1f MB %d ops/s %d clients; acked %d, violations %d"
                  % (s[0], s[1] / MB, s[2] / MB, s[3], s[4], stats.c.get("writes_acked", 0),
                     stats.c.get("violations", 0)), flush=True)
    stop.set()
    for c in clients:
        c.join(timeout=60)
    if not crashed:
        for c in clients:
            c.final_check()
    final = {}
    if not crashed:
        final = info(r)
        r.close()
        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            rc = "killed after 30 s"
        if rc != 0:
            crashed = True
            errors.append("server exit status on SIGTERM: %s" % rc)
    log.close()

    with open(a.csv, "w") as f:
        f.write("# seconds rss_bytes used_memory_bytes ops_per_sec connected_clients\n")
        for s in samples:
            f.write("%.1f %d %d %d %d\n" % s)
    plot(a.csv, a.png, a.minutes)

    static = static or 0
    rss_max = max((s[1] for s in samples), default=0)
    used_max = max((s[2] for s in samples), default=0)
    budget_ok = all(s[1] <= static + 1.5 * max(0, s[2] - static) + 64 * MB for s in samples)
    lost = sum(1 for e in errors if "LOST" in e)
    wrong = sum(1 for e in errors if "WRONG VALUE" in e)
    expired = final.get("expired_keys", 0)
    evicted = final.get("evicted_keys", 0)
    c = stats.c
    # Every key a client found gone after its deadline was expired by the
    # server, so INFO expired_keys must account for at least as many.
    # Likewise every key a client found evicted.
    ok = not crashed and c.get("violations", 0) == 0 and budget_ok and \
        c.get("expired_seen", 0) <= expired and c.get("evicted_seen", 0) <= evicted
    if not evictions and evicted:
        ok = False
    rates = [s[3] for s in samples[1:]]
    print()
    print("| what | result |")
    print("|---|---|")
    print("| duration | %.1f min, %d client threads (%s) |" % (
        (samples[-1][0] if samples else 0) / 60, len(clients),
        ", ".join("%d %s" % (n * a.clients_scale, k) for k, n, _ in mix)))
    print("| commands | %d total, %d ops/s mean |" % (
        final.get("total_commands_processed", 0), sum(rates) / len(rates) if rates else 0))
    print("| acknowledged writes | %d (%d with a TTL, %.0f MB in big values) |" % (
        c.get("writes_acked", 0), c.get("expiring_writes", 0), c.get("big_bytes", 0) / MB))
    print("| reads checked | %d |" % c.get("reads_checked", 0))
    print("| lost acknowledged writes | %d |" % lost)
    print("| wrong values | %d |" % wrong)
    print("| other violations | %d |" % (c.get("violations", 0) - lost - wrong))
    print("| expired (seen by clients / INFO expired_keys) | %d / %d |" % (c.get("expired_seen", 0), expired))
    print("| evicted (seen by clients / INFO evicted_keys) | %d / %d |" % (
        c.get("evicted_seen", 0), evicted))
    print("| defrag (INFO active_defrag_hits / misses) | %d / %d |" % (
        final.get("active_defrag_hits", 0), final.get("active_defrag_misses", 0)))
    print("| connections opened / connection errors | %d / %d |" % (
        c.get("connections", 0), c.get("connection_errors", 0)))
    print("| crashes | %d |" % (1 if crashed else 0))
    print("| RSS min / mean / max | %.1f / %.1f / %.1f MB |" % (
        min((s[1] for s in samples), default=0) / MB,
        (sum(s[1] for s in samples) / len(samples) / MB) if samples else 0, rss_max / MB))
    print("| used_memory max | %.1f MB |" % (used_max / MB))
    print("| static plan (shale_static_bytes) | %.1f MB |" % (static / MB))
    print("| RSS within plan (static + 1.5 x data + 64 MB) at every sample | %s |" % ("yes" if budget_ok else "NO"))
    for n in notes:
        print("| note | %s |" % n)
    print()
    for e in errors[:30]:
        print("soak: " + e)
    print("soak: %s" % ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


def plot(csv, png, minutes):
    script = """
set terminal png size 900,420 noenhanced
set output '%s'
set title 'shale soak: RSS and used_memory over %.0f minutes'
set xlabel 'seconds'
set ylabel 'MB'
set y2label 'ops/s'
set y2tics
set ytics nomirror
set key left top
plot '%s' using 1:($2/1048576) with lines title 'RSS', \\
     '' using 1:($3/1048576) with lines title 'used_memory', \\
     '' using 1:4 axes x1y2 with lines lc rgb '#bbbbbb' title 'ops/s'
""" % (png, minutes, csv)
    try:
        os.makedirs(os.path.dirname(png) or ".", exist_ok=True)
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as ex:
        print("soak: no plot (%s); install gnuplot (scripts/deps.sh soak)" % ex)


if __name__ == "__main__":
    sys.exit(main())
