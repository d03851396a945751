import { defineConfig } from 'vitepress';

export default defineConfig({
  title: 'iohang',
  description: 'I/O hang for QEMU: guests ride out storage outages instead of seeing EIO',
  cleanUrls: true,
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/building' },
    ],
    sidebar: [
      { text: 'Guide', items: [{ text: 'Building the patched QEMU', link: '/guide/building' }] },
    ],
  },
});
