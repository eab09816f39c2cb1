"""``selfinstruct merge`` at 1M and 10M texts (issue 25): time, CPU and peak memory.

For each size, N shard run folders (default 4) of one Self-Instruct run are built once and
kept in ``--work DIR`` (a later run with the same size and N reuses them). Their shape is a
real sharded run's: a tiny ``--shard K/N`` Self-Instruct run is made first, in this process,
with the tests' fake backend (``tests/fakes.py``, as ``tests/test_shards.py`` does), and each
big shard folder takes its ``settings.json`` (``n`` set to the size) and ``summary.json``
(its counts set to the shard's). The shard's ``tasks.jsonl`` (what the merge reads) holds
the texts of ``benchmarks/novelty.py``'s ``iter_corpus(size)`` as instructions: text i goes
to shard ``i mod N``, as request i of a real run does, numbered ``task_000001``, ... within
its shard, with one instance (no input; the text before it as output).

Note that a real shard's records already passed the gate within that shard, whereas this
corpus has near duplicates inside each shard too: the merge here drops more than a real
one would (the rules and ROUGE-L novelty see every text either way).

The merge itself runs in a fresh process, through the command line's entry point:
``python -c`` calling ``selfinstruct.cli.main(["merge", OUT, RUN...])`` (what
``python -m selfinstruct merge OUT RUN...`` runs), which then reports its CPU seconds and
those of its child (the novelty process, when the merge starts one), and its peak RSS
(``VmHWM``) plus the child's: an upper bound of the two at once. Wall seconds include Python's
start-up and imports.

    python benchmarks/merge_scale.py [--sizes 1000000,10000000] [--shards 4]
                                     [--work DIR] [--alpaca PATH] [--profile FILE]
                                     [--split] [--build-only] [--similar-score first]

``--split`` times the CPU seconds the merge spends in ``NoveltyIndex.query`` and ``.add``
(with ``time.process_time`` around each call, about 1 us a call of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests", REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

ALPACA = Path("/work/shared/anchors/alpaca_data_5000.json")
WORK = Path(tempfile.gettempdir()) / "selfinstruct-merge-scale"
DONE = "built.json"  # written last in a shard set's folder: what was built, and how long it took

# The child: the command line's merge, then its own CPU seconds and peak RSS as one JSON line.
CHILD = """
import json, resource, sys, time
from selfinstruct.cli import main
from selfinstruct.novelty import NoveltyIndex
novelty = [0.0]
if sys.argv[1] == "--split":  # CPU seconds inside NoveltyIndex.query and .add, added up
    del sys.argv[1]
    def timed(method):
        def run(*args, **kwargs):
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                novelty[0] += time.process_time() - start
        return run
    NoveltyIndex.query = timed(NoveltyIndex.query)
    NoveltyIndex.add = timed(NoveltyIndex.add)
try:
    main(sys.argv[1:], prog_name="selfinstruct", standalone_mode=False)
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)  # the novelty process, once ended
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    print("MERGE_SCALE " + json.dumps({
        "cpu_s": usage.ru_utime + usage.ru_stime + child.ru_utime + child.ru_stime,
        "child_cpu_s": child.ru_utime + child.ru_stime,
        "peak_rss_mb": (hwm + child.ru_maxrss) / 1024, "child_peak_rss_mb": child.ru_maxrss / 1024,
        "novelty_cpu_s": novelty[0]}), file=sys.stderr)
"""

PROFILED = """
import cProfile, sys
from selfinstruct.cli import main
cProfile.run('main(sys.argv[2:], prog_name="selfinstruct", standalone_mode=False)', sys.argv[1])
"""


def template(folder: Path, shards: int) -> list[Path]:
    """A tiny real Self-Instruct run split in ``shards`` (the fake backend): its folders."""
    from fakes import FakeBackend

    import selfinstruct as si

    runs = []
    for k in range(shards):
        backend = FakeBackend()
        settings = si.settings("self-instruct", backend, n=2 * shards, shard=f"{k}/{shards}")
        si.run(settings, backend, folder / f"tiny-{k}")
        runs.append(folder / f"tiny-{k}")
    return runs


def build(size: int, shards: int, alpaca: Path, work: Path) -> tuple[Path, dict[str, Any]]:
    """The shard folders for ``size`` texts (built once: a finished set is reused)."""
    from novelty import iter_corpus

    from selfinstruct.jsonio import dumps

    folder = work / f"{size}-texts-{shards}-shards"
    if (folder / DONE).is_file():
        return folder, json.loads((folder / DONE).read_text(encoding="utf-8"))
    if not alpaca.is_file():
        raise SystemExit(f"{alpaca}: no such file (pass --alpaca PATH to alpaca_data_5000.json)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start = time.perf_counter()
    tiny = template(folder / "template", shards)
    runs = [folder / f"shard-{k}-of-{shards}" for k in range(shards)]
    handles = []
    for run in runs:
        run.mkdir()
        handles.append(open(run / "tasks.jsonl", "w", encoding="utf-8"))  # noqa: SIM115
    counts = [0] * shards
    previous = ""
    for i, text in enumerate(iter_corpus(size, alpaca)):
        k = i % shards
        counts[k] += 1
        record = {
            "id": f"task_{counts[k]:06d}", "instruction": text, "is_classification": False,
            "instances": [{"input": "", "output": previous}],
        }  # fmt: skip
        handles[k].write(dumps(record) + "\n")
        previous = text
    for handle in handles:
        handle.close()
    for k, run in enumerate(runs):
        settings = json.loads((tiny[k] / "settings.json").read_text(encoding="utf-8"))
        settings["n"] = size
        (run / "settings.json").write_text(json.dumps(settings, indent=2) + "\n", "utf-8")
        summary = json.loads((tiny[k] / "summary.json").read_text(encoding="utf-8"))
        summary.update(
            target=counts[k], accepted_instructions=counts[k], tasks=counts[k],
            instances=counts[k], classification_tasks=0,
        )  # fmt: skip
        (run / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    built = {
        "texts": size, "shards": shards, "build_s": round(time.perf_counter() - start, 1),
        "bytes": sum((run / "tasks.jsonl").stat().st_size for run in runs),
        "loadavg_after": os.getloadavg(),
    }  # fmt: skip
    (folder / DONE).write_text(json.dumps(built) + "\n", encoding="utf-8")
    return folder, built


def merge(
    folder: Path, shards: int, profile: Path | None, split: bool, similar_score: str = "max"
) -> dict[str, Any]:
    """``selfinstruct merge`` of the shard folders in a fresh process: its figures."""
    runs = [str(folder / f"shard-{k}-of-{shards}") for k in range(shards)]
    runs += ["--similar-score", similar_score]
    out = folder / "merged"
    shutil.rmtree(out, ignore_errors=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    if profile is not None:
        command = [sys.executable, "-c", PROFILED, str(profile), "merge", str(out), *runs]
    else:
        options = ["--split"] if split else []
        command = [sys.executable, "-c", CHILD, *options, "merge", str(out), *runs]
    load_before = os.getloadavg()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"merge failed ({done.returncode}): {done.stderr.strip()}")
    figures: dict[str, Any] = {}
    for line in done.stderr.splitlines():
        if line.startswith("MERGE_SCALE "):
            figures = json.loads(line.removeprefix("MERGE_SCALE "))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))["merge"]
    texts = summary["kept"] + sum(summary["dropped"].values())
    result = {
        "texts": texts, "kept": summary["kept"], "dropped": summary["dropped"],
        "wall_s": round(wall, 1), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "out_bytes": (out / "tasks.jsonl").stat().st_size,
    }  # fmt: skip
    if figures:  # not under cProfile
        result["cpu_s"] = round(figures["cpu_s"], 1)
        result["peak_rss_mb"] = round(figures["peak_rss_mb"])
        result["child_peak_rss_mb"] = round(figures.get("child_peak_rss_mb", 0))
        result["child_cpu_s"] = round(figures.get("child_cpu_s", 0), 1)
        if split:
            result["novelty_cpu_s"] = round(figures["novelty_cpu_s"], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--alpaca", type=Path, default=ALPACA)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the merge to FILE")
    parser.add_argument(
        "--split", action="store_true", help="also time NoveltyIndex.query and .add (CPU s)"
    )
    parser.add_argument("--build-only", action="store_true", help="build the shards, no merge")
    parser.add_argument(
        "--similar-score", choices=["max", "first"], default="max",
        help="merge --similar-score: what a drop as too similar records",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        folder, built = build(size, args.shards, args.alpaca, args.work)
        print(
            f"{size:,} texts in {args.shards} shards ({built['bytes'] / 1e6:,.0f} MB): "
            f"{folder} (built in {built['build_s']} s)",
            flush=True,
        )
        if args.build_only:
            continue
        figures = merge(folder, args.shards, args.profile, args.split, args.similar_score)
        dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(figures["dropped"].items()))
        load = "/".join(f"{x:.1f}" for x in figures["loadavg_before"] + figures["loadavg_after"])
        cost = f"{figures['wall_s']} s wall"
        if "cpu_s" in figures:
            cost += f", {figures['cpu_s']} s CPU"
            if "novelty_cpu_s" in figures:
                cost += f" ({figures['novelty_cpu_s']} s of it in NoveltyIndex.query and .add)"
            cost += f", peak RSS {figures['peak_rss_mb']} MB"
        print(
            f"  merge: {figures['texts']:,} texts, kept {figures['kept']:,}, dropped: {dropped}; "
            f"{cost}; load average {load} (1/5/15 min before/after)",
            flush=True,
        )
        print("  " + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
