"""The ``mri-recon`` commands besides Lightning's ``fit``/``validate``/``test``.

One module per command, holding its logic and a ``register(subparsers)`` that adds its own parser
and sets ``run`` (parsed arguments -> exit status). Commands never import each other: what two of
them share lives below them (``mri_recon.inference``, ``mri_recon.report``). Their module-level
imports are light (no torch), so ``mri-recon --help`` and ``mri-recon COMMAND --help`` are fast;
the work imports what it needs when it runs.
"""

# The modules of this package, in --help order (a module name's "_" is the command's "-").
COMMANDS = ("reconstruct", "evaluate", "import_weights", "check_data", "demo", "study", "benchmark")
