"""The long fuzz run of issue 9 (opt-in; minutes): every target of tests/fuzz_kit.py fed mutated
corpus inputs, each input bounded in time.

    python tests/long/fuzz_run.py --inputs 100000            # all targets, shared out
    python tests/long/fuzz_run.py --engine atheris --target check_request --inputs 50000

Engines: ``mutate`` (built in: bit flips, byte runs inserted, deleted, duplicated and spliced
between seeds, protobuf tags and varints in non-minimal forms), and ``atheris`` (libFuzzer's
coverage-guided mutator, `pip install atheris`; one process per target). A finding (a crash, a
disagreement with protobuf's parser, a wrong ALLOW, an input over the time limit) is written to
tests/testdata/fuzz/findings/ and makes the exit status 1. Prints one summary line per target.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wire_kit import encode_varint, minimal_size  # after tests/ is on the path

FINDINGS = Path(__file__).resolve().parent.parent / "testdata" / "fuzz" / "findings"
#: Share of the inputs per target: the compiler and snapshot targets are much slower per input.
WEIGHTS = {
    "check_request": 30,
    "batch": 25,
    "ext_authz": 7,
    "ext_authz_fields": 8,
    "snapshot_body": 8,
    "snapshot_semantics": 8,
    "snapshot": 7,
    "compile": 7,
}


class Hang(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang


def _varint(value: int, pad: int) -> bytes:
    return encode_varint(value, minimal_size(value) + pad)


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One to four random edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(10)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[min(pos, len(out) - 1)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and out:
            del out[pos : pos + rng.randint(1, 16)]
        elif op == 4 and out:
            start = rng.randrange(len(out))
            out[pos:pos] = out[start : start + rng.randint(1, 64)]
        elif op == 5 and pool:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            out[pos:pos] = other[start : start + rng.randint(1, 128)]
        elif op == 6:
            number, wire_type = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, rng.randrange(1, 2**29)]), rng.randrange(6)
            out[pos:pos] = _varint(number << 3 | wire_type, rng.choice([0, 0, 1, 4]))
        elif op == 7:
            out[pos:pos] = _varint(rng.choice([0, 1, 36, 127, 128, 2**31, 2**64 - 1]), rng.choice([0, 1, 3]))
        elif op == 8 and out:
            del out[pos:]
        elif op == 9 and out:
            i = min(pos, len(out) - 1)
            out[i] = (out[i] + rng.choice([-1, 1])) % 256
    return bytes(out)


def record(target: str, data: bytes, why: str) -> Path:
    FINDINGS.mkdir(parents=True, exist_ok=True)
    path = FINDINGS / f"{target}-{hashlib.sha256(data).hexdigest()[:16]}"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(why + "\n", encoding="utf-8")
    return path


def run_mutate(
    target: str, fn: Callable[[bytes], None], seeds: list[bytes], inputs: int, hang_s: float, seed: int
) -> dict:
    rng = random.Random(seed)
    signal.signal(signal.SIGALRM, _alarm)
    fn(seeds[0])  # untimed: builds the target's snapshot and servicers once
    findings: list[str] = []
    slowest = 0.0
    start = time.perf_counter()
    for n in range(inputs):
        data = rng.choice(seeds) if n < len(seeds) or not rng.randrange(20) else mutate(rng, rng.choice(seeds), seeds)
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, hang_s)
        try:
            fn(data)
        except Hang:
            findings.append(str(record(target, data, f"hang: over {hang_s} s")))
        except Exception as exc:  # a Finding, or a crash: both are findings
            why = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            findings.append(str(record(target, data, why)))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        slowest = max(slowest, time.perf_counter() - t0)
    return {
        "target": target,
        "engine": "mutate",
        "inputs": inputs,
        "seconds": round(time.perf_counter() - start, 1),
        "slowest_s": round(slowest, 3),
        "findings": findings,
    }


def run_atheris(target: str, inputs: int, hang_s: float) -> dict:
    """One libFuzzer process per target (atheris exits the process when done)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--atheris-child", target, "--inputs", str(inputs), "--hang", str(hang_s)],
        capture_output=True,
        text=True,
        timeout=max(600.0, inputs * 0.05),
        check=False,
    )
    tail = (proc.stderr or "").strip().splitlines()[-3:]
    findings = [] if proc.returncode == 0 else [str(record(target, b"", "atheris: " + "\n".join(tail)))]
    return {
        "target": target,
        "engine": "atheris",
        "inputs": inputs,
        "seconds": round(time.perf_counter() - start, 1),
        "summary": tail[-1] if tail else "",
        "findings": findings,
    }


def atheris_child(target: str, inputs: int, hang_s: float) -> None:
    import atheris

    with atheris.instrument_imports(include=["xtenant_pdp"]):
        import fuzz_kit
    fn = fuzz_kit.TARGETS[target]
    FINDINGS.mkdir(parents=True, exist_ok=True)
    corpus = Path(tempfile.mkdtemp(prefix=f"xtenant-fuzz-{target}-"))  # libFuzzer adds to it: not the repo's
    shutil.copytree(fuzz_kit.CORPUS / target, corpus, dirs_exist_ok=True)
    atheris.Setup(
        [
            sys.argv[0],
            f"-runs={inputs}",
            f"-timeout={max(1, int(hang_s))}",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={FINDINGS}/{target}-",
            str(corpus),
        ],
        fn,
    )
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs in all (shared out by weight)")
    parser.add_argument("--target", action="append", help="only these targets (repeatable)")
    parser.add_argument("--engine", choices=["mutate", "atheris"], default="mutate")
    parser.add_argument("--hang", type=float, default=5.0, help="seconds one input may take (default 5)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    parser.add_argument("--atheris-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.atheris_child:
        atheris_child(args.atheris_child, args.inputs, args.hang)
        return 0
    import fuzz_kit

    logging.disable(logging.CRITICAL)  # denials the product logs are answers, not findings
    targets = args.target or list(fuzz_kit.TARGETS)
    weight = sum(WEIGHTS[t] for t in targets)
    results = []
    for target in targets:
        share = max(1, args.inputs * WEIGHTS[target] // weight)
        seeds = fuzz_kit.corpus(target) or [b""]
        if args.engine == "atheris":
            result = run_atheris(target, share, args.hang)
        else:
            result = run_mutate(target, fuzz_kit.TARGETS[target], seeds, share, args.hang, args.seed)
        results.append(result)
        print(
            f"{target:14} {result['engine']:8} {result['inputs']:>8} inputs {result['seconds']:>8} s "
            f"{len(result['findings'])} findings"
            + (f", slowest {result['slowest_s']} s" if "slowest_s" in result else ""),
            flush=True,
        )
    total = sum(r["inputs"] for r in results)
    found = sum(len(r["findings"]) for r in results)
    seconds = sum(r["seconds"] for r in results)
    print(f"total: {total} inputs, {seconds:.0f} s, {found} findings (python {sys.version.split()[0]})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
