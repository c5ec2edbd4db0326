/**
 * The environment sections of the docs, generated from the variable tables the workers read
 * (src/app-opens/lastopens/app.ts, src/app-opens/dailyactives/app.ts), so the docs cannot
 * disagree with the code. Each section sits between `<!-- env:<id> ... -->` and
 * `<!-- /env:<id> -->`; test/scripts/envDocs.test.ts fails when one is stale.
 *
 *   node --import tsx scripts/env-docs.ts          rewrite the sections
 *   node --import tsx scripts/env-docs.ts --check  exit 1 naming the stale ones
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envVarTable } from '../src/config/variables.js';
import { DAILYACTIVES_ENVIRONMENT } from '../src/app-opens/dailyactives/app.js';
import { LASTOPENS_ENVIRONMENT } from '../src/app-opens/lastopens/app.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One generated section: the file (from the repository root), its id, and its text. */
export interface EnvDocSection {
  file: string;
  id: string;
  render(): string;
}

/**
 * Every generated section.
 *
 * @example
 * ENV_DOC_SECTIONS.map((s) => `${s.file}#${s.id}`); // ['README.md#lastopens-kcl', ...]
 */
export const ENV_DOC_SECTIONS: readonly EnvDocSection[] = [
  { file: 'README.md', id: 'lastopens-kcl', render: () => envVarTable(LASTOPENS_ENVIRONMENT.kcl) },
  {
    file: 'README.md',
    id: 'dailyactives-kcl',
    render: () => `\`bin/dailyactives\` reads ${DAILYACTIVES_ENVIRONMENT.kcl.map((v) => `\`${v.name}\``).join(', ')}, as \`bin/lastopens\` does (\`LOG_PATH\` defaults to \`./dailyactives.log\`).`,
  },
  { file: 'docs/lambda.md', id: 'lastopens-lambda', render: () => envVarTable(LASTOPENS_ENVIRONMENT.lambda, 'docs') },
];

const sectionPattern = (id: string): RegExp => new RegExp(`(<!-- env:${id}\\b[^>]*-->\\n)([\\s\\S]*?)(<!-- /env:${id} -->)`);

/**
 * The section `id` of a document's text (its lines, each ending in a newline), or undefined when
 * its markers are missing.
 *
 * @example
 * envDocSection(readFileSync('README.md', 'utf8'), 'lastopens-kcl');
 */
export function envDocSection(text: string, id: string): string | undefined {
  return sectionPattern(id).exec(text)?.[2];
}

/**
 * The text with section `id` replaced by `body`. Throws when the markers are missing.
 *
 * @example
 * writeFileSync('README.md', withEnvDocSection(text, 'lastopens-kcl', envVarTable(LASTOPENS_ENVIRONMENT.kcl)));
 */
export function withEnvDocSection(text: string, id: string, body: string): string {
  const pattern = sectionPattern(id);
  if (!pattern.test(text)) throw new Error(`no <!-- env:${id} --> ... <!-- /env:${id} --> markers`);
  return text.replace(pattern, (_, open: string, _old: string, close: string) => `${open}${body}\n${close}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const s of ENV_DOC_SECTIONS) {
    const path = `${ROOT}${s.file}`;
    const text = readFileSync(path, 'utf8');
    const next = withEnvDocSection(text, s.id, s.render());
    if (next === text) continue;
    stale.push(`${s.file}#${s.id}`);
    if (!check) writeFileSync(path, next);
  }
  if (check && stale.length > 0) {
    process.stderr.write(`stale environment sections (run node --import tsx scripts/env-docs.ts): ${stale.join(', ')}\n`);
    process.exit(1);
  }
  process.stdout.write(stale.length === 0 ? 'environment sections current\n' : `rewrote ${stale.join(', ')}\n`);
}
