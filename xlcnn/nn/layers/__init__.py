"""One module per layer kind: its NumPy math (forward, and backward for training) beside the emitter of
its spreadsheet formulas, so the two can be read — and checked — side by side."""
