"""Target / reconstruction / error images of a validation slice, for loggers that take images."""

from collections.abc import Iterable

import torch
from pytorch_lightning.loggers import Logger
from torch import Tensor


def log_images(
    loggers: Iterable[Logger], tag: str, output: Tensor, target: Tensor, step: int
) -> None:
    """Logs one slice's target, reconstruction and absolute error side by side.

    All three share one grey scale, [0, target max], so the error image is comparable with the
    images. Loggers without an ``add_image`` (CSV) are skipped.

    Args:
        loggers: the trainer's loggers.
        tag: the image's name.
        output: un-normalised reconstruction, (H, W).
        target: un-normalised target, (H, W).
        step: the global step.
    """
    scale = target.max().clamp_min(1e-12)
    row = torch.cat([target, output, (output - target).abs()], dim=-1) / scale
    image = row.clamp(0, 1).unsqueeze(0).detach().float().cpu()  # (1, H, 3 W)
    for logger in loggers:
        add_image = getattr(getattr(logger, "experiment", None), "add_image", None)
        if add_image is not None:
            add_image(tag, image, global_step=step)
