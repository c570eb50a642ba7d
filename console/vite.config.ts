// The console is built into dist/ and embedded in the ledger binary (src/console.rs), which
// serves it at `/` beside the API it is a client of. Nothing is fetched at run time from
// anywhere else, so the build inlines nothing remote and names no CDN.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  // `npx vite` for development: the API of a serve (LEDGER_URL, default `ledger demo --serve`'s
  // address) behind the dev server's own origin, as the embedded console has it.
  server: { proxy: { "/v1": process.env.LEDGER_URL ?? "http://127.0.0.1:8080" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
  },
});
