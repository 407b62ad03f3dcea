// Vite builds the three pages into dist/, which the wanxiang binary serves: the one screen
// (index.html, 一屏可视), the staff console (console.html) and the resident's phone page (m.html).
import { defineConfig } from 'vite';
import { resolve } from 'node:path';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: {
        screen: resolve(import.meta.dirname, 'index.html'),
        console: resolve(import.meta.dirname, 'console.html'),
        phone: resolve(import.meta.dirname, 'm.html'),
      },
    },
  },
  server: {
    // `npm run dev` proxies the API to a running server (WANXIANG_API, default :8080).
    proxy: {
      '/api': process.env.WANXIANG_API ?? 'http://127.0.0.1:8080',
      '/readyz': process.env.WANXIANG_API ?? 'http://127.0.0.1:8080',
    },
  },
});
