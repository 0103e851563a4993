"""One module per sheet of the workbook."""
