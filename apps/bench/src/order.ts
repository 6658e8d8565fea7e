/**
 * The order the sides of a comparison take their turns in (--latency, --curves): rows of a
 * balanced Latin square (a Williams design), one row per turn. Over a full cycle of rows every
 * side goes first equally often, takes every place equally often, and follows every other side
 * equally often, so neither a place in the order (first after a saturation run, last before a
 * pause) nor a particular neighbour favours or penalises a side. Over part of a cycle the counts
 * differ by one at most. Consecutive turns (the rounds of one rate or step) take consecutive rows,
 * so a rate's rounds have different sides first.
 */

/** Rows in a full cycle for `n` sides: n when n is even, 2n when odd (each row then also reversed). */
export function cycleLength(n: number): number {
  return n % 2 === 0 ? n : 2 * n;
}

/**
 * Row `turn` of the design, as indices into the sides: 0, 1, n-1, 2, n-2, … shifted by the row
 * (each column is then a cyclic Latin square, and each adjacent pair appears once per n rows when
 * n is even); for odd n, rows n to 2n-1 are rows 0 to n-1 reversed.
 */
export function balancedRow(n: number, turn: number): number[] {
  if (n <= 0) return [];
  const cycle = cycleLength(n);
  const row = ((turn % cycle) + cycle) % cycle;
  const shift = row % n;
  const base = Array.from({ length: n }, (_, j) => (j % 2 === 1 ? (j + 1) / 2 : n - j / 2) % n);
  // base = 0, 1, n-1, 2, n-2, …
  const indices = base.map((b) => (b + shift) % n);
  return row >= n ? indices.reverse() : indices;
}

/** The sides in the order of turn `turn` (0-based: a rate's or step's rounds are consecutive turns). */
export function balancedOrder<T>(sides: readonly T[], turn: number): T[] {
  return balancedRow(sides.length, turn).map((i) => sides[i] as T);
}
