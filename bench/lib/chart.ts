// docs/bench.svg, drawn by hand: for each metric, one horizontal bar per peer
// saying how many times better the candidate is (log scale, 1x = parity, bars
// right of it are better, left worse), with the issue's target as a tick.

export interface ChartBar {
  peer: string;
  /** Times better than the peer: ratio for higher-is-better metrics, 1/ratio otherwise. */
  better: number;
  /** The target in the same terms, if there is one. */
  target: number | null;
  /** A yardstick rather than a rival (the ceiling): below 1× is expected, only a missed target is marked. */
  yardstick?: boolean;
}

export interface ChartGroup {
  label: string;
  bars: ChartBar[];
}

export interface ChartInput {
  title: string;
  subtitle: string;
  groups: ChartGroup[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const fmtX = (v: number): string => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)) + '×';

export function renderChart(input: ChartInput): string {
  const width = 960;
  const labelW = 300;
  const plotX = labelW + 10;
  const plotW = width - plotX - 70;
  const barH = 14;
  const rowGap = 4;
  const groupGap = 12;
  const top = 84;

  const values: number[] = [1];
  for (const g of input.groups)
    for (const b of g.bars) {
      if (Number.isFinite(b.better) && b.better > 0) values.push(b.better);
      if (b.target !== null) values.push(b.target);
    }
  const lo = Math.min(0.5, Math.min(...values) / 1.3);
  const hi = Math.max(2, Math.max(...values) * 1.3);
  const lnLo = Math.log(lo);
  const span = Math.log(hi) - lnLo;
  const x = (v: number): number => plotX + ((Math.log(Math.min(hi, Math.max(lo, v))) - lnLo) / span) * plotW;

  const peers = [...new Set(input.groups.flatMap((g) => g.bars.map((b) => b.peer)))];
  const shades = ['#2f6fb0', '#8fb3d9', '#5a9', '#c96', '#999'];
  const shade = (peer: string): string => shades[peers.indexOf(peer) % shades.length];

  const parts: string[] = [];
  let y = top;
  for (const g of input.groups) {
    const h = g.bars.length * (barH + rowGap);
    parts.push(`<text x="${labelW}" y="${y + h / 2 + 2}" text-anchor="end" class="label">${esc(g.label)}</text>`);
    for (const b of g.bars) {
      const ok = Number.isFinite(b.better) && b.better > 0;
      const met = ok && (b.target === null ? b.better >= 1 || b.yardstick === true : b.better >= b.target);
      if (ok) {
        const x0 = x(1);
        const x1 = x(b.better);
        const left = Math.min(x0, x1);
        const w = Math.max(1, Math.abs(x1 - x0));
        parts.push(
          `<rect x="${left.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${shade(b.peer)}"` +
            `${met ? '' : ' stroke="#c0392b" stroke-width="1.5"'}><title>${esc(`${g.label} vs ${b.peer}: ${fmtX(b.better)} better`)}</title></rect>`,
        );
        const tx = x1 >= x0 ? x1 + 4 : x1 - 4;
        parts.push(
          `<text x="${tx.toFixed(1)}" y="${y + barH - 3}" text-anchor="${x1 >= x0 ? 'start' : 'end'}" class="value${met ? '' : ' miss'}">${fmtX(b.better)}</text>`,
        );
      } else {
        parts.push(`<text x="${x(1) + 4}" y="${y + barH - 3}" class="value miss">n/a</text>`);
      }
      if (b.target !== null) {
        const tx = x(b.target);
        parts.push(
          `<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${y - 2}" y2="${y + barH + 2}" class="target"><title>target ${fmtX(b.target)}</title></line>`,
        );
      }
      y += barH + rowGap;
    }
    y += groupGap;
  }
  const bottom = y;

  // Axis: powers of ten and their halves/doubles inside the range.
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  const axis: string[] = [];
  for (const v of ticks) {
    const tx = x(v).toFixed(1);
    axis.push(`<line x1="${tx}" x2="${tx}" y1="${top - 6}" y2="${bottom}" class="${v === 1 ? 'parity' : 'grid'}"/>`);
    axis.push(`<text x="${tx}" y="${bottom + 14}" text-anchor="middle" class="tick">${fmtX(v)}</text>`);
  }

  const legend = peers
    .map((p, i) => {
      const lx = 16 + i * 150;
      return `<rect x="${lx}" y="${top - 30}" width="12" height="12" fill="${shade(p)}"/><text x="${lx + 16}" y="${top - 20}" class="tick">vs ${esc(p)}</text>`;
    })
    .join('');
  const height = bottom + 66;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">`,
    '<style>.label{font-size:12px;fill:#222}.value{font-size:11px;fill:#222}.miss{fill:#c0392b;font-weight:bold}.tick{font-size:11px;fill:#555}' +
      '.grid{stroke:#ddd;stroke-width:1}.parity{stroke:#333;stroke-width:1.5}.target{stroke:#e67e22;stroke-width:2.5}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold" fill="#111">${esc(input.title)}</text>`,
    `<text x="16" y="42" font-size="12" fill="#444">${esc(input.subtitle)}</text>`,
    legend,
    `<line x1="${16 + peers.length * 150 + 6}" x2="${16 + peers.length * 150 + 6}" y1="${top - 31}" y2="${top - 19}" class="target"/>` +
      `<text x="${16 + peers.length * 150 + 12}" y="${top - 20}" class="tick">target</text>`,
    `<text x="16" y="${height - 24}" font-size="11" fill="#777">Right of the black 1× line is better · log scale · red: short of the target, or of 1× where there is none (against the ceiling, a yardstick, only targets count).</text>`,
    ...axis,
    ...parts,
    `<text x="16" y="${height - 10}" font-size="11" fill="#777">Times better = ratio for higher-is-better metrics, inverse ratio for lower-is-better ones; medians of interleaved rounds. Written by bench/run.ts.</text>`,
    '</svg>',
    '',
  ].join('\n');
}
