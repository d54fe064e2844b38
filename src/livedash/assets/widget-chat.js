/*
 * livedash widget kind "chat" (livedash.LiveChatLog): the newest N messages of a stream.
 * Messages are Dash html components whose children are strings: React renders them as text
 * nodes, so an HTML or script payload shows literally and never runs.
 */
(function () {
  'use strict';
  var api = window.livedash;
  if (!api || !api.registerKind) { console.error('livedash: load livedash.js before widget-chat.js'); return; }

  function h(type, props) { return {type: type, namespace: 'dash_html_components', props: props}; }
  function pad(n) { return String(n).padStart(2, '0'); }
  function hhmm(ts) {
    var d = new Date(ts * 1000);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function text(v) { return v === undefined || v === null ? '' : String(v); }

  function ChatLog(id, spec, el) {
    api.Widget.call(this, id, spec, el);
    this.messages = [];
    this.dirty = true; // shows the empty-room hint once the (possibly empty) history is in
    this.taken = [];
  }
  ChatLog.prototype = Object.create(api.Widget.prototype);
  ChatLog.prototype.history = function () { return this.spec.history; };
  ChatLog.prototype.take = function (e) {
    this.messages.push(e);
    if (this.messages.length > this.spec.history) this.messages.splice(0, this.messages.length - this.spec.history);
    this.taken.push(e);
    if (this.taken.length > this.spec.history) this.taken.splice(0, this.taken.length - this.spec.history);
    this.dirty = true;
  };
  ChatLog.prototype.clear = function () { this.messages = []; this.dirty = true; };
  ChatLog.prototype.flush = function () {
    if (!this.dirty || !this.started) return;
    var spec = this.spec;
    var el = document.getElementById(this.id);
    // Follow the conversation unless the reader scrolled up to read older messages.
    var atBottom = !el || el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    var children = this.messages.map(function (e) {
      return h('Div', {className: 'livedash-msg', children: [
        h('Span', {className: 'livedash-msg-user', children: text(api.lookup(e, spec.user))}),
        h('Span', {className: 'livedash-msg-time', children: hhmm(e[2])}),
        h('Div', {className: 'livedash-msg-text', children: text(api.lookup(e, spec.text))})
      ]});
    });
    if (!children.length) {
      children = [h('Div', {className: 'livedash-chat-empty', children: 'No messages yet. Say hello!'})];
    }
    window.dash_clientside.set_props(this.id, {children: children});
    this.dirty = false;
    if (atBottom && el) {
      // React renders after this call returns; scroll once the new rows are in the DOM.
      setTimeout(function () { el.scrollTop = el.scrollHeight; }, 0);
    }
    var self = this;
    api.stats.applied += this.taken.length;
    if (api.onApply) this.taken.forEach(function (e) { api.onApply(self, e); });
    this.taken = [];
  };

  api.registerKind('chat', ChatLog);
})();
