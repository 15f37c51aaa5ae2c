// Builds the dashboard into ../origin/uidist/: index.html, app.js and
// app.css, fixed names (the origin serves them by ETag, and go:embed names
// exactly these three), minified, and byte-for-byte the same on every run
// so a rebuild of an unchanged tree leaves git clean.
//
//   npm run build        (node build.mjs)
import { build } from "esbuild";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "origin", "uidist");

// No inline script or style: the page's Content-Security-Policy allows
// scripts only from this origin. The empty data: icon stops the browser
// asking for /favicon.ico (a 404 in the console on every load).
const indexHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Aloft</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
<script type="module" src="app.js"></script>
</head>
<body>
<noscript>The Aloft dashboard needs JavaScript.</noscript>
</body>
</html>
`;

// uPlot's MIT notice must travel with the copy; its own header is a
// plain comment that minification drops.
const uplot = JSON.parse(await readFile(join(here, "node_modules", "uplot", "package.json"), "utf8"));
const banner = `/*! Aloft dashboard. Bundles uPlot ${uplot.version} (c) Leon Sorokin, MIT License, https://github.com/leeoniya/uPlot */`;

await mkdir(out, { recursive: true });
// Only our three files may be there: anything else would be stale.
for (const name of await readdir(out)) {
  if (!["index.html", "app.js", "app.css"].includes(name)) await rm(join(out, name), { recursive: true });
}

const result = await build({
  entryPoints: [join(here, "src", "app.js")],
  outfile: join(out, "app.js"), // the CSS it imports lands beside it as app.css
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  charset: "utf8",
  legalComments: "eof",
  banner: { js: banner, css: banner },
  sourcemap: false,
  metafile: true,
  logLevel: "warning",
});
await writeFile(join(out, "index.html"), indexHTML);

// Quiet on success (make test runs it); loud if esbuild ever splits the
// output into more files than the origin embeds.
const names = Object.keys(result.metafile.outputs).map((p) => p.split("/").pop()).sort();
if (names.join(",") !== "app.css,app.js") {
  throw new Error(`unexpected build outputs: ${names.join(", ")}`);
}
