/**
 * The latency bench's chart (docs/benchmarks-latency.svg): one block per scenario and rate, one
 * bar per side for its p99, the median of the rounds (relative to the longest p99 of the block), kelpie's in the accent
 * colour, each labelled with its p99 and p99.9. The same look as src/svg.ts's req/s chart.
 */

import { type LatencyReport, medianP99 } from './latency.js';
import { escapeXml } from './line-chart.js';
import { fmt } from './report.js';
import { median } from './results.js';

const ROW = 18;
const GAP = 14;
const LABEL = 230;
const BAR = 380;
const WIDTH = LABEL + BAR + 190;

export function latencySvg(report: LatencyReport): string {
  const parts: string[] = [];
  let y = 40;
  for (const scenario of report.scenarios) {
    for (const rate of scenario.rates) {
      const sides = rate.sides.filter((side) => side.pooled && Number.isFinite(medianP99(side)));
      if (!sides.length) continue;
      const longest = Math.max(...sides.map(medianP99));
      const title = `${scenario.title}${scenario.node ? `, Node ${scenario.node}` : ''}: ${rate.fraction * 100}% of node:cluster's saturated rate, ${rate.target.toLocaleString('en-US')} req/s`;
      parts.push(`<text x="8" y="${y}" class="group">${escapeXml(title)}</text>`);
      y += 8;
      for (const side of sides) {
        const p99 = medianP99(side);
        const p999 = side.rounds.length
          ? median(side.rounds.map((round) => round.p999))
          : (side.pooled?.p999 ?? Number.NaN);
        const width = Math.max(1, Math.round((p99 / longest) * BAR));
        parts.push(
          `<text x="${LABEL - 6}" y="${y + 13}" class="label">${escapeXml(side.label)}</text>`,
          `<rect x="${LABEL}" y="${y + 2}" width="${width}" height="${ROW - 4}" class="${side.side === 'kelpie' ? 'kelpie' : 'peer'}"/>`,
          `<text x="${LABEL + width + 6}" y="${y + 13}" class="value">p99 ${fmt(p99, 2)} ms · p99.9 ${fmt(p999, 2)}</text>`,
        );
        y += ROW;
      }
      y += GAP + 12;
    }
  }
  const { machine, load } = report;
  const caption = `${report.date} · ${machine.cores} cores · load average ${report.loadAverage.start[0]?.toFixed(1)} · ${load.connections} connections, ${load.seconds} s × ${load.rounds} round(s) per side and rate · latency from intended send time (shorter is better)`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="title" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title id="title">kelpie and its peers: p99 latency at fixed request rates (${escapeXml(caption)})</title>`,
    '<style>.group{font-weight:600}.label{text-anchor:end;fill:#333}.value{fill:#333}.kelpie{fill:#1f7a6d}.peer{fill:#b8c4cc}.caption{fill:#666;font-size:11px}</style>',
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="8" y="18" class="caption">${escapeXml(caption)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
