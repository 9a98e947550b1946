"""``mri-recon benchmark``: the product's own paths against the fastMRI reference, side by side.

- ``timing``: ours and the reference alternated call by call, medians and per-pair ratios; the
  machine's GEMM peak.
- ``steps``: the training step as ``ReconModule`` runs it for each bundled recipe's settings, the
  network call as ``reconstruct`` runs it, and fastMRI's reference for each.
- ``data``: fastMRI-sized multicoil files through our loader and fastMRI's.
- ``contention``: the demo recipe's training step with a second torch job on the machine.
- ``suite``: the sections in order, into one result (the table's rows and the JSON).

Measured figures live in docs/benchmarks.md.
"""
