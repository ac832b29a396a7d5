/**
 * The anomaly feed: newest first, coloured by severity, each entry once (by sequence: a
 * resumed stream never shows one twice); a click highlights the layer and unit on the canvas.
 * The log head (the newest sequence the bridge reported) is shown above it.
 */
import { Severity, type Anomaly } from "@neural-heatmap/client/web";

const SHOWN = 200; // entries kept in the page; older ones leave the list
export const SEVERITY_COLOR: Record<number, string> = {
  [Severity.LOW]: "#2e7d32",
  [Severity.MEDIUM]: "#f9a825",
  [Severity.HIGH]: "#ef6c00",
  [Severity.CRITICAL]: "#c62828",
};

export class Feed {
  /** Every sequence received, in arrival order (tests check each appears exactly once). */
  readonly sequences: bigint[] = [];
  private last = 0n;
  private head = 0n;

  constructor(
    private readonly list: HTMLElement,
    private readonly headEl: HTMLElement,
    private readonly onPick: (a: Anomaly) => void,
  ) {}

  /** The newest sequence shown: where a new stream resumes. */
  get lastSequence(): bigint {
    return this.last;
  }

  /** The log's newest sequence as the bridge reported it (shown; never the resume point). */
  setHead(sequence: bigint): void {
    if (sequence > this.head) this.head = sequence;
    this.showHead();
  }

  private showHead(): void {
    this.headEl.textContent = `log head #${this.head > this.last ? this.head : this.last}`;
  }

  /** Adds anomalies in ascending order; any not newer than the last shown is skipped. */
  add(anomalies: Anomaly[]): void {
    for (const a of anomalies) {
      if (a.sequence !== 0n && a.sequence <= this.last) continue;
      this.last = a.sequence > this.last ? a.sequence : this.last;
      this.sequences.push(a.sequence);
      this.list.prepend(this.row(a));
    }
    while (this.list.childElementCount > SHOWN) this.list.lastElementChild!.remove();
    this.showHead();
  }

  private row(a: Anomaly): HTMLElement {
    const li = document.createElement("li");
    li.className = "anomaly";
    li.dataset["sequence"] = String(a.sequence);
    li.style.borderLeftColor = SEVERITY_COLOR[a.severity] ?? "#777";
    const where = a.location ? ` @(${a.location.x},${a.location.y})` : "";
    const sev = Severity[a.severity] ?? String(a.severity);
    li.innerHTML = "<b></b> <span class=sev></span> <span class=where></span><div class=desc></div>";
    li.querySelector("b")!.textContent = `#${a.sequence}`;
    const sevEl = li.querySelector<HTMLElement>(".sev")!;
    sevEl.textContent = sev;
    sevEl.style.color = SEVERITY_COLOR[a.severity] ?? "#777";
    li.querySelector(".where")!.textContent = `${a.modelId}/${a.layer}${where} ${a.anomalyTypeName}`;
    li.querySelector(".desc")!.textContent = a.description;
    li.addEventListener("click", () => {
      for (const el of this.list.querySelectorAll(".picked")) el.classList.remove("picked");
      li.classList.add("picked");
      this.onPick(a);
    });
    return li;
  }
}
