/*
 * livedash widget kind "candles" (livedash.LiveCandles): a candlestick graph and an optional
 * volume bar graph fed by candle events {t, o, h, l, c, v}.
 * Like LiveGraph, each graph is appended to with livedash.extendPlot (Plotly.extendTraces, not
 * dcc.Graph's extendData, which replays queued extends), at most one call in flight.
 */
(function () {
  'use strict';
  var api = window.livedash;
  if (!api || !api.registerKind) { console.error('livedash: load livedash.js before widget-candles.js'); return; }

  var UP = '#16a34a', DOWN = '#dc2626';
  function pad(n, w) { return String(n).padStart(w || 2, '0'); }
  function localTime(ts) {
    var d = new Date(ts * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // One dcc.Graph fed by coalesced extends, one in flight at a time.
  function Sink(graphId, window_, build) {
    this.id = graphId;
    this.window = window_;
    this.build = build;
    this.pending = [];
    this.inflight = false;
  }
  Sink.prototype.push = function (e) {
    this.pending.push(e);
    if (this.pending.length > this.window) this.pending.splice(0, this.pending.length - this.window);
  };
  Sink.prototype.plot = function () {
    var host = document.getElementById(this.id);
    var gd = host && host.querySelector('.js-plotly-plot');
    return gd && gd._fullLayout && !gd.classList.contains('dash-graph--pending') ? gd : null;
  };
  Sink.prototype.clear = function () {
    this.pending = [];
    var gd = this.plot();
    if (gd) window.Plotly.restyle(gd, this.build([]), [0]);
  };
  // Returns false when the graph is not plotted yet, the number of events sent otherwise.
  Sink.prototype.flush = function () {
    if (this.inflight || !this.pending.length) return 0;
    var gd = this.plot();
    if (!gd) return false;
    var batch = this.pending;
    this.pending = [];
    var self = this;
    this.inflight = true;
    api.extendPlot(gd, this.build(batch), [0], this.window, function () {
      self.inflight = false;
      api.schedule();
    });
    api.stats.extends += 1;
    return batch.length;
  };

  function candleUpdate(batch) {
    var pick = function (f) { return [batch.map(function (e) { return e[3][f]; })]; };
    return {
      x: [batch.map(function (e) { return localTime(e[3].t); })],
      open: pick('o'), high: pick('h'), low: pick('l'), close: pick('c')
    };
  }
  function volumeUpdate(batch) {
    return {
      x: [batch.map(function (e) { return localTime(e[3].t); })],
      y: [batch.map(function (e) { return e[3].v; })],
      'marker.color': [batch.map(function (e) { return e[3].c >= e[3].o ? UP : DOWN; })]
    };
  }

  function Candles(id, spec, el) {
    api.Widget.call(this, id, spec, el);
    this.sinks = [new Sink(spec.target, spec.window, candleUpdate)];
    if (spec.volume) this.sinks.push(new Sink(spec.volume, spec.window, volumeUpdate));
  }
  Candles.prototype = Object.create(api.Widget.prototype);
  Candles.prototype.history = function () { return this.spec.window; };
  Candles.prototype.take = function (e) {
    var d = e[3];
    if (!d || typeof d.t !== 'number') return; // not a candle
    this.sinks.forEach(function (s) { s.push(e); });
  };
  Candles.prototype.clear = function () { this.sinks.forEach(function (s) { s.clear(); }); };
  Candles.prototype.flush = function () {
    var ready = true;
    var self = this;
    this.sinks.forEach(function (s, i) {
      var batch = s.pending;
      var sent = s.flush();
      if (sent === false) ready = false;
      else if (sent && i === 0) {
        api.stats.applied += sent;
        if (api.onApply) batch.forEach(function (e) { api.onApply(self, e); });
      }
    });
    return ready ? undefined : false;
  };

  api.registerKind('candles', Candles);
})();
