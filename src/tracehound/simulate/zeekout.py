"""Simulated connections written as Zeek writes ``conn.log``: TSV with its header, JSON Lines
(``LogAscii::use_json``), or JSON Lines with ``id_orig_h``-style names (OTRF Security-Datasets,
Logstash and Parquet pipelines, which cannot keep dots in field names).

Why one writer: format parity is tested on whole simulated networks — the same connections in each
format must give the same findings — so every format renders the same rows, and the random source
ports are drawn in the same order whichever format is written (a seed gives the same network).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import orjson

from .writer import open_output

FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
          "duration", "orig_bytes", "resp_bytes", "conn_state"]
TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
         "count", "string"]
#: Output format → file name.
FORMATS = {"zeek-tsv": "conn.log.gz", "zeek-json": "conn.json.gz", "zeek-json-underscore": "conn_underscore.json.gz"}


def write_conn(out: Path, rows: list[tuple], fmt: str, seed: int, rng: np.random.Generator) -> Path:
    """Write ``rows`` (``ts, src, dst, port, proto, service, duration, sent, received, state``) in
    ``fmt`` (a key of :data:`FORMATS`) into folder ``out``; the file's path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown connection output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = out / FORMATS[fmt]
    with open_output(path, gzip=True) as raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        if fmt == "zeek-tsv":
            fh.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
            fh.write("#path\tconn\n#fields\t" + "\t".join(FIELDS) + "\n#types\t" + "\t".join(TYPES) + "\n")
        names = [f.replace(".", "_") for f in FIELDS] if fmt == "zeek-json-underscore" else FIELDS
        for n, (t, src, dst, port, proto, service, duration, sent, recv, state) in enumerate(rows):
            uid, orig_port = f"C{seed:02d}{n:09d}", int(rng.integers(1024, 65535))
            if fmt == "zeek-tsv":
                dur = "-" if duration is None else f"{duration:.3f}"
                fh.write(f"{t:.6f}\t{uid}\t{src}\t{orig_port}\t{dst}\t"
                         f"{port}\t{proto}\t{service or '-'}\t{dur}\t{sent}\t{recv}\t{state}\n")
                continue
            values = [round(t, 6), uid, src, orig_port, dst, port, proto, service,
                      None if duration is None else round(duration, 3), sent, recv, state]
            rec = {k: v for k, v in zip(names, values) if v is not None}  # Zeek leaves unset fields out
            fh.write(orjson.dumps(rec).decode() + "\n")
    return path
