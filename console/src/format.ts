// How figures read on screen.

/** An amount as the API gives it (a decimal string in minor units) with its currency. */
export function money(amount: string | undefined, currency?: string): string {
  if (amount === undefined) return "—";
  const value = Number(amount);
  const text = Number.isFinite(value)
    ? value.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : amount;
  return currency ? `${text} ${currency}` : text;
}

export function time(at: string | null | undefined): string {
  if (!at) return "—";
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toISOString().replace("T", " ").slice(0, 16);
}

export function percent(rate: number | undefined): string {
  return rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

export function hours(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${value.toFixed(1)} h`;
}

export function count(value: number | undefined): string {
  return value === undefined ? "—" : value.toLocaleString("en");
}

/** A difference with its sign: +3, −2, ±0. */
export function signed(value: number): string {
  return value > 0 ? `+${count(value)}` : value < 0 ? `−${count(-value)}` : "±0";
}

/** A status or kind code as words: `awaiting_payment` → "awaiting payment". */
export function words(code: string): string {
  return code.replace(/_/g, " ");
}

/** A weight in grams as people read it: 850 g, 1.25 kg. */
export function grams(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value < 1000 ? `${value} g` : `${(value / 1000).toLocaleString("en", { maximumFractionDigits: 2 })} kg`;
}
