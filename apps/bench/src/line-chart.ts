/**
 * Line charts in plain SVG, for figures against a quantity that spans decades (connection
 * counts): a log x axis with a tick at every measured x, a linear y axis from zero or a log one,
 * and one line per series, kelpie's in the accent colour of the bar chart (src/svg.ts). Several
 * panels sit side by side in one image under a caption and one legend.
 */

export interface Series {
  label: string;
  points: { x: number; y: number }[];
  /** Drawn in the accent colour (kelpie); the others in grey, dashed. */
  accent?: boolean;
}

export interface Panel {
  title: string;
  series: Series[];
  /** A log y axis (latencies spanning decades). Default: linear from zero. */
  logY?: boolean;
  /** How y values read on the axis. Default: compactNumber. */
  formatY?: (y: number) => string;
}

const PANEL_WIDTH = 320;
const PANEL_HEIGHT = 240;
const PLOT = { left: 56, right: 14, top: 30, bottom: 40 };
const HEADER = 52;

export const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** 10, 100, 1k, 10k, 1.5M. */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  if (abs >= 10 || n === 0) return String(Math.round(n));
  return String(+n.toPrecision(2));
}

/** Evenly spaced round ticks from 0 to at least `max` (steps of 1, 2, 2.5 or 5 × 10^k). */
export function linearTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let i = 0; i * step < max + step * 1e-9 || ticks.length < 2; i++) ticks.push(+(i * step).toPrecision(12));
  if ((ticks.at(-1) as number) < max) ticks.push(+(ticks.length * step).toPrecision(12));
  return ticks;
}

/** Powers of ten from below `min` to above `max` (both positive). */
export function logTicks(min: number, max: number): number[] {
  const low = Math.floor(Math.log10(min));
  const high = Math.max(low + 1, Math.ceil(Math.log10(max)));
  return Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i));
}

const finite = (points: Series['points']) => points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));

/** One panel as an SVG group at (`left`, `top`). */
export function linePanel(panel: Panel, left: number, top: number): string {
  const points = panel.series.flatMap((s) => finite(s.points));
  const logY = panel.logY === true;
  const xs = [...new Set(points.map((p) => p.x).filter((x) => x > 0))].sort((a, b) => a - b);
  const ys = points.map((p) => p.y).filter((y) => (logY ? y > 0 : true));
  const formatY = panel.formatY ?? compactNumber;
  const width = PANEL_WIDTH - PLOT.left - PLOT.right;
  const height = PANEL_HEIGHT - PLOT.top - PLOT.bottom;
  const x0 = left + PLOT.left;
  const y0 = top + PLOT.top + height;
  const parts = [`<text x="${x0}" y="${top + 16}" class="title">${escapeXml(panel.title)}</text>`];
  if (!xs.length || !ys.length) {
    parts.push(`<text x="${x0 + width / 2}" y="${y0 - height / 2}" class="tick" text-anchor="middle">no data</text>`);
    return `<g>${parts.join('')}</g>`;
  }
  const [xMin, xMax] = [Math.log10(xs[0] as number), Math.log10(xs.at(-1) as number)];
  const xAt = (x: number) => x0 + (xMax === xMin ? width / 2 : ((Math.log10(x) - xMin) / (xMax - xMin)) * width);
  const yTicks = logY ? logTicks(Math.min(...ys), Math.max(...ys)) : linearTicks(Math.max(...ys));
  const [yLow, yHigh] = [yTicks[0] as number, yTicks.at(-1) as number];
  const yAt = logY
    ? (y: number) => y0 - ((Math.log10(y) - Math.log10(yLow)) / (Math.log10(yHigh) - Math.log10(yLow))) * height
    : (y: number) => y0 - ((y - yLow) / (yHigh - yLow)) * height;
  for (const tick of yTicks) {
    const y = yAt(tick).toFixed(1);
    parts.push(
      `<line x1="${x0}" x2="${x0 + width}" y1="${y}" y2="${y}" class="grid"/>`,
      `<text x="${x0 - 6}" y="${y}" dy="4" class="tick" text-anchor="end">${escapeXml(formatY(tick))}</text>`,
    );
  }
  for (const tick of xs) {
    const x = xAt(tick).toFixed(1);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + 4}" class="axis"/>`,
      `<text x="${x}" y="${y0 + 16}" class="tick" text-anchor="middle">${compactNumber(tick)}</text>`,
    );
  }
  parts.push(
    `<line x1="${x0}" x2="${x0 + width}" y1="${y0}" y2="${y0}" class="axis"/>`,
    `<text x="${x0 + width / 2}" y="${y0 + 32}" class="tick" text-anchor="middle">connections (log scale)</text>`,
  );
  for (const series of panel.series) {
    const drawn = finite(series.points).filter((p) => p.x > 0 && (!logY || p.y > 0));
    const kind = series.accent ? 'kelpie' : 'peer';
    const coords = drawn.map((p) => `${xAt(p.x).toFixed(1)},${yAt(p.y).toFixed(1)}`);
    if (coords.length > 1) parts.push(`<polyline points="${coords.join(' ')}" class="line ${kind}"/>`);
    for (const [i, p] of drawn.entries()) {
      const [cx, cy] = (coords[i] as string).split(',');
      parts.push(
        `<circle cx="${cx}" cy="${cy}" r="3" class="dot ${kind}"><title>${escapeXml(`${series.label}: ${formatY(p.y)} at ${compactNumber(p.x)}`)}</title></circle>`,
      );
    }
  }
  return `<g>${parts.join('')}</g>`;
}

/** Panels side by side under a caption and a legend of the first panel's series. */
export function lineChartsSvg(panels: Panel[], caption: string, description: string): string {
  const width = Math.max(1, panels.length) * PANEL_WIDTH;
  const height = HEADER + PANEL_HEIGHT;
  const legend = (panels[0]?.series ?? []).map((series, i) => {
    const x = 8 + i * 200;
    const kind = series.accent ? 'kelpie' : 'peer';
    return (
      `<line x1="${x}" x2="${x + 24}" y1="38" y2="38" class="line ${kind}"/>` +
      `<text x="${x + 30}" y="42" class="legend">${escapeXml(series.label)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="title" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title id="title">${escapeXml(description)} (${escapeXml(caption)})</title>`,
    '<style>.title{font-weight:600}.tick{fill:#555;font-size:11px}.legend{fill:#333}.caption{fill:#666;font-size:11px}' +
      '.grid{stroke:#e3e8eb}.axis{stroke:#888}.line{fill:none;stroke-width:2}.line.kelpie{stroke:#1f7a6d}' +
      '.line.peer{stroke:#8a99a6;stroke-dasharray:5 3}.dot.kelpie{fill:#1f7a6d}.dot.peer{fill:#8a99a6}</style>',
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="8" y="18" class="caption">${escapeXml(caption)}</text>`,
    ...legend,
    ...panels.map((panel, i) => linePanel(panel, i * PANEL_WIDTH, HEADER)),
    '</svg>',
    '',
  ].join('\n');
}
