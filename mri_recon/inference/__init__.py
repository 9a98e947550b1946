"""What the commands that run a trained network share, below them.

- ``preparation``: checkpoint + data folder + options -> challenge, masks, device, dataset (one set
  of rules and messages for every command).
- ``volumes``: the volume loop, a network over whole volumes (and the zero-filled baseline).
- ``submission``: fastMRI submission files, written atomically, finished ones kept.
- ``comparison``: the network against the zero-filled baseline, per volume, into a ``Report``.
"""
