"""Every benchmark in one run, written up in ``docs/benchmarks.md``.

    .venv/bin/python -m bench                       # every benchmark, quick options (bounded, ~10-20 min)
    .venv/bin/python -m bench --only pages votes    # a selection
    .venv/bin/python -m bench --full                # each benchmark with its own defaults (hours)
    .venv/bin/python -m bench --list                # what would run, with which command
    .venv/bin/python -m bench --no-write            # print only

Each benchmark runs as its own process (``python -m bench.NAME …``) with a time limit; what it prints is
its report. The report goes into docs/benchmarks.md between ``<!-- bench:all:begin -->`` and
``<!-- bench:all:end -->`` — one subsection per benchmark with the command, the date, the machine and
the figures it printed. Subsections of benchmarks not run this time are kept, and so is everything
outside the markers (the hand-written analysis of each benchmark). Exit 1 if a benchmark failed or
ran out of time (the others still run and are written up).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:all:begin -->", "<!-- bench:all:end -->"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Lines of each benchmark's output kept in the document (the figures come at the end).
KEEP_LINES = 80


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    quick: tuple[str, ...]
    full: tuple[str, ...] = ()


#: In the order they run. ``bench.profile`` is a tool for one page, not a benchmark: not listed.
BENCHES = (
    Bench(
        "pages",
        "Meeting page and search",
        ("--db", "sqlite", "--scale", "small", "--duration", "3", "--concurrency", "4", "--meetings", "20"),
        ("--db", "both"),
    ),
    Bench("oparl", "OParl API", ("--db", "sqlite", "--scale", "small", "--duration", "3", "--warmup", "1")),
    Bench("oparl_import", "OParl import", ("--db", "sqlite", "--meetings", "20", "--papers", "40")),
    Bench(
        "votes",
        "Votes: ballot burst and SSE fan-out",
        ("--db", "sqlite", "--voters", "20", "--viewers", "200"),
    ),
    Bench("streaming", "Streaming", ("--seconds", "5", "--duration", "3", "--concurrency", "4")),
    Bench(
        "webrtc",
        "WebRTC (WHEP) viewers",
        ("--seconds", "4", "--viewers", "2", "--size", "320x240", "--fps", "10"),
    ),
    Bench("transcripts", "Transcripts", ("--repeats", "1", "--live-seconds", "20")),
    Bench("transcript_search", "Transcript search", ("--db", "sqlite", "--hours", "50", "--rounds", "2")),
    Bench(
        "transcripts_bias",
        "Transcripts biased by the agenda",
        ("--minutes", "2", "--meeting-minutes", "2", "--variants", "clean"),
        ("--minutes", "10", "--meeting-minutes", "30"),
    ),
    Bench(
        "questions",
        "Question time: submissions per second",
        ("--db", "sqlite", "--seconds", "5", "--limited-seconds", "2", "--no-write"),
        ("--db", "postgres"),
    ),
    Bench(
        "backoffice",
        "Back office: invitation PDF, its mail and agenda edits",
        ("--db", "sqlite", "--edits", "20", "--subscribers", "50"),
    ),
    Bench("workspace", "Councillor's workspace: merged PDF, ZIP, reader page", ("--repeat", "2")),
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} logical CPUs{mem}, {system}, Python {platform.python_version()}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def clean(output: str) -> str:
    """No colour codes, no progress-bar redraws (keep what a carriage return left standing)."""
    lines = []
    for raw in _ANSI.sub("", output).split("\n"):  # not splitlines(): it splits at \r too
        lines.append(raw.rsplit("\r", 1)[-1].rstrip())
    text = "\n".join(lines).strip("\n")
    kept = text.splitlines()[-KEEP_LINES:]
    return "\n".join(kept).replace("```", "'''")


def run_one(bench: Bench, args: tuple[str, ...], timeout: float) -> tuple[str, int | None, float]:
    """``(output, exit code or None on timeout, seconds)``; on timeout its process group is stopped."""
    cmd = [sys.executable, "-m", f"bench.{bench.name}", *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return out, proc.returncode, time.monotonic() - started
    except subprocess.TimeoutExpired:
        import signal

        os.killpg(proc.pid, signal.SIGINT)  # the benchmarks stop their servers on Ctrl+C
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        return out + f"\n[bench.all: stopped after {timeout:.0f} s]", None, time.monotonic() - started


def section(
    bench: Bench, args: tuple[str, ...], output: str, rc: int | None, seconds: float, when: str
) -> str:
    status = "ok" if rc == 0 else ("timed out" if rc is None else f"exit {rc}")
    command = " ".join([".venv/bin/python", "-m", f"bench.{bench.name}", *args])
    return (
        f"<!-- bench:{bench.name} -->\n"
        f"### {bench.title} (`bench.{bench.name}`)\n\n"
        f"- command: `{command}`\n"
        f"- date: {when}, {seconds:.0f} s, {status}\n"
        f"- machine: {machine()}\n"
        f"- commit: {git_commit()}\n\n"
        f"```text\n{clean(output)}\n```\n"
    )


def _old_sections(text: str) -> dict[str, str]:
    if BEGIN not in text or END not in text:
        return {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    found: dict[str, str] = {}
    for part in re.split(r"(?=^<!-- bench:[a-z_]+ -->$)", block, flags=re.MULTILINE):
        m = re.match(r"<!-- bench:([a-z_]+) -->", part)
        if m:
            found[m.group(1)] = part.rstrip("\n") + "\n"
    return found


def write_doc(new: dict[str, str], command: str, doc: Path = DOC) -> None:
    """Replace the generated block (sections not run now are kept); leave the rest of the file alone."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    sections = {**_old_sections(text), **new}
    ordered = [sections[b.name] for b in BENCHES if b.name in sections]
    block = (
        f"{BEGIN}\n## Latest run of every benchmark (`python -m bench`)\n\n"
        "Generated by `bench/all.py` from what each benchmark printed; the sections below this block are\n"
        "the written-up measurements. Quick options unless the command says otherwise: figures for\n"
        f"comparison between runs, not targets. Last command: `{command}`.\n\n"
        + "\n".join(ordered)
        + f"{END}"
    )
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:  # first time: after the introduction, before the first section
        m = re.search(r"^## ", text, flags=re.MULTILINE)
        at = m.start() if m else len(text)
        text = text[:at] + block + "\n\n" + text[at:]
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    names = [b.name for b in BENCHES]
    p.add_argument(
        "--only", nargs="+", choices=names, metavar="NAME", help=f"run only these: {', '.join(names)}"
    )
    p.add_argument("--skip", nargs="+", choices=names, metavar="NAME", default=[], help="leave these out")
    p.add_argument(
        "--full", action="store_true", help="each benchmark's own defaults (long) instead of quick options"
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per benchmark before it is stopped (600)"
    )
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    p.add_argument("--list", action="store_true", help="show the commands and exit")
    ns = p.parse_args(argv)
    chosen = [b for b in BENCHES if (not ns.only or b.name in ns.only) and b.name not in ns.skip]
    plan = [(b, b.full if ns.full else b.quick) for b in chosen]
    if ns.list:
        for b, args in plan:
            print(" ".join(["python", "-m", f"bench.{b.name}", *args]))
        return 0
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    new: dict[str, str] = {}
    failed = []
    for b, args in plan:
        print(f"==> bench.{b.name} {' '.join(args)}", flush=True)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        out, rc, seconds = run_one(b, args, ns.timeout)
        print(clean(out), flush=True)
        print(f"<== bench.{b.name}: {'ok' if rc == 0 else rc} in {seconds:.0f} s\n", flush=True)
        if rc != 0:
            failed.append(b.name)
        new[b.name] = section(b, args, out, rc, seconds, when)
        if not ns.no_write:  # after each one: an interrupted run still leaves what it measured
            write_doc(new, command)
    if failed:
        print(f"failed or timed out: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
