// Entry point: picks the backend (Tauri, or the mock with `?mock` in a plain
// browser), loads the app info, and starts the app.

import "./styles.css";
import { App, fatal } from "./app";
import { tauriBackend, type Backend } from "./backend";
import { Tooltips } from "./tooltip";

function applyTheme(params: URLSearchParams): void {
  let theme = params.get("theme");
  try {
    theme ??= window.localStorage.getItem("conclaveTheme");
  } catch {
    // No storage: use the default.
  }
  // Dark unless chosen otherwise: video reads best on dark, and WebKitGTK
  // reports the GTK theme (often light) as the system preference.
  document.documentElement.dataset.theme = theme === "light" ? "light" : "dark";
}

async function boot(): Promise<void> {
  const root = document.getElementById("app") ?? document.body;
  const params = new URLSearchParams(window.location.search);
  applyTheme(params);
  new Tooltips();
  const inTauri = "__TAURI_INTERNALS__" in window;
  try {
    let backend: Backend;
    let mock: import("./mock").Mock | null = null;
    if (!inTauri && params.has("mock")) {
      const m = await import("./mock");
      mock = m.createMock(params);
      backend = mock.backend;
    } else {
      backend = await tauriBackend();
    }
    const info = await backend.invoke<import("./generated/AppInfo").AppInfo>("app_info");
    const app = new App(backend, info, root);
    await app.start();
    if (mock) await mock.afterStart(app);
  } catch (e) {
    console.error("conclave: start failed", e);
    fatal(root, e);
  }
}

void boot();
