"""Offline work on the reader: SQuAD and news data (``squad.py``), training examples (``examples.py``),
training (``train_reader.py``), calibration fitting (``calibrate.py``) and evaluation (``evaluate.py``, ``qa eval``).
Nothing that answers a question imports this package."""
