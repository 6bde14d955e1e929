// Counters and histograms for the hot path (every request, every store
// call). prom-client's inc() and observe() hash their labels object on each
// call (about 1 µs apiece here, which made the metrics 5-7 % of a manifest
// GET); here a label set's series is looked up once and kept by the caller,
// and an update is a few additions. They render through prom-client's
// Registry (text format, cluster aggregation) by its metric contract: a
// name, help, type, aggregator and get().
import type { Metric, MetricValueWithName, Registry } from 'prom-client';

type LabelValues<N extends string> = Record<N, string | number>;

abstract class LeanMetric<N extends string, S extends { labels: LabelValues<N> }> {
  readonly aggregator = 'sum';
  private readonly all = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly N[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these labels, made on first use; keep it where the labels are fixed. */
  series(labels: LabelValues<N>): S {
    const key = this.labelNames.map((n) => labels[n]).join('\u0001');
    let s = this.all.get(key);
    if (s === undefined) {
      s = this.create({ ...labels });
      this.all.set(key, s);
    }
    return s;
  }

  protected abstract create(labels: LabelValues<N>): S;
  protected abstract values(s: S): MetricValueWithName<string>[];

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValueWithName<string>[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.all.values()].flatMap((s) => this.values(s)) };
  }

  abstract readonly type: 'counter' | 'histogram';
}

export class CounterSeries<N extends string> {
  value = 0;
  constructor(readonly labels: LabelValues<N>) {}
  inc(by = 1): void {
    this.value += by;
  }
}

export class LeanCounter<N extends string> extends LeanMetric<N, CounterSeries<N>> {
  readonly type = 'counter';
  protected create(labels: LabelValues<N>): CounterSeries<N> {
    return new CounterSeries(labels);
  }
  protected values(s: CounterSeries<N>): MetricValueWithName<string>[] {
    return [{ labels: s.labels, value: s.value, metricName: this.name }];
  }
}

export class HistogramSeries<N extends string> {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last one is above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    readonly labels: LabelValues<N>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

export class LeanHistogram<N extends string> extends LeanMetric<N, HistogramSeries<N>> {
  readonly type = 'histogram';
  constructor(
    name: string,
    help: string,
    labelNames: readonly N[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
  }
  protected create(labels: LabelValues<N>): HistogramSeries<N> {
    return new HistogramSeries(labels, this.bounds);
  }
  protected values(s: HistogramSeries<N>): MetricValueWithName<string>[] {
    const out: MetricValueWithName<string>[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += s.counts[i]!;
      out.push({ labels: { le: bound, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
    });
    out.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
    out.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
    out.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    return out;
  }
}
