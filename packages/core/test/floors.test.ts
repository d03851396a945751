/**
 * The house rules of docs/design/harness.md: a package imports only packages on lower
 * floors, and its package.json lists exactly the packages of ours it imports.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workspaceRoot } from '../src/index.ts';

const FLOORS: Record<string, number> = {
  '@iohang/core': 1,
  '@iohang/qmp': 1,
  '@iohang/builder': 2,
  '@iohang/guest': 2,
  '@iohang/faults': 2,
  '@iohang/vm': 3,
  '@iohang/demo': 4,
  '@iohang/soak': 4,
  '@iohang/bench': 4,
  '@iohang/cli': 5,
};

const root = workspaceRoot(import.meta.dirname);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    if (statSync(path).isDirectory()) return f === 'node_modules' ? [] : sources(path);
    return /\.(ts|mts|mjs)$/.test(f) ? [path] : [];
  });
}

const packages = readdirSync(join(root, 'packages')).map((dir) => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  const declared = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter((d) => d.startsWith('@iohang/'));
  const imported = (sub: string) =>
    [...new Set(sources(join(root, 'packages', dir)).filter((f) => f.includes(`/${sub}/`)).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/from '(@iohang\/[\w-]+)/g)].map((m) => m[1]!)))].filter((d) => d !== manifest.name);
  return { name: manifest.name, declared, src: imported('src'), all: [...new Set([...imported('src'), ...imported('test'), ...imported('scripts')])] };
});

describe('the floors of the house', () => {
  it('every package has a floor, and its sources import only packages on lower floors', () => {
    const upward = packages
      .filter((p) => p.name in FLOORS)
      .flatMap((p) => p.src.filter((d) => !(FLOORS[d]! < FLOORS[p.name]!)).map((d) => `${p.name} (floor ${FLOORS[p.name]}) imports ${d} (floor ${FLOORS[d] ?? 'none'})`));
    expect(upward).toEqual([]);
    expect(packages.map((p) => p.name).filter((n) => !(n in FLOORS))).toEqual(['@iohang/scenarios']);
  });

  it("each package.json lists exactly the packages of ours that the package imports", () => {
    const wrong = packages.flatMap((p) => {
      const missing = p.all.filter((d) => !p.declared.includes(d)).map((d) => `${p.name} imports ${d} without declaring it`);
      const unused = p.declared.filter((d) => !p.all.includes(d)).map((d) => `${p.name} declares ${d} but does not import it`);
      return [...missing, ...unused];
    });
    expect(wrong).toEqual([]);
  });
});
