/*
 * livedash graph controls: time windows, pause / resume, replay (livedash.LiveGraph with
 * controls=True, the default).
 *
 * Replaces the "graph" widget kind with a subclass of livedash.GraphWidget that keeps its
 * live path untouched (one coalesced Plotly.extendTraces in flight) and adds:
 *  - a window selector: the newest N points (live, the default), or the last 1 min / 5 min /
 *    1 h / 24 h read from /livedash/range, downsampled by the server to ~2,000 points per
 *    trace, with live points appended and points older than the window cut by time;
 *  - pause / resume: pausing freezes the view while events keep arriving (held here);
 *    resuming draws everything held in ONE extend. Zooming or panning pauses;
 *  - replay: a past range, fetched raw from /livedash/range?points=0, played through the
 *    same extend path at 1x..100x, with a clock; "Back to live" reloads the live view.
 * A hidden tab draws nothing (livedash.js skips flush); the replay clock is wall-clock
 * based, so a tab shown again catches up in one batch.
 */
(function () {
  'use strict';
  var api = window.livedash;
  if (!api || !api.GraphWidget) { console.error('livedash: load livedash.js before widget-graph-controls.js'); return; }
  var Base = api.GraphWidget;

  var HELD_CAP = 100000; // events held while paused; beyond this the view is reloaded
  var REPLAY_CAP = 200000; // events one replay may fetch
  var SPEEDS = [1, 2, 5, 10, 25, 50, 100];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  // A busy server answers a window read 429 (heavy reads full) or 503 with Retry-After: ask
  // again then, a few times, instead of leaving the chosen window unloaded.
  var BUSY_RETRIES = 8;
  function fetchJson(url, tries) {
    tries = tries || 0;
    return fetch(url, {cache: 'no-store'}).then(function (r) {
      if ((r.status === 429 || r.status === 503) && tries < BUSY_RETRIES) {
        var wait = Math.min(10, Math.max(0.2, parseFloat(r.headers.get('Retry-After')) || 1));
        return new Promise(function (ok) { setTimeout(ok, wait * 1000); })
          .then(function () { return fetchJson(url, tries + 1); });
      }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || 'HTTP ' + r.status);
        return body;
      });
    });
  }
  function q(name, value) { return '&' + name + '=' + encodeURIComponent(value); }
  function tsText(ts) { return api.xValue('ts', [null, 0, ts, {}]); }
  function pad(n) { return String(n).padStart(2, '0'); }
  function inputValue(ts) { // datetime-local wants local "YYYY-MM-DDTHH:MM:SS"
    var d = new Date(ts * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function mergeBySeq(a, b) {
    var bySeq = new Map();
    a.concat(b).forEach(function (e) { bySeq.set(e[1], e); });
    return Array.from(bySeq.values()).sort(function (x, y) { return x[1] - y[1]; });
  }

  function Graph(id, spec, el) {
    Base.call(this, id, spec, el);
    this.mode = 'live'; // live | paused | loading | replay
    this.span = null; // null: the newest spec.window points; else seconds
    this.held = []; // events that arrived while not live, oldest first
    this.heldLost = false;
    this.traceTs = null; // span mode: publish time of every plotted point, per trace
    this.appended = 0; // span mode: raw points appended since the last range load
    this.replay = null;
    this.revision = 0;
    this.pauseReason = null;
    this.ui = null;
  }
  Graph.prototype = Object.create(Base.prototype);

  // ---- data path -----------------------------------------------------------------------
  Graph.prototype.take = function (e) {
    if (this.mode === 'live' && this.span === null) return Base.prototype.take.call(this, e);
    if (this.mode === 'live') {
      this.pending.push(e);
      if (this.pending.length > HELD_CAP) { this.pending = []; this.load(); }
      return;
    }
    this.held.push(e);
    if (this.held.length > HELD_CAP) { this.held = []; this.heldLost = true; }
    this.status();
  };
  Graph.prototype.clear = function () {
    this.held = [];
    Base.prototype.clear.call(this);
    // The stream was reset (retention dropped events this tab never saw): in a time window,
    // read the window again rather than append to an emptied one.
    if (this.span !== null && this.mode === 'live') { this.traceTs = null; this.load(); }
    else this.traceTs = null;
  };
  Graph.prototype.limit = function (batch) {
    if (this.span === null || this.mode !== 'live' || !this.traceTs) return this.spec.window;
    // Keep the points inside the window by time: count, per trace, those newer than the cut.
    var cut = Date.now() / 1000 - this.span;
    var counts = this.traceTs.map(function (ts) {
      batch.forEach(function (e) { ts.push(e[2]); });
      var drop = 0;
      while (drop < ts.length && ts[drop] < cut) drop += 1;
      ts.splice(0, drop);
      return ts.length;
    });
    this.appended += batch.length;
    // Raw points pile up at the right edge; past the budget, downsample the window afresh.
    if (this.appended > (this.spec.points || 2000)) { var self = this; setTimeout(function () { self.load(); }, 0); }
    return {x: counts, y: counts};
  };
  Graph.prototype.flush = function () {
    this.mount();
    if (this.mode === 'replay') return this.replayTick();
    if (this.mode !== 'live') return;
    return this.extend();
  };
  // Every mode (newest N, a time window, a replay) appends through GraphWidget's path
  // (Plotly.extendTraces, one call in flight); limit() above keeps a time window's points
  // by time.
  Graph.prototype.extend = function () { return Base.prototype.flush.call(this); };

  // Replace the whole figure (window loads, replay start) through Dash's figure prop
  // (GraphWidget.setFigure), so State(graph, 'figure') stays what is drawn; the next extend
  // waits for the redraw (inflight), so no extend ever runs against a half-replaced figure.
  // The view autoscales to the new points, under a new uirevision.
  Graph.prototype.setFigure = function (traces) {
    this.revision += 1;
    var uirevision = this.spec.target + ':' + this.revision;
    return Base.prototype.setFigure.call(this, traces, function (layout) {
      layout.uirevision = uirevision;
      ['xaxis', 'yaxis'].forEach(function (axis) {
        layout[axis] = Object.assign({}, layout[axis] || {}, {autorange: true});
        delete layout[axis].range;
      });
      return layout;
    });
  };
  // Run fn once the plot exists and no extend or redraw of ours is in flight.
  Graph.prototype.whenIdle = function (fn) {
    var self = this;
    if (this.plot() && !this.inflight) fn();
    else setTimeout(function () { self.whenIdle(fn); }, 30);
  };

  // ---- windows -------------------------------------------------------------------------
  Graph.prototype.setSpan = function (span) {
    this.span = span;
    this.load();
  };
  // (Re)load the live view of the current window; events arriving meanwhile are held.
  Graph.prototype.load = function () {
    var self = this;
    var spec = this.spec;
    if (this.mode === 'live') this.held = this.pending.concat(this.held);
    this.pending = [];
    this.mode = 'loading';
    this.replay = null;
    this.heldLost = false;
    this.status();
    var token = {};
    this.loading = token;
    var started = performance.now();
    var url;
    if (this.span === null) {
      url = api.base + '/poll?stream=' + encodeURIComponent(spec.stream) + q('last', spec.stream + ':' + spec.window);
    } else {
      url = api.base + '/range?stream=' + encodeURIComponent(spec.stream) + q('span', this.span) +
        q('points', spec.points || 2000) + q('x', spec.x) + spec.y.map(function (f) { return q('y', f); }).join('');
    }
    return fetchJson(url).then(function (body) {
      if (self.loading !== token) return;
      self.finishLoad(body, started);
    }).catch(function (err) {
      console.error('livedash: could not load the window of', spec.target, err);
      if (self.loading === token) { self.mode = 'live'; self.pending = self.held; self.held = []; self.status(); }
    });
  };
  Graph.prototype.finishLoad = function (body, started) {
    var self = this;
    var spec = this.spec;
    if (!this.plot() || this.inflight) {
      setTimeout(function () { if (self.mode === 'loading') self.finishLoad(body, started); }, 30);
      return;
    }
    var after;
    if (this.span === null) {
      var events = mergeBySeq(body.events, []);
      after = events.length ? events[events.length - 1][1] : 0;
      this.traceTs = null;
      this.setFigure([]);
      this.pending = events;
    } else {
      after = body.last_seq;
      var traces = body.traces.map(function (t) {
        return {x: spec.x === 'ts' ? t.x.map(tsText) : t.x, y: t.y};
      });
      this.traceTs = body.traces.map(function (t) { return (t.t || t.x).slice(); });
      this.appended = 0;
      this.setFigure(traces);
      this.pending = [];
    }
    // Events held during the load that the answer did not include are drawn next.
    var newer = this.held.filter(function (e) { return e[1] > after; });
    this.held = [];
    this.pending = this.span === null ? mergeBySeq(this.pending, newer).slice(-spec.window) : newer;
    this.mode = 'live';
    this.pauseReason = null;
    this.lastLoad = {span: this.span, ms: performance.now() - started, count: body.count, since: body.since,
      points: body.traces ? body.traces.map(function (t) { return t.x.length; }) : null};
    this.status();
    api.schedule();
  };

  // ---- pause / resume ------------------------------------------------------------------
  Graph.prototype.pause = function (reason) {
    if (this.mode !== 'live') return;
    this.mode = 'paused';
    this.pauseReason = reason || 'button';
    this.held = this.pending.concat(this.held);
    this.pending = [];
    this.status();
  };
  Graph.prototype.resume = function () {
    if (this.mode !== 'paused') return;
    var gd = this.plot();
    if (gd && this.pauseReason === 'zoom') {
      // Back to autoscale first; the held batch waits for the relayout (inflight) like it
      // waits for a redraw.
      var self = this;
      this.inflight = true;
      var done = function () { self.inflight = false; api.schedule(); };
      window.Plotly.relayout(gd, {'xaxis.autorange': true, 'yaxis.autorange': true}).then(done, done);
    }
    if (this.heldLost) { this.load(); return; }
    // Everything that arrived while paused is drawn in one extend.
    this.pending = this.span === null ? this.held.slice(-this.spec.window) : this.held;
    this.held = [];
    this.mode = 'live';
    this.pauseReason = null;
    this.status();
    api.schedule();
  };

  // ---- replay --------------------------------------------------------------------------
  Graph.prototype.startReplay = function (since, until, speed) {
    var self = this;
    var spec = this.spec;
    if (this.mode === 'live') this.held = this.pending.concat(this.held);
    this.pending = [];
    this.mode = 'loading';
    var token = {};
    this.loading = token;
    this.status('loading replay…');
    var events = [];
    var page = function (after) {
      var url = api.base + '/range?stream=' + encodeURIComponent(spec.stream) + q('since', since) +
        q('until', until) + q('points', 0) + q('limit', 10000) + q('after', after);
      return fetchJson(url).then(function (body) {
        if (self.loading !== token) return null;
        events = events.concat(body.events);
        if (body.more && events.length < REPLAY_CAP) return page(body.last_seq);
        return events;
      });
    };
    return page(0).then(function (all) {
      if (!all || self.loading !== token) return;
      self.whenIdle(function () { if (self.loading === token) self.playFrom(all, since, until, speed); });
    }).catch(function (err) {
      console.error('livedash: replay failed', err);
      if (self.loading === token) self.load();
    });
  };
  Graph.prototype.playFrom = function (all, since, until, speed) {
    this.traceTs = null;
    this.setFigure([]);
    var first = all.length ? all[0][2] : since;
    this.replay = {
      events: all, next: 0, speed: speed, since: since, until: until,
      // The clock starts at the first event: no waiting through silence before it.
      start: Math.max(since, first), base: 0, startedAt: performance.now(), playing: true,
      clock: Math.max(since, first), done: false
    };
    this.mode = 'replay';
    this.status();
    api.schedule();
  };
  Graph.prototype.replayClock = function () {
    var r = this.replay;
    var run = r.playing ? (performance.now() - r.startedAt) / 1000 * r.speed : 0;
    return r.start + r.base + run;
  };
  Graph.prototype.setSpeed = function (speed) {
    var r = this.replay;
    if (!r) return;
    r.base = this.replayClock() - r.start; // keep the clock where it is, change its rate
    r.startedAt = performance.now();
    r.speed = speed;
    this.status();
  };
  Graph.prototype.togglePlay = function () {
    var r = this.replay;
    if (!r || r.done) return;
    r.base = this.replayClock() - r.start;
    r.startedAt = performance.now();
    r.playing = !r.playing;
    this.status();
    api.schedule();
  };
  Graph.prototype.replayTick = function () {
    var r = this.replay;
    if (!r) return;
    var clock = Math.min(this.replayClock(), r.until);
    while (r.next < r.events.length && r.events[r.next][2] <= clock) {
      Base.prototype.take.call(this, r.events[r.next]);
      r.next += 1;
    }
    r.clock = clock;
    if (r.next >= r.events.length && !this.pending.length && !this.inflight) {
      r.done = true;
      r.playing = false;
    }
    var result = this.extend();
    if (r.playing) setTimeout(api.schedule, 16); // keep the clock moving
    this.status();
    return result;
  };

  // ---- the toolbar and the replay bar --------------------------------------------------
  Graph.prototype.mount = function () {
    if (!this.spec.controls) return;
    var gd = this.plot();
    if (gd && !gd.__livedashControls) {
      gd.__livedashControls = true;
      var self = this;
      // Zooming or panning pauses (the user is looking at something); autorange does not.
      gd.on('plotly_relayout', function (ev) {
        var zoomed = Object.keys(ev || {}).some(function (k) { return /^[xy]axis\d*\.range/.test(k); });
        if (zoomed && self.mode === 'live') self.pause('zoom');
      });
    }
    if (this.ui && document.body.contains(this.ui.bar)) return;
    var host = this.el.querySelector('.livedash-graph-toolbar');
    var below = this.el.querySelector('.livedash-graph-replay');
    if (!host || !below) return;
    this.build(host, below);
  };
  Graph.prototype.build = function (host, below) {
    var self = this;
    var spec = this.spec;
    host.textContent = '';
    below.textContent = '';
    var bar = el('div', {'class': 'ldg-bar', role: 'toolbar', 'aria-label': 'graph controls'});
    var windows = el('div', {'class': 'ldg-windows', role: 'group', 'aria-label': 'time window'});
    var choices = [['Last ' + spec.window, null]].concat(spec.windows || []);
    var buttons = choices.map(function (c) {
      var b = el('button', {type: 'button', 'class': 'ldg-window', 'data-span': c[1] === null ? 'points' : String(c[1])}, c[0]);
      b.addEventListener('click', function () { self.setSpan(c[1]); });
      windows.appendChild(b);
      return b;
    });
    var pauseBtn = el('button', {type: 'button', 'class': 'ldg-pause'}, 'Pause');
    pauseBtn.addEventListener('click', function () {
      if (self.mode === 'paused') self.resume(); else if (self.mode === 'live') self.pause('button');
    });
    var replayBtn = el('button', {type: 'button', 'class': 'ldg-replay-open'}, 'Replay…');
    var state = el('span', {'class': 'ldg-state', 'aria-live': 'polite'});
    bar.appendChild(windows);
    bar.appendChild(pauseBtn);
    bar.appendChild(replayBtn);
    bar.appendChild(state);
    host.appendChild(bar);

    var rbar = el('div', {'class': 'ldg-replaybar', hidden: ''});
    var from = el('input', {type: 'datetime-local', step: '1', 'class': 'ldg-from', 'aria-label': 'replay from'});
    var to = el('input', {type: 'datetime-local', step: '1', 'class': 'ldg-to', 'aria-label': 'replay to'});
    var speed = el('select', {'class': 'ldg-speed', 'aria-label': 'replay speed'});
    SPEEDS.forEach(function (s) { var o = el('option', {value: String(s)}, s + '×'); speed.appendChild(o); });
    speed.value = '10';
    var play = el('button', {type: 'button', 'class': 'ldg-play'}, '▶ Play');
    var clock = el('span', {'class': 'ldg-clock'}, '');
    var progress = el('progress', {'class': 'ldg-progress', max: '1', value: '0'});
    var live = el('button', {type: 'button', 'class': 'ldg-live'}, 'Back to live');
    [el('span', {'class': 'ldg-label'}, 'Replay'), from, el('span', {}, '→'), to, speed, play, clock, progress, live]
      .forEach(function (n) { rbar.appendChild(n); });
    below.appendChild(rbar);

    replayBtn.addEventListener('click', function () {
      // Default range: what the graph shows now (the zoomed range if zoomed), else 5 minutes.
      var range = self.shownRange();
      from.value = inputValue(range[0]);
      to.value = inputValue(range[1]);
      rbar.hidden = false;
    });
    play.addEventListener('click', function () {
      if (self.mode === 'replay' && self.replay && !self.replay.done) { self.togglePlay(); return; }
      var since = new Date(from.value).getTime() / 1000;
      var until = new Date(to.value).getTime() / 1000;
      if (!(since < until)) { self.status('pick a range: from before to'); return; }
      self.startReplay(since, until, Number(speed.value));
    });
    speed.addEventListener('change', function () { self.setSpeed(Number(speed.value)); });
    live.addEventListener('click', function () { rbar.hidden = true; self.load(); });
    this.ui = {bar: bar, buttons: buttons, pause: pauseBtn, state: state, rbar: rbar,
      play: play, clock: clock, progress: progress, from: from, to: to, speed: speed};
    this.status();
  };
  Graph.prototype.shownRange = function () {
    var now = Date.now() / 1000;
    var gd = this.plot();
    var axis = gd && gd._fullLayout && gd._fullLayout.xaxis;
    if (this.spec.x === 'ts' && axis && axis.range && this.pauseReason === 'zoom') {
      var a = new Date(String(axis.range[0]).replace(' ', 'T')).getTime() / 1000;
      var b = new Date(String(axis.range[1]).replace(' ', 'T')).getTime() / 1000;
      if (a < b) return [Math.floor(a), Math.ceil(Math.min(b, now))];
    }
    return [Math.floor(now - (this.span || 300)), Math.ceil(now)];
  };
  Graph.prototype.status = function (text) {
    var ui = this.ui;
    if (!ui) return;
    var span = this.span;
    ui.buttons.forEach(function (b) {
      var mine = b.getAttribute('data-span') === (span === null ? 'points' : String(span));
      b.setAttribute('aria-pressed', mine ? 'true' : 'false');
    });
    var mode = this.mode;
    this.el.setAttribute('data-mode', mode);
    ui.pause.textContent = mode === 'paused' ? '▶ Resume' : '❚❚ Pause';
    ui.pause.disabled = mode !== 'live' && mode !== 'paused';
    var msg = text || '';
    if (!text && mode === 'paused') {
      msg = (this.pauseReason === 'zoom' ? 'paused (zoomed)' : 'paused') +
        (this.held.length ? ' · ' + this.held.length + ' new' : '');
    } else if (!text && mode === 'loading') msg = 'loading…';
    ui.state.textContent = msg;
    var r = this.replay;
    if (mode === 'replay' && r) {
      ui.rbar.hidden = false;
      var clock = r.clock || r.start;
      ui.clock.textContent = tsText(clock).slice(11, 19) + ' · ' + r.speed + '×' + (r.done ? ' · finished' : r.playing ? '' : ' · paused');
      var total = r.events.length ? r.events[r.events.length - 1][2] - r.start : 0;
      ui.progress.value = r.done ? 1 : total > 0 ? Math.min(1, (clock - r.start) / total) : 0;
      ui.play.textContent = r.done ? '↻ Again' : r.playing ? '❚❚ Pause' : '▶ Play';
      if (r.done) r.playing = false;
    } else if (ui.rbar) {
      ui.play.textContent = '▶ Play';
    }
  };

  // Styles live with the widget, so the graph controls need no edit of livedash.css.
  var css = [
    '.livedash-graph-toolbar{display:flex;justify-content:flex-end;min-height:28px}',
    '.ldg-bar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;font:12px system-ui,-apple-system,"Segoe UI",sans-serif}',
    '.ldg-windows{display:inline-flex;border:1px solid #d1d5db;border-radius:6px;overflow:hidden}',
    '.ldg-windows button{border:0;border-right:1px solid #d1d5db;background:#fff;padding:3px 8px;cursor:pointer;font:inherit;color:#374151}',
    '.ldg-windows button:last-child{border-right:0}',
    '.ldg-windows button[aria-pressed=true]{background:#2563eb;color:#fff}',
    '.ldg-bar>button,.ldg-replaybar button,.ldg-replaybar select,.ldg-replaybar input{border:1px solid #d1d5db;border-radius:6px;background:#fff;padding:3px 8px;font:inherit;color:#374151;cursor:pointer}',
    '.ldg-bar>button:disabled{opacity:.5;cursor:default}',
    '.ldg-state{color:#b45309;min-width:1em}',
    '.livedash-graph[data-mode=paused] .ldg-pause{background:#fef3c7;border-color:#f59e0b}',
    '.ldg-replaybar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;padding:6px 8px;margin-top:4px;background:#f3f4f6;border-radius:6px;font:12px system-ui,-apple-system,"Segoe UI",sans-serif}',
    '.ldg-replaybar[hidden]{display:none}',
    '.ldg-label{font-weight:600;color:#1f2937}',
    '.ldg-clock{font-variant-numeric:tabular-nums;min-width:13em;color:#1f2937}',
    '.ldg-progress{width:120px}',
    '.ldg-live{margin-left:auto}'
  ].join('\n');
  var style = document.createElement('style');
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);

  api.registerKind('graph', Graph);
})();
