"""The validation images TensorBoard receives: target | reconstruction | error, on the figures'
one grey scale."""

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mri_recon.figures import grey, white_level
from mri_recon.training.callbacks import log_images


def test_logged_images_share_the_targets_grey_scale(tmp_path: Path) -> None:
    target = torch.full((16, 16), 0.5)
    target[4:12, 4:12] = 1.0
    target[0, 0] = 50.0  # one hot pixel: above the 99.5th percentile, it is clipped to white
    output = target * 0.9
    tensorboard = TensorBoardLogger(tmp_path)
    log_images([CSVLogger(tmp_path), tensorboard], "val_images/0", output, target, step=3)
    tensorboard.experiment.flush()
    events = EventAccumulator(tensorboard.log_dir)
    events.Reload()
    (event,) = events.Images("val_images/0")
    image = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("L"))
    assert event.step == 3 and image.shape == (16, 48)
    white = white_level(target.numpy())
    assert white == 1.0  # the hot pixel is one of 256: the percentile ignores it
    expected = [grey(x.numpy(), white) for x in (target, output, (output - target).abs())]
    np.testing.assert_array_equal(image, np.concatenate(expected, axis=-1))
    assert image[8, 8] == 255 and image[8, 16 + 8] == round(0.9 * 255)
