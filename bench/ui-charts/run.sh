#!/usr/bin/env bash
# Which charting library for the web UI: bundle size (minified, gzipped) and
# time to draw 10 series x 1,000 points in headless Chromium, for uPlot,
# Chart.js and ECharts, each run 5 times interleaved (docs/ui.md).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
mkdir -p out
for n in u c e; do
  npx esbuild $n.js --bundle --minify --outfile=out/$n.js --log-level=error
  printf '<!doctype html><html><head><link rel="stylesheet" href="%s.css"></head><body><script src="%s.js"></script></body></html>' $n $n > out/$n.html
  files="out/$n.js"; [ -f out/$n.css ] && files="$files out/$n.css"
  echo "$n: $(cat $files | wc -c) bytes, $(cat $files | gzip -9 | wc -c) gzipped"
done
for i in 1 2 3 4 5; do
  for n in u c e; do
    chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 --dump-dom "file://$PWD/out/$n.html" 2>/dev/null | grep -o '<title>[^<]*</title>'
  done
done
