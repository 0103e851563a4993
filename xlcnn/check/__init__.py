"""Checking a workbook: read-back, verify, the spreadsheet engines, handouts."""
