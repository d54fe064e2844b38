/*
 * livedash widget kind "alerts" (livedash.LiveAlerts): a banner while any alert rule fires
 * and the list of firing rules, from the transitions on the alerts stream (published by
 * livedash.alerts.Alerts on the server, once per deployment). A rule leaves the banner and
 * the list when its "resolved" event arrives. Rendered with set_props, as Dash components.
 */
(function () {
  'use strict';
  var api = window.livedash;
  if (!api || !api.registerKind) { console.error('livedash: load livedash.js before widget-alerts.js'); return; }

  function h(type, props, children) {
    return {type: type, namespace: 'dash_html_components', props: Object.assign({children: children}, props || {})};
  }
  function num(v) {
    if (typeof v !== 'number') return String(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
  }
  function time(ts) { return ts ? api.xValue('ts', [null, 0, ts, {}]).slice(11, 19) : ''; }

  function Alerts(id, spec, el) {
    api.Widget.call(this, id, spec, el);
    this.rules = {}; // rule name -> newest transition event
    this.dirty = true;
  }
  Alerts.prototype = Object.create(api.Widget.prototype);
  Alerts.prototype.history = function () { return this.spec.history || 200; };
  Alerts.prototype.take = function (e) {
    var name = e[3] && e[3].rule;
    if (typeof name !== 'string') return;
    this.rules[name] = e;
    this.dirty = true;
  };
  Alerts.prototype.clear = function () { this.rules = {}; this.dirty = true; };
  Alerts.prototype.firing = function () {
    var rules = this.rules;
    return Object.keys(rules).map(function (k) { return rules[k]; })
      .filter(function (e) { return e[3].state === 'firing'; })
      .sort(function (a, b) { return a[1] - b[1]; });
  };
  Alerts.prototype.flush = function () {
    if (!this.dirty || !this.started) return;
    this.dirty = false;
    var firing = this.firing();
    var children;
    if (!firing.length) {
      children = [h('Div', {className: 'livedash-alerts-none'}, 'No active alerts')];
    } else {
      var names = firing.map(function (e) { return e[3].rule; });
      var banner = h('Div', {className: 'livedash-alerts-banner', role: 'alert'},
        '⚠ ' + firing.length + (firing.length === 1 ? ' alert firing: ' : ' alerts firing: ') + names.join(', '));
      var items = firing.map(function (e) {
        var d = e[3];
        return h('Li', {className: 'livedash-alert livedash-alert--' + (d.severity || 'warning'), key: d.rule}, [
          h('Span', {className: 'livedash-alert-name'}, d.rule),
          h('Span', {className: 'livedash-alert-detail'},
            d.field + ' = ' + num(d.value) + ' (' + d.condition + ')' + (d.since ? ' since ' + time(d.since) : ''))
        ]);
      });
      children = [banner, h('Ul', {className: 'livedash-alerts-list'}, items)];
    }
    window.dash_clientside.set_props(this.id, {children: children});
    this.el.setAttribute('data-firing', String(firing.length));
    api.stats.applied += 1;
  };

  var css = [
    '.livedash-alerts{font:13px system-ui,-apple-system,"Segoe UI",sans-serif;margin:8px 0}',
    '.livedash-alerts-none{color:#6b7280}',
    '.livedash-alerts-banner{position:sticky;top:0;z-index:900;background:#dc2626;color:#fff;padding:8px 12px;border-radius:6px;font-weight:600;box-shadow:0 2px 6px rgba(0,0,0,.2)}',
    '.livedash-alerts-list{list-style:none;margin:6px 0 0;padding:0}',
    '.livedash-alert{display:flex;gap:10px;padding:4px 8px;border-left:4px solid #f59e0b;background:#fffbeb;margin-bottom:4px}',
    '.livedash-alert--critical{border-left-color:#dc2626;background:#fef2f2}',
    '.livedash-alert-name{font-weight:600;color:#1f2937}',
    '.livedash-alert-detail{color:#4b5563;font-variant-numeric:tabular-nums}'
  ].join('\n');
  var style = document.createElement('style');
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);

  api.registerKind('alerts', Alerts);
})();
