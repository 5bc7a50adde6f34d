// Writes the `share` tree that @yowasp/yosys bundles in gen/resources-yosys.js (file texts
// inline, large files as URLs of files beside it) to a folder, for a plain WASI runner.
// Usage: node extract_share.mjs PACKAGE_DIR OUT_DIR
import { mkdirSync, writeFileSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [pkg, out] = process.argv.slice(2);
const { filesystem } = await import(pathToFileURL(join(pkg, "gen", "resources-yosys.js")));

function write(tree, dir) {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(tree)) {
    const path = join(dir, name);
    if (typeof value === "string") writeFileSync(path, value);
    else if (value instanceof URL) copyFileSync(fileURLToPath(value), path);
    else if (value instanceof Uint8Array) writeFileSync(path, value);
    else write(value, path);
  }
}
write(filesystem, out);
