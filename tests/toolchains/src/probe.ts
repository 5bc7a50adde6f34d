// The toolchain probe in AssemblyScript (asc with @assemblyscript/wasi-shim): the same
// report as probe.c.  The shim maps `process`, `crypto` and `Date` onto WASI; AssemblyScript
// has no file API, so the probe finds the preopened directory that holds FILE and opens it
// with path_open itself, as wasi-libc does under fopen.
//   probe FILE CODE [WORDS...]
import {
  fd_close, fd_prestat_dir_name, fd_prestat_get, fd_read, path_open, prestat,
} from "@assemblyscript/wasi-shim/assembly/bindings/wasi_snapshot_preview1";

const scratch = memory.data(16);   // prestat / iovec / result cells
const RIGHT_FD_READ: u64 = 2;

function out(text: string): void { process.stdout.write(text); }

// The preopened directory whose name prefixes `path`, and the path below it: [fd, rest].
function resolve(path: string): string[] | null {
  for (let fd: u32 = 3; fd < 64; fd++) {
    if (fd_prestat_get(fd, changetype<prestat>(scratch)) != 0) break;   // no more preopens
    const len = load<u32>(scratch, 4);
    const name = new ArrayBuffer(<i32>len);
    if (fd_prestat_dir_name(fd, changetype<usize>(name), len) != 0) continue;
    let dir = String.UTF8.decode(name);
    if (!dir.endsWith("/")) dir += "/";
    if (path.startsWith(dir)) return [fd.toString(), path.slice(dir.length)];
  }
  return null;
}

function readFile(path: string): ArrayBuffer | null {
  const where = resolve(path);
  if (where == null) return null;
  const rel = String.UTF8.encode(where[1]);
  const err = path_open(<u32>I32.parseInt(where[0]), 0, changetype<usize>(rel), rel.byteLength,
                        0, RIGHT_FD_READ, 0, 0, changetype<usize>(scratch));
  if (err != 0) return null;
  const fd = load<u32>(scratch);
  let data = new Uint8Array(0);
  const chunk = new Uint8Array(512);
  while (true) {
    store<u32>(scratch, changetype<usize>(chunk.buffer));
    store<u32>(scratch, chunk.length, 4);
    if (fd_read(fd, changetype<usize>(scratch), 1, changetype<usize>(scratch) + 8) != 0) break;
    const n = load<u32>(scratch, 8);
    if (n == 0) break;
    const grown = new Uint8Array(data.length + n);
    grown.set(data);
    grown.set(chunk.subarray(0, n), data.length);
    data = grown;
  }
  fd_close(fd);
  return data.buffer;
}

function report(): i32 {
  out("toolchain: assemblyscript (asc " + ASC_VERSION_MAJOR.toString() + "." +
      ASC_VERSION_MINOR.toString() + "." + ASC_VERSION_PATCH.toString() + ")\n");
  const args = process.argv.slice(1);
  if (args.length < 2) {
    process.stderr.write("usage: probe FILE CODE [WORDS...]\n");
    return 2;
  }
  out("args: " + args.length.toString() + "\n");
  for (let i = 0; i < args.length; i++) out("arg " + (i + 1).toString() + ": " + args[i] + "\n");

  const env = process.env;
  out("env GREETING: " + (env.has("GREETING") ? env.get("GREETING") : "(unset)") + "\n");
  out("env PROBE_ABSENT: " + (env.has("PROBE_ABSENT") ? "set" : "(unset)") + "\n");

  const data = readFile(args[0]);
  if (data == null) {
    process.stderr.write(args[0] + ": cannot open\n");
    return 3;
  }
  out("file " + args[0] + ": " + data.byteLength.toString() + " bytes\n");
  process.stdout.write<ArrayBuffer>(data);   // narrowed: not null here

  const a = process.hrtime();
  const b = process.hrtime();
  out("monotonic clock: " + (b >= a ? "ok" : "WENT BACK") + "\n");
  out("realtime clock: " + (Date.now() > 1577836800000 ? "ok" : "BEFORE 2020") + "\n");

  const random = new Uint8Array(16);
  crypto.getRandomValues(random);
  let nonzero: u8 = 0;
  for (let i = 0; i < random.length; i++) nonzero |= random[i];
  out("random: " + random.length.toString() + " bytes" + (nonzero ? "" : " ALL ZERO") + "\n");

  const code = I32.parseInt(args[1]);
  process.stderr.write("probe: exiting with " + code.toString() + "\n");
  return code;
}

process.exit(report());
