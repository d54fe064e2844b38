/**
 * Types of the livedash browser client: `window.livedash`, set by livedash.js on every page
 * of an app that called `hub.init_app(app)`.
 *
 * This is the public API for custom widgets (see docs/howto/widgets.md): a kind registered
 * with `livedash.registerKind(name, Constructor)` is instantiated for every element whose
 * `data-livedash` attribute (from `livedash.widget_attrs(kind, stream, ...)` in Python) names
 * that kind. Members marked `@internal` are used by livedash's own widgets and benchmarks and
 * may change in any release.
 */

/** An event as widgets receive it: `[stream, seq, ts, data]`. */
export type LiveEvent = [
  stream: string,
  /** Strictly increasing per stream, assigned by the store. */
  seq: number,
  /** Publish time, epoch seconds. */
  ts: number,
  /** The JSON object that was published. */
  data: Record<string, unknown>,
];

/**
 * What a live element says about itself in its `data-livedash` attribute: its kind, the
 * stream it follows and the kind's own options (`widget_attrs(kind, stream, **options)`).
 */
export interface WidgetSpec {
  kind: string;
  stream: string;
  /** The id of the Dash component the widget updates, when it is not the element's own. */
  target?: string;
  /** The kind's own options (`any`, so that untyped JavaScript can read them freely). */
  [option: string]: any;
}

/**
 * Base class of every widget kind. The client creates one per live element it finds and
 * calls, in this order: `history()` once; `take(event)` for each event of the stream, oldest
 * first, each exactly once (the newest `history()` events first, then live ones); `flush()`
 * at most once per animation frame while the tab is visible, to show what was taken;
 * `clear()` when the stream was reset (events this tab never saw were dropped by
 * retention), before the newest events are taken again.
 *
 * `take` should only keep what the next `flush` needs (a hidden tab takes events for as long
 * as it stays hidden and flushes once when shown); `flush` does the drawing, with
 * `window.dash_clientside.set_props` for Dash components (so Dash's state stays true and
 * other callbacks can react) or on DOM that React does not render.
 */
export declare abstract class Widget<S extends WidgetSpec = WidgetSpec> {
  constructor(id: string, spec: S, el: HTMLElement);
  /** `spec.target` or the element's id: the key in `livedash.widgets`. */
  readonly id: string;
  readonly spec: S;
  /** The element that carries the `data-livedash` attribute. */
  readonly el: HTMLElement;
  /** Seq of the newest event taken; 0 before the first and after a reset. */
  readonly lastSeq: number;
  /** True once the history has been taken; live events that came earlier wait until then. */
  readonly started: boolean;
  /** How many past events to take when the page loads (0: only new ones). */
  abstract history(): number;
  /** Keep an event for the next flush. */
  abstract take(event: LiveEvent): void;
  /** Forget everything taken: the stream was reset. Newer events follow. */
  abstract clear(): void;
  /**
   * Show what was taken since the last flush. Return `false` when the component is not
   * ready yet (for example Dash has not rendered it: see `livedash.isReady`); the client calls
   * again shortly and keeps every event meanwhile.
   */
  abstract flush(): boolean | void;
}

/** A widget kind: a class that extends `livedash.Widget`. */
export type WidgetConstructor<S extends WidgetSpec = WidgetSpec> =
  new (id: string, spec: S, el: HTMLElement) => Widget<S>;

/** What widgets use of Dash's clientside API (`window.dash_clientside`, set by Dash). */
export interface DashClientside {
  /** Set props of the Dash component `id`, as a callback's output would. */
  set_props(id: string, props: Record<string, unknown>): void;
  [name: string]: any;
}

/** Counters since the page loaded (for dashboards of the dashboard, and tests). */
export interface LivedashStats {
  /** Messages from the connection. */
  readonly messages: number;
  /** Events received. */
  readonly events: number;
  /** Events shown by widgets. */
  readonly applied: number;
  /** Times a stream skipped a seq (events this tab did not get). */
  readonly gaps: number;
  /** Graph extends (one per batch of points). */
  readonly extends: number;
  /** Batches: flushes that showed something. */
  readonly batches: number;
  /** LiveData `data` updates. */
  readonly updates: number;
  /** LiveData updates that said `reset: true`. */
  readonly resets: number;
}

export interface Livedash {
  /** The shared connection's state, as the badge shows it. */
  readonly state: 'connecting' | 'live' | 'reconnecting' | 'offline';
  /** `'degraded'` while the server cannot reach its store (Redis down). */
  readonly store: 'ok' | 'degraded';
  /** Seconds the newest events arrived after publication, when 3 or more; else 0. */
  readonly behind: number;
  /** `'sharedworker'`: one connection for all tabs of the browser; `'page'`: one per tab. */
  readonly transport: 'sharedworker' | 'page' | null;
  /** The routes' prefix (`/livedash`), for widgets that fetch (`base + '/range?...'`). */
  readonly base: string;
  /** The live widgets of the page, by id. */
  readonly widgets: Readonly<Record<string, Widget>>;
  readonly stats: LivedashStats;

  /** The base class of widget kinds. */
  readonly Widget: typeof Widget;
  /**
   * Add a widget kind. Elements of that kind, already rendered or rendered later, get a widget.
   * Throws a `TypeError` when `ctor` does not extend `livedash.Widget` or lacks one of
   * `history`, `take`, `clear`, `flush`. Registering a name again replaces the kind for
   * elements found from then on.
   */
  registerKind<S extends WidgetSpec>(name: string, ctor: WidgetConstructor<S>): void;
  /**
   * True once Dash has rendered component `id` and loaded the callbacks that read it: a
   * `set_props` before then would be lost. Return `false` from `flush` until it is.
   */
  isReady(id: string): boolean;
  /** Ask for a flush soon (after a widget's own asynchronous work finished). */
  schedule(): void;
  /**
   * Fill a template from an event, as LiveText does: `{field}`, `{a.b}`, `{ts}`, `{seq}`,
   * `{x:.2f}`, `{n:,}`, `{share:.1%}`; `{{` and `}}` for braces. Always text, never HTML.
   */
  format(template: string, event: LiveEvent): string;
  /** A field of an event: `'ts'`, `'seq'` or a dotted path into its data; undefined if absent. */
  lookup(event: LiveEvent, path: string): unknown;

  /** @internal livedash's graph widget, which its own graph kinds extend. */
  readonly GraphWidget: unknown;
  /** @internal Plotly.extendTraces with one call in flight, for livedash's graph kinds. */
  extendPlot(gd: unknown, update: unknown, indices: number[], maxPoints: unknown, done: () => void): void;
  /** @internal A graph's x value of an event (local time text for `'ts'`). */
  xValue(field: string, event: LiveEvent): unknown;
  /** @internal A prop of a Dash component in Dash's state. */
  _dashProp(id: string, prop: string): unknown;
  /** @internal Benchmark and test hook, called per event shown. */
  _onApply: ((widget: Widget, event: LiveEvent) => void) | null;
  /** @internal Old name of `_onApply`. */
  onApply: ((widget: Widget, event: LiveEvent) => void) | null;
}

declare global {
  interface Window {
    livedash: Livedash;
    dash_clientside: DashClientside;
  }
}
