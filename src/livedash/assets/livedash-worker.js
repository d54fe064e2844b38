/*
 * livedash connection core: ONE event stream per browser, shared by every tab.
 *
 * Loaded as a SharedWorker (every tab uses the same URL and name, so they share it), or,
 * where SharedWorker is missing, as a plain script that the page runs for itself.
 * Browsers allow 6 HTTP/1.1 connections per host; a stream per tab would hang the 7th tab.
 *
 * Page -> core:  {type:'sub', id, streams:{name: historyCount}}  |  {type:'bye'}
 * Core -> page:  {type:'history', id, stream, events}  (then live events, contiguous)
 *                {type:'events', events}  {type:'state', ...}
 *                {type:'reset', stream, seq, events}  (events before seq were dropped; the
 *                newest events of the stream follow, then live ones)
 * Events travel to pages as [stream, seq, ts, data].
 *
 * The stream is asked for in wire format 2 (see livedash/transport/wire.py): a `hello` names
 * the streams, events come as [i, dt, data(, seq)] with no `id:` lines, and this core
 * reconnects itself from its own cursor (EventSource's own reconnect would resume from the
 * URL's stale one). A server that ignores ?wire=2 sends format 1, which is read as before.
 */
(function (scope) {
  'use strict';

  function Core(base) {
    this.base = base;
    this.ports = new Set();
    this.wants = new Map(); // port -> Set of streams it follows
    this.cursor = {}; // stream -> newest seq received
    this.rings = {}; // stream -> newest events, contiguous, at most cap[stream]
    this.cap = {};
    this.followed = ''; // the stream set of the open EventSource, as a sorted key
    this.es = null;
    this.state = 'connecting';
    this.store = 'ok';
    this.failures = 0;
    this.storeRetries = 0; // history requests refused because the server's store is down
    this.queue = Promise.resolve(); // subscriptions are handled one at a time
    this.timer = null;
    this.skew = null; // server clock minus ours, in s, from the stream's hello
    this.behind = 0; // whole seconds the newest events arrived after their publication
    this.behindTimer = null;
  }

  Core.prototype.attach = function (port) {
    this.ports.add(port);
    this.wants.set(port, new Set());
    port.post({type: 'state', state: this.state, store: this.store, behind: this.behind});
  };

  Core.prototype.detach = function (port) {
    this.ports.delete(port);
    this.wants.delete(port);
    var self = this;
    // Let a reloading tab come back before the connection is dropped.
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(function () {
      if (self.ports.size === 0) self.close();
    }, 5000);
  };

  Core.prototype.close = function () {
    if (this.es) this.es.close();
    this.es = null;
    this.followed = '';
    this.cursor = {};
    this.rings = {};
    this.cap = {};
  };

  Core.prototype.subscribe = function (port, id, streams) {
    var self = this;
    this.queue = this.queue.then(function () {
      return self._subscribe(port, id, streams);
    }).catch(function (err) {
      if (err && err.status === 503 && self.ports.has(port)) {
        // The server is up but its store is not (Redis down): say so, and try again.
        self.store = 'degraded';
        self._setState(self.state);
        self.storeRetries += 1;
        var delay = Math.min(5000, 250 * Math.pow(2, self.storeRetries));
        setTimeout(function () { self.subscribe(port, id, streams); }, delay);
        return;
      }
      port.post({type: 'error', id: id, message: String(err)});
    });
  };

  Core.prototype._subscribe = function (port, id, streams) {
    var self = this;
    var names = Object.keys(streams);
    var fetches = [];
    names.forEach(function (name) {
      var n = streams[name] || 0;
      var known = name in self.cursor;
      if (!known || n > (self.cap[name] || 0)) {
        self.cap[name] = Math.max(self.cap[name] || 0, n);
        fetches.push(name);
      }
    });
    var done = fetches.length ? this._fetchHistory(fetches) : Promise.resolve();
    return done.then(function () {
      if (!self.ports.has(port)) return;
      var wants = self.wants.get(port);
      names.forEach(function (name) {
        var n = streams[name] || 0;
        var ring = self.rings[name] || [];
        port.post({type: 'history', id: id, stream: name,
          events: n ? ring.slice(Math.max(0, ring.length - n)) : []});
        wants.add(name); // from here on the port gets live events, contiguous with the above
      });
      self._follow();
    });
  };

  Core.prototype._fetchHistory = function (names) {
    var self = this;
    var params = names.map(function (name) {
      return 'stream=' + encodeURIComponent(name) + '&last=' + encodeURIComponent(name + ':' + self.cap[name]);
    }).join('&');
    return fetch(this.base + '/poll?' + params, {cache: 'no-store'}).then(function (r) {
      if (!r.ok) {
        var err = new Error('history request failed: HTTP ' + r.status);
        err.status = r.status;
        throw err;
      }
      if (self.storeRetries) {
        // History came back after store failures: the store is reachable again.
        self.storeRetries = 0;
        self.store = 'ok';
        self._setState(self.state);
      }
      return r.json();
    }).then(function (body) {
      var cursor = parseCursor(body.cursor);
      names.forEach(function (name) {
        var fresh = body.events.filter(function (e) { return e[0] === name; });
        self._merge(name, fresh);
        if (!(name in self.cursor)) self.cursor[name] = cursor[name] || 0;
      });
    });
  };

  Core.prototype._merge = function (name, events) {
    // Union by seq: history may overlap events the live stream already delivered.
    var ring = this.rings[name] || [];
    var bySeq = new Map();
    ring.concat(events).forEach(function (e) { bySeq.set(e[1], e); });
    var merged = Array.from(bySeq.values()).sort(function (a, b) { return a[1] - b[1]; });
    var cap = this.cap[name] || 0;
    this.rings[name] = cap ? merged.slice(Math.max(0, merged.length - cap)) : [];
  };

  Core.prototype._follow = function () {
    var names = Object.keys(this.cursor).sort();
    var key = names.join(',');
    if (key === this.followed && this.es) return;
    this.followed = key;
    this._connect();
  };

  Core.prototype._connect = function () {
    var self = this;
    if (this.es) this.es.close();
    clearTimeout(this.timer);
    var names = this.followed ? this.followed.split(',') : [];
    if (!names.length) return;
    var cursor = names.map(function (n) { return n + ':' + self.cursor[n]; }).join(',');
    var url = this.base + '/events?' + names.map(function (n) {
      return 'stream=' + encodeURIComponent(n);
    }).join('&') + '&cursor=' + encodeURIComponent(cursor) + '&wire=2';
    var es = new EventSource(url);
    this.es = es;
    var wire = null; // format-2 decoding state of this connection, set by its `hello`
    es.onopen = function () {
      self.failures = 0;
      // A fresh stream starts healthy; the server sends `status` at once if its store is not.
      self.store = 'ok';
      self._setState('live');
    };
    es.addEventListener('hello', function (msg) {
      var hello = JSON.parse(msg.data);
      wire = hello.wire === 2 ? {streams: hello.streams, seq: {}, ms: 0} : null;
      // Too late by the link's one-way delay at connect, which only understates the lag.
      if (typeof hello.now === 'number') self.skew = hello.now / 1000 - Date.now() / 1000;
    });
    es.addEventListener('sync', function (msg) {
      // Every stream's position once the server knows it (format 2's cursor id).
      if (es !== self.es || !wire) return;
      var cursor = JSON.parse(msg.data);
      Object.keys(cursor).forEach(function (name) {
        wire.seq[name] = cursor[name];
        if (name in self.cursor && cursor[name] > self.cursor[name]) self.cursor[name] = cursor[name];
      });
    });
    es.onmessage = function (msg) {
      if (es !== self.es) return;
      var batch = JSON.parse(msg.data);
      if (!wire) {
        self._receive(batch, msg.lastEventId);
        return;
      }
      var events = decode(wire, batch);
      if (events) {
        self._receive(events, '');
      } else {
        // An event whose seq this connection never said: start over from our cursor.
        console.error('livedash: undecodable event stream message, reconnecting');
        self._connect();
      }
    };
    es.addEventListener('status', function (msg) {
      self.store = JSON.parse(msg.data).store;
      self._setState(self.state);
    });
    es.addEventListener('reset', function (msg) {
      var reset = JSON.parse(msg.data);
      var name = reset.stream;
      // Events from reset.seq on follow. Usually that is ahead of us (retention dropped what
      // we missed); after the store lost data it is behind us, and we must go back with it.
      if (name in self.cursor && reset.seq - 1 < self.cursor[name]) self.cursor[name] = reset.seq - 1;
      self.rings[name] = [];
      self._fetchHistory([name]).then(function () {
        self._broadcast(name, {type: 'reset', stream: name, seq: reset.seq, events: self.rings[name]});
      });
    });
    es.onerror = function () {
      if (es !== self.es) return;
      self.failures += 1;
      // Reconnect ourselves, from our own cursor: the URL's is stale, and format 2 sends no
      // ids for the browser's reconnect to resume from. A dropped connection is retried
      // after the 1 s the server's `retry` asks for, as the browser would; an HTTP error
      // (the browser gave up) backs off.
      var delay = es.readyState === EventSource.CLOSED
        ? Math.min(10000, 250 * Math.pow(2, self.failures)) : 1000;
      es.close();
      self.timer = setTimeout(function () { self._connect(); }, delay);
      self._setState(self.failures > 5 ? 'offline' : 'reconnecting');
    };
  };

  Core.prototype._receive = function (events, lastEventId) {
    var self = this;
    var fresh = [];
    events.forEach(function (e) {
      var name = e[0];
      if (!(name in self.cursor) || e[1] <= self.cursor[name]) return;
      self.cursor[name] = e[1];
      var ring = self.rings[name];
      if (ring && self.cap[name]) {
        ring.push(e);
        if (ring.length > self.cap[name]) ring.splice(0, ring.length - self.cap[name]);
      }
      fresh.push(e);
    });
    // The id carries every stream's position, also for streams with no new events.
    var ids = parseCursor(lastEventId || '');
    Object.keys(ids).forEach(function (name) {
      if (name in self.cursor && ids[name] > self.cursor[name]) self.cursor[name] = ids[name];
    });
    if (!fresh.length) return;
    this._measureLag(fresh[fresh.length - 1][2]);
    this.ports.forEach(function (port) {
      var wants = self.wants.get(port);
      var mine = fresh.filter(function (e) { return wants.has(e[0]); });
      if (mine.length) port.post({type: 'events', events: mine});
    });
  };

  // How far behind the feed this browser is: the newest event's age when it arrived. A link
  // slower than the feed shows here first (the stream stays open, so the state stays 'live').
  // 'behind' clears on a fresh batch, or once nothing has come for a while (a catch-up after
  // a reconnect delivers old events once, then the stream is quiet and current).
  Core.prototype._measureLag = function (newestTs) {
    if (this.skew === null) return;
    var self = this;
    var lag = Date.now() / 1000 + this.skew - newestTs;
    var behind = lag >= BEHIND_S ? Math.round(lag) : 0;
    clearTimeout(this.behindTimer);
    if (behind) {
      this.behindTimer = setTimeout(function () {
        if (self.behind) { self.behind = 0; self._setState(self.state); }
      }, QUIET_MS);
    }
    if (behind !== this.behind) {
      this.behind = behind;
      this._setState(this.state);
    }
  };
  var BEHIND_S = 3;
  var QUIET_MS = 2000;

  Core.prototype._broadcast = function (name, msg) {
    var self = this;
    this.ports.forEach(function (port) {
      if (self.wants.get(port).has(name)) port.post(msg);
    });
  };

  Core.prototype._setState = function (state) {
    this.state = state;
    var msg = {type: 'state', state: state, store: this.store, behind: this.behind};
    this.ports.forEach(function (port) { port.post(msg); });
  };

  Core.prototype.handle = function (port, msg) {
    if (msg.type === 'sub') this.subscribe(port, msg.id, msg.streams);
    else if (msg.type === 'bye') this.detach(port);
  };

  // Format-2 events [i, dt, data(, seq)] as [stream, seq, ts, data]; null if one has no seq
  // this connection can infer (the server always sends it where the stream's last is unknown).
  function decode(wire, batch) {
    var out = [];
    for (var k = 0; k < batch.length; k++) {
      var e = batch[k];
      var name = wire.streams[e[0]];
      var seq = e.length > 3 ? e[3] : wire.seq[name] + 1;
      if (name === undefined || !(seq > 0)) return null;
      wire.seq[name] = seq;
      wire.ms += e[1];
      out.push([name, seq, wire.ms / 1000, e[2]]);
    }
    return out;
  }

  function parseCursor(text) {
    var out = {};
    (text || '').split(',').forEach(function (part) {
      var i = part.lastIndexOf(':');
      if (i > 0) out[part.slice(0, i)] = parseInt(part.slice(i + 1), 10);
    });
    return out;
  }

  var isShared = typeof SharedWorkerGlobalScope !== 'undefined' && scope instanceof SharedWorkerGlobalScope;
  if (isShared) {
    var base = new URL(scope.location.href).searchParams.get('base') || '/livedash';
    var core = new Core(base);
    scope.onconnect = function (e) {
      var raw = e.ports[0];
      var port = {post: function (m) { raw.postMessage(m); }};
      raw.onmessage = function (m) { core.handle(port, m.data); };
      raw.start();
      core.attach(port);
    };
  } else {
    scope.LivedashCore = Core;
  }
})(self);
