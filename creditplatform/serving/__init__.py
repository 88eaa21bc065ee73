"""The online scoring API: the champion behind HTTP, with the batch feature SQL."""
