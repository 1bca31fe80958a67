import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * The panel builds to `panel/dist`: `index.html` plus content-hashed files under `assets/`
 * (the coordinator serves those as immutable). `npm run dev -w panel` proxies `/api` (and the
 * live socket) to a coordinator on 127.0.0.1:8080.
 */
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", assetsInlineLimit: 0 },
  server: { proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true } } },
});
