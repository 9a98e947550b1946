"""The study harness's small helpers."""

from mri_recon.studies.harness import counted


def test_counted_nouns_are_plural_unless_one():
    assert counted(1, "volume") == "1 volume"
    assert counted(1.0, "epoch") == "1 epoch"
    assert counted(3, "validation slice") == "3 validation slices"
    assert counted(0.5, "epoch") == "0.5 epochs"
    assert counted(0, "seed") == "0 seeds"
