"""Train (or validate / test) a model: the same as ``mri-recon fit|validate|test``.

python scripts/train.py --config configs/demo.yaml                 # fit
python scripts/train.py validate --config configs/demo.yaml --ckpt_path CKPT
"""

import sys

from mri_recon.cli import LIGHTNING_COMMANDS, main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] not in LIGHTNING_COMMANDS:
        args = ["fit", *args]
    sys.exit(main(args))
