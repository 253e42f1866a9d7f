/**
 * Config templates are TypeScript functions built with this tag: the compiler checks
 * every interpolated name, nothing is parsed at run time, and the bundle ships no
 * template files. What the tag adds over a plain template literal is a refusal to
 * render `undefined`, `null` or objects, which would otherwise end up in a daemon's
 * config as the text "undefined" and surface much later as a cryptic daemon error.
 */
export type TemplateValue = string | number | boolean | readonly (string | number)[];

export function conf(strings: TemplateStringsArray, ...values: TemplateValue[]): string {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += renderValue(value, i) + (strings[i + 1] ?? '');
  });
  return out;
}

function renderValue(value: unknown, index: number): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) return value.join(' ');
  throw new TypeError(`template value #${index + 1} is ${value === null ? 'null' : typeof value}; expected text`);
}

/** Drops the common leading indentation so templates can be indented with the code. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => l.match(/^ */)?.[0].length ?? 0);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join('\n');
}
