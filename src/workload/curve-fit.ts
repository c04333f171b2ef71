/**
 * Page classes from a dirty-page curve. A class of N pages each written as a Poisson process of
 * rate λ dirties N (1 - e^(-λW)) distinct pages in a window of W seconds; a workload of classes
 * dirties the sum. Given the pages dirtied in windows of several lengths (what `tracker run`
 * prints per sample interval, or a QEMU calc-dirty-rate series), the classes come from a
 * non-negative least-squares fit (Lawson and Hanson's active-set method) of N over a log-spaced
 * grid of rates, in relative error at each window, so a curve that can be a sum of such classes
 * (increasing, and growing less than in proportion to the window) is reproduced closely with at
 * most as many classes as windows.
 */
import { InputError } from '../errors.js';

export interface CurveWindow {
  /** Window length, virtual seconds. */
  seconds: number;
  /** Distinct pages dirtied in a window of that length. */
  pages: number;
}

export interface PageClass {
  pages: number;
  /** Writes per page per second. */
  rate: number;
}

/** Distinct pages the classes dirty in a window of `seconds`. */
export function curvePages(classes: readonly PageClass[], seconds: number): number {
  let d = 0;
  for (const c of classes) d += c.pages * -Math.expm1(-c.rate * seconds);
  return d;
}

/** Least squares on the columns in `set`: solves the normal equations by Gaussian elimination. */
function lsq(A: number[][], b: number[], set: number[]): number[] {
  const k = set.length;
  const M = set.map((i) => set.map((j) => A.reduce((s, row) => s + row[i] * row[j], 0)));
  const v = set.map((i) => A.reduce((s, row, r) => s + row[i] * b[r], 0));
  const ridge = 1e-14 * M.reduce((s, row, i) => s + row[i], 0);
  for (let i = 0; i < k; i++) M[i][i] += ridge;
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    [v[c], v[p]] = [v[p], v[c]];
    for (let r = c + 1; r < k; r++) {
      const f = M[r][c] / M[c][c];
      for (let j = c; j < k; j++) M[r][j] -= f * M[c][j];
      v[r] -= f * v[c];
    }
  }
  const z = new Array<number>(k).fill(0);
  for (let r = k - 1; r >= 0; r--) {
    let s = v[r];
    for (let j = r + 1; j < k; j++) s -= M[r][j] * z[j];
    z[r] = s / M[r][r];
  }
  return z;
}

/** min |Ax - b| with x >= 0 (Lawson and Hanson). */
export function nnls(A: number[][], b: number[]): number[] {
  const n = A[0].length;
  const x = new Array<number>(n).fill(0);
  const inP = new Array<boolean>(n).fill(false);
  const grad = () => {
    const r = b.map((bi, i) => bi - A[i].reduce((s, a, j) => s + a * x[j], 0));
    return Array.from({ length: n }, (_, j) => A.reduce((s, row, i) => s + row[j] * r[i], 0));
  };
  for (let outer = 0; outer < 3 * n; outer++) {
    const w = grad();
    let t = -1;
    for (let j = 0; j < n; j++) if (!inP[j] && w[j] > 1e-10 && (t < 0 || w[j] > w[t])) t = j;
    if (t < 0) break;
    inP[t] = true;
    for (let inner = 0; inner < 3 * n; inner++) {
      const set = [...inP.keys()].filter((j) => inP[j]);
      const z = lsq(A, b, set);
      if (z.every((v) => v > 0)) {
        set.forEach((j, i) => (x[j] = z[i]));
        break;
      }
      let alpha = 1;
      set.forEach((j, i) => {
        if (z[i] <= 0) alpha = Math.min(alpha, x[j] / (x[j] - z[i]));
      });
      set.forEach((j, i) => {
        x[j] += alpha * (z[i] - x[j]);
        if (x[j] <= 1e-9) {
          x[j] = 0;
          inP[j] = false;
        }
      });
    }
  }
  return x;
}

/**
 * Classes (pages rounded to whole pages, largest rate first) reproducing `windows`; `where`
 * names the input in errors. Refused when a window is not a positive length with a count, or when
 * no sum of classes comes within `tolerance` of every window.
 */
export function fitCurve(windows: readonly CurveWindow[], where: string, tolerance = 0.05): PageClass[] {
  if (windows.length === 0) throw new InputError(`${where}: no windows to fit: give the pages dirtied in windows of several lengths`);
  for (const w of windows) {
    if (!(w.seconds > 0) || !Number.isFinite(w.seconds) || !(w.pages > 0) || !Number.isFinite(w.pages)) {
      throw new InputError(`${where}: a window needs seconds > 0 and pages > 0, got ${JSON.stringify(w)}`);
    }
  }
  const lo = Math.min(...windows.map((w) => w.seconds));
  const hi = Math.max(...windows.map((w) => w.seconds));
  // Rates from a hundredth of the slowest window's to a hundred times the fastest's, 8 a decade.
  const rates: number[] = [];
  for (let r = 0.01 / hi; r <= 100 / lo; r *= 10 ** (1 / 8)) rates.push(r);
  const A = windows.map((w) => rates.map((r) => -Math.expm1(-r * w.seconds) / w.pages));
  const b = windows.map(() => 1);
  const n = nnls(A, b);
  const classes = rates
    .map((rate, i) => ({ pages: Math.round(n[i]), rate }))
    .filter((c) => c.pages > 0)
    .sort((a, b2) => b2.rate - a.rate);
  const worst = windows.map((w) => ({ w, err: Math.abs(curvePages(classes, w.seconds) - w.pages) / w.pages })).sort((a, b2) => b2.err - a.err)[0];
  if (classes.length === 0 || worst.err > tolerance) {
    throw new InputError(
      `${where}: no page classes reproduce the curve within ${tolerance * 100} % (the ${worst.w.seconds} s window is off by ${(worst.err * 100).toFixed(1)} %): the pages dirtied must grow with the window, and less than in proportion to it`,
    );
  }
  return classes;
}
