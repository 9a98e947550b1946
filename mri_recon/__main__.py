"""``python -m mri_recon``: the same as the ``mri-recon`` command."""

import sys

from mri_recon.cli import main

sys.exit(main())
