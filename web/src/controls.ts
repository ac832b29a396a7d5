/**
 * Controls for the view state: theme (with custom colours), filter and layout. Each one calls
 * its RPC; the page then redraws from the pushed view like every other open page (no local
 * shortcut, so every page shows the same stored state). Errors are shown beside the controls.
 */
import { Theme, type NeuralHeatmapClient, type ViewState } from "@neural-heatmap/client/web";
import type { Panel } from "./canvas.js";
import { themeWord } from "./theme.js";

const THEMES = [Theme.THERMAL, Theme.PLASMA, Theme.HOLOGRAPHIC, Theme.CONTOUR, Theme.CUSTOM];

function list(input: HTMLInputElement): string[] {
  return input.value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function number(input: HTMLInputElement): number | undefined {
  return input.value.trim() === "" ? undefined : Number(input.value);
}

export class Controls {
  private readonly el: Record<string, HTMLInputElement | HTMLSelectElement | HTMLButtonElement | HTMLElement>;

  constructor(
    root: HTMLElement,
    private readonly client: () => NeuralHeatmapClient,
    private readonly arrangement: () => Panel[],
  ) {
    const q = <T extends HTMLElement>(id: string): T => root.querySelector<T>(`#${id}`)!;
    this.el = {
      theme: q<HTMLSelectElement>("theme"),
      colors: q<HTMLInputElement>("custom-colors"),
      models: q<HTMLInputElement>("filter-models"),
      layers: q<HTMLInputElement>("filter-layers"),
      min: q<HTMLInputElement>("filter-min"),
      max: q<HTMLInputElement>("filter-max"),
      error: q("control-error"),
    };
    const theme = this.el["theme"] as HTMLSelectElement;
    for (const t of THEMES) theme.add(new Option(themeWord(t), String(t)));
    theme.addEventListener("change", () => void this.applyTheme());
    q("apply-colors").addEventListener("click", () => void this.applyTheme());
    q("apply-filter").addEventListener("click", () => void this.applyFilter());
    q("clear-filter").addEventListener("click", () => void this.run(() => this.client().clearFilter()));
    q("save-layout").addEventListener("click", () => void this.saveLayout());
    q("reset-layout").addEventListener("click", () => void this.run(() => this.client().setLayout({})));
  }

  /** Shows the stored view (pushed) in the controls. */
  show(view: ViewState): void {
    (this.el["theme"] as HTMLSelectElement).value = String(view.theme.theme || Theme.THERMAL);
    if (view.theme.customColors.length) (this.el["colors"] as HTMLInputElement).value = view.theme.customColors.join(", ");
    (this.el["models"] as HTMLInputElement).value = view.filter.modelIds.join(", ");
    (this.el["layers"] as HTMLInputElement).value = view.filter.layerIds.join(", ");
    (this.el["min"] as HTMLInputElement).value = view.filter.intensityRange ? String(view.filter.intensityRange.min) : "";
    (this.el["max"] as HTMLInputElement).value = view.filter.intensityRange ? String(view.filter.intensityRange.max) : "";
  }

  /** Stores a panel moved on the canvas (the other panels keep their places). */
  async movePanel(key: string, x: number, y: number): Promise<void> {
    const panelPositions = Object.fromEntries(this.arrangement().map((p) => [p.key, { x: p.x, y: p.y }]));
    panelPositions[key] = { x, y };
    await this.run(() => this.client().setLayout({ panelPositions }));
  }

  private async applyTheme(): Promise<void> {
    const theme = Number((this.el["theme"] as HTMLSelectElement).value) as Theme;
    const colors = theme === Theme.CUSTOM ? list(this.el["colors"] as HTMLInputElement) : [];
    await this.run(() => this.client().setTheme(theme, colors));
  }

  private async applyFilter(): Promise<void> {
    const min = number(this.el["min"] as HTMLInputElement);
    const max = number(this.el["max"] as HTMLInputElement);
    await this.run(() =>
      this.client().setFilter({
        modelIds: list(this.el["models"] as HTMLInputElement),
        layerIds: list(this.el["layers"] as HTMLInputElement),
        intensityRange: min === undefined && max === undefined ? undefined : { min: min ?? -1e30, max: max ?? 1e30 },
      }),
    );
  }

  private async saveLayout(): Promise<void> {
    const panels = this.arrangement();
    await this.run(() =>
      this.client().setLayout({
        panelPositions: Object.fromEntries(panels.map((p) => [p.key, { x: p.x, y: p.y }])),
        panelSizes: Object.fromEntries(panels.map((p) => [p.key, { width: p.w, height: p.h }])),
      }),
    );
  }

  private async run(call: () => Promise<unknown>): Promise<void> {
    const error = this.el["error"]!;
    error.textContent = "";
    try {
      await call();
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
    }
  }
}
