"""Fingerprints of xlcnn's output: the sha256 of every workbook a fixed set of builds writes, and of the
``verify`` report of each (with timings removed), so that a change meant to keep the output the same —
a refactoring, a speed-up — can prove it did, byte for byte.

    python bench/fingerprints.py > before.txt          # before the change
    python bench/fingerprints.py > after.txt           # after it
    diff before.txt after.txt                          # no output: the same bytes
    python bench/fingerprints.py --verify > reports.txt  # also every verify report (needs LibreOffice)

The builds: every built-in template on every sample image, and on the default model ``--lang zh``,
``--worked 2,3,4`` and a modified architecture (``--size 20x24 --filters 3,5 --stride 2,1``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import xlcnn

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.png"))


def builds() -> list[tuple[str, dict[str, Any]]]:
    """(name, keyword arguments of ``build_workbook``) of every build fingerprinted."""
    out: list[tuple[str, dict[str, Any]]] = []
    for template in xlcnn.list_templates():
        model = xlcnn.load_model(template)
        out += [(f"{template}/{image.stem}", {"image": image, "model": model}) for image in SAMPLES]
    default = xlcnn.load_model("default")
    modified = xlcnn.modify_model(default, size=(20, 24), filters=(3, 5), stride=(2, 1), seed=3)
    out += [
        ("default/circle --lang zh", {"image": ROOT / "samples" / "circle.png", "model": default, "lang": "zh"}),
        ("default/square --worked 2,3,4", {"image": ROOT / "samples" / "square.png", "model": default,
                                           "worked": (2, 3, 4)}),
        ("default/triangle modified", {"image": ROOT / "samples" / "triangle.png", "model": modified,
                                       "label": modified.classes[-1]}),
    ]
    return out


def report_text(path: Path) -> str:
    """The verify report as JSON, without what varies from run to run (timings, the temporary path)."""
    report = xlcnn.verify_workbook(path).to_dict()
    for key in ("seconds", "recalc_seconds", "workbook"):
        report.pop(key, None)
    return json.dumps(report, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="also fingerprint each workbook's verify report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xlcnn-fingerprints-") as tmp:
        for i, (name, kwargs) in enumerate(builds()):
            out = Path(tmp) / f"book{i}.xlsx"
            xlcnn.build_workbook(output=out, **kwargs)
            line = f"{hashlib.sha256(out.read_bytes()).hexdigest()}  {name}"
            if args.verify:
                line += f"  report {hashlib.sha256(report_text(out).encode()).hexdigest()[:16]}"
            print(line, flush=True)
            out.unlink()
    sys.exit(0)


if __name__ == "__main__":
    main()
