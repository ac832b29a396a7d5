/** The connection state at the top of the page: live, reconnecting, or the server down. */
export type State = "connecting" | "live" | "reconnecting" | "down" | "token";

const TEXT: Record<State, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  down: "Server down",
  token: "This bridge needs a token",
};

export class Banner {
  state: State = "connecting";

  constructor(private readonly el: HTMLElement) {}

  set(state: State, detail = ""): void {
    this.state = state;
    this.el.dataset["state"] = state;
    this.el.textContent = detail ? `${TEXT[state]}: ${detail}` : TEXT[state];
  }
}
