/**
 * The subset of Python literals barman writes into backup.info (`repr()` out, `ast.literal_eval()` in): strings,
 * numbers, None, booleans, lists, tuples and dicts. backup_label, tablespaces and copy_stats are stored this way,
 * so reading barman-cloud's backups and writing ones barman reads both need it.
 */

export type PyValue = null | boolean | number | string | PyValue[] | PyTuple | { [key: string]: PyValue };

/** A Python tuple (barman's tablespaces are a list of `(name, oid, location)` tuples). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** Python 3's `repr()` of a str: single quotes unless the text has one and no double quote. */
export function pyReprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

export function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as a Python literal`);
    return String(v);
  }
  if (typeof v === 'string') return pyReprString(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v instanceof PyTuple) return v.items.length === 1 ? `(${pyRepr(v.items[0])},)` : `(${v.items.map(pyRepr).join(', ')})`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${pyReprString(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

/** `ast.literal_eval` for the subset above; throws on anything else (calls, names, expressions). */
export function pyLiteral(text: string): PyValue {
  const p = new Parser(text);
  const v = p.value();
  p.skipSpace();
  if (!p.atEnd()) p.fail('unexpected text after the value');
  return v;
}

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  fail(why: string): never {
    throw new Error(`not a Python literal (${why} at ${this.i}): ${this.s.slice(0, 80)}`);
  }

  skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.s[this.i])) this.i++;
  }

  value(): PyValue {
    this.skipSpace();
    const c = this.s[this.i];
    if (c === '[') return this.sequence('[', ']');
    if (c === '(') {
      const items = this.sequence('(', ')');
      return new PyTuple(items);
    }
    if (c === '{') return this.dict();
    if (c === "'" || c === '"') return this.string('');
    const prefix = /^([bBuUrR]{1,2})(['"])/.exec(this.s.slice(this.i, this.i + 3));
    if (prefix) {
      this.i += prefix[1].length;
      return this.string(prefix[1].toLowerCase());
    }
    const word = /^(None|True|False)\b/.exec(this.s.slice(this.i));
    if (word) {
      this.i += word[1].length;
      return word[1] === 'None' ? null : word[1] === 'True';
    }
    const num = /^-?(\d+\.?\d*(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?)/i.exec(this.s.slice(this.i));
    if (num) {
      this.i += num[0].length;
      return Number(num[0]);
    }
    return this.fail('unexpected character');
  }

  private sequence(open: string, close: string): PyValue[] {
    this.i++; // open
    const items: PyValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.s[this.i] === close) {
        this.i++;
        return items;
      }
      items.push(this.value());
      this.skipSpace();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) this.fail(`expected , or ${close}`);
    }
  }

  private dict(): { [key: string]: PyValue } {
    this.i++;
    const out: { [key: string]: PyValue } = {};
    for (;;) {
      this.skipSpace();
      if (this.s[this.i] === '}') {
        this.i++;
        return out;
      }
      const key = this.value();
      this.skipSpace();
      if (this.s[this.i] !== ':') this.fail('expected :');
      this.i++;
      out[String(key)] = this.value();
      this.skipSpace();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') this.fail('expected , or }');
    }
  }

  private string(prefix: string): string {
    const quote = this.s[this.i];
    const triple = this.s.startsWith(quote.repeat(3), this.i);
    this.i += triple ? 3 : 1;
    const raw = prefix.includes('r');
    let out = '';
    for (;;) {
      if (this.atEnd()) this.fail('unterminated string');
      if (triple ? this.s.startsWith(quote.repeat(3), this.i) : this.s[this.i] === quote) {
        this.i += triple ? 3 : 1;
        return out;
      }
      const c = this.s[this.i++];
      if (c !== '\\' || raw) {
        out += c;
        continue;
      }
      const e = this.s[this.i++];
      const simple: Record<string, string> = {
        n: '\n',
        r: '\r',
        t: '\t',
        '\\': '\\',
        "'": "'",
        '"': '"',
        a: '\x07',
        b: '\b',
        f: '\f',
        v: '\v',
        '\n': '',
      };
      if (e in simple) out += simple[e];
      else if (e === 'x') out += this.hexChar(2);
      else if (e === 'u' && !prefix.includes('b')) out += this.hexChar(4);
      else if (e === 'U' && !prefix.includes('b')) out += this.hexChar(8);
      else if (/[0-7]/.test(e)) {
        let oct = e;
        while (oct.length < 3 && /[0-7]/.test(this.s[this.i] ?? '')) oct += this.s[this.i++];
        out += String.fromCodePoint(parseInt(oct, 8));
      } else out += `\\${e}`; // Python keeps unknown escapes as they are
    }
  }

  private hexChar(n: number): string {
    const h = this.s.slice(this.i, this.i + n);
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) this.fail('bad escape');
    this.i += n;
    return String.fromCodePoint(parseInt(h, 16));
  }
}
