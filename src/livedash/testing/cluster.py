"""Several livedash hosts behind a load balancer, simulated on one machine: what a failover
test needs (a host killed mid-stream, a store node lost) with real processes, addresses and
nginx. Linux only; needs root (network namespaces), iproute2, nginx and ``redis-server``.

Each *host* is a network namespace of its own (``ip netns``) joined to a bridge in the root
namespace by a veth pair, with an address ``10.77.N.11``, ``.12``, ... (``N`` is the first
``10.77.N.0/24`` no other run uses). Each host runs ``livedash serve APP --workers 2`` bound to
its address; all share one store: a ``redis-server`` (or a 3-master Redis Cluster with a
replica each) bound to the bridge's address ``10.77.N.1``. nginx, in the root namespace on
``127.0.0.1:<free port>``, balances over the hosts with the site configuration it is given
(for livedash: the one the docs' "Behind nginx" page gives). Clients talk to 127.0.0.1 only;
the load balancer reaches the hosts inside this machine's namespaces.

:class:`Deployment` starts it all as a context manager and tears it all down on exit, even on
failure: host processes killed, namespaces, veths and bridge deleted, nginx and Redis stopped.
Names carry this process's pid (``ld<pid><k>n1``...), so parallel runs do not collide; a run
that was SIGKILLed leaves names whose pid is dead, and a note of its nginx and Redis pids: the
next run deletes the names and kills those.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from livedash.testing.process import ServedProcess
from livedash.testing.redis import RedisCluster, RedisServer
from livedash.testing.wait import free_port, wait_until

#: Port every host listens on, at its own address.
HOST_PORT = 8050
#: ``POST /livedash/publish`` needs a token off loopback; the hosts get this one.
TOKEN = "multihost-demo-token"
#: Response header nginx adds: the host (``10.77.N.x:8050``) that serves the request.
UPSTREAM_HEADER = "X-Upstream"
#: In the user agent of headless Chromium's requests, its SharedWorker's too (a context's
#: ``user_agent`` override does not reach the worker): they prefer ``browser_first``.
BROWSER_AGENT = "HeadlessChrome"
#: Longest wait for a host, nginx or the store to come up.
DEADLINE = 90.0
#: Redis refuses clients off loopback without a password ("protected mode"); these servers
#: listen only on the bridge, which nothing outside this machine reaches.
OPEN = ["--protected-mode", "no"]
#: Serialises the choice of a free 10.77.N.0/24 between parallel runs.
SUBNET_LOCK = Path(tempfile.gettempdir()) / "livedash-multihost.lock"
_NAME = re.compile(r"^ld(\d+)[a-z]+(?:br|n\d+)$")
_runs = iter("abcdefghijklmnopqrstuvwxyz" * 10)


def _ip(*args: str, check: bool = True) -> str:
    """``ip ARGS``'s output; a failure raises unless ``check`` is False."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """Kill what runs in namespace ``ns`` and delete it (its veth pair goes with it)."""
    for pid in _ip("netns", "pids", ns, check=False).split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    # Deleting the namespace deletes the veth end inside it, and with it the outside end.
    _ip("netns", "del", ns, check=False)


def _pids_file(tag: str) -> Path:
    """Where a run notes its nginx and Redis pids, for the next run to clean up after it."""
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
class Host(ServedProcess):
    """``livedash serve APP --workers N`` inside one namespace, bound to the host's address,
    in its own process group; started once ``/livedash/health`` answers (any status)."""

    def __init__(
        self,
        name: str,
        netns: str,
        address: str,
        store: str,
        output_path: Path,
        *,
        app: str,
        workers: int = 2,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.netns, self.address, self.store = name, netns, address, store
        self.app, self.workers = app, workers
        self.upstream = f"{address}:{HOST_PORT}"
        argv = ["ip", "netns", "exec", netns, sys.executable, "-m", "livedash.cli", "serve"]
        argv += [app, "--workers", str(workers), "--store", store]
        argv += ["--host", address, "--port", str(HOST_PORT)]
        super().__init__(
            argv,
            f"http://{address}:{HOST_PORT}",
            output_path,
            cwd=cwd,
            env={"LIVEDASH_TOKEN": TOKEN, **(env or {})},
            ready_path="/livedash/health",
            deadline=DEADLINE,
        )

    def pids(self) -> list[int]:
        """Every process in this host's namespace (the server and its workers)."""
        return [int(p) for p in _ip("netns", "pids", self.netns, check=False).split()]


# ---- the load balancer ------------------------------------------------------------------------
def nginx_config(
    site: str,
    directory: Path,
    port: int,
    upstreams: list[str],
    browser_first: str | None = None,
) -> str:
    """``site`` over ``upstreams``, on ``127.0.0.1:port``, in a complete nginx.conf whose
    files live in ``directory``.

    ``site`` is shaped as the docs' "Behind nginx" configuration: an ``upstream livedash``
    block with the one line ``server 127.0.0.1:8050;`` (replaced by the hosts), a server that
    ``listen 80;`` as ``server_name dashboard.example.com;`` and passes to
    ``http://livedash``. Two additions: every response says which host served it
    (:data:`UPSTREAM_HEADER`), and with ``browser_first`` requests whose user agent has
    :data:`BROWSER_AGENT` go to that host, the others being its ``backup``: a test knows
    which host its browser is on."""
    servers = "".join(f"    server {u};\n" for u in upstreams)
    site, n = re.subn(r"    server 127\.0\.0\.1:8050;[^\n]*\n", servers, site)
    if n != 1:
        raise ValueError("the nginx site has no upstream line `    server 127.0.0.1:8050;`")
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
    """nginx on 127.0.0.1 in the root namespace, serving ``site`` (see :func:`nginx_config`)
    over the hosts it is given."""

    def __init__(self, directory: Path, site: str) -> None:
        self.directory = directory
        self.site = site
        directory.mkdir(parents=True, exist_ok=True)
        nginx = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(p).exists()), None)
        if nginx is None:
            raise RuntimeError("nginx is not installed: run scripts/ensure-system-deps.sh")
        self.nginx = nginx
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, upstreams: list[str], browser_first: str | None = None) -> LoadBalancer:
        """(Re)start nginx over ``upstreams`` on the same port."""
        self.stop()
        conf = self.directory / "nginx.conf"
        conf.write_text(
            nginx_config(self.site, self.directory, self.port, upstreams, browser_first)
        )
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

        wait_until(listening, DEADLINE, "nginx listens")  # nginx has no readiness signal
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

    Every host serves ``app`` (``module:factory``, importable from ``cwd``); nginx serves
    ``site`` (see :func:`nginx_config`). ``store`` is ``"redis"`` (one redis-server) or
    ``"cluster"`` (3 masters, a replica each). ``start`` hosts are started on entry (the
    first alone, so it takes the producer leases); :meth:`start_host` starts more. ``env``
    goes to every host's processes. Files (logs, nginx's, Redis's) go to ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        app: str,
        site: str,
        hosts: int = 3,
        store: str = "redis",
        workers: int = 2,
        start: int | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        browser_first: int | None = None,
    ) -> None:
        if store not in ("redis", "cluster"):
            raise ValueError(f"store must be 'redis' or 'cluster', got {store!r}")
        self.directory = directory
        self.kind, self.workers, self.app, self.env = store, workers, app, env or {}
        self.cwd = cwd
        self.initial = hosts if start is None else start
        self.browser_first = browser_first
        self.network = Network(hosts)
        self.hosts: list[Host] = []
        self.redis: RedisServer | None = None
        self.cluster: RedisCluster | None = None
        self.store_url = ""
        self.lb = LoadBalancer(directory / "nginx", site)
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
                    cwd=self.cwd,
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
