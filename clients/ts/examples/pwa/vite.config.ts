// Builds the diary against the SDK as compiled into clients/ts/dist (`npm run build`),
// the same files the published package holds.
import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

const dist = (p: string) => fileURLToPath(new URL(`../../dist/${p}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: {
    alias: [
      { find: /^@hashcore\/device\/connect$/, replacement: dist("connect/transport.js") },
      { find: /^@hashcore\/device$/, replacement: dist("index.js") },
    ],
  },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
