"""The ``mri-recon`` commands: one module each, with its parser (``register``) and run function."""
