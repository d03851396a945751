import { defineConfig } from 'vitepress';
import { withMermaid } from 'vitepress-plugin-mermaid';
import { nav, sidebar } from './nav.ts';

export default withMermaid(
  defineConfig({
    title: 'iohang',
    description: 'I/O hang for QEMU: guests ride out storage outages instead of seeing EIO',
    cleanUrls: true,
    head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
    // Only the site's pages; scripts, tests, fixtures and data are not pages.
    srcExclude: ['scripts/**', 'test/**', 'test-output/**', 'data/**', 'node_modules/**'],
    themeConfig: {
      nav: nav(),
      sidebar: sidebar(),
      outline: [2, 3],
      search: { provider: 'local' },
    },
    mermaid: {},
    // Mermaid is one large chunk; that is expected for an offline docs site.
    vite: { build: { chunkSizeWarningLimit: 4096 } },
  }),
);
