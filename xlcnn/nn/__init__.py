"""NumPy: the trace, the engine (forward and backward) and each layer's math beside the formula of one cell."""
