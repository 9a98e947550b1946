"""The step-size study's second part: trained U-Net weights and the loss line through them.

The weights come from an ``mri-recon fit`` checkpoint when one is given, else from training a
small U-Net briefly on the study's slices with the project's Adam; the result says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from mri_recon.optim import Adam
from mri_recon.studies.data import StudyData
from mri_recon.studies.landscape import Line, LineProbe, loss_line
from mri_recon.studies.loop import RunSettings, make_unet, train_run

if TYPE_CHECKING:  # importing mri_recon.training loads Lightning: only where a checkpoint is given
    from mri_recon.models.checkpoint import ReconCheckpoint


@dataclass(frozen=True)
class LineSettings:
    """The network part's settings.

    Attributes:
        run: the brief training (budget, batch size, seed) when no checkpoint is given.
        lr: Adam's learning rate for it.
        chans: channels of its U-Net's first level.
        num_pool_layers: its U-Net's depth.
        line_slices: training slices the loss is taken over (spread over the training set).
        points: step sizes along the line.
        iterations: power-iteration steps for the Hessian's largest eigenvalue.
    """

    run: RunSettings
    lr: float = 1e-2
    chans: int = 8
    num_pool_layers: int = 3
    line_slices: int = 16
    points: int = 33
    iterations: int = 20


def trained_weights(
    settings: LineSettings, data: StudyData, checkpoint: ReconCheckpoint | None
) -> tuple[nn.Module, str]:
    """The network whose loss line is measured, and a line saying where its weights come from.

    Args:
        settings: the settings.
        data: the slices (training data of the brief training).
        checkpoint: a loaded ``mri-recon fit`` checkpoint, or None to train briefly.

    Returns:
        ``(network, source)``.
    """
    if checkpoint is not None:
        epochs = f"epoch {checkpoint.epoch}, step {checkpoint.global_step}"
        return checkpoint.net, f"checkpoint {checkpoint.path} ({epochs})"
    net = make_unet(settings.chans, settings.num_pool_layers, seed=settings.run.seed)
    optimizer = Adam(net.parameters(), lr=settings.lr)
    record = train_run(net, optimizer, data, settings.run, desc="brief training")
    if record.train_loss is None:
        raise ValueError(
            f"the brief training diverged (Adam, lr {settings.lr:g}): pass --checkpoint"
        )
    epochs = settings.run.budget / len(data.train)
    source = (
        f"no checkpoint given: a U-Net ({settings.chans} channels) trained here with Adam "
        f"(lr {settings.lr:g}) for {epochs:g} epochs of {len(data.train)} slices, "
        f"training loss {record.train_loss:.4f}"
    )
    return net, source


def measure_line(settings: LineSettings, data: StudyData, net: nn.Module) -> Line:
    """The loss line through ``net``'s weights on ``line_slices`` training slices.

    Args:
        settings: the settings.
        data: the slices.
        net: the trained network.

    Returns:
        The line (see :func:`mri_recon.studies.landscape.loss_line`).
    """
    slices = data.train.spread(settings.line_slices)
    probe = LineProbe(net, slices, settings.run.batch_size)
    return loss_line(probe, settings.iterations, settings.points)
