// The User-Agent every request carries, in client-go's form `<component>/<version> (<os>/<arch>)
// <extra>`, so apiserver audit logs and APF metrics name the operator and its version.
import { readFileSync } from 'node:fs';

const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
const GO_OS: Record<string, string> = { win32: 'windows' };

/** The version in package.json (src/kube and dist/kube are both two levels below it). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch { return 'unknown'; }
}

export const VERSION = packageVersion();

export function userAgent(platform: string = process.platform, arch: string = process.arch, node: string = process.version): string {
  return `tenant-isolation-operator/${VERSION} (${GO_OS[platform] ?? platform}/${GO_ARCH[arch] ?? arch}) node/${node}`;
}
