// Bundles src/ into ../ui/dist (committed, embedded in the binary with
// go:embed). `node build.mjs --check` fails when the committed bundle
// differs from a fresh build (CI).
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "ldb-ui-")) : new URL("../ui/dist/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  outfile: join(out, "app.js"),
  legalComments: "none",
  logLevel: "warning",
});
await build({
  entryPoints: ["src/style.css"],
  bundle: true,
  minify: true,
  outfile: join(out, "app.css"),
  logLevel: "warning",
});
writeFileSync(join(out, "index.html"), readFileSync("src/index.html"));
if (check) {
  const committed = new URL("../ui/dist/", import.meta.url).pathname;
  let diff = [];
  for (const f of readdirSync(out)) {
    let a = "";
    try { a = readFileSync(join(committed, f), "utf8"); } catch { }
    if (a !== readFileSync(join(out, f), "utf8")) diff.push(f);
  }
  for (const f of readdirSync(committed)) if (!readdirSync(out).includes(f)) diff.push(f);
  if (diff.length) {
    console.error(`ui/dist differs from a fresh build of web/src: ${diff.join(", ")}; run: cd web && npm ci && npm run build`);
    process.exit(1);
  }
  console.log("ui/dist matches web/src");
}
