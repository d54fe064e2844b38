/*
 * livedash browser client.
 *
 * Finds live components ([data-livedash] elements rendered by livedash.LiveText /
 * LiveGraph), asks the shared connection (livedash-worker.js) for their streams and
 * applies events on arrival when the tab is idle, coalesced per frame under load (see
 * schedule): values with dash_clientside.set_props, so Dash's
 * own state stays true and other callbacks can react; graph points with Plotly.extendTraces
 * on the plot (see extendPlot for why not dcc.Graph's extendData). Hidden tabs render
 * nothing and catch up in one batch when shown.
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
    stats: {messages: 0, events: 0, applied: 0, gaps: 0, extends: 0, batches: 0},
    onApply: null, // optional hook (benchmarks): function (widget, event)
    transport: null
  };
  window.livedash = api;
  api.base = base; // the routes' prefix, for widgets that fetch (time windows, replay)

  var nextId = 1;
  var port = connect();

  function connect() {
    var onMessage = function (msg) { receive(msg); };
    if (window.SharedWorker && !window.LIVEDASH_NO_SHARED_WORKER) {
      try {
        var worker = new SharedWorker(workerUrl, {name: 'livedash'});
        worker.port.onmessage = function (e) { onMessage(e.data); };
        worker.port.start();
        api.transport = 'sharedworker';
        return {post: function (m) { worker.port.postMessage(m); }};
      } catch (err) {
        console.warn('livedash: SharedWorker unavailable, using a connection per tab', err);
      }
    }
    // Fallback: run the same core in this page (one connection per tab).
    api.transport = 'page';
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
      eachWidget(msg.stream, function (w) { w.reset(msg.events); });
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
    if (api.onApply) api.onApply(this, e);
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
    var gd = this.plot();
    if (gd) {
      var empty = this.spec.y.map(function () { return []; });
      window.Plotly.restyle(gd, {x: empty, y: empty});
    }
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
    if (api.onApply) batch.forEach(function (e) { api.onApply(self, e); });
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

  // ---- widget kinds ----------------------------------------------------------------------
  // Other scripts add kinds with livedash.registerKind(name, Constructor); a constructor
  // inherits livedash.Widget and implements history(), take(event), clear() and flush()
  // (flush returns false when its component is not ready yet, to be retried shortly).
  var kinds = {text: TextWidget, graph: GraphWidget};
  api.Widget = Widget;
  api.GraphWidget = GraphWidget;
  api.registerKind = function (name, ctor) { kinds[name] = ctor; };
  api.extendPlot = extendPlot;
  api.schedule = function () { schedule(); };

  // ---- discovery -----------------------------------------------------------------------
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
      if (!Kind) { console.error('livedash: unknown component kind', spec.kind); return; }
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
  function watchDom() {
    scan();
    new MutationObserver(function () {
      // Dash renders in bursts; scan once per burst.
      if (scanTimer) return;
      scanTimer = setTimeout(function () { scanTimer = null; scan(); badge(); schedule(); }, 30);
    }).observe(document.body, {childList: true, subtree: true});
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
