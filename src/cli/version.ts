/** The package's version, read from its package.json (both bins print it with --version). */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  // dist/src/cli/version.js -> ../../../package.json
  const url = new URL('../../../package.json', import.meta.url);
  try {
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
