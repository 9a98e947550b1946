"""Reconstruct a folder of fastMRI volumes with a trained checkpoint: ``mri-recon reconstruct``.

Writes one fastMRI submission file (``reconstruction``, float32) per volume; see
``python scripts/reconstruct.py --help``.

    python scripts/reconstruct.py --checkpoint CKPT --data-path DIR --output-path OUT
    python scripts/reconstruct.py --baseline zero-filled --data-path DIR --output-path OUT \
        --accelerations 4
"""

import sys

from mri_recon.cli import main

if __name__ == "__main__":
    sys.exit(main(["reconstruct", *sys.argv[1:]]))
