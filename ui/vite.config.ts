/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// Tauri serves `dist/` in production and points at the dev server (port 1420)
// in development. WebKitGTK is roughly Safari 15, so build for that.
export default defineConfig({
  // The root is this folder (ui/): npm runs the scripts from here.
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  preview: { port: 4173 },
  envPrefix: ["VITE_", "TAURI_ENV_"],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: ["es2021", "safari15"],
    // A strict CSP applies: no inline module preload polyfill.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
  },
});
