/**
 * The site's navigation, shared by config.mts and the browser tests. Optional pages (written
 * by other people or generated) are listed only when their file exists at build time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DOCS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface NavItem {
  text: string;
  link: string;
}

export interface NavGroup {
  text: string;
  items: NavItem[];
}

/** The page's source file for a link like /guide/building (or / for index.md). */
export function sourceOf(link: string, root = DOCS_ROOT): string {
  return join(root, link === '/' ? 'index.md' : `${link.replace(/^\//, '')}.md`);
}

/** A page's first "# " heading, for pages whose title we do not control. */
function titleOf(file: string, fallback: string): string {
  const m = /^#\s+(.+)$/m.exec(readFileSync(file, 'utf8'));
  return m ? m[1]!.trim() : fallback;
}

export function sidebar(root = DOCS_ROOT): NavGroup[] {
  const optional = (link: string, fallback: string): NavItem[] =>
    existsSync(sourceOf(link, root)) ? [{ text: titleOf(sourceOf(link, root), fallback), link }] : [];
  return [
    {
      text: 'Introduction',
      items: [
        { text: 'Overview', link: '/' },
        { text: 'Quick start', link: '/guide/quick-start' },
      ],
    },
    {
      text: 'Guides',
      items: [
        { text: 'Building the patched QEMU', link: '/guide/building' },
        ...optional('/guide/network-outage', 'Network outage'),
      ],
    },
    {
      text: 'Reference',
      items: [
        { text: 'Configuration', link: '/reference/configuration' },
        { text: 'Semantics', link: '/semantics' },
        { text: 'Patch series', link: '/reference/patches' },
      ],
    },
    {
      text: 'Design',
      items: [
        { text: 'Design and review points', link: '/design/io-hang' },
        { text: 'The test harness', link: '/design/harness' },
        { text: 'Comparison', link: '/comparison' },
      ],
    },
    {
      text: 'Evidence',
      items: [
        { text: 'Testing matrix', link: '/reference/testing' },
        { text: 'Benchmarks', link: '/reference/benchmarks' },
      ],
    },
  ];
}

export function nav(): NavItem[] {
  return [
    { text: 'Quick start', link: '/guide/quick-start' },
    { text: 'Reference', link: '/reference/configuration' },
    { text: 'Design', link: '/design/io-hang' },
    { text: 'Tests', link: '/reference/testing' },
  ];
}

/** Every page the navigation links to, once. */
export function allPages(root = DOCS_ROOT): string[] {
  return [...new Set([...sidebar(root).flatMap((g) => g.items.map((i) => i.link)), ...nav().map((i) => i.link)])];
}
