import { Chart, LineController, LineElement, PointElement, LinearScale, Legend, Tooltip } from "chart.js";
import { data, report } from "./data.js";
Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);
const [xs, ys] = data(10, 1000);
const cv = document.createElement("canvas"); cv.width = 1200; cv.height = 400; document.body.append(cv);
const t0 = performance.now();
new Chart(cv, { type: "line", data: { datasets: ys.map(y => ({ data: y.map((v, i) => ({ x: xs[i], y: v })), pointRadius: 0, borderWidth: 1 })) },
  options: { animation: false, responsive: false, parsing: false, normalized: true, scales: { x: { type: "linear" } } } });
report("chartjs", t0);
