import type { EnvSpec } from './env.js';

function defaultText(v: EnvSpec[string]): string {
  if (v.default !== undefined) return `\`${v.default}\``;
  if (v.devDefault !== undefined) return `\`${v.devDefault}\` (development only; required in production)`;
  return v.optional ? '(unset)' : '**required**';
}

/** The configuration reference as a Markdown table, generated from the same declaration the loader uses. */
export function envMarkdown(spec: EnvSpec): string {
  const rows = Object.entries(spec).map(([name, v]) => {
    const notes = v.secret ? ` Secret: never logged; \`${name}_FILE\` reads it from a file.` : '';
    return `| \`${name}\` | ${v.type} | ${defaultText(v)} | ${v.description}${notes} |`;
  });
  return ['| Variable | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The same reference for `--help` on a terminal. */
export function envText(spec: EnvSpec): string {
  return Object.entries(spec)
    .map(([name, v]) => {
      const def = defaultText(v).replaceAll('`', '').replaceAll('**', '');
      const secret = v.secret ? ` Secret; ${name}_FILE reads it from a file.` : '';
      return `  ${name} (${v.type.replaceAll('\\|', '|')}; default ${def})\n      ${v.description}${secret}`;
    })
    .join('\n');
}
