import { escapeXml } from './line-chart.js';
import { type BenchReport, medianRps } from './results.js';

/**
 * A horizontal bar chart: one block per scenario and worker count, one bar per side, each bar's
 * length relative to the fastest side of its block (scenarios differ by orders of magnitude, so
 * one axis for all would hide most of them). kelpie's bar is drawn in the accent colour and every
 * bar carries its req/s.
 */

const ROW = 18;
const GAP = 14;
const LABEL = 270;
const BAR = 420;
const WIDTH = LABEL + BAR + 110;

export function chartSvg(report: BenchReport): string {
  const parts: string[] = [];
  let y = 40;
  for (const group of report.groups) {
    const sides = group.sides.filter((side) => !side.skipped && side.rounds.length);
    if (!sides.length) continue;
    const best = Math.max(...sides.map(medianRps));
    parts.push(
      `<text x="8" y="${y}" class="group">${escapeXml(`${group.title}, ${group.workers} worker${group.workers === 1 ? '' : 's'}`)}</text>`,
    );
    y += 8;
    for (const side of sides) {
      const rps = medianRps(side);
      const width = Math.max(1, Math.round((rps / best) * BAR));
      const kind = side.side === 'kelpie' ? 'kelpie' : 'peer';
      parts.push(
        `<text x="${LABEL - 6}" y="${y + 13}" class="label">${escapeXml(side.label)}</text>`,
        `<rect x="${LABEL}" y="${y + 2}" width="${width}" height="${ROW - 4}" class="${kind}"/>`,
        `<text x="${LABEL + width + 6}" y="${y + 13}" class="value">${Math.round(rps).toLocaleString('en-US')}</text>`,
      );
      y += ROW;
    }
    y += GAP + 12;
  }
  const { machine, load } = report;
  const caption = `${report.date} · ${machine.cores} cores · Node ${machine.node} · ${load.tool}, ${load.seconds} s × ${load.rounds} rounds, median req/s`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="title" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title id="title">kelpie and its peers: median requests per second per scenario (${escapeXml(caption)})</title>`,
    '<style>.group{font-weight:600}.label{text-anchor:end;fill:#333}.value{fill:#333}.kelpie{fill:#1f7a6d}.peer{fill:#b8c4cc}.caption{fill:#666;font-size:11px}</style>',
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="8" y="18" class="caption">${escapeXml(caption)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
