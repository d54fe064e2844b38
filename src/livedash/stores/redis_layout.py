"""How livedash lays its streams out in Redis (no I/O): key names, entry ids and the Lua
scripts that write them. Both Redis stores (:mod:`livedash.stores.redis`,
:mod:`livedash.stores.redis_cluster`) use these.

Keys (all under ``prefix``, ``livedash:`` by default):

- ``{prefix}head:{stream}``: the newest seq ever assigned (an integer, INCR'd by appends);
- ``{prefix}stream:{stream}``: the events, as a Redis Stream whose entry id is ``{seq}-0``
  and whose fields are ``d`` (data, compact JSON) and ``t`` (publish time);
- ``{prefix}lease:{name}``: producer leases (SET NX PX, renewed only by the owner);
- ``{prefix}streams``: the set of stream names published through a :class:`~livedash.Hub`
  (``admit_streams``), which the deployment-wide stream limit counts;
- ``{prefix}wake:{token}``: per store object, what wakes its blocked readers.

On a Redis Cluster the stream name in a stream's keys is a hash tag (``head:{name}``), so
that its head and its entries share a slot and one script call touches one shard.
"""

from __future__ import annotations

from dataclasses import dataclass

#: One Redis Stream entry as redis-py returns it: (id, fields).
Entry = tuple[str, dict[str, str]]


def entry_seq(entry_id: str) -> int:
    """The seq of an entry id (``{seq}-0``)."""
    return int(entry_id.partition("-")[0])


@dataclass(frozen=True, slots=True)
class Keys:
    """The key names of one deployment (``prefix``), with stream names as hash tags when
    ``hash_tags`` (a Redis Cluster)."""

    prefix: str = "livedash:"
    hash_tags: bool = False

    def _tag(self, stream: str) -> str:
        return f"{{{stream}}}" if self.hash_tags else stream

    def head(self, stream: str) -> str:
        """The key of ``stream``'s newest seq."""
        return f"{self.prefix}head:{self._tag(stream)}"

    def stream(self, stream: str) -> str:
        """The key of ``stream``'s entries (on a cluster also its notice channel)."""
        return f"{self.prefix}stream:{self._tag(stream)}"

    def lease(self, name: str) -> str:
        """The key of the lease ``name``."""
        return f"{self.prefix}lease:{name}"

    def streams(self) -> str:
        """The key of the set of admitted stream names."""
        return f"{self.prefix}streams"

    def wake(self, token: str) -> str:
        """The key (or channel) that wakes the readers of the store object ``token``."""
        return f"{self.prefix}wake:{token}"


# Retention, the one Lua piece that says it: add(key, id, data, ts, max_events, max_age, now,
# batch) adds an entry, keeps the newest max_events (0 = no limit) and drops, up to `batch`
# at a time, the oldest entries older than now - max_age (0 = no limit).
RETAIN = """
local function add(key, id, data, ts, max_events, max_age, now, batch)
  if max_events > 0 then
    redis.call('XADD', key, 'MAXLEN', max_events, id, 'd', data, 't', ts)
  else
    redis.call('XADD', key, id, 'd', data, 't', ts)
  end
  if max_age > 0 then
    -- Drop the oldest entries that outlived max_age, up to the first fresh one.
    local cutoff, fresh = now - max_age, nil
    local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', batch)
    for _, entry in ipairs(oldest) do
      local fields, t = entry[2], nil
      for f = 1, #fields, 2 do if fields[f] == 't' then t = tonumber(fields[f + 1]) end end
      if t == nil or t >= cutoff then fresh = entry[1] break end
    end
    if fresh == nil and #oldest > 0 then
      local last = oldest[#oldest][1]
      redis.call('XTRIM', key, 'MINID', (tonumber(string.match(last, '^%d+')) + 1) .. '-0')
    elseif fresh ~= nil and fresh ~= oldest[1][1] then
      redis.call('XTRIM', key, 'MINID', fresh)
    end
  end
end
"""

# KEYS: head, stream for each record, in record order.
# ARGV: now, age-trim batch size, then per record: data, ts, max_events, max_age.
_APPEND = """
local now, batch = tonumber(ARGV[1]), tonumber(ARGV[2])
local out, newest = {}, {}
for i = 1, #KEYS / 2 do
  local head, key = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 2 + 4 * (i - 1)
  local seq = redis.call('INCR', head)
  add(key, seq .. '-0', ARGV[base + 1], ARGV[base + 2], tonumber(ARGV[base + 3]),
    tonumber(ARGV[base + 4]), now, batch)
  out[i] = seq
  newest[key] = seq
end
"""


def append_script(each_stream: str = "") -> str:
    """The Lua append script: stores a batch of records all or none, each stream's seqs in
    order, and returns the seq of each record (KEYS and ARGV as :data:`_APPEND` says).

    ``each_stream``: Lua statements run once per stream of the batch once it is stored,
    with ``key`` its stream key and ``seq`` its newest seq (a cluster publishes them)."""
    tail = f"for key, seq in pairs(newest) do\n  {each_stream}\nend\n" if each_stream else ""
    return RETAIN + _APPEND + tail + "return out\n"


# KEYS: lease. ARGV: owner, ttl in ms. Returns 1 when owner holds the lease now.
LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: the set of stream names. ARGV: the limit (-1: none), then the names. Adds the names
# unless the new ones would pass the limit; returns 1 when every name is in the set now.
ADMIT = """
local limit = tonumber(ARGV[1])
local new = {}
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then new[#new + 1] = ARGV[i] end
end
if #new == 0 then return 1 end
if limit >= 0 and redis.call('SCARD', KEYS[1]) + #new > limit then return 0 end
for i = 1, #new, 1000 do
  redis.call('SADD', KEYS[1], unpack(new, i, math.min(i + 999, #new)))
end
return 1
"""
