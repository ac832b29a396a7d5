/**
 * The bearer token, when the bridge needs one: asked once (a form, not a blocking prompt),
 * kept for the tab in sessionStorage (gone when the tab closes, never in localStorage).
 */
const KEY = "neural-heatmap-token";

export function storedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** Shows the token form and resolves with what was entered (after storing it). */
export function askToken(form: HTMLFormElement, refused: boolean): Promise<string> {
  form.hidden = false;
  form.querySelector<HTMLElement>(".refused")!.hidden = !refused;
  const input = form.querySelector<HTMLInputElement>("input")!;
  input.value = "";
  input.focus();
  return new Promise((resolve) => {
    form.onsubmit = (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(KEY, token);
      form.hidden = true;
      resolve(token);
    };
  });
}
