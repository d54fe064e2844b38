/*
 * livedash widget kind "table" (livedash.LiveTable): rows from events, in three modes:
 *   replace - the rows of the newest event (a top-N list)
 *   upsert  - one row per key, updated in place; the `flash` cell flashes green/red as it moves
 *   append  - newest rows first, at most max_rows (a tape)
 * Cells are Dash html components whose children are strings, so text stays text.
 */
(function () {
  'use strict';
  var api = window.livedash;
  if (!api || !api.registerKind) { console.error('livedash: load livedash.js before widget-table.js'); return; }

  function h(type, props) { return {type: type, namespace: 'dash_html_components', props: props}; }
  function pad(n, w) { return String(n).padStart(w || 2, '0'); }
  function clock(ts) {
    var d = new Date(ts * 1000);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' +
      pad(d.getMilliseconds(), 3);
  }

  function Table(id, spec, el) {
    api.Widget.call(this, id, spec, el);
    this.current = [];   // replace / append: row records in display order
    this.byKey = {};     // upsert: key -> {row, dir, changed, flip}
    this.keys = (spec.order || []).slice();
    this.dirty = false;
    this.taken = [];     // events since the last draw (for the onApply hook)
    this.lastDraw = 0;
    this.timer = null;
  }
  Table.prototype = Object.create(api.Widget.prototype);
  Table.prototype.history = function () {
    if (this.spec.mode === 'replace') return 1;
    if (this.spec.mode === 'append') return this.spec.max_rows;
    return 200; // upsert: enough recent events to have seen every key
  };
  Table.prototype.rowsOf = function (e) {
    var rows = this.spec.rows ? api.lookup(e, this.spec.rows) : e[3];
    if (rows === undefined || rows === null) return [];
    if (!Array.isArray(rows)) rows = [rows];
    // Each row is read like an event, so `ts` / `seq` columns show the event's own.
    return rows.filter(function (r) { return r !== null && typeof r === 'object'; })
      .map(function (r) { return [e[0], e[1], e[2], r]; });
  };
  Table.prototype.take = function (e) {
    var spec = this.spec;
    var rows = this.rowsOf(e);
    var self = this;
    if (spec.mode === 'replace') {
      this.current = rows;
    } else if (spec.mode === 'append') {
      this.current = rows.reverse().concat(this.current).slice(0, spec.max_rows);
    } else {
      rows.forEach(function (r) {
        var k = String(api.lookup(r, spec.key));
        var prev = self.byKey[k];
        var dir = prev ? prev.dir : null;
        var changed = false;
        if (spec.flash && prev) {
          var a = Number(api.lookup(prev.row, spec.flash));
          var b = Number(api.lookup(r, spec.flash));
          if (b > a) { dir = 'up'; changed = true; } else if (b < a) { dir = 'down'; changed = true; }
        }
        if (!prev && self.keys.indexOf(k) < 0) self.keys.push(k);
        self.byKey[k] = {row: r, dir: dir, changed: changed || (prev ? prev.changed : false),
          flip: prev ? prev.flip : 0};
      });
    }
    this.dirty = true;
    this.taken.push(e);
    if (this.taken.length > 1000) this.taken.splice(0, this.taken.length - 1000); // hidden tab
  };
  Table.prototype.clear = function () {
    this.current = [];
    this.byKey = {};
    this.keys = (this.spec.order || []).slice();
    this.dirty = true;
  };
  Table.prototype.cell = function (col, r, flash) {
    var v = api.lookup(r, col.field);
    var text;
    if (col.format === 'time') text = v === undefined || v === null ? '' : clock(Number(v));
    else text = api.format('{' + col.field + (col.format ? ':' + col.format : '') + '}', r);
    if (/^-0(\.0+)?%?$/.test(text)) text = text.slice(1); // rounding leaves no sign
    var cls = 'livedash-align-' + col.align + (flash && col.field === this.spec.flash ? ' ' + flash : '');
    if (col.signed) {
      var n = Number(v);
      if (n > 0) cls += ' livedash-pos'; else if (n < 0) cls += ' livedash-neg';
    }
    return h('Td', {children: text, className: cls});
  };
  // `flash` is the class of the flashing cell (the column named by spec.flash).
  Table.prototype.row = function (r, flash) {
    var self = this;
    return h('Tr', {children: this.spec.columns.map(function (c) { return self.cell(c, r, flash); })});
  };
  Table.prototype.flush = function () {
    if (!this.dirty) return;
    var wait = this.spec.throttle - (Date.now() - this.lastDraw);
    if (wait > 0) {
      // Redraw later with everything that arrived meanwhile.
      if (!this.timer) {
        var self = this;
        this.timer = setTimeout(function () { self.timer = null; api.schedule(); }, wait);
      }
      return;
    }
    var spec = this.spec;
    var self = this;
    var trs;
    if (spec.mode === 'upsert') {
      trs = this.keys.filter(function (k) { return self.byKey[k]; }).map(function (k) {
        var entry = self.byKey[k];
        // Alternate two identical animations so every change restarts the flash.
        if (entry.changed) { entry.flip = 1 - entry.flip; entry.changed = false; }
        var cls = entry.dir ? 'livedash-flash-' + entry.dir + '-' + entry.flip : '';
        return self.row(entry.row, cls);
      });
    } else {
      trs = this.current.map(function (r) { return self.row(r, ''); });
    }
    window.dash_clientside.set_props(spec.body, {children: trs});
    this.dirty = false;
    this.lastDraw = Date.now();
    api.stats.applied += this.taken.length;
    if (api.onApply) this.taken.forEach(function (e) { api.onApply(self, e); });
    this.taken = [];
  };

  api.registerKind('table', Table);
})();
