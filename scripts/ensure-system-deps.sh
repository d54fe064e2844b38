#!/usr/bin/env bash
# Installs the system packages the tests need when they are missing: Debian's chromium
# (browser tests), redis-server and redis-tools (tests that start, kill and restart their own
# Redis and Redis Cluster), nginx and iproute2 (several hosts behind a load balancer) and
# mosquitto (the MQTT source's tests), then makes sure an MQTT broker listens on
# 127.0.0.1:1883, starting one (loopback only, anonymous, no persistence) where none runs.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# redis-tools: redis-cli, which tests/redis_cluster.py runs to create its Redis Cluster.
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# nginx: tests/docs/test_nginx.py runs the docs' reverse-proxy configuration for real, and the
# multi-host tests balance over their hosts with it.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# iproute2: `ip netns`, with which tests/scale/test_multihost.py and bench/cluster.py put each
# livedash host in a network namespace of its own.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

listening() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
if ! listening; then
  dir="${TMPDIR:-/tmp}/livedash-mosquitto"
  mkdir -p "$dir"
  # `user`: run as whoever runs the tests (as root, mosquitto would switch to a user that
  # cannot write the log here).
  printf 'user %s\nlistener 1883 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest file %s/mosquitto.log\n' \
    "$(id -un)" "$dir" >"$dir/mosquitto.conf"
  mosquitto="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
  echo "starting an MQTT broker on 127.0.0.1:1883 ($dir)"
  "$mosquitto" -c "$dir/mosquitto.conf" -d
  for _ in $(seq 50); do listening && break; sleep 0.1; done
  listening || { echo "mosquitto did not start; see $dir/mosquitto.log" >&2; exit 1; }
fi
