"""Shared test helpers: one comparison with explicit tolerances, used everywhere."""

from __future__ import annotations

import numpy as np

from xlcnn.book.texts import load_texts
from xlcnn.check.verify import ATOL, RTOL  # the promise in docs/architecture.md, defined once


def assert_stage_matches(name: str, got: object, expected: object, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Every element of ``got`` equals ``expected`` within rtol (relative) or atol (absolute, near zero)."""
    g = np.asarray(got, dtype=float)
    e = np.asarray(expected, dtype=float)
    assert g.shape == e.shape, f"{name}: shape {g.shape} != expected {e.shape}"
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{name}{list(idx)}: got {g[idx]!r}, expected {e[idx]!r} ({int(bad.sum())} cells differ)")


def zh_sheet(key: str) -> str:
    """The name a Chinese workbook gives the sheet the code knows as ``key`` (``Conv 1`` → ``卷积 1``)."""
    return load_texts("zh").sheet_names()(key)
