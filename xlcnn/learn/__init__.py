"""Training and the data sets it learns from."""
