"""The studies behind ``mri-recon study``, one module each, read top to bottom: its lesson (the
docstring), its sizes (``SCALES``, default and ``--quick``), its runs, its checks of theory, its
figure, and ``run``, which writes its ``FILES`` and returns its summary and checks. ``harness``
holds what they share (sizes, data, the training loop, the output folder); ``landscape`` is the
step-size study's network part. See docs/studies.md for what each study shows.
"""
