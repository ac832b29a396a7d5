/**
 * Per-layer temporal statistics and patterns of a chosen model, read again when the server
 * pushes new temporal patterns (never on a timer), and the CKA comparison of two chosen
 * models.
 */
import type { NeuralHeatmapClient, TemporalPattern, TemporalUpdate } from "@neural-heatmap/client/web";

function cell(tr: HTMLTableRowElement, text: string): void {
  tr.insertCell().textContent = text;
}

function fixed(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : "–";
}

export class StatsView {
  private models: string[] = [];
  private patterns: TemporalPattern[] = [];
  private reading = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly client: () => NeuralHeatmapClient,
  ) {
    this.select("stats-model").addEventListener("change", () => void this.refresh());
    this.root.querySelector("#compare")!.addEventListener("click", () => void this.compare());
  }

  private select(id: string): HTMLSelectElement {
    return this.root.querySelector<HTMLSelectElement>(`#${id}`)!;
  }

  /** The models to choose from (kept selections stay). */
  setModels(models: string[]): void {
    if (models.join("\n") === this.models.join("\n")) return;
    this.models = models;
    for (const [id, pick] of [["stats-model", 0], ["cka-a", 0], ["cka-b", 1]] as const) {
      const sel = this.select(id);
      const kept = sel.value;
      sel.replaceChildren(...models.map((m) => new Option(m, m)));
      sel.value = models.includes(kept) ? kept : (models[Math.min(pick, models.length - 1)] ?? "");
    }
    const b = this.select("cka-b");
    const other = models.find((m) => m !== this.select("cka-a").value);
    if (b.value === this.select("cka-a").value && other) b.value = other; // two models to compare
    void this.refresh();
  }

  /** New patterns were pushed: show them and read the statistics again. */
  onTemporal(update: TemporalUpdate): void {
    this.patterns = update.patterns;
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    const modelId = this.select("stats-model").value;
    if (!modelId || this.reading) return;
    this.reading = true;
    try {
      const stats = await this.client().getTemporalStatistics({ modelId });
      const table = this.root.querySelector<HTMLTableElement>("#stats-table")!;
      table.tBodies[0]!.replaceChildren();
      for (const l of stats.layers) {
        const tr = table.tBodies[0]!.insertRow();
        const own = this.patterns.filter((p) => p.modelId === modelId && p.layerId === l.layerId);
        cell(tr, l.layerId);
        cell(tr, String(l.samples));
        cell(tr, fixed(l.mean));
        cell(tr, fixed(l.std));
        cell(tr, fixed(l.trendSlope));
        cell(tr, fixed(l.periodicityStrength));
        cell(tr, String(l.stateChanges));
        cell(tr, own.map((p) => `${p.patternTypeName} (${fixed(p.confidence)})`).join(", ") || "–");
      }
    } catch (e) {
      this.root.querySelector("#stats-error")!.textContent = e instanceof Error ? e.message : String(e);
    } finally {
      this.reading = false;
    }
  }

  private async compare(): Promise<void> {
    const a = this.select("cka-a").value;
    const b = this.select("cka-b").value;
    const out = this.root.querySelector<HTMLElement>("#cka-result")!;
    if (!a || !b || a === b) {
      out.textContent = "choose two different models";
      return;
    }
    try {
      const c = await this.client().compareModels([a, b]);
      const i = c.modelIds.indexOf(a);
      const j = c.modelIds.indexOf(b);
      const lines = [`CKA(${a}, ${b}) = ${fixed(c.at(i, j))} over ${c.steps} steps`];
      for (const s of c.layerSimilarity.slice(0, 12)) lines.push(`${s.layerA} ~ ${s.layerB}: ${fixed(s.cka)}`);
      out.textContent = lines.join("\n");
    } catch (e) {
      out.textContent = e instanceof Error ? e.message : String(e);
    }
  }
}
