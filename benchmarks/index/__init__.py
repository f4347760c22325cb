"""Benchmarks of the exact Hamming radius index (``empreinte.index.mih``)."""
