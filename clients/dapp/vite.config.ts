import { defineConfig } from "vite";

// The API serves dist/ at /app/. `npm run dev -w clients/dapp` serves the sources instead and forwards the
// API's paths to it (FITMINT_API_URL, default the local stack's), so the page and the API share an origin
// as they do in production.
const api = process.env.FITMINT_API_URL ?? "http://127.0.0.1:8000";
const apiPaths = ["/analytics", "/auth", "/chain", "/catalog", "/fitness", "/identity", "/marketplace", "/notifications",
  "/orders", "/rewards", "/users", "/wallets"];

export default defineConfig({
  base: "/app/",
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    // The analytics screen's chunk (ECharts, ~210 KB gzipped) is the one above Vite's default 500 KB warning;
    // it is fetched only when an admin opens that screen, never on the first load.
    chunkSizeWarningLimit: 700,
  },
  server: {
    host: "127.0.0.1",
    proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: api, ws: path === "/notifications" }])),
  },
});
