"""Score reconstructions or a checkpoint with fastMRI's NMSE / PSNR / SSIM: ``mri-recon evaluate``.

See ``python scripts/evaluate.py --help``.

    python scripts/evaluate.py --target-path TRUTH --predictions-path OUT [--output report.json]
    python scripts/evaluate.py --checkpoint CKPT --data-path VAL --accelerations 4 8 [--figures DIR]
"""

import sys

from mri_recon.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
