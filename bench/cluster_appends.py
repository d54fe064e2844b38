"""Appends/s on a local Redis Cluster, with and without replicas (what WAIT 1 costs).

Starts a 3-master cluster with one replica each and one without replicas (livedash.testing's
``RedisCluster``), and one plain redis-server for reference; measures single appends from one
thread, single appends from 4 threads (group commit), and batches of 100. Prints a table and
writes bench/results/cluster_appends.json.

    .venv/bin/python -m bench.cluster_appends [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from livedash.stores import Store
from livedash.stores.redis import RedisStore
from livedash.stores.redis_cluster import RedisClusterStore
from livedash.testing.redis import RedisCluster, RedisServer

RESULTS = Path(__file__).parent / "results" / "cluster_appends.json"


def _rate(store: Store, seconds: float, threads: int, batch: int) -> float:
    """Events appended per second."""
    count = [0] * threads
    stop = time.monotonic() + seconds

    def run(t: int) -> None:
        stream = f"bench{t}"
        record = (stream, '{"v":1}', time.time())
        while time.monotonic() < stop:
            store.append_many([record] * batch)
            count[t] += batch

    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(count) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    cases = {"single": (1, 1), "single, 4 threads": (4, 1), "batch of 100": (1, 100)}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = RedisServer(Path(tmp) / "plain", appendonly=True, appendfsync="everysec").start()
        replicated = RedisCluster(Path(tmp) / "replicated").start()
        bare = RedisCluster(Path(tmp) / "bare", replicas=0).start()
        try:
            stores: dict[str, Store] = {
                "redis (one server)": RedisStore(plain.url()),
                "cluster, no replicas": RedisClusterStore(bare.url()),
                "cluster + replicas (WAIT 1)": RedisClusterStore(replicated.url()),
            }
            for name, store in stores.items():
                results[name] = {
                    case: round(_rate(store, args.seconds, *shape)) for case, shape in cases.items()
                }
                store.close()
        finally:
            plain.kill()
            replicated.stop()
            bare.stop()
    width = max(map(len, results))
    print(f"{'events/s':<{width}}  " + "  ".join(f"{c:>18}" for c in cases))
    for name, row in results.items():
        print(f"{name:<{width}}  " + "  ".join(f"{row[c]:>18,}" for c in cases))
    RESULTS.write_text(json.dumps({"seconds": args.seconds, "events_per_s": results}, indent=2))


if __name__ == "__main__":
    main()
