"""Two-process DDP: Lightning keeps the volume sampler; each val slice once, volumes whole."""

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from mri_recon.data import FastMriDataModule


class SliceRecorder(pl.LightningModule):
    """Records which (volume, slice) pairs each process validates."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen: list[tuple[str, int]] = []

    def validation_step(self, batch, batch_idx: int) -> None:
        self.seen += list(zip(batch.fname, batch.slice_num.tolist()))

    def on_validation_epoch_end(self) -> None:
        path = Path(self.out_dir) / f"rank{self.global_rank}.json"
        path.write_text(json.dumps(self.seen))


@pytest.mark.slow
def test_ddp_validation_sees_each_slice_once_with_volumes_whole(
    tmp_path: Path, write_fastmri_volume
) -> None:
    # Five volumes of different lengths: a slice-wise split would cut some across processes.
    for index, num_slices in enumerate((3, 1, 2, 4, 2)):
        path = tmp_path / "multicoil_val" / f"val{index}.h5"
        write_fastmri_volume(path, "multicoil", kind="train", num_slices=num_slices, seed=index)
    data = FastMriDataModule(tmp_path, "multicoil", batch_size=1, num_workers=0)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.validate(SliceRecorder(str(tmp_path)), datamodule=data)

    seen = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    all_slices = [tuple(item) for rank in seen for item in rank]
    assert sorted(all_slices) == sorted(
        (f"val{i}.h5", s) for i, n in enumerate((3, 1, 2, 4, 2)) for s in range(n)
    )
    volumes = [{fname for fname, _ in rank} for rank in seen]
    assert volumes[0] and volumes[1] and not volumes[0] & volumes[1]
    # Balanced by slice count: 12 slices dealt largest volume first give 6 and 6.
    assert sorted(len(rank) for rank in seen) == [6, 6]
