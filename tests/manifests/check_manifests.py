#!/usr/bin/env python3
"""Checks conf/kubernetes/ and conf/docker/Dockerfile, then runs the pod's
command line as-is and answers its probes.

Static checks: every YAML document parses and has apiVersion, kind and a
name; the StatefulSet, its headless Service, the client Service, the
ConfigMap and the PodDisruptionBudget exist and select the same pods; the
container's ports match shale.conf's port and admin-port; the probes hit
/healthz and /readyz on the admin port; terminationGracePeriodSeconds covers
the preStop sleep plus shutdown-timeout; resources and security context are
set (non-root, read-only root file system); the Dockerfile is a two-stage
build on debian:12-slim that installs the build set of scripts/deps.sh and
the packages of every shared library shale-server links, runs as the same
non-root uid and starts the same binary as the StatefulSet.

Run: the container's command and args, with only the mounts mapped (the
image's binary is $SHALE_SERVER, the ConfigMap's files are written where the
volume is mounted, in a temporary directory), inside a fresh network
namespace so the pod's fixed ports cannot collide (or, without one, with the
ports rewritten in the copied config). The startup, readiness and liveness
probes must answer 200, PING must answer, the memory limit must cover the
static memory plan the server reports (and the arithmetic in the manifest's
comment must match it), and SIGTERM must end the process with status 0
within the grace period.

Needs python3-yaml. Exit status 0 when every check passes."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(ROOT, "conf", "kubernetes")
DOCKERFILE = os.path.join(ROOT, "conf", "docker", "Dockerfile")
# Packages debian:12-slim already has (libc6, and apt's own dependencies).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
SANITIZER_LIBS = re.compile(r"lib(asan|ubsan|tsan|lsan)")

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)
    return cond


def load_documents():
    docs = []
    for name in sorted(os.listdir(K8S)):
        if not name.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(K8S, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                ok = all(k in doc for k in ("apiVersion", "kind"))
                if doc.get("kind") != "Kustomization":
                    ok = ok and bool(doc.get("metadata", {}).get("name"))
                check(ok, "%s: document has apiVersion, kind and metadata.name" % name)
                docs.append((name, doc))
    return docs


def parse_conf(text):
    """shale.conf (redis.conf syntax) -> {directive: [args]}, last one wins."""
    conf = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            conf[words[0].lower()] = words[1:]
    return conf


def quantity_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    mult = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
            "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return int(m.group(1)) * mult[m.group(2)] if m else None


def cpu_count(q):
    q = str(q)
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


def port_number(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def check_manifests(docs):
    by_kind = {}
    for name, doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    for kind in ("StatefulSet", "Service", "ConfigMap", "PodDisruptionBudget", "Kustomization"):
        check(kind in by_kind, "a %s is defined" % kind)
    if failures:
        return None
    kust = by_kind["Kustomization"][0]
    listed = set(kust.get("resources", []))
    files = {n for n, d in docs if d["kind"] != "Kustomization"}
    check(listed == files, "kustomization.yaml lists every manifest (%s)" % ", ".join(sorted(files)))

    ss = by_kind["StatefulSet"][0]
    spec = ss["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    selector = spec["selector"]["matchLabels"]
    check(all(labels.get(k) == v for k, v in selector.items()), "StatefulSet selector matches its pods")
    services = by_kind["Service"]
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    clients = [s for s in services if s["spec"].get("clusterIP") != "None"]
    check(len(headless) == 1 and headless[0]["metadata"]["name"] == spec["serviceName"],
          "serviceName names the headless Service")
    check(len(clients) == 1, "a client Service with a cluster IP exists")
    for s in services:
        sel = s["spec"]["selector"]
        check(all(labels.get(k) == v for k, v in sel.items()),
              "Service %s selects the StatefulSet's pods" % s["metadata"]["name"])
    pdb = by_kind["PodDisruptionBudget"][0]
    sel = pdb["spec"]["selector"]["matchLabels"]
    check(all(labels.get(k) == v for k, v in sel.items()), "PodDisruptionBudget selects the pods")

    containers = [c for c in pod["containers"] if c["name"] == "shale"]
    if not check(len(containers) == 1, "a container named shale"):
        return None
    c = containers[0]
    cm = by_kind["ConfigMap"][0]
    config_volume = next((v for v in pod["volumes"] if v.get("configMap", {}).get("name") ==
                          cm["metadata"]["name"]), None)
    check(config_volume is not None, "a volume mounts the ConfigMap")
    mount = next((m for m in c.get("volumeMounts", []) if config_volume and
                  m["name"] == config_volume["name"]), None)
    check(mount is not None and mount.get("readOnly"), "the config volume is mounted read-only")
    conf_text = cm["data"].get("shale.conf", "")
    conf = parse_conf(conf_text)
    argv = c.get("command", []) + c.get("args", [])
    conf_arg = [a for a in argv[1:] if mount and a.startswith(mount["mountPath"] + "/")]
    check(len(conf_arg) == 1 and conf_arg[0].endswith("/shale.conf"),
          "the container is started with the mounted shale.conf")

    redis_port = int(conf.get("port", ["6379"])[0])
    admin_port = int(conf.get("admin-port", ["0"])[0])
    timeout = int(conf.get("shutdown-timeout", ["10"])[0])
    check(admin_port > 0, "shale.conf turns the admin endpoint on (admin-port %d)" % admin_port)
    check(conf.get("admin-bind", ["127.0.0.1"])[0] in ("0.0.0.0", "::", "*"),
          "admin-bind listens on the pod IP (probes come from the kubelet)")
    check(port_number(c, "redis") == redis_port, "container port redis = shale.conf port")
    check(port_number(c, "admin") == admin_port, "container port admin = shale.conf admin-port")
    probes = {}
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                       ("startupProbe", "/healthz")):
        p = c.get(kind, {}).get("httpGet", {})
        probes[kind] = p
        check(p.get("path") == path and port_number(c, p.get("port")) == admin_port,
              "%s: GET %s on the admin port" % (kind, path))

    prestop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep_s = int(prestop[-1]) if prestop and prestop[-1].isdigit() else None
    check(sleep_s is not None, "a preStop hook sleeps before SIGTERM")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(sleep_s is not None and grace >= sleep_s + timeout + 1,
          "terminationGracePeriodSeconds %s >= preStop %ss + shutdown-timeout %ss + slack"
          % (grace, sleep_s, timeout))

    res = c.get("resources", {})
    mem_limit = quantity_bytes(res.get("limits", {}).get("memory"))
    cpu_limit = res.get("limits", {}).get("cpu")
    check(mem_limit is not None and cpu_limit is not None, "CPU and memory limits are set")
    check(res.get("requests", {}).get("memory") == res.get("limits", {}).get("memory"),
          "memory request = limit (Guaranteed QoS: a cache should not be evicted first)")

    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    check(psc.get("runAsNonRoot") or csc.get("runAsNonRoot"), "runAsNonRoot")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    check(isinstance(uid, int) and uid > 0, "runs as a non-root uid (%s)" % uid)
    check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    check("ALL" in csc.get("capabilities", {}).get("drop", []), "capabilities dropped")
    tls = next((v for v in pod["volumes"] if "secret" in v), None)
    check(tls is None or tls["secret"].get("optional") is True,
          "the TLS Secret mount is optional")

    return {"container": c, "conf_text": conf_text, "conf_mount": mount["mountPath"],
            "redis_port": redis_port, "admin_port": admin_port, "grace": grace,
            "prestop": sleep_s or 0, "mem_limit": mem_limit, "cpu_limit": cpu_count(cpu_limit),
            "uid": uid, "probes": probes, "command": argv[0] if argv else None,
            "statefulset_text": open(os.path.join(K8S, "statefulset.yaml")).read()}


def dockerfile_stages():
    stages, current = [], None
    with open(DOCKERFILE) as f:
        text = f.read().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            current = {"from": rest.strip(), "lines": []}
            stages.append(current)
        elif current is not None:
            current["lines"].append((word.upper(), rest.strip()))
    return stages


def apt_packages(stage):
    pkgs = set()
    for word, rest in stage["lines"]:
        if word == "RUN" and "apt-get install" in rest:
            for part in rest.split("&&"):
                if "apt-get install" in part:
                    pkgs |= {w for w in part.split()[2:] if not w.startswith("-") and w != "install"}
    return pkgs


def linked_packages(server):
    out = subprocess.run(["ldd", server], capture_output=True, text=True).stdout
    pkgs = set()
    for line in out.splitlines():
        m = re.search(r"=> (\S+)", line)
        if not m or SANITIZER_LIBS.search(m.group(1)):
            continue
        path = os.path.realpath(m.group(1))
        for candidate in (path, m.group(1), "/usr" + path):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                pkgs.add(r.stdout.split(":")[0])
                break
        else:
            pkgs.add("?" + m.group(1))
    return pkgs


def check_dockerfile(facts, server):
    stages = dockerfile_stages()
    if not check(len(stages) == 2, "Dockerfile: two stages"):
        return
    build, run = stages
    check(re.fullmatch(r"debian:12-slim\s+AS\s+build", build["from"], re.I) is not None,
          "Dockerfile: build stage FROM debian:12-slim AS build")
    check(run["from"] == "debian:12-slim", "Dockerfile: runtime stage FROM debian:12-slim")
    with open(os.path.join(ROOT, "scripts", "deps.sh")) as f:
        m = re.search(r'^build_pkgs="([^"]*)"', f.read(), re.M)
    wanted = set(m.group(1).split()) if m else set()
    check(wanted and wanted <= apt_packages(build),
          "Dockerfile: the build stage installs scripts/deps.sh's build set")
    runtime = apt_packages(run)
    needed = linked_packages(server) - BASE_PACKAGES
    missing = needed - runtime
    check(not missing, "Dockerfile: runtime installs the packages of every linked library "
          "(%s)%s" % (", ".join(sorted(needed)), "; missing " + ", ".join(sorted(missing))
                      if missing else ""))
    users = [r for w, r in run["lines"] if w == "USER"]
    uid = users[-1].split(":")[0] if users else "root"
    check(uid.isdigit() and int(uid) == facts["uid"],
          "Dockerfile: USER %s is the StatefulSet's runAsUser %s" % (uid, facts["uid"]))
    entry = [r for w, r in run["lines"] if w == "ENTRYPOINT"]
    entry_cmd = yaml.safe_load(entry[-1]) if entry else None
    check(isinstance(entry_cmd, list) and entry_cmd[0] == facts["command"]
          and entry_cmd[0].endswith("/shale-server"),
          "Dockerfile: ENTRYPOINT is the StatefulSet's command (%s)" % facts["command"])
    copied = [r for w, r in run["lines"] if w == "COPY" and "--from=build" in r]
    check(any(r.split()[-1] == facts["command"] for r in copied),
          "Dockerfile: the built binary is copied to the ENTRYPOINT's path")
    for w, r in build["lines"]:
        if w == "COPY":
            for src in r.split()[:-1]:
                check(os.path.exists(os.path.join(ROOT, src)),
                      "Dockerfile: COPY source %s exists" % src)


def http_get(port, path, timeout=2.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(("GET %s HTTP/1.0\r\nHost: pod\r\n\r\n" % path).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None, ""
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.\d (\d+)", head)
    return (int(m.group(1)) if m else None), body.decode(errors="replace")


def redis_command(port, command):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(command.encode() + b"\r\n")
        data = b""
        deadline = time.time() + 3
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"+") or data.startswith(b"-"):
                if data.endswith(b"\r\n"):
                    break
            elif data.startswith(b"$"):
                n = int(data[1:data.index(b"\r\n")])
                if len(data) >= data.index(b"\r\n") + 2 + n + 2:
                    break
        return data.decode(errors="replace")


def wait_for(port, path, deadline):
    while time.time() < deadline:
        status, _ = http_get(port, path, 1.0)
        if status == 200:
            return True
        time.sleep(0.05)
    return False


def run_pod(facts, server, rewrite_ports):
    tmp = tempfile.mkdtemp(prefix="shale-pod-")
    conf_text = facts["conf_text"]
    redis_port, admin_port = facts["redis_port"], facts["admin_port"]
    if rewrite_ports:
        redis_port, admin_port = free_port(), free_port()
        conf_text = re.sub(r"^port \d+", "port %d" % redis_port, conf_text, flags=re.M)
        conf_text = re.sub(r"^admin-port \d+", "admin-port %d" % admin_port, conf_text, flags=re.M)
        print("note  no network namespace: ports %d and %d stand in for %d and %d"
              % (redis_port, admin_port, facts["redis_port"], facts["admin_port"]))
    with open(os.path.join(tmp, "shale.conf"), "w") as f:
        f.write(conf_text)
    c = facts["container"]
    argv = [server] + [os.path.join(tmp, a[len(facts["conf_mount"]) + 1:])
                       if a.startswith(facts["conf_mount"] + "/") else a
                       for a in (c.get("command", []) + c.get("args", []))[1:]]
    log_path = os.path.join(tmp, "pod.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        deadline = time.time() + 30
        check(wait_for(admin_port, facts["probes"]["startupProbe"]["path"], deadline),
              "pod: startupProbe GET /healthz answers 200")
        check(wait_for(admin_port, "/readyz", deadline), "pod: readinessProbe GET /readyz answers 200")
        status, _ = http_get(admin_port, "/healthz")
        check(status == 200, "pod: livenessProbe GET /healthz answers 200")
        status, body = http_get(admin_port, "/metrics")
        check(status == 200 and "\nshale_ready 1\n" in body, "pod: /metrics answers, ready")
        check(redis_command(redis_port, "PING") == "+PONG\r\n", "pod: PING answers +PONG")
        info = redis_command(redis_port, "INFO memory")
        m = re.search(r"shale_static_bytes:(\d+)", info)
        static = int(m.group(1)) if m else 0
        with open("/proc/%d/status" % proc.pid) as f:
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
        headroom = 64 << 20
        check(static > 0 and facts["mem_limit"] >= rss + headroom,
              "pod: memory limit %d MiB covers the idle process (%.1f MiB, static plan %.1f MiB) "
              "+ 64 MiB" % (facts["mem_limit"] >> 20, rss / 1048576, static / 1048576))
        # The plan for the CPU limit (half the CPUs read sockets, half own data),
        # from the per-thread figures the server logged: it must be the
        # number the manifest's comment shows.
        with open(log_path) as f:
            plan = re.search(r"Memory plan: static \d+ bytes = \d+ I/O thread\(s\) x (\d+) .* \+ "
                             r"\d+ shard\(s\) x (\d+) \(rings\)", f.read())
        cpus = max(1, int(facts["cpu_limit"] + 0.999))
        nio = max(1, cpus // 2)
        nshards = max(1, cpus - nio)
        if check(plan is not None, "pod: the memory plan is logged"):
            planned = nio * int(plan.group(1)) + nshards * int(plan.group(2))
            shown = re.search(r"([\d.]+) MiB \(shale_static_bytes\)", facts["statefulset_text"])
            check(shown is not None and abs(float(shown.group(1)) - planned / 1048576) < 0.05,
                  "statefulset.yaml's memory arithmetic shows the static plan for %g CPUs "
                  "(%.2f MiB)" % (facts["cpu_limit"], planned / 1048576))
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=facts["grace"] - facts["prestop"])
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "pod: SIGTERM -> exit status 0 in %.2f s (grace after preStop: %d s)"
              % (time.time() - start, facts["grace"] - facts["prestop"]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        if failures:
            with open(log_path) as f:
                print("---- pod log ----\n" + f.read() + "---- end ----")
        subprocess.run(["rm", "-rf", tmp])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_new_netns():
    """Re-runs this script in a new network namespace (root, unshare)."""
    if os.environ.get("SHALE_MANIFESTS_NETNS") or os.geteuid() != 0 or not shutil.which("ip"):
        return None
    env = dict(os.environ, SHALE_MANIFESTS_NETNS="1")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    return subprocess.run(["unshare", "--net", sys.executable, os.path.abspath(__file__)],
                          env=env).returncode


def main():
    server = os.environ.get("SHALE_SERVER") or os.path.join(ROOT, "shale-server")
    if not os.access(server, os.X_OK):
        print("FAIL  no server binary: set SHALE_SERVER or run make")
        return 1
    if not os.environ.get("SHALE_MANIFESTS_NETNS"):
        rc = in_new_netns()
        if rc is not None:
            return rc
    else:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    docs = load_documents()
    facts = check_manifests(docs)
    if facts:
        check_dockerfile(facts, server)
        run_pod(facts, server, rewrite_ports=not os.environ.get("SHALE_MANIFESTS_NETNS"))
    print("manifests: %d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
