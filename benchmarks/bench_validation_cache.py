"""CPU time of ``Module(engine, binary)`` validating (cache off) against a cached verdict
(``_validcache.py``), on the interp tier, in one process.

    python benchmarks/bench_validation_cache.py FILE.wasm [FILE.wasm ...] [--repeat 5]

Prints, per file, the best of ``--repeat`` process times of each.
"""

import argparse
import os
import tempfile
import time

from wasmforge import Config, Engine, Module


def best(engine, data, repeat):
    times = []
    for _ in range(repeat):
        t = time.process_time()
        Module(engine, data)
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["WASMFORGE_CACHE_DIR"] = tempfile.mkdtemp()
    config = Config()
    config.strategy = "interp"
    engine = Engine(config)
    for path in args.files:
        with open(path, "rb") as fh:
            data = fh.read()
        os.environ["WASMFORGE_CACHE"] = "off"
        off = best(engine, data, args.repeat)
        del os.environ["WASMFORGE_CACHE"]
        Module(engine, data)        # stores the verdict
        on = best(engine, data, args.repeat)
        mb = len(data) / 1e6
        print(f"{os.path.basename(path)}: {mb:.2f} MB, validating {off:.3f} s ({mb / off:.1f} MB/s), "
              f"cached verdict {on:.3f} s ({mb / on:.1f} MB/s), {off / on:.1f}x")


if __name__ == "__main__":
    main()
