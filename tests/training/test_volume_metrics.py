"""VolumeMetrics: per-slice statistics give the whole-volume metrics without keeping images."""

import numpy as np
import pytest
import torch

from mri_recon.metrics import volume_metrics
from mri_recon.training.volume_metrics import VolumeMetrics, merge_scores


def volumes(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    result = {}
    for name, slices in (("a.h5", 3), ("b.h5", 5)):
        target = rng.random((slices, 24, 20)).astype(np.float32)
        output = (target + 0.1 * rng.standard_normal(target.shape)).astype(np.float32)
        result[name] = (target, output, float(target.max()) * 1.3)
    return result


def feed(metrics: VolumeMetrics, data: dict, batch: int, max_known: bool, seed: int) -> None:
    """Every slice of every volume in a shuffled order, in batches of ``batch``."""
    keys = [(name, s) for name, (t, _, _) in data.items() for s in range(len(t))]
    order = np.random.default_rng(seed).permutation(len(keys))
    for start in range(0, len(keys), batch):
        chosen = [keys[i] for i in order[start : start + batch]]
        metrics.update(
            [name for name, _ in chosen],
            torch.tensor([s for _, s in chosen]),
            torch.from_numpy(np.stack([data[n][1][s] for n, s in chosen])),
            torch.from_numpy(np.stack([data[n][0][s] for n, s in chosen])),
            torch.tensor(
                [data[n][2] if max_known else 0.0 for n, _ in chosen], dtype=torch.float64
            ),
        )


@pytest.mark.parametrize("batch", [1, 3])
def test_equals_the_metrics_of_the_stacked_volumes(batch: int):
    data = volumes(0)
    metrics = VolumeMetrics()
    feed(metrics, data, batch, max_known=True, seed=batch)
    scores = metrics.volume_scores()
    for name, (target, output, maxval) in data.items():
        expected = volume_metrics(target, output, maxval=maxval)
        for metric, value in expected.items():
            assert scores[name][metric] == pytest.approx(value, rel=1e-9), (name, metric)
    result = metrics.compute()
    assert result["volumes"] == 2
    mean_ssim = np.mean([volume_metrics(t, o, maxval=m)["ssim"] for t, o, m in data.values()])
    assert result["ssim"] == pytest.approx(mean_ssim, rel=1e-9)
    metrics.reset()
    assert metrics.compute() == {}


def test_files_without_max_use_the_volume_maximum_for_psnr():
    data = volumes(1)
    metrics = VolumeMetrics()
    feed(metrics, data, 2, max_known=False, seed=0)
    for name, (target, output, _) in data.items():
        expected = volume_metrics(target, output)  # data range = target.max()
        assert metrics.volume_scores()[name]["psnr"] == pytest.approx(expected["psnr"], rel=1e-9)
        assert metrics.volume_scores()[name]["nmse"] == pytest.approx(expected["nmse"], rel=1e-9)


def test_a_volume_split_across_processes_is_an_error():
    assert merge_scores([{"a.h5": {"ssim": 1.0}}, {"b.h5": {"ssim": 0.5}}]).keys() == {
        "a.h5",
        "b.h5",
    }
    with pytest.raises(RuntimeError, match="a.h5 was split across processes"):
        merge_scores([{"a.h5": {"ssim": 1.0}}, {"a.h5": {"ssim": 0.5}}])
