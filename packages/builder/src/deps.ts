/** pkg-config names and programs that QEMU's configure looks for -> the Debian package. */
const PACKAGE_OF: Record<string, string> = {
  'glib-2.0': 'libglib2.0-dev',
  'gmodule-2.0': 'libglib2.0-dev',
  'gio-2.0': 'libglib2.0-dev',
  'pixman-1': 'libpixman-1-dev',
  zlib: 'zlib1g-dev',
  slirp: 'libslirp-dev',
  liburing: 'liburing-dev',
  libaio: 'libaio-dev',
  fdt: 'libfdt-dev',
  libfdt: 'libfdt-dev',
  flex: 'flex',
  bison: 'bison',
  ninja: 'ninja-build',
  meson: 'meson',
  python3: 'python3',
  cc: 'gcc',
  gcc: 'gcc',
  'c++': 'g++',
  'pkg-config': 'pkgconf',
};

/**
 * From configure/meson output, the missing dependency and the Debian package that provides
 * it, e.g. 'Dependency "glib-2.0" not found' -> glib-2.0 / libglib2.0-dev.
 */
export function missingDependency(output: string): { name: string; pkg?: string } | undefined {
  const patterns = [
    /Dependency "([^"]+)" not found/,
    /Run-time dependency (\S+) found: NO/,
    /Program '([^']+)' not found/,
    /ERROR: (?:Cannot find|Could not find) (?:program |library )?'?([\w.+-]+)'?/,
    /Library (\S+) found: NO/,
    /lib(\w+)(?:\.h|) (?:not found|is required)/i,
  ];
  for (const re of patterns) {
    const m = re.exec(output);
    if (m) {
      const name = m[1]!.replace(/^lib(?=aio|uring|fdt)/, 'lib');
      return { name, pkg: PACKAGE_OF[name] ?? PACKAGE_OF[name.replace(/^lib/, '')] };
    }
  }
  return undefined;
}
