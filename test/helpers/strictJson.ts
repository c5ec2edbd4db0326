/**
 * A JSON parser that FAILS on a duplicate key in any object, as a strict log pipeline does
 * (Elasticsearch rejects such a document; JSON.parse silently keeps the last value). Written for
 * tests from RFC 8259's grammar: values are checked for structure and duplicates, then JSON.parse
 * builds the result.
 *
 * @example
 * parseStrictJson('{"a":1,"a":2}'); // throws SyntaxError: duplicate key "a" at offset 7
 */

/** Thrown for malformed JSON and for duplicate keys. */
export class StrictJsonError extends SyntaxError {
  override name = 'StrictJsonError';
}

/**
 * Parses one JSON text, throwing {@link StrictJsonError} on a duplicate key.
 * @example
 * const line = parseStrictJson(text) as Record<string, unknown>;
 */
export function parseStrictJson(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new StrictJsonError(`${what} at offset ${i} in ${text.length > 200 ? `${text.slice(0, 200)}...` : text}`);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const string = (): string => {
    const start = i;
    if (text[i] !== '"') fail('expected a string');
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail('control character in a string');
      i += text[i] === '\\' ? 2 : 1;
    }
    if (text[i] !== '"') fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const keys = new Set<string>();
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const at = i;
        const key = string();
        if (keys.has(key)) {
          i = at;
          fail(`duplicate key ${JSON.stringify(key)}`);
        }
        keys.add(key);
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail('expected "," or "}"');
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail('expected "," or "]"');
      }
    } else if (c === '"') {
      string();
    } else {
      const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!m) fail('expected a value');
      i += m![0].length;
    }
  };
  value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return JSON.parse(text);
}

/**
 * Parses every non-empty line of a JSON-lines text strictly; the error names the line number.
 * @example
 * const lines = parseStrictJsonLines(readFileSync('worker.log', 'utf8'));
 */
export function parseStrictJsonLines(text: string, source = 'input'): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '') continue;
    try {
      out.push(parseStrictJson(line) as Record<string, unknown>);
    } catch (err) {
      throw new StrictJsonError(`${source} line ${n + 1}: ${(err as Error).message}`);
    }
  }
  return out;
}
