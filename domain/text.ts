// Text that came from outside (a vault's error, a host's output) made storable: PostgreSQL
// refuses U+0000 in text and jsonb, and an unpaired UTF-16 surrogate has no UTF-8 form. Pure.

const NUL = /\u0000/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The string with NUL removed and unpaired surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(NUL, '').replace(LONE_SURROGATE, '\uFFFD');
}

// JSON.stringify writes NUL as \u0000 and an unpaired surrogate as \udxxx (a paired one stays
// as it is): one native scan of the text tells whether anything needs cleaning at all.
const ESCAPED_UNSTORABLE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;

/**
 * The same for every string (keys too) in a JSON-like value. A batch's inventories are large
 * and almost always clean: they are checked in one pass and rebuilt only when they need it.
 */
export function storableValue<T>(value: T): T {
  return ESCAPED_UNSTORABLE.test(JSON.stringify(value) ?? '') ? cleaned(value) : value;
}

function cleaned<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T;
  if (Array.isArray(value)) return value.map(cleaned) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), cleaned(v)])) as T;
  }
  return value;
}

/** What is wrong with a string a person sent, or undefined: for a 400 before anything is stored. */
export function unstorableReason(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain a NUL character';
  LONE_SURROGATE.lastIndex = 0;
  if (LONE_SURROGATE.test(text)) return 'must not contain an unpaired UTF-16 surrogate';
  return undefined;
}
