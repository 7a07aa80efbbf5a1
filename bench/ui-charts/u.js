import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { data, report } from "./data.js";
const [xs, ys] = data(10, 1000);
const t0 = performance.now();
new uPlot({ width: 1200, height: 400, series: [{}, ...ys.map(() => ({ stroke: "red" }))] }, [xs, ...ys], document.body);
report("uplot", t0);
