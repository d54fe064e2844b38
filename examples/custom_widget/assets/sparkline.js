/*
 * The widget kind "sparkline" (examples/custom_widget/app.py): the newest `points` values of
 * the event field `field`, drawn as a line on the canvas, and the newest value as the text of
 * the Dash component `label`. Options come from widget_attrs(..., field=, points=, label=).
 *
 * Dash loads the scripts of the app's assets/ folder after livedash's client, so
 * window.livedash is there. The API is typed in livedash.d.ts (in the livedash package).
 */
(function () {
  'use strict';
  var livedash = window.livedash;

  class Sparkline extends livedash.Widget {
    constructor(id, spec, el) {
      super(id, spec, el);
      this.values = []; // the newest spec.points values, oldest first
      this.latest = null; // the newest event, for the label
      this.changed = false;
    }

    // How many past events to take when the page loads: enough to fill the line.
    history() {
      return this.spec.points;
    }

    // Called once per event, in order. Keep only what the next flush needs: a hidden tab
    // takes events for as long as it stays hidden.
    take(event) {
      var v = Number(livedash.lookup(event, this.spec.field));
      if (!isFinite(v)) return;
      this.values.push(v);
      if (this.values.length > this.spec.points) this.values.shift();
      this.latest = event;
      this.changed = true;
    }

    // The stream was reset: the newest events are taken again after this.
    clear() {
      this.values = [];
      this.latest = null;
      this.changed = true;
    }

    // At most once per frame, only while the tab is visible.
    flush() {
      if (!this.changed) return;
      // Until Dash has rendered the label, keep everything: the client calls again shortly.
      if (!livedash.isReady(this.spec.label)) return false;
      this.changed = false;
      this.draw();
      var text = this.latest ? livedash.format('{' + this.spec.field + ':.2f}', this.latest) : '—';
      // Through Dash, so that Dash's state holds the shown value and callbacks can use it.
      window.dash_clientside.set_props(this.spec.label, {children: text});
    }

    // The canvas's pixels are not React's: drawing on it directly is fine.
    draw() {
      var canvas = this.el;
      var ctx = canvas.getContext('2d');
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      var values = this.values;
      if (values.length < 2) return;
      var lo = Math.min.apply(null, values);
      var hi = Math.max.apply(null, values);
      var span = hi - lo || 1;
      var step = canvas.width / (this.spec.points - 1);
      ctx.beginPath();
      values.forEach(function (v, i) {
        var x = i * step;
        var y = canvas.height - 4 - (v - lo) / span * (canvas.height - 8);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = '#2563eb';
      ctx.lineWidth = 2;
      ctx.stroke();
    }
  }

  livedash.registerKind('sparkline', Sparkline);
})();
