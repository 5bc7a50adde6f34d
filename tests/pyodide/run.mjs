// Runs Python scripts inside Pyodide (CPython compiled to WebAssembly) under node, with a
// wasmforge wheel installed, for tests/pyodide/test_pyodide.py.
//
//   node run.mjs NODE_MODULES [--wheel WHEEL]... [--file HOST=GUEST]... SCRIPT.py...
//
// NODE_MODULES holds the npm package `pyodide` (tests/pyodide/package.json).  Each --wheel
// is installed, in order, from its local file.  Each --file
// copies a host file into Pyodide's in-memory filesystem (MEMFS) at GUEST: the scripts see
// no host file at all.  Each script runs in a fresh globals dict; its output follows a line
// `=== NAME`, and a script that raises prints `=== NAME FAILED` and its traceback.  Scripts
// may use top-level `await` (they run on Pyodide's event loop).  The exit status is the
// number of scripts that failed.
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, ...rest] = process.argv.slice(2);
const wheels = [];
const files = [];
const scripts = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--wheel") wheels.push(rest[++i]);
  else if (rest[i] === "--file") files.push(rest[++i]);
  else scripts.push(rest[i]);
}

const { loadPyodide } = await import(pathToFileURL(join(nodeModules, "pyodide", "pyodide.mjs")).href);
let t0 = performance.now();
// Output goes through node's own streams line by line, so the test reads it in order.
const py = await loadPyodide({
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
console.log(`=== load-pyodide ${Math.round(performance.now() - t0)} ms`);

t0 = performance.now();
// loadPackage installs a wheel from a local path as micropip would from an index (no network).
for (const wheel of wheels) await py.loadPackage(wheel, { messageCallback: () => {} });
console.log(`=== install-wheels ${Math.round(performance.now() - t0)} ms`);

for (const spec of files) {
  const at = spec.indexOf("=");
  const guest = spec.slice(at + 1);
  py.FS.mkdirTree(dirname(guest));
  py.FS.writeFile(guest, readFileSync(spec.slice(0, at)));
}

let failed = 0;
for (const script of scripts) {
  const name = basename(script);
  const globals = py.globals.get("dict")();
  t0 = performance.now();
  try {
    console.log(`=== ${name}`);
    await py.runPythonAsync(readFileSync(script, "utf8"), { globals, filename: name });
    console.log(`=== ${name} done ${Math.round(performance.now() - t0)} ms`);
  } catch (err) {
    failed++;
    console.log(`=== ${name} FAILED`);
    console.log(String(err));
  } finally {
    globals.destroy();
  }
}
process.exit(failed);
