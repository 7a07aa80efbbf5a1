export function data(nSeries, nPoints) {
  const xs = [], ys = [];
  for (let i = 0; i < nPoints; i++) xs.push(1700000000 + i * 60);
  for (let s = 0; s < nSeries; s++) { const y = []; let v = 50; for (let i = 0; i < nPoints; i++) { v += Math.sin(i * 0.1 + s) * 3; y.push(v); } ys.push(y); }
  return [xs, ys];
}
export function report(name, t0) {
  requestAnimationFrame(() => requestAnimationFrame(() => { document.title = name + " " + (performance.now() - t0).toFixed(1); }));
}
