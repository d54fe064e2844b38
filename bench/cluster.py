"""Several livedash hosts behind a load balancer, simulated on one machine, and what scale costs.

Each *host* is a network namespace of its own (``ip netns``) joined to a bridge in the root
namespace by a veth pair, with an address ``10.77.N.11``, ``.12``, ... (``N`` is the first
``10.77.N.0/24`` no other run uses). Each host runs ``livedash serve APP --workers 2`` bound to
its address; all share one store: a ``redis-server`` (or a 3-master Redis Cluster with a
replica each, ``tests/redis_cluster.py``) bound to the bridge's address ``10.77.N.1``. nginx,
in the root namespace on ``127.0.0.1:<free port>``, balances over the hosts with the settings
event streams need (``docs/snippets/nginx.conf``, the configuration the docs give). Clients
talk to 127.0.0.1 only; the load balancer reaches the hosts inside this machine's namespaces.

:class:`Deployment` starts it all as a context manager and tears it all down on exit, even on
failure: host processes killed, namespaces, veths and bridge deleted, nginx and Redis stopped.
Names carry this process's pid (``ld<pid><k>n1``...), so parallel runs do not collide; a run
that was SIGKILLed leaves names whose pid is dead, and a note of its nginx and Redis pids: the
next run deletes the names and kills those.

Needs root (namespaces), Debian's nginx, iproute2 and redis-server
(``scripts/ensure-system-deps.sh``)::

    python -m bench.cluster demo [--hosts 4] [--store redis|cluster] [--hold]
    python -m bench.cluster measure [--clients 4000] [--rate 1 2 5] [--seconds 20]

``demo`` (``make cluster-demo``) starts 4 hosts, spreads viewers over them through nginx,
SIGKILLs one host mid-stream and shows every viewer ending with every event once, in order.
``measure`` writes ``bench/results/multihost.json``: Redis commands per published event as
hosts grow 1 -> 4 (two client counts per host count), then delivered events/s, p50/p99
publish -> receive latency and CPU per delivery with thousands of clients over 4 hosts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.redis_cluster import RedisCluster
from tests.redis_server import RedisServer
from tests.sse_client import SSEClient

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / "docs" / "snippets" / "nginx.conf"
RESULTS = ROOT / "bench" / "results" / "multihost.json"
#: The app every host serves: streams ``feed`` (published by the caller) and ``tick`` (a
#: producer under a store lease when ``LIVEDASH_TEST_TICK`` is set, carrying its pid).
APP = "tests.scale.apps:create_app"
#: Port every host listens on, at its own address.
HOST_PORT = 8050
#: ``POST /livedash/publish`` needs a token off loopback; the hosts get this one.
TOKEN = "multihost-demo-token"
#: Response header nginx adds: the host (``10.77.N.x:8050``) that serves the request.
UPSTREAM_HEADER = "X-Upstream"
#: In the user agent of headless Chromium's requests, its SharedWorker's too (a context's
#: ``user_agent`` override does not reach the worker): they prefer ``browser_first``.
BROWSER_AGENT = "HeadlessChrome"
#: Longest wait for a host, nginx or a condition of the demo.
DEADLINE = 90.0
#: Redis refuses clients off loopback without a password ("protected mode"); these servers
#: listen only on the bridge, which nothing outside this machine reaches.
OPEN = ["--protected-mode", "no"]
#: Serialises the choice of a free 10.77.N.0/24 between parallel runs.
SUBNET_LOCK = Path(tempfile.gettempdir()) / "livedash-multihost.lock"
_NAME = re.compile(r"^ld(\d+)[a-z]+(?:br|n\d+)$")
_runs = iter("abcdefghijklmnopqrstuvwxyz" * 10)


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for(what: str, ready: Any, timeout: float = DEADLINE) -> None:
    """Poll ``ready()`` until it is true; ``TimeoutError`` naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


# ---- the network ------------------------------------------------------------------------------
class Network:
    """A bridge in the root namespace and ``hosts`` namespaces on it, one veth pair each."""

    def __init__(self, hosts: int) -> None:
        if os.geteuid() != 0:
            raise PermissionError("network namespaces need root: run as root (or with sudo)")
        self.tag = f"ld{os.getpid()}{next(_runs)}"
        self.bridge = f"{self.tag}br"
        self.namespaces = [f"{self.tag}n{i}" for i in range(1, hosts + 1)]
        self.subnet: int | None = None

    @property
    def gateway(self) -> str:
        """The bridge's address, reachable from every namespace (Redis binds it)."""
        return f"10.77.{self.subnet}.1"

    def address(self, i: int) -> str:
        """Host ``i``'s address (``i`` from 0)."""
        return f"10.77.{self.subnet}.{11 + i}"

    def create(self) -> Network:
        """Create the bridge and the namespaces (deleting any a dead run left behind)."""
        sweep_stale()
        SUBNET_LOCK.touch()
        with open(SUBNET_LOCK) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be choosing a subnet too
            used = {int(m) for m in re.findall(r"inet 10\.77\.(\d+)\.", _ip("-4", "addr"))}
            self.subnet = next(n for n in range(256) if n not in used)
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.namespaces):
            _ip("netns", "add", ns)
            outside, inside = f"{self.tag}v{i + 1}", f"{self.tag}p{i + 1}"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns)
            _ip("link", "set", outside, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", inside)
            _ip("-n", ns, "link", "set", inside, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def destroy(self) -> None:
        """Kill whatever still runs in the namespaces, then delete them and the bridge."""
        for ns in self.namespaces:
            _destroy_namespace(ns)
        _ip("link", "del", self.bridge, check=False)


def _destroy_namespace(ns: str) -> None:
    for pid in _ip("netns", "pids", ns, check=False).split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    # Deleting the namespace deletes the veth end inside it, and with it the outside end.
    _ip("netns", "del", ns, check=False)


def _pids_file(tag: str) -> Path:
    return SUBNET_LOCK.parent / f"livedash-multihost-{tag}.pids"


def record_pids(tag: str, procs: list[subprocess.Popen[bytes] | None]) -> None:
    """Note the run's processes outside the namespaces (nginx, Redis), for :func:`sweep_stale`."""
    pids = [p.pid for p in procs if p is not None and p.poll() is None]
    _pids_file(tag).write_text(json.dumps(pids))


def sweep_stale() -> None:
    """Delete namespaces and bridges of earlier runs whose process is gone (a SIGKILLed run
    cannot clean up after itself), and kill the nginx and redis-server they left running;
    those of live runs are left alone."""
    for path in SUBNET_LOCK.parent.glob("livedash-multihost-ld*.pids"):
        m = _NAME.match(path.name.removeprefix("livedash-multihost-").removesuffix(".pids") + "br")
        if not m or _alive(int(m.group(1))):
            continue
        for pid in json.loads(path.read_text() or "[]"):
            with contextlib.suppress(OSError):  # gone, or its pid reused by something else
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                if name.startswith(("nginx", "redis-server")):
                    os.kill(pid, signal.SIGKILL)
        path.unlink(missing_ok=True)
    names = [line.split()[0] for line in _ip("netns", "list", check=False).splitlines() if line]
    for ns in names:
        m = _NAME.match(ns)
        if m and not _alive(int(m.group(1))):
            _destroy_namespace(ns)
    for line in _ip("-o", "link", "show", "type", "bridge", check=False).splitlines():
        name = line.split(":")[1].strip()
        m = _NAME.match(name)
        if m and not _alive(int(m.group(1))):
            _ip("link", "del", name, check=False)


# ---- hosts ------------------------------------------------------------------------------------
class Host:
    """``livedash serve APP --workers N`` inside one namespace, in its own process group."""

    def __init__(
        self,
        name: str,
        netns: str,
        address: str,
        store: str,
        log_path: Path,
        *,
        app: str = APP,
        workers: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.netns, self.address, self.store = name, netns, address, store
        self.app, self.workers, self.log_path = app, workers, log_path
        self.url = f"http://{address}:{HOST_PORT}"
        self.upstream = f"{address}:{HOST_PORT}"
        self.env = {**os.environ, "LIVEDASH_TOKEN": TOKEN, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> Host:
        """Start the server; :meth:`wait_ready` waits for it."""
        argv = ["ip", "netns", "exec", self.netns, sys.executable, "-m", "livedash.cli", "serve"]
        argv += [self.app, "--workers", str(self.workers), "--store", self.store]
        argv += ["--host", self.address, "--port", str(HOST_PORT)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> Host:
        """Wait until the host answers ``/livedash/health`` (any status: its routes are up)."""

        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"host {self.name} exited early:\n{self.log()}")
            try:
                urllib.request.urlopen(f"{self.url}/livedash/health", timeout=5).close()
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False
            return True

        wait_for(f"host {self.name} answering", answers)
        return self

    @property
    def running(self) -> bool:
        """True while the server process lives."""
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """Every process in this host's namespace (the server and its workers)."""
        return [int(p) for p in _ip("netns", "pids", self.netns, check=False).split()]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group, as a crashed machine would lose it all."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def log(self) -> str:
        """The tail of what the host printed."""
        return self.log_path.read_text(errors="replace")[-4000:]


# ---- the load balancer ------------------------------------------------------------------------
def nginx_config(
    directory: Path, port: int, upstreams: list[str], browser_first: str | None = None
) -> str:
    """The documented site (``docs/snippets/nginx.conf``) over ``upstreams``, on
    ``127.0.0.1:port``, in a complete nginx.conf whose files live in ``directory``.

    Two additions: every response says which host served it (:data:`UPSTREAM_HEADER`), and
    with ``browser_first`` requests whose user agent has :data:`BROWSER_AGENT` go to that host,
    the others being its ``backup``: a test knows which host its browser is on."""
    site = SNIPPET.read_text()
    servers = "".join(f"    server {u};\n" for u in upstreams)
    site, n = re.subn(r"    server 127\.0\.0\.1:8050;[^\n]*\n", servers, site)
    assert n == 1, "docs/snippets/nginx.conf changed: its upstream line is not found"
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace(
        "server_name dashboard.example.com;",
        f"server_name _;\n    add_header {UPSTREAM_HEADER} $upstream_addr always;",
    )
    pool = ""
    if browser_first is not None:
        backups = "".join(f"    server {u} backup;\n" for u in upstreams if u != browser_first)
        pool = (
            f"upstream browser_first {{\n    server {browser_first};\n{backups}"
            "    keepalive 16;\n}\n"
            f'map $http_user_agent $pool {{\n    default livedash;\n    "~{BROWSER_AGENT}" '
            "browser_first;\n}\n"
        )
        site = site.replace("proxy_pass http://livedash;", "proxy_pass http://$pool;")
    temps = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""
    # Thousands of streams: each is two descriptors in nginx (client and upstream).
    return (
        f"{user}worker_processes 1;\nworker_rlimit_nofile 65536;\ndaemon off;\n"
        f"pid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'};\n"
        "events { worker_connections 32768; }\n"
        # A line per request once it ends (an event stream: when it is cut), naming its host.
        'http {\n    log_format hosts \'$upstream_addr "$http_user_agent" "$request_uri" '
        "$status';\n"
        f"    access_log {directory / 'access.log'} hosts;\n{temps}{pool}{site}\n}}\n"
    )


class LoadBalancer:
    """nginx on 127.0.0.1 in the root namespace, over the hosts it is given."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        nginx = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(p).exists()), None)
        if nginx is None:
            raise RuntimeError("nginx is not installed: run scripts/ensure-system-deps.sh")
        self.nginx = nginx
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, upstreams: list[str], browser_first: str | None = None) -> LoadBalancer:
        """(Re)start nginx over ``upstreams`` on the same port."""
        self.stop()
        conf = self.directory / "nginx.conf"
        conf.write_text(nginx_config(self.directory, self.port, upstreams, browser_first))
        self.proc = subprocess.Popen(
            [self.nginx, "-c", str(conf), "-p", str(self.directory)], start_new_session=True
        )

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError((self.directory / "error.log").read_text()[-3000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_for("nginx listening", listening)  # nginx has no readiness signal
        return self

    def requests(self) -> list[str]:
        """The access log's lines: ``upstream "user agent" "uri" status`` per ended request."""
        path = self.directory / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def stop(self) -> None:
        """Stop nginx (its workers with it)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.proc = None


# ---- the deployment ---------------------------------------------------------------------------
class Deployment:
    """``hosts`` livedash hosts in namespaces, a store, and nginx in front; a context manager.

    ``store`` is ``"redis"`` (one redis-server) or ``"cluster"`` (3 masters, a replica each).
    ``start`` hosts are started on entry (the first alone, so it takes the producer leases);
    :meth:`start_host` starts more. ``env`` goes to every host's processes."""

    def __init__(
        self,
        directory: Path,
        *,
        hosts: int = 3,
        store: str = "redis",
        workers: int = 2,
        start: int | None = None,
        app: str = APP,
        env: dict[str, str] | None = None,
        browser_first: int | None = None,
    ) -> None:
        if store not in ("redis", "cluster"):
            raise ValueError(f"store must be 'redis' or 'cluster', got {store!r}")
        self.directory = directory
        self.kind, self.workers, self.app, self.env = store, workers, app, env or {}
        self.initial = hosts if start is None else start
        self.browser_first = browser_first
        self.network = Network(hosts)
        self.hosts: list[Host] = []
        self.redis: RedisServer | None = None
        self.cluster: RedisCluster | None = None
        self.store_url = ""
        self.lb = LoadBalancer(directory / "nginx")
        self._stack = contextlib.ExitStack()

    # -- life ---------------------------------------------------------------------------------
    def __enter__(self) -> Deployment:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _start(self) -> None:
        self._stack.callback(self.network.destroy)  # registered first, so it runs last
        self.network.create()
        gateway = self.network.gateway
        if self.kind == "redis":
            self.redis = RedisServer(self.directory / "redis", bind=gateway, extra=OPEN)
            self._stack.callback(self.redis.kill)
            self.redis.start()
            self.store_url = self.redis.url()
        else:
            self.cluster = RedisCluster(self.directory / "cluster", bind=gateway)
            for node in self.cluster.nodes:
                node.extra += OPEN
            self._stack.callback(self.cluster.stop)
            self.cluster.start()
            self.store_url = self.cluster.url()
        self._stack.callback(_pids_file(self.network.tag).unlink, missing_ok=True)
        self._record()
        for i, ns in enumerate(self.network.namespaces):
            log = self.directory / f"host{i + 1}.log"
            self.hosts.append(
                Host(
                    f"h{i + 1}",
                    ns,
                    self.network.address(i),
                    self.store_url,
                    log,
                    app=self.app,
                    workers=self.workers,
                    env=self.env,
                )
            )
        for host in self.hosts:
            self._stack.callback(host.kill)
        self._stack.callback(self.lb.stop)
        if self.initial:
            self.hosts[0].launch().wait_ready()
            self.start_host(*range(1, self.initial))

    def start_host(self, *indices: int) -> None:
        """Start hosts ``indices`` (in parallel), then point nginx at every running host."""
        for i in indices:
            self.hosts[i].launch()
        for i in indices:
            self.hosts[i].wait_ready()
        self.balance()

    def balance(self) -> None:
        """(Re)start nginx over the running hosts (a dead one stays listed if it was: nginx
        notices on its own, as it would with a machine that failed)."""
        started = [h for h in self.hosts if h.proc is not None]
        first = None if self.browser_first is None else self.hosts[self.browser_first].upstream
        self.lb.start([h.upstream for h in started], first)
        self._record()

    def _record(self) -> None:
        servers = [self.redis] if self.redis else self.cluster.nodes if self.cluster else []
        record_pids(self.network.tag, [self.lb.proc, *(n.proc for n in servers)])

    # -- use ----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The load balancer's port on 127.0.0.1: what clients connect to."""
        return self.lb.port

    @property
    def url(self) -> str:
        """The load balancer's URL."""
        return f"http://127.0.0.1:{self.lb.port}"

    def host_of(self, upstream: str | None) -> Host | None:
        """The host an :data:`UPSTREAM_HEADER` value names (the last one, after retries)."""
        last = (upstream or "").split(",")[-1].strip()
        return next((h for h in self.hosts if h.upstream == last), None)

    def host_of_pid(self, pid: int) -> Host | None:
        """The host whose namespace runs ``pid``."""
        return next((h for h in self.hosts if pid in h.pids()), None)


# ---- viewers ----------------------------------------------------------------------------------
class Viewer(threading.Thread):
    """A headless viewer of one stream through the load balancer, resuming with
    ``Last-Event-ID`` whenever its connection ends, until it holds the event ``until``.

    ``got`` is every ``(seq, data)`` received, in order; ``hosts`` the upstream of each
    connection it made (from :data:`UPSTREAM_HEADER`)."""

    def __init__(self, port: int, stream: str, until: int, deadline: float = DEADLINE) -> None:
        super().__init__(daemon=True, name=f"viewer-{stream}")
        self.port, self.stream, self.until, self.deadline = port, stream, until, deadline
        self.got: list[tuple[int, Any]] = []
        self.hosts: list[str] = []
        self.errors: list[str] = []
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.client: SSEClient | None = None

    def run(self) -> None:
        last_id: str | None = None
        ends = time.monotonic() + self.deadline
        while not self.stop.is_set() and time.monotonic() < ends:
            if self.got and self.got[-1][0] >= self.until:
                return
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                self.client = SSEClient(
                    self.port, f"/livedash/events?stream={self.stream}", headers, timeout=20
                )
                if self.client.response.status != 200:
                    self.errors.append(f"HTTP {self.client.response.status}")
                    self.client.close()
                    self.stop.wait(0.2)
                    continue
                self.hosts.append(self.client.response.getheader(UPSTREAM_HEADER) or "?")
                for msg in self.client:
                    if msg.event != "message":
                        continue
                    self.connected.set()
                    self.got += [(seq, data) for s, seq, _, data in msg.json() if s == self.stream]
                    last_id = self.client.last_id
                    if self.stop.is_set() or (self.got and self.got[-1][0] >= self.until):
                        break
                self.errors.append("stream ended")
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                self.stop.wait(0.1)  # the browser's EventSource waits `retry: 1000`; less here
            finally:
                if self.client is not None:
                    self.client.close()

    def close(self) -> None:
        """Stop reading and wait for the thread."""
        self.stop.set()
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.close()
        self.join(timeout=30)


# ---- the demo ---------------------------------------------------------------------------------
def demo(args: argparse.Namespace) -> int:
    """Start the deployment, spread viewers over it, kill a host mid-stream, check them."""
    from livedash import Hub

    with (
        tempfile.TemporaryDirectory() as tmp,
        Deployment(Path(tmp), hosts=args.hosts, store=args.store) as dep,
    ):
        print(
            f"{args.hosts} hosts ({', '.join(h.upstream for h in dep.hosts)}), store "
            f"{dep.store_url}, nginx on {dep.url}/"
        )
        if args.hold:
            print("open the URL in a browser; Ctrl-C stops and removes everything")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            return 0
        total, half = 2 * args.events, args.events
        viewers = [Viewer(dep.port, "feed", total) for _ in range(args.viewers)]
        hub = Hub(dep.store_url)
        try:
            for v in viewers:
                v.start()
            wait_for("every viewer connected", lambda: all(v.connected.is_set() for v in viewers))
            for n in range(1, half + 1):
                hub.publish("feed", {"n": n})
            wait_for("the first half delivered", lambda: all(len(v.got) >= half for v in viewers))
            spread = _spread(dep, viewers)
            print(f"viewers per host: {spread}")
            victim = dep.hosts[-1]
            victim.kill()
            print(f"SIGKILLed host {victim.name} ({spread.get(victim.name, 0)} viewers on it)")
            for n in range(half + 1, total + 1):
                hub.publish("feed", {"n": n})
                time.sleep(0.005)  # events go on while its viewers reconnect
            wait_for("every event delivered", lambda: all(len(v.got) >= total for v in viewers))
            print(f"viewers per host after: {_spread(dep, viewers)}")
        finally:
            for v in viewers:
                v.close()
            hub.close()
        exact = [[d["n"] for _, d in v.got] == list(range(1, total + 1)) for v in viewers]
        moved = sum(len(v.hosts) > 1 for v in viewers)
        print(
            f"{sum(exact)}/{len(viewers)} viewers got all {total} events exactly once, in "
            f"order; {moved} reconnected through nginx to another host"
        )
    print("torn down: hosts killed, namespaces, bridge, nginx and Redis removed")
    return 0 if all(exact) else 1


def _spread(dep: Deployment, viewers: list[Viewer]) -> dict[str, int]:
    spread: dict[str, int] = {}
    for v in viewers:
        host = dep.host_of(v.hosts[-1] if v.hosts else None)
        name = host.name if host else "?"
        spread[name] = spread.get(name, 0) + 1
    return dict(sorted(spread.items()))


# ---- measurements -----------------------------------------------------------------------------
def _commandstats(server: RedisServer) -> dict[str, int]:
    with server.client() as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: after[k] - before.get(k, 0) for k in after}
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


def _publish_paced(hub: Any, count: int, rate: float, log: dict[int, float]) -> None:
    """Publish ``count`` events of ``feed`` at ``rate`` per second, logging seq -> time."""
    start = time.monotonic()
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event = hub.publish("feed", {"n": n})
        log[event.seq] = event.ts


def commands_per_event(
    dep: Deployment, hosts: int, per_host: int, events: int, rate: float, workdir: Path
) -> dict[str, Any]:
    """Redis commands per published event with ``per_host`` clients on each of ``hosts``
    hosts (INFO commandstats before and after publishing ``events`` at ``rate``/s)."""
    from bench.harness import run_clients
    from livedash import Hub

    assert dep.redis is not None
    hub = Hub(dep.store_url)
    out: dict[str, Any] = {}
    log: dict[int, float] = {}

    def window() -> None:
        # Idle first: what the hosts cost with nothing published (heartbeats, blocked reads).
        idle_before = _commandstats(dep.redis)  # type: ignore[arg-type]
        time.sleep(2.0)
        idle = _delta(idle_before, _commandstats(dep.redis))  # type: ignore[arg-type]
        before = _commandstats(dep.redis)  # type: ignore[arg-type]
        started = time.monotonic()
        _publish_paced(hub, events, rate, log)
        time.sleep(1.0)  # let the last reads land
        elapsed = time.monotonic() - started
        delta = _delta(before, _commandstats(dep.redis))  # type: ignore[arg-type]
        total, idle_total = sum(delta.values()), sum(idle.values())
        out.update(
            commands=delta,
            commands_per_event=round(total / events, 2),
            idle_commands_per_s=round(idle_total / 2.0, 1),
            commands_per_event_net_of_idle=round((total - idle_total / 2.0 * elapsed) / events, 2),
        )

    try:
        result = run_clients(
            "livedash",
            dep.port,
            hosts * per_host,
            events / rate + 6,
            workdir,
            stream="feed",
            on_connected=window,
            count_only=True,
        )
    finally:
        hub.close()
    out.update(
        hosts=hosts,
        clients_per_host=per_host,
        clients_connected=result["connected"],
        events=events,
        delivered=result["delivered"],
        delivered_pct=round(100 * result["delivered"] / (hosts * per_host * events), 2),
    )
    return out


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


#: Seconds of the throughput run with every client connected and nothing published (the
#: cost of holding the streams), and after the last publish (deliveries still in flight).
IDLE, TAIL = 5.0, 10.0


def throughput(
    dep: Deployment, clients: int, rate: float, seconds: float, workdir: Path, procs: int = 2
) -> dict[str, Any]:
    """Delivered events/s, publish -> receive latency and CPU per delivery with ``clients``
    headless clients over every running host (``procs`` client processes), ``rate``
    events/s for ``seconds``: :data:`IDLE` s connected and idle first, :data:`TAIL` s after."""
    from bench.harness import delivery, run_clients
    from livedash import Hub

    hub = Hub(dep.store_url)
    log: dict[int, float] = {}
    results: list[dict[str, Any]] = []
    connected = threading.Barrier(procs + 1)
    host_pids = {h.name: h.pids() for h in dep.hosts if h.running}
    others = {"nginx": _tree(dep.lb.proc), "redis": _tree(dep.redis.proc if dep.redis else None)}

    def clients_process(i: int, n: int) -> None:
        own = workdir / f"clients{i}"  # run_clients names its output by port and count
        own.mkdir(exist_ok=True)
        results.append(
            run_clients(
                "livedash",
                dep.port,
                n,
                IDLE + seconds + TAIL,
                own,
                stream="feed",
                ramp_timeout=240,
                on_connected=lambda: connected.wait(300),
            )
        )

    threads = [
        threading.Thread(target=clients_process, args=(i, clients // procs)) for i in range(procs)
    ]
    for t in threads:
        t.start()
    try:
        connected.wait(300)  # every client process connected: the window starts
        watched = {**host_pids, **others, "clients": _clients_pids()}
        snap = _Snapshot(watched)
        time.sleep(IDLE)
        idle = snap.cores()
        snap = _Snapshot(watched)
        _publish_paced(hub, int(rate * seconds), rate, log)
        time.sleep(TAIL - 2)  # the clients stop at TAIL; stop measuring just before
        busy = snap.cores()
    finally:
        for t in threads:
            t.join(timeout=seconds + 400)
        hub.close()
    got = [c for r in results for c in r["clients"]]
    t_start = min(log.values()) - 0.001
    t_end = max(log.values()) + 1.5  # delivery() counts values published until t_end - grace
    d = delivery(got, log, t_start, t_end).summary()
    delivered = sum(len(g) for g in got)
    hosts = len(host_pids)
    # CPU-seconds one host spent (above its idle cost) per delivery to one of its clients.
    extra = sum(busy[h] - idle[h] for h in host_pids) / hosts * snap.elapsed
    per_delivery_us = 1e6 * extra / (delivered / hosts)
    return {
        "hosts": hosts,
        "clients": clients,
        "clients_connected": sum(r["connected"] for r in results),
        "rate_events_per_s": rate,
        "events": len(log),
        "delivered": delivered,
        "delivered_events_per_s": round(delivered / (len(log) / rate)),
        "latency": d,
        "cpu_cores_idle": idle,
        "cpu_cores_publishing": busy,
        "window_s": round(snap.elapsed, 2),
        "host_cpu_us_per_delivery": round(per_delivery_us, 1),
        "host_idle_cpu_us_per_stream_per_s": round(
            1e6 * sum(idle[h] for h in host_pids) / clients, 2
        ),
        "nginx_cpu_us_per_delivery": round(
            1e6 * (busy["nginx"] - idle["nginx"]) * snap.elapsed / delivered, 1
        ),
    }


class _Snapshot:
    """CPU-seconds of groups of processes (and of the whole machine) from now on."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
        self.busy = _busy()
        self.started = time.monotonic()
        self.elapsed = 0.0

    def cores(self) -> dict[str, float]:
        """Cores each group used on average since the snapshot; ``machine``: everything this
        machine ran, other sessions included."""
        self.elapsed = time.monotonic() - self.started
        out = {
            name: round((_cpu_seconds(pids) - self.before[name]) / self.elapsed, 3)
            for name, pids in self.groups.items()
        }
        out["machine"] = round((_busy() - self.busy) / self.elapsed, 3)
        return out


def _clients_pids() -> list[int]:
    """The headless client processes this process started (``bench.clients``)."""
    import psutil

    return [
        c.pid
        for c in psutil.Process().children(recursive=True)
        if "bench.clients" in " ".join(c.cmdline())
    ]


def _busy() -> float:
    """CPU-seconds every core of the machine has spent busy since boot."""
    import psutil

    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)


def _tree(proc: subprocess.Popen[bytes] | None) -> list[int]:
    """``proc``'s pid and its children's (nginx's workers)."""
    import psutil

    if proc is None or proc.poll() is not None:
        return []
    return [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]


def measure(args: argparse.Namespace) -> int:
    """Commands per event for 1 -> 4 hosts, then throughput at ``--clients`` over 4 hosts."""
    from bench.harness import machine_facts

    report: dict[str, Any] = {
        "machine": machine_facts(),
        "note": "hosts, nginx, Redis and the clients all run on this machine's cores (see "
        "machine: cores, load averages at start and end), so the rates are a floor, not a "
        "ceiling",
    }
    first = 4 if args.skip_commands else 1
    with (
        tempfile.TemporaryDirectory() as tmp,
        Deployment(Path(tmp), hosts=4, start=first, workers=args.workers) as dep,
    ):
        rows = []
        for hosts in range(first, 5) if not args.skip_commands else ():
            if hosts > 1:
                dep.start_host(hosts - 1)
            for per_host in args.per_host:
                row = commands_per_event(dep, hosts, per_host, args.events, 20.0, Path(tmp))
                print(
                    f"hosts {hosts} x {per_host} clients: {row['commands_per_event']} "
                    f"commands/event ({row['delivered_pct']}% delivered)",
                    flush=True,
                )
                rows.append(row)
        if rows:
            report["commands_per_event"] = rows
        report["throughput"] = []
        for rate in args.rate:
            run = throughput(dep, args.clients, rate, args.seconds, Path(tmp))
            print(json.dumps(run, indent=2), flush=True)
            report["throughput"].append(run)
    report["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.cluster demo|measure``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="start it, kill a host mid-stream, check every viewer")
    d.add_argument("--hosts", type=int, default=4)
    d.add_argument("--store", choices=["redis", "cluster"], default="redis")
    d.add_argument("--viewers", type=int, default=40)
    d.add_argument("--events", type=int, default=200, help="published before and after the kill")
    d.add_argument("--hold", action="store_true", help="keep it up until Ctrl-C instead")
    m = sub.add_parser("measure", help="commands per event 1 -> 4 hosts; throughput at scale")
    m.add_argument("--workers", type=int, default=2)
    m.add_argument("--per-host", type=int, nargs=2, default=[10, 100], help="client counts")
    m.add_argument("--events", type=int, default=200, help="events per commands window")
    m.add_argument("--clients", type=int, default=4000)
    m.add_argument("--rate", type=float, nargs="+", default=[2.0], help="events/s, one run each")
    m.add_argument("--skip-commands", action="store_true", help="throughput runs only")
    m.add_argument("--seconds", type=float, default=20.0)
    m.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    # SIGTERM tears down like Ctrl-C: the context managers' exits run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.contenders import raise_fd_limit

    raise_fd_limit()
    return demo(args) if args.command == "demo" else measure(args)


if __name__ == "__main__":
    sys.exit(main())
