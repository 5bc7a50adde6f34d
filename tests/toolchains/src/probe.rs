// The toolchain probe in Rust (rustc --target wasm32-wasi, Rust's std on wasi-libc): the same
// report as probe.c.  Rust's std (1.63) has no public API for random bytes, so the probe
// imports WASI's random_get itself, as the getrandom crate does.
//   probe FILE CODE [WORDS...]
use std::collections::HashMap;
use std::env;
use std::fs;
use std::io::{self, Write};
use std::process;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

fn random_bytes(n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    // SAFETY: random_get writes exactly `len` bytes into the buffer it is given.
    let errno = unsafe { random_get(buf.as_mut_ptr(), buf.len()) };
    if errno == 0 { Some(buf) } else { None }
}

fn report(out: &mut impl Write) -> io::Result<i32> {
    writeln!(out, "toolchain: rust (rustc {})", env!("PROBE_RUSTC_VERSION"))?;
    let args: Vec<String> = env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: probe FILE CODE [WORDS...]");
        return Ok(2);
    }
    writeln!(out, "args: {}", args.len())?;
    for (i, arg) in args.iter().enumerate() {
        writeln!(out, "arg {}: {}", i + 1, arg)?;
    }

    // HashMap's default hasher is seeded from random bytes: building one exercises that too.
    let vars: HashMap<String, String> = env::vars().collect();
    let greeting = vars.get("GREETING").map(String::as_str).unwrap_or("(unset)");
    writeln!(out, "env GREETING: {}", greeting)?;
    let absent = if env::var_os("PROBE_ABSENT").is_some() { "set" } else { "(unset)" };
    writeln!(out, "env PROBE_ABSENT: {}", absent)?;

    let data = match fs::read(&args[0]) {
        Ok(data) => data,
        Err(err) => {
            eprintln!("{}: {}", args[0], err);
            return Ok(3);
        }
    };
    writeln!(out, "file {}: {} bytes", args[0], data.len())?;
    out.write_all(&data)?;

    let a = Instant::now();
    let b = Instant::now();
    writeln!(out, "monotonic clock: {}", if b >= a { "ok" } else { "WENT BACK" })?;
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    writeln!(out, "realtime clock: {}", if wall > 1_577_836_800 { "ok" } else { "BEFORE 2020" })?;

    match random_bytes(16) {
        Some(bytes) => {
            let zero = if bytes.iter().all(|&b| b == 0) { " ALL ZERO" } else { "" };
            writeln!(out, "random: {} bytes{}", bytes.len(), zero)?;
        }
        None => writeln!(out, "random: 0 bytes")?,
    }

    let code = args[1].parse().unwrap_or(0);
    eprintln!("probe: exiting with {}", code);
    Ok(code)
}

fn main() {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let code = report(&mut out).expect("writing the report");
    out.flush().expect("flushing stdout");
    process::exit(code);
}
