import { defineConfig } from "vite";

// The browser test's wallet (test/provider.ts): one self-contained script the test injects into the page
// before the app's own scripts run. Built to test-dist/, never into the app's dist/.
export default defineConfig({
  publicDir: false,
  build: {
    target: "es2022",
    outDir: "test-dist",
    emptyOutDir: true,
    minify: false,
    lib: { entry: "test/provider.ts", name: "fitmintTestWallet", formats: ["iife"], fileName: () => "provider.js" },
  },
});
