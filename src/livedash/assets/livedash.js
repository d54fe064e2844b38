/*
 * livedash browser client.
 *
 * Finds live components ([data-livedash] elements rendered by livedash.LiveText /
 * LiveGraph / LiveData / ...), asks the shared connection (livedash-worker.js) for their
 * streams and applies events on arrival when the tab is idle, coalesced per frame under load
 * (see schedule): values with dash_clientside.set_props, so Dash's own state stays true and
 * other callbacks can react; graph points with Plotly.extendTraces on the plot (see
 * extendPlot for why not dcc.Graph's extendData). Hidden tabs render nothing and catch up in
 * one batch when shown.
 *
 * The public API (window.livedash.registerKind, Widget, format, ...) is typed and documented
 * in livedash.d.ts beside this file; names starting with _ are internal.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var params = new URL(script.src, location.href).searchParams;
  var base = params.get('base') || '/livedash';
  var workerUrl = base + '/static/livedash-worker.js?v=' + (params.get('v') || '0') +
    '&base=' + encodeURIComponent(base);

  var api = {
    state: 'connecting',
    store: 'ok',
    behind: 0, // seconds the newest events arrived after publication, when 3 or more
    widgets: {},
    stats: {messages: 0, events: 0, applied: 0, gaps: 0, extends: 0, batches: 0,
      updates: 0, resets: 0}, // updates / resets: LiveData `data` updates, and those that reset
    _onApply: null, // internal hook (benchmarks, tests): function (widget, event); not public API
    transport: null
  };
  // The hook's old name, for scripts not yet moved to _onApply; neither is public API.
  Object.defineProperty(api, 'onApply', {
    get: function () { return api._onApply; },
    set: function (fn) { api._onApply = fn; }
  });
  window.livedash = api;
  api.base = base; // the routes' prefix, for widgets that fetch (time windows, replay)

  // Milliseconds a new SharedWorker has to send its first message before this tab runs the
  // core itself: a worker whose script is never even requested was seen in Chromium with
  // four browsers busy on two cores, and left the page without data.
  var WORKER_START_MS = 10000;

  var nextId = 1;
  var port = connect();

  function connect() {
    var onMessage = function (msg) { receive(msg); };
    if (window.SharedWorker && !window.LIVEDASH_NO_SHARED_WORKER) {
      try {
        var worker = new SharedWorker(workerUrl, {name: 'livedash'});
        var sent = []; // what this tab asked before the worker spoke, replayed if it never does
        var fallback = null;
        var heard = false;
        worker.port.onmessage = function (e) {
          if (fallback) return;
          heard = true;
          sent = null;
          onMessage(e.data);
        };
        worker.port.start();
        api.transport = 'sharedworker';
        var giveUp = function () {
          if (heard || fallback) return;
          console.warn('livedash: the SharedWorker did not start; this tab opens its own connection');
          try { worker.port.close(); } catch (err) { /* already closed */ }
          fallback = pageCore(onMessage);
          api.transport = 'page';
          sent.forEach(function (m) { fallback.post(m); });
          sent = null;
        };
        worker.onerror = giveUp;
        setTimeout(giveUp, WORKER_START_MS);
        return {post: function (m) {
          if (fallback) { fallback.post(m); return; }
          if (sent) sent.push(m);
          worker.port.postMessage(m);
        }};
      } catch (err) {
        console.warn('livedash: SharedWorker unavailable, using a connection per tab', err);
      }
    }
    api.transport = 'page';
    return pageCore(onMessage);
  }

  // The same core as the SharedWorker's, run in this page (one connection per tab).
  function pageCore(onMessage) {
    var queued = [];
    var local = null;
    var pagePort = {post: function (m) { onMessage(m); }};
    var tag = document.createElement('script');
    tag.src = workerUrl;
    tag.onload = function () {
      local = new window.LivedashCore(base);
      local.attach(pagePort);
      queued.forEach(function (m) { local.handle(pagePort, m); });
      queued = [];
    };
    document.head.appendChild(tag);
    return {post: function (m) { if (local) local.handle(pagePort, m); else queued.push(m); }};
  }

  window.addEventListener('pagehide', function () { port.post({type: 'bye'}); });
  window.addEventListener('pageshow', function (e) {
    if (!e.persisted) return;
    // Back from the back/forward cache: the worker forgot us, subscribe again from scratch.
    Object.keys(api.widgets).forEach(function (id) { delete api.widgets[id]; });
    scan();
  });

  // ---- messages from the connection --------------------------------------------------
  function receive(msg) {
    api.stats.messages += 1;
    if (msg.type === 'state') {
      api.state = msg.state;
      api.store = msg.store;
      api.behind = msg.behind || 0;
      badge();
    } else if (msg.type === 'history') {
      eachWidget(msg.stream, function (w) {
        if (w.request === msg.id) w.start(msg.events);
      });
    } else if (msg.type === 'events') {
      api.stats.events += msg.events.length;
      msg.events.forEach(function (e) {
        eachWidget(e[0], function (w) { w.offer(e); });
      });
    } else if (msg.type === 'reset') {
      eachWidget(msg.stream, function (w) { w.reset(msg.events, msg.seq); });
    } else if (msg.type === 'error') {
      console.error('livedash:', msg.message);
    }
    schedule();
  }

  function eachWidget(stream, fn) {
    Object.keys(api.widgets).forEach(function (id) {
      var w = api.widgets[id];
      if (w.spec.stream === stream) fn(w);
    });
  }

  // ---- widgets -----------------------------------------------------------------------
  function Widget(id, spec, el) {
    this.id = id;
    this.spec = spec;
    this.el = el;
    this.lastSeq = 0;
    this.started = false;
    this.early = []; // live events that arrived before this widget's history
    this.request = null;
  }
  Widget.prototype.start = function (history) {
    this.started = true;
    var self = this;
    history.concat(this.early).forEach(function (e) { self.offer(e); });
    this.early = [];
  };
  Widget.prototype.offer = function (e) {
    if (!this.started) { this.early.push(e); return; }
    if (e[1] <= this.lastSeq) return;
    if (this.lastSeq && e[1] !== this.lastSeq + 1) api.stats.gaps += 1;
    this.lastSeq = e[1];
    this.take(e);
  };
  Widget.prototype.reset = function (events) {
    this.lastSeq = 0;
    this.clear();
    var self = this;
    events.forEach(function (e) { self.offer(e); });
  };

  function TextWidget(id, spec, el) { Widget.call(this, id, spec, el); this.latest = null; this.shown = null; }
  TextWidget.prototype = Object.create(Widget.prototype);
  TextWidget.prototype.history = function () { return 1; };
  TextWidget.prototype.take = function (e) { this.latest = e; };
  TextWidget.prototype.clear = function () { this.latest = null; };
  TextWidget.prototype.flush = function () {
    var e = this.latest;
    if (!e) return;
    this.latest = null;
    var text = format(this.spec.template, e);
    if (text !== this.shown) {
      window.dash_clientside.set_props(this.id, {children: text});
      this.shown = text;
    }
    api.stats.applied += 1;
    if (api._onApply) api._onApply(this, e);
  };

  function GraphWidget(id, spec, el) {
    Widget.call(this, id, spec, el);
    this.pending = [];
    this.inflight = false;
  }
  GraphWidget.prototype = Object.create(Widget.prototype);
  GraphWidget.prototype.history = function () { return this.spec.window; };
  GraphWidget.prototype.take = function (e) {
    this.pending.push(e);
    // Points beyond the window would be cut by maxPoints anyway; keep hidden tabs bounded.
    if (this.pending.length > this.spec.window) this.pending.splice(0, this.pending.length - this.spec.window);
  };
  GraphWidget.prototype.clear = function () {
    this.pending = [];
    this.setFigure([]);
  };
  // Replace what the graph draws: traces[i] = {x, y} (missing ones empty), the layout
  // Dash's figure has (or what relayout(layout) returns for it). Through Dash, with
  // set_props of `figure`, never Plotly.react on the plot: dcc.Graph then draws the very
  // trace objects Dash's `figure` holds, every later extendTraces appends to them, and
  // State(graph, 'figure') in a callback is what the graph shows. (A Plotly.react of our
  // own left Dash holding the traces drawn before: after a window change a callback read the
  // old points, and a zoom, which makes dcc.Graph redraw its `figure`, brought them back.)
  // The next extend waits (inflight) until dcc.Graph has drawn it. False: not plotted yet.
  GraphWidget.prototype.setFigure = function (traces, relayout) {
    var gd = this.plot();
    if (!gd) return false;
    var figure = dashProp(this.spec.target, 'figure') || {data: gd.data, layout: gd.layout};
    var data = (figure.data || gd.data).map(function (trace, i) {
      var t = traces[i] || {};
      return Object.assign({}, trace, {x: t.x || [], y: t.y || []});
    });
    var layout = Object.assign({}, figure.layout || {});
    var next = Object.assign({}, figure, {data: data, layout: relayout ? relayout(layout) : layout});
    var self = this;
    this.inflight = true;
    window.dash_clientside.set_props(this.spec.target, {figure: next});
    whenDrawn(this, data, function () { self.inflight = false; schedule(); });
    return true;
  };
  GraphWidget.prototype.plot = function () {
    var host = document.getElementById(this.spec.target);
    var gd = host && host.querySelector('.js-plotly-plot');
    return gd && gd._fullLayout && !gd.classList.contains('dash-graph--pending') ? gd : null;
  };
  // maxPoints of the next extend: the newest `window` points (widget kinds override).
  GraphWidget.prototype.limit = function (batch) { return this.spec.window; };
  GraphWidget.prototype.flush = function () {
    // One batch in flight per graph; the rest coalesce into the next one.
    if (this.inflight || !this.pending.length) return;
    var gd = this.plot();
    if (!gd) return false;
    var batch = this.pending;
    this.pending = [];
    var spec = this.spec;
    var xs = batch.map(function (e) { return xValue(spec.x, e); });
    var update = {
      x: spec.y.map(function () { return xs; }),
      y: spec.y.map(function (field) {
        return batch.map(function (e) { var v = lookup(e, field); return v === undefined ? null : v; });
      })
    };
    var indices = spec.y.map(function (_, i) { return i; });
    var self = this;
    this.inflight = true;
    extendPlot(gd, update, indices, this.limit(batch), function () {
      self.inflight = false;
      schedule();
    });
    api.stats.extends += 1;
    api.stats.applied += batch.length;
    if (api._onApply) batch.forEach(function (e) { api._onApply(self, e); });
  };

  // Append points to a plotted graph: Plotly.extendTraces on the plot itself, then done()
  // once it is drawn (or failed). Not through dcc.Graph's extendData prop: dcc.Graph queues
  // each extendData and empties the queue with a React state update only after its Plotly
  // calls resolved, and an extendData set before that update commits is queued behind the
  // previous one, so the whole queue is applied again (duplicate points). Nothing a page can
  // observe (plotly_afterplot, the plot's last x) says when that commit happened; under load,
  // with a batch waiting whenever the last one lands, tabs drew points twice. extendTraces
  // appends synchronously, so a call made early (the guard below) adds points late but never
  // twice. Measured before (DESIGN): also ~8% less main-thread time than extendData.
  function extendPlot(gd, update, indices, maxPoints, done) {
    var finished = false;
    var guard = null;
    var finish = function () {
      if (finished) return;
      finished = true;
      clearTimeout(guard);
      done();
    };
    // A redraw that never settles must not stall the graph for ever.
    guard = setTimeout(finish, 30000);
    try {
      var drawn = window.Plotly.extendTraces(gd, update, indices, maxPoints);
      if (drawn && drawn.then) {
        drawn.then(finish, function (err) { console.error('livedash: could not draw', err); finish(); });
      } else {
        finish();
      }
    } catch (err) {
      console.error('livedash: could not extend the graph', err);
      finish();
    }
  }

  // Calls done() once dcc.Graph has drawn the trace array `data` (the plot holds it and no
  // redraw of dcc.Graph's is pending: it marks the plot dash-graph--pending until Plotly.react
  // resolves), or after 30 s, so that a redraw that never settles cannot stall the graph.
  function whenDrawn(widget, data, done) {
    var deadline = performance.now() + 30000;
    (function check() {
      var gd = widget.plot();
      if ((gd && gd.data === data) || performance.now() > deadline) done();
      else setTimeout(check, 16);
    })();
  }

  // ---- Dash's state --------------------------------------------------------------------
  // Dash (2.17 and later) keeps each app's layout and callback queues in a redux store listed
  // in window.dash_stores; dash_clientside.set_props dispatches into it.
  function dashStore(id) {
    var stores = window.dash_stores || [];
    for (var i = 0; i < stores.length; i++) {
      var paths = stores[i].getState().paths;
      if (paths && paths.strs && paths.strs[id]) return stores[i];
    }
    return null;
  }
  // The current value of a component's prop in Dash's state (undefined: not rendered).
  function dashProp(id, prop) {
    var store = dashStore(id);
    if (!store) return undefined;
    var state = store.getState();
    var node = state.layout;
    var path = state.paths.strs[id];
    for (var i = 0; node && i < path.length; i++) node = node[path[i]];
    return node && node.props ? node.props[prop] : undefined;
  }
  // Dash has rendered component `id` and loaded the callbacks that read it. Before that a
  // set_props throws or reaches no callback, and the events in it would be lost.
  function isReady(id) {
    if (!ready()) return false;
    if (!window.dash_stores) return true; // a Dash without the stores: set_props is all we know
    var store = dashStore(id);
    return !!store && store.getState().appLifecycle === 'HYDRATED';
  }
  // Callbacks with input (id, prop) that Dash has not finished: requested, waiting for
  // inputs, running, or run with outputs not yet applied (Dash's own pending set; Dash moves
  // a callback between these lists in single dispatches, so it is never seen in none).
  var PENDING = ['requested', 'prioritized', 'blocked', 'executing', 'watched', 'executed'];
  function callbacksPending(store, id, prop) {
    var queues = store.getState().callbacks || {};
    return PENDING.some(function (name) {
      return (queues[name] || []).some(function (cb) {
        var inputs = (cb.callback && cb.callback.inputs) || [];
        return inputs.some(function (input) { return input.id === id && input.property === prop; });
      });
    });
  }

  // ---- LiveData: a stream as an ordinary Dash prop ---------------------------------------
  // `data` of a dcc.Store gets {events: [{seq, ts, data}, ...], reset} with every event since
  // the previous update. One update in flight: the next waits until every callback reading
  // this `data` has finished, so a callback never misses an update that a newer one replaced
  // before it ran (Dash reads inputs when a callback runs, not when it is triggered).
  var delivered = {}; // ids this page has sent updates to (a re-created widget resets them)
  function DataWidget(id, spec, el) {
    Widget.call(this, id, spec, el);
    this.pending = [];
    // Back from the back/forward cache (or a re-rendered layout): the callbacks built their
    // state from updates this widget did not send; the first update says to start over.
    this.resetting = !!delivered[id];
    this.resetFrom = 0; // seq after the last hole this widget saw in the stream
    this.inflight = false;
    this.sentAt = -Infinity;
    this.timer = null;
  }
  DataWidget.prototype = Object.create(Widget.prototype);
  DataWidget.prototype.history = function () { return this.spec.history || 0; };
  DataWidget.prototype.offer = function (e) {
    // A hole in the seqs (events this tab never got; the server's reset follows): updates are
    // lossless unless they say reset, so this one says it.
    if (this.started && this.lastSeq && e[1] > this.lastSeq + 1) {
      this.resetting = true;
      this.resetFrom = e[1];
    }
    Widget.prototype.offer.call(this, e);
  };
  DataWidget.prototype.reset = function (events, seq) {
    // The server's reset of a hole this widget already started over after (events from seq
    // on were taken since, in order): a second reset would only repeat the newest events.
    if (seq && this.resetFrom >= seq) return;
    Widget.prototype.reset.call(this, events);
  };
  DataWidget.prototype.take = function (e) {
    this.pending.push(e);
    if (!this.resetting && this.pending.length > this.spec.max_backlog) this.resetting = true;
    // A reset update carries the newest `history` events: hold no more than that meanwhile.
    var keep = this.spec.history || 0;
    if (this.resetting && this.pending.length > keep) this.pending.splice(0, this.pending.length - keep);
  };
  DataWidget.prototype.clear = function () {
    // The stream was reset (the server's retention dropped events this tab never saw).
    this.pending = [];
    this.resetting = true;
  };
  DataWidget.prototype.flush = function () {
    if (this.inflight || (!this.pending.length && !this.resetting)) return;
    var wait = (this.spec.interval || 0) - (performance.now() - this.sentAt);
    if (wait > 0) {
      var self = this;
      if (!this.timer) this.timer = setTimeout(function () { self.timer = null; schedule(); }, wait);
      return;
    }
    if (!isReady(this.id)) return false; // kept until Dash has loaded the layout and callbacks
    var batch = this.pending;
    var reset = this.resetting;
    this.pending = [];
    this.resetting = false;
    this.sentAt = performance.now();
    delivered[this.id] = true;
    var events = batch.map(function (e) { return {seq: e[1], ts: e[2], data: e[3]}; });
    window.dash_clientside.set_props(this.id, {data: {events: events, reset: reset}});
    api.stats.updates += 1;
    if (reset) api.stats.resets += 1;
    api.stats.applied += batch.length;
    var hook = api._onApply;
    if (hook) batch.forEach(function (e) { hook(this, e); }, this);
    var store = dashStore(this.id);
    if (store && callbacksPending(store, this.id, 'data')) this.await(store);
  };
  DataWidget.prototype.await = function (store) {
    var self = this;
    this.inflight = true;
    var unsubscribe = store.subscribe(function () {
      if (!self.inflight || callbacksPending(store, self.id, 'data')) return;
      unsubscribe();
      self.inflight = false;
      // Not inside Dash's dispatch: the next update goes out after it returns.
      Promise.resolve().then(schedule);
    });
  };

  // ---- widget kinds ----------------------------------------------------------------------
  // Other scripts add kinds with livedash.registerKind(name, Constructor); a constructor
  // inherits livedash.Widget and implements history(), take(event), clear() and flush()
  // (flush returns false when its component is not ready yet, to be retried shortly). The
  // contract is documented in livedash.d.ts and docs/howto/widgets.md.
  var kinds = {text: TextWidget, graph: GraphWidget, data: DataWidget};
  var METHODS = ['history', 'take', 'clear', 'flush'];
  api.Widget = Widget;
  api.registerKind = function (name, ctor) {
    if (typeof name !== 'string' || !name) {
      throw new TypeError('livedash.registerKind: the kind name must be a non-empty string, got ' + String(name));
    }
    var proto = typeof ctor === 'function' && ctor.prototype;
    var missing = proto ? METHODS.filter(function (m) { return typeof proto[m] !== 'function'; }) : METHODS;
    if (!proto || !(proto instanceof Widget) || missing.length) {
      throw new TypeError('livedash.registerKind("' + name + '", ...): give a constructor that inherits ' +
        'livedash.Widget (class X extends livedash.Widget) and implements ' + METHODS.join('(), ') + '()' +
        (missing.length && proto ? '; missing: ' + missing.join(', ') : ''));
    }
    kinds[name] = ctor;
    // Elements of this kind that were rendered before it was registered are picked up now.
    if (booted) rescan();
  };
  api.isReady = isReady;
  api.schedule = function () { schedule(); };
  // Internal: for livedash's own widget kinds (widget-*.js), not part of the public API.
  api.GraphWidget = GraphWidget;
  api.extendPlot = extendPlot;
  api._dashProp = dashProp;

  // ---- discovery -----------------------------------------------------------------------
  var unknown = {}; // kinds already reported as unknown
  function scan() {
    var seen = {};
    var subs = {};
    var requestId = nextId++;
    document.querySelectorAll('[data-livedash]').forEach(function (el) {
      var spec;
      try { spec = JSON.parse(el.getAttribute('data-livedash')); } catch (err) { return; }
      // Graph-like widgets update an inner component named in the spec; others the element.
      var id = spec.target || el.id;
      if (!id) return;
      seen[id] = true;
      var w = api.widgets[id];
      if (w && w.el === el) return;
      var Kind = kinds[spec.kind];
      if (!Kind) {
        if (!unknown[spec.kind]) {
          unknown[spec.kind] = true;
          console.error('livedash: unknown widget kind "' + spec.kind + '": register it with ' +
            'livedash.registerKind("' + spec.kind + '", Constructor) in a script of your assets folder');
        }
        return;
      }
      w = new Kind(id, spec, el);
      w.request = requestId;
      api.widgets[id] = w;
      subs[spec.stream] = Math.max(subs[spec.stream] || 0, w.history());
    });
    Object.keys(api.widgets).forEach(function (id) {
      if (!seen[id]) delete api.widgets[id];
    });
    if (Object.keys(subs).length) {
      port.post({type: 'sub', id: requestId, streams: subs});
    }
  }

  function ready() {
    return window.dash_clientside && window.dash_clientside.set_props;
  }

  // When to apply. An update that finds the tab visible and idle is applied on arrival, in
  // the task that brought it: waiting for a frame costs latency, and an occluded window may
  // get no frames at all (requestAnimationFrame does not fire there although the page says
  // it is visible; measured before: p50 32 / p99 207 ms at 10 headless tabs with a 100 ms
  // timer as backup). Only under load do updates coalesce: while the renderer has not yet
  // run the work the last batch queued (Dash's render), or within a frame (16 ms) of it,
  // they wait for the end of that frame (a timer aimed at it, or the frame itself if that
  // comes first) and go as one batch. Graphs also keep one extend in flight each
  // (GraphWidget.flush). Hidden tabs apply nothing: visibilitychange catches up.
  var FRAME_MS = 16;
  var scheduled = false;
  var lastFlush = -Infinity;
  var landed = true; // the renderer ran what the last batch queued
  var dueTimer = null;
  var dueFrame = null;
  var tick = new MessageChannel();
  tick.port1.onmessage = function () {
    landed = true;
    if (scheduled && performance.now() - lastFlush >= FRAME_MS) due();
  };
  function schedule() {
    if (scheduled || document.hidden) return;
    var wait = FRAME_MS - (performance.now() - lastFlush);
    if (landed && wait <= 0) { flush(); return; }
    scheduled = true;
    if (wait > 0) {
      dueTimer = setTimeout(due, wait);
      dueFrame = requestAnimationFrame(due);
    } // else the renderer is behind: the tick calls due() once it has caught up
  }
  function due() {
    if (!scheduled || !landed) return; // not landed: the tick comes back here
    scheduled = false;
    clearTimeout(dueTimer);
    cancelAnimationFrame(dueFrame);
    flush();
  }
  function flush() {
    scheduled = false;
    if (document.hidden) return; // hidden tabs draw nothing; visibilitychange catches up
    if (!ready()) { setTimeout(schedule, 50); return; } // renderer still loading
    var before = api.stats.applied + api.stats.extends;
    var waiting = false;
    Object.keys(api.widgets).forEach(function (id) {
      var w = api.widgets[id];
      try {
        if (w.flush() === false) waiting = true;
      } catch (err) {
        console.error('livedash: could not update', id, err);
      }
    });
    if (api.stats.applied + api.stats.extends !== before) {
      // A batch went out: the next one waits for its render and the end of this frame.
      api.stats.batches += 1;
      lastFlush = performance.now();
      landed = false;
      tick.port2.postMessage(0);
    }
    if (waiting) setTimeout(schedule, 50); // a graph is not plotted yet: try again shortly
  }
  document.addEventListener('visibilitychange', function () { if (!document.hidden) schedule(); });

  var scanTimer = null;
  var booted = false;
  function rescan() {
    // Dash renders in bursts; scan once per burst.
    if (scanTimer) return;
    scanTimer = setTimeout(function () { scanTimer = null; scan(); badge(); schedule(); }, 30);
  }
  function watchDom() {
    booted = true;
    scan();
    new MutationObserver(rescan).observe(document.body, {childList: true, subtree: true});
  }

  // ---- badge ---------------------------------------------------------------------------
  var LABELS = {live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', offline: 'offline'};
  // A page places the badge with an element of this id in its layout (Dash renders it after
  // this script runs); until one appears, and on pages that place none, the client shows its
  // own, fixed in a corner (livedash.css).
  var ownBadge = null;
  function badge() {
    var el = null;
    document.querySelectorAll('#livedash-badge').forEach(function (b) {
      if (!el && b !== ownBadge) el = b;
    });
    if (el && ownBadge) { ownBadge.remove(); ownBadge = null; }
    if (!el) el = ownBadge;
    if (!el) {
      if (!document.body) return;
      el = ownBadge = document.createElement('div');
      el.id = 'livedash-badge';
      el.setAttribute('role', 'status');
      el.setAttribute('aria-live', 'polite');
      document.body.appendChild(el);
    }
    // The server answers but its store does not (Redis down): also before the first stream.
    var degraded = (api.state === 'live' || api.state === 'connecting') && api.store !== 'ok';
    // Connected, but the link is slower than the feed: live, and this many seconds late.
    var behind = !degraded && api.state === 'live' && api.behind > 0;
    var state = degraded ? 'degraded' : behind ? 'behind' : api.state;
    if (el.getAttribute('data-state') !== state) el.setAttribute('data-state', state);
    var label = degraded ? 'live feed degraded'
      : behind ? 'live, ' + api.behind + ' s behind' : LABELS[api.state] || api.state;
    // Only on change: the DOM watcher calls this, and a rewrite is a DOM change.
    if (el.textContent !== label) el.textContent = label;
    var title = degraded ? 'The server cannot reach its store; updates will resume on their own.'
      : behind ? 'Updates reach this page ' + api.behind + ' s after they were published: ' +
        'the connection is slower than the feed. Nothing is skipped.' : '';
    if (el.title !== title) el.title = title;
  }

  // ---- formatting ------------------------------------------------------------------------
  function lookup(e, path) {
    if (path === 'ts') return e[2];
    if (path === 'seq') return e[1];
    var v = e[3];
    var parts = path.split('.');
    for (var i = 0; i < parts.length; i++) {
      if (v === null || typeof v !== 'object') return undefined;
      v = v[parts[i]];
    }
    return v;
  }
  function pad(n, w) { return String(n).padStart(w || 2, '0'); }
  function localTime(ts) {
    var d = new Date(ts * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' +
      pad(d.getMilliseconds(), 3);
  }
  function xValue(field, e) {
    return field === 'ts' ? localTime(e[2]) : lookup(e, field);
  }
  function formatValue(v, spec) {
    if (v === undefined || v === null) return '';
    if (!spec) return typeof v === 'object' ? JSON.stringify(v) : String(v);
    var m = /^(,)?(?:\.(\d+))?([f%])?$/.exec(spec);
    var num = Number(v);
    if (!m || isNaN(num)) return String(v);
    var digits = m[2] === undefined ? undefined : parseInt(m[2], 10);
    if (m[3] === '%') num *= 100;
    var text = m[1]
      ? num.toLocaleString('en-US', digits === undefined ? {} : {minimumFractionDigits: digits, maximumFractionDigits: digits})
      : (digits === undefined ? String(num) : num.toFixed(digits));
    return m[3] === '%' ? text + '%' : text;
  }
  function format(template, e) {
    return template.replace(/\{\{|\}\}|\{([^{}:]+)(?::([^{}]*))?\}/g, function (m, path, spec) {
      if (m === '{{') return '{';
      if (m === '}}') return '}';
      return formatValue(lookup(e, path), spec);
    });
  }
  api.format = format;
  api.lookup = lookup;
  api.xValue = xValue;

  function boot() {
    badge();
    watchDom();
  }
  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot);
})();
