"""The workbook: layout, sheet writing, styles, texts, limits, the build, one module per stage."""
