"""Make the page previews in docs/images/ from real workbooks printed by LibreOffice.

    python docs/make_images.py

Builds the sample workbooks with ``--pdf`` into a scratch folder, finds each sheet's first page by the
sheet's title in the PDF's text (``pdftotext``), and renders it with ``pdftoppm`` (poppler-utils). The
``tiny`` handout is every page of its PDF side by side.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from xlcnn import build_workbook, load_model, write_handout
from xlcnn.book.build import learning_sheets
from xlcnn.book.texts import load_texts

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
DPI = 80

# picture → (sample, template, language, true label or None, the sheet whose page it is, as the code names it)
PAGES = {
    "default-guide.png": ("circle", "default", "en", None, "Guide"),
    "default-overview.png": ("circle", "default", "en", None, "Overview"),
    "zh-digits-overview.png": ("digit-3", "digits", "zh", None, "Overview"),
    "faces-overview.png": ("face", "faces", "en", None, "Overview"),
    "default-input.png": ("circle", "default", "en", None, "Input"),
    "default-filters1.png": ("circle", "default", "en", None, "Filters 1"),
    "default-conv1.png": ("circle", "default", "en", None, "Conv 1"),
    "default-relu2.png": ("circle", "default", "en", None, "ReLU 2"),
    "default-flatten.png": ("circle", "default", "en", None, "Flatten"),
    "zh-default-conv1.png": ("circle", "default", "zh", None, "Conv 1"),
    "default-worked.png": ("circle", "default", "en", None, "Worked example"),
    "default-loss.png": ("triangle", "default", "en", "square", "Loss"),
    "default-shapes.png": ("circle", "default", "en", None, "Shapes"),
    "zh-guide.png": ("triangle", "default", "zh", None, None),
    # The learning layer, for a wrong true label: a step that teaches something.
    "default-back-dense.png": ("circle", "default", "en", "square", "Back dense"),
    "default-back-relu2.png": ("circle", "default", "en", "square", "Back ReLU 2"),
    "default-back-filters1.png": ("circle", "default", "en", "square", "Back filters 1"),
    "default-back-pool1.png": ("circle", "default", "en", "square", "Back pool 1"),
    "default-step.png": ("circle", "default", "en", "square", "Step"),
    "default-why.png": ("circle", "default", "en", "square", "Why this class"),
    "default-saliency.png": ("circle", "default", "en", "square", "Saliency"),
    "default-gradcam.png": ("circle", "default", "en", "square", "Grad-CAM"),
}
# The README's picture of the learning layer: these pages side by side.
LEARNING = ("default-step.png", "default-why.png", "default-saliency.png", "default-gradcam.png")


def pdf_of(sample: str, template: str, lang: str, label: str | None, scratch: Path) -> Path:
    book = scratch / f"{sample}-{template}-{lang}-{label}.xlsx"
    if not book.with_suffix(".pdf").exists():
        build_workbook(ROOT / "samples" / f"{sample}.png", book, model=template, lang=lang, label=label)
        write_handout(book, book.with_suffix(".pdf"))
    return book.with_suffix(".pdf")


def page_texts(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True)
    return text.stdout.split("\f")


def first_page(pdf: Path, title: str | None) -> int:
    """1-based number of the first page whose first line starts with ``title`` (None: page 1)."""
    if title is None:
        return 1
    for number, text in enumerate(page_texts(pdf), start=1):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and lines[0].startswith(title):
            return number
    raise SystemExit(f"{pdf.name}: no page starts with {title!r}")


def render(pdf: Path, page: int, out: Path) -> None:
    stem = out.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), "-f", str(page), "-l", str(page), "-singlefile",
                    str(pdf), str(stem)], check=True)


def handout(pdf: Path, out: Path, scratch: Path) -> None:
    """Every page of ``pdf``, small, in rows of five."""
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(pdf), str(scratch / "page")], check=True)
    pages = [Image.open(p) for p in sorted(scratch.glob("page*.png"))]
    w, h = max(p.width for p in pages), max(p.height for p in pages)
    columns = 5
    rows = -(-len(pages) // columns)
    sheet = Image.new("RGB", (columns * (w + 8) + 8, rows * (h + 8) + 8), (200, 200, 200))
    for i, page in enumerate(pages):
        sheet.paste(page, (8 + (i % columns) * (w + 8), 8 + (i // columns) * (h + 8)))
    sheet.save(out, optimize=True)


def side_by_side(names: tuple[str, ...], out: Path, per_row: int = 2) -> None:
    """Pages in rows of ``per_row`` on grey, each row's pages scaled to one height and the rows to one width."""
    pages = [Image.open(IMAGES / name).convert("RGB") for name in names]
    rows = []
    for i in range(0, len(pages), per_row):
        chunk = pages[i:i + per_row]
        height = min(p.height for p in chunk)
        chunk = [p.resize((p.width * height // p.height, height), Image.Resampling.LANCZOS) for p in chunk]
        row = Image.new("RGB", (sum(p.width + 8 for p in chunk) - 8, height), (200, 200, 200))
        x = 0
        for page in chunk:
            row.paste(page, (x, 0))
            x += page.width + 8
        rows.append(row)
    width = min(r.width for r in rows)
    rows = [r.resize((width, r.height * width // r.width), Image.Resampling.LANCZOS) for r in rows]
    sheet = Image.new("RGB", (width + 16, sum(r.height + 8 for r in rows) + 8), (200, 200, 200))
    y = 8
    for row in rows:
        sheet.paste(row, (8, y))
        y += row.height + 8
    sheet.save(out, optimize=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for name, (sample, template, lang, label, title) in PAGES.items():
            pdf = pdf_of(sample, template, lang, label, scratch)
            shown = None if title is None else load_texts(lang).sheet_names()(title)  # 卷积 1 in Chinese
            render(pdf, first_page(pdf, shown), IMAGES / name)
            print(f"wrote docs/images/{name}", file=sys.stderr)
        side_by_side(LEARNING, IMAGES / "default-learning.png")
        print("wrote docs/images/default-learning.png", file=sys.stderr)
        tiny = scratch / "tiny"
        tiny.mkdir()
        book = pdf_of("stripes", "tiny", "en", None, scratch).with_suffix(".xlsx")  # printed as --pdf prints it
        printed = write_handout(book, tiny / "handout.pdf", leave_out=learning_sheets(load_model("tiny")))
        handout(printed, IMAGES / "tiny-handout.png", tiny)
        print("wrote docs/images/tiny-handout.png", file=sys.stderr)


if __name__ == "__main__":
    main()
