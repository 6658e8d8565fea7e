import {
  type BenchReport,
  cpuRatios,
  type GroupResult,
  median,
  medianRps,
  pairedRatio,
  roundRatios,
  type SideResult,
} from './results.js';

const MB = 1024 * 1024;
export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

function ratioCell(side: SideResult): string {
  if (side.side === 'kelpie' || side.skipped) return '';
  const ratios = roundRatios(side);
  if (!ratios.length) return '';
  return `${fmt(pairedRatio(side), 2)}x (${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)})`;
}

/** The peer's CPU per request over kelpie's: median of the paired runs, and their range. */
function cpuRatioCell(side: SideResult): string {
  if (side.side === 'kelpie' || side.skipped) return '';
  const ratios = cpuRatios(side);
  if (!ratios.length) return '';
  return `${fmt(median(ratios), 2)}x (${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)})`;
}

function rows(group: GroupResult): string[][] {
  return group.sides.map((side) => {
    if (side.skipped) return [side.label, `skipped: ${side.skipped}`, '', '', '', '', '', '', '', ''];
    const workerRss = side.rss.flatMap((r) => r.workers);
    return [
      side.label,
      fmt(medianRps(side)),
      fmt(median(side.rounds.map((r) => r.p50)), 2),
      fmt(median(side.rounds.map((r) => r.p99)), 2),
      fmt(median(side.rounds.map((r) => r.cpuUsPerRequest ?? Number.NaN)), 1),
      String(side.rounds.reduce((sum, r) => sum + r.errors, 0)),
      fmt(median(side.startupMs)),
      workerRss.length ? fmt(median(workerRss) / MB, 1) : '-',
      ratioCell(side),
      cpuRatioCell(side),
    ];
  });
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** A Markdown table with its columns padded, readable in a terminal and ready for the docs. */
export function paddedMarkdownTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const RSS_NOTE =
  "RSS/worker MB* is sampled after each side's rounds; kelpie runs once per peer, so it has served more. " +
  "The memory line compares equal loads. CPU us/req is the CPU time of the side's whole process tree " +
  'per request; CPU/req side/kelpie above 1 means kelpie spends less.';

function wsHoldLine({ connections, workers, kelpie, cluster }: NonNullable<BenchReport['wsHold']>): string {
  const perConnection = (side: { before: number; holding: number }) =>
    fmt((side.holding - side.before) / connections / 1024, 1);
  return (
    `WebSocket connections held: ${connections} idle over ${workers} workers; worker memory per connection: ` +
    `kelpie -k ws ${perConnection(kelpie)} KB, ws server in node:cluster ${perConnection(cluster)} KB`
  );
}

function memoryLine({ bareNode, kelpieArbiter, kelpieWorkers }: NonNullable<BenchReport['memory']>): string {
  const worker = median(kelpieWorkers);
  return (
    `memory after the same hello load: bare node:http ${fmt(bareNode / MB, 1)} MB; kelpie arbiter ` +
    `${fmt(kelpieArbiter / MB, 1)} MB, worker ${fmt(worker / MB, 1)} MB (+${fmt((worker - bareNode) / MB, 1)} MB over bare node)`
  );
}

const HEADER = [
  'side',
  'req/s',
  'p50 ms',
  'p99 ms',
  'CPU us/req',
  'errors',
  'start ms',
  'RSS/worker MB*',
  'kelpie/side (rounds)',
  'CPU/req side/kelpie',
];

/** The terminal report. */
export function formatReport(report: BenchReport): string {
  const out: string[] = [];
  const { load, machine } = report;
  out.push(
    `kelpie bench ${report.date}: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}`,
    `load: ${load.tool}, ${load.threads} threads, ${load.seconds} s per run after ${load.warmupSeconds} s warm-up, ` +
      `pipelining ${load.pipelining}, ${load.rounds} round(s) of kelpie and each peer back to back; medians shown`,
    '',
  );
  for (const group of report.groups) {
    out.push(`${group.title}: ${group.workers} worker(s), ${group.connections} connections`);
    out.push(table(HEADER, rows(group)), '');
  }
  out.push(RSS_NOTE);
  if (report.memory) out.push(memoryLine(report.memory));
  if (report.wsHold) out.push(wsHoldLine(report.wsHold));
  return out.join('\n');
}

/** The same tables in Markdown, for docs/benchmarks.md. */
export function markdownTables(report: BenchReport): string {
  const out: string[] = [];
  for (const group of report.groups) {
    out.push(`**${group.title}**, ${group.workers} worker(s), ${group.connections} connections`, '');
    out.push(`| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, i) => (i ? '---:' : '---')).join('|')}|`);
    for (const row of rows(group)) out.push(`| ${row.join(' | ')} |`);
    out.push('');
  }
  out.push(RSS_NOTE);
  if (report.memory) out.push('', memoryLine(report.memory));
  if (report.wsHold) out.push('', wsHoldLine(report.wsHold));
  return `${out.join('\n')}\n`;
}
