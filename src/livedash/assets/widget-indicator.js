/*
 * livedash widget kind "indicator" (livedash.LiveIndicator): a KPI tile showing the newest
 * value of one field, with a CSS level class chosen by thresholds (ok / warn / danger ...).
 */
(function () {
  'use strict';
  var api = window.livedash;
  if (!api || !api.registerKind) { console.error('livedash: load livedash.js before widget-indicator.js'); return; }

  var PREFIXES = ['', 'k', 'M', 'G', 'T', 'P'];
  function si(v) {
    if (!isFinite(v)) return '';
    var i = 0;
    while (Math.abs(v) >= 1000 && i < PREFIXES.length - 1) { v /= 1000; i += 1; }
    var digits = i === 0 || Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
    return v.toFixed(digits) + ' ' + PREFIXES[i];
  }

  function Indicator(id, spec, el) {
    api.Widget.call(this, id, spec, el);
    this.latest = null;
    this.shownText = null;
    this.shownClass = null;
  }
  Indicator.prototype = Object.create(api.Widget.prototype);
  Indicator.prototype.history = function () { return 1; };
  Indicator.prototype.take = function (e) { this.latest = e; };
  Indicator.prototype.clear = function () { this.latest = null; };
  Indicator.prototype.level = function (e) {
    var levels = this.spec.levels || [];
    if (!levels.length) return null;
    var v = Number(api.lookup(e, this.spec.value));
    var level = 'ok';
    // Levels are sorted by limit; the highest limit the value is above wins.
    levels.forEach(function (pair) { if (v > pair[1]) level = pair[0]; });
    return level;
  };
  Indicator.prototype.flush = function () {
    var e = this.latest;
    if (!e) return;
    this.latest = null;
    var shown = e;
    if (this.spec.si) {
      // Show the value with an SI prefix (1.2 M): rates and sizes read at a glance.
      var data = Object.assign({}, e[3]);
      data[this.spec.value] = si(Number(api.lookup(e, this.spec.value)));
      shown = [e[0], e[1], e[2], data];
    }
    var text = api.format(this.spec.template, shown);
    if (text !== this.shownText) {
      window.dash_clientside.set_props(this.spec.text, {children: text});
      this.shownText = text;
    }
    var level = this.level(e);
    var cls = this.spec.base + (level ? ' livedash-kpi--' + level : '');
    if (cls !== this.shownClass) {
      window.dash_clientside.set_props(this.id, {className: cls});
      this.shownClass = cls;
    }
    api.stats.applied += 1;
    if (api.onApply) api.onApply(this, e);
  };

  api.registerKind('indicator', Indicator);
})();
