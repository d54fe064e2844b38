"""Fixtures for the feature tests: an MQTT broker, and our own redis-server."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedash.testing import free_port
from tests.redis_server import redis_server, redis_url

__all__ = ["mqtt_broker", "redis_server", "redis_url"]

SHARED_BROKER = ("127.0.0.1", 1883)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Mosquitto broker: the machine's at 127.0.0.1:1883 (``make test``
    starts it), or one started here on a free port when none listens there."""
    if _listening(*SHARED_BROKER):
        yield SHARED_BROKER
        return
    binary = shutil.which("mosquitto")
    if binary is None:
        pytest.fail("mosquitto is not installed: run `make test`, which installs and starts it")
    port = free_port()
    folder: Path = tmp_path_factory.mktemp("mosquitto")
    conf = folder / "mosquitto.conf"
    # `user`: as root, mosquitto would otherwise switch to a user that cannot use this folder.
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
        "allow_anonymous true\npersistence false\n"
    )
    log = (folder / "mosquitto.log").open("w")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not _listening("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not start; see {folder / 'mosquitto.log'}")
            time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
