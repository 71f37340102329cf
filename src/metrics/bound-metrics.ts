// Counters and histograms whose children are bound once and then cost one add (a counter) or a
// short bucket search and three adds (a histogram) — no label object, validation or hashing per
// call, which prom-client's own children do on every inc()/observe(). They are registered in the
// prom-client Registry as metrics of its shape (`name`, `type`, `get()`), so the exposition is
// prom-client's (a unit test compares the text with prom-client's own Histogram). Measured per
// call (bun, 2 shared cores; test/unit/metrics-registry.test.ts prints it): inc 0.012 µs bound vs
// 0.59 µs prom-client's child, observe 0.048 µs vs 0.72 µs.

export interface CounterChild {
  inc(by?: number): void;
}

export interface HistogramChild {
  observe(value: number): void;
}

/** A counter: `labels(...)` binds a child once (keep it); `inc()` on the counter itself when it has no labels. */
export interface Counter<L extends string = string> extends CounterChild {
  readonly name: string;
  labels(...values: string[]): CounterChild;
  /** Drops every child (collected counters set their totals again after it). */
  reset(): void;
  /** @internal label names, for type-checking callers' label lists. */
  readonly labelNames: readonly L[];
}

export interface Histogram<L extends string = string> extends HistogramChild {
  readonly name: string;
  labels(...values: string[]): HistogramChild;
  reset(): void;
  readonly labelNames: readonly L[];
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** The shape prom-client's Registry formats (registerMetric + get()). */
interface RegistryMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }>;
}

class CounterCell implements CounterChild {
  value = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(by = 1): void {
    if (!(by >= 0)) throw new RangeError(`a counter only goes up: inc(${by})`);
    this.value += by;
  }
}

function labelObject(names: readonly string[], values: readonly string[], metric: string): Record<string, string> {
  if (values.length !== names.length) throw new RangeError(`${metric}: expected ${names.length} label values (${names.join(", ")}), got ${values.length}`);
  const out: Record<string, string> = {};
  names.forEach((n, i) => (out[n] = String(values[i])));
  return out;
}

export class BoundCounter<L extends string> implements Counter<L>, RegistryMetric {
  readonly type = "counter";
  readonly aggregator = "sum";
  private readonly cells = new Map<string, CounterCell>();
  private plain: CounterCell | null = null;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    private readonly collect?: (c: BoundCounter<L>) => void | Promise<void>,
  ) {
    if (labelNames.length === 0) this.plain = this.cell([]);
  }

  labels(...values: string[]): CounterChild {
    return this.cell(values);
  }

  private cell(values: readonly string[]): CounterCell {
    const key = values.join("\u0000");
    let cell = this.cells.get(key);
    if (!cell) this.cells.set(key, (cell = new CounterCell(labelObject(this.labelNames, values, this.name))));
    return cell;
  }

  inc(by = 1): void {
    if (!this.plain) throw new RangeError(`${this.name} has labels (${this.labelNames.join(", ")}): bind a child with labels(...) first`);
    this.plain.inc(by);
  }

  reset(): void {
    this.cells.clear();
    this.plain = this.labelNames.length === 0 ? this.cell([]) : null;
  }

  async get() {
    if (this.collect) await this.collect(this);
    const values: MetricValue[] = [];
    for (const cell of this.cells.values()) values.push({ labels: cell.labels, value: cell.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

class HistogramCell implements HistogramChild {
  /** Not cumulative: counts[i] = observations in (bounds[i-1], bounds[i]]; the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`a histogram takes finite numbers: observe(${value})`);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class BoundHistogram<L extends string> implements Histogram<L>, RegistryMetric {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly cells = new Map<string, HistogramCell>();
  private plain: HistogramCell | null = null;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    private readonly bounds: readonly number[],
  ) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError(`${name}: buckets must be increasing`);
    if (labelNames.length === 0) this.plain = this.labels() as HistogramCell;
  }

  labels(...values: string[]): HistogramChild {
    const key = values.join("\u0000");
    let cell = this.cells.get(key);
    if (!cell) this.cells.set(key, (cell = new HistogramCell(labelObject(this.labelNames, values, this.name), this.bounds)));
    return cell;
  }

  observe(value: number): void {
    if (!this.plain) throw new RangeError(`${this.name} has labels (${this.labelNames.join(", ")}): bind a child with labels(...) first`);
    this.plain.observe(value);
  }

  reset(): void {
    this.cells.clear();
    this.plain = this.labelNames.length === 0 ? (this.labels() as HistogramCell) : null;
  }

  async get() {
    const values: MetricValue[] = [];
    for (const cell of this.cells.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += cell.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...cell.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf", ...cell.labels }, value: cell.count });
      values.push({ metricName: `${this.name}_sum`, labels: cell.labels, value: cell.sum });
      values.push({ metricName: `${this.name}_count`, labels: cell.labels, value: cell.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
