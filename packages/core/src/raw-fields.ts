/**
 * Reading a request's fields from Node's `rawHeaders` (name, value, name, value...) without
 * building `req.headers`. Node builds that object on first read, a property per field with its
 * name lower-cased: for a request whose app never reads it (a hello world, a proxy that forwards
 * raw fields), kelpie's own checks and its access log would be the only reason to pay for it.
 */

/**
 * The value of field `name` (given in lower case) as `req.headers[name]` has it: the first one
 * (`all` false: the fields Node keeps once, Host, User-Agent, Referer, Authorization...), or every
 * one joined with ", " (`all` true: the fields Node joins). Undefined when the field is absent.
 */
export function rawField(raw: readonly string[], name: string, all = false): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i] as string;
    // Lengths first: most fields are skipped without a string made or compared.
    if (field.length !== name.length || (field !== name && field.toLowerCase() !== name)) continue;
    const next = raw[i + 1] as string;
    if (value === undefined) value = next;
    else if (!all) return value;
    else value += `, ${next}`;
  }
  return value;
}
