"""Every ISMRMRD file the application does not support gets its own one-line reason."""

from collections.abc import Callable
from pathlib import Path

import h5py
import ismrmrd
import ismrmrd.xsd as xsd
import numpy as np
import pytest

from mri_recon.data.ismrmrd import convert
from mri_recon.data.ismrmrd_plan import ConversionOptions
from mri_recon.data.ismrmrd_read import IsmrmrdError
from tests.data.ismrmrd_scans import header, line, simulated_kspace, write_scan

KSPACE = simulated_kspace()


def on_line(number: int, change: Callable[[ismrmrd.Acquisition], ismrmrd.Acquisition]):
    """An ``edit_line`` that changes acquisition ``number`` only."""

    def edit(acquisition: ismrmrd.Acquisition, index: int) -> ismrmrd.Acquisition:
        return change(acquisition) if index == number else acquisition

    return edit


def flagged(flag: int):
    def change(acquisition: ismrmrd.Acquisition) -> ismrmrd.Acquisition:
        acquisition.set_flag(flag)
        return acquisition

    return change


def counted(name: str, value: int):
    def change(acquisition: ismrmrd.Acquisition) -> ismrmrd.Acquisition:
        setattr(acquisition.idx, name, value)
        return acquisition

    return change


def rebuilt(data: Callable[[np.ndarray], np.ndarray], **fields):
    """A change that rewrites an acquisition with other samples or a trajectory."""

    def change(acquisition: ismrmrd.Acquisition) -> ismrmrd.Acquisition:
        samples = data(acquisition.data)
        trajectory = fields.pop("trajectory", None)
        new = ismrmrd.Acquisition.from_array(samples, trajectory)
        new.idx.kspace_encode_step_1 = acquisition.idx.kspace_encode_step_1
        new.idx.slice = acquisition.idx.slice
        new.center_sample = samples.shape[-1] // 2
        return new

    return change


def in_header(change: Callable[[xsd.encodingType], None]):
    def edit(xml_header: xsd.ismrmrdHeader) -> None:
        change(xml_header.encoding[0])

    return edit


def setter(path: str, value) -> Callable[[xsd.encodingType], None]:
    def change(encoding: xsd.encodingType) -> None:
        *parents, name = path.split(".")
        target = encoding
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, name, value)

    return change


# case -> (write_scan arguments, options, the reason's text)
CASES = {
    "radial": (
        {"edit_header": in_header(setter("trajectory", xsd.trajectoryType.RADIAL))},
        {},
        "non-Cartesian trajectory 'radial' not supported",
    ),
    "spiral": (
        {"edit_header": in_header(setter("trajectory", xsd.trajectoryType.SPIRAL))},
        {},
        "non-Cartesian trajectory 'spiral'",
    ),
    "epi header": (
        {"edit_header": in_header(setter("trajectory", xsd.trajectoryType.EPI))},
        {},
        "EPI trajectories are not supported",
    ),
    "reverse lines": (
        {"edit_line": on_line(5, flagged(ismrmrd.ACQ_IS_REVERSE))},
        {},
        "EPI (lines read in reverse) not supported: acquisition 5",
    ),
    "trajectory lines": (
        {"edit_line": on_line(3, rebuilt(lambda d: d, trajectory=np.zeros((64, 2), np.float32)))},
        {},
        "non-Cartesian lines (with a trajectory): acquisition 3",
    ),
    "3D matrix": (
        {"edit_header": in_header(setter("encodedSpace.matrixSize.z", 8))},
        {},
        "3D encoding (8 partitions) not supported",
    ),
    "3D lines": (
        {"edit_line": on_line(7, counted("kspace_encode_step_2", 1))},
        {},
        "3D encoding (kspace_encode_step_2 > 0): acquisition 7",
    ),
    "line lengths": (
        {"edit_line": on_line(9, rebuilt(lambda d: d[:, :32]))},
        {},
        "inconsistent line lengths (samples less discards): 32, 64",
    ),
    "coil counts": (
        {"edit_line": on_line(9, rebuilt(lambda d: d[:3]))},
        {},
        "inconsistent coil counts (active channels): 3, 4",
    ),
    "line outside": (
        {"edit_line": on_line(2, counted("kspace_encode_step_1", 40))},
        {},
        "kspace_encode_step_1 = 40 (acquisition 2) falls outside the encoded matrix's 40 columns",
    ),
    "recon too large": (
        {"edit_header": in_header(setter("reconSpace.matrixSize.y", 48))},
        {},
        "the recon matrix 32x48 is larger than the encoded matrix 64x40",
    ),
    "second encoding space": (
        {"edit_line": on_line(4, lambda a: setattr(a, "encoding_space_ref", 1) or a)},
        {},
        "lines of a second encoding space not supported: acquisition 4",
    ),
    "slices differ": (
        {"edit_line": on_line(0, counted("kspace_encode_step_1", 1))},  # line 1 twice
        {},
        "slice 1 was acquired with other phase-encode lines than slice 0",
    ),
    "no noise to whiten with": ({}, {"prewhiten": True}, "--prewhiten: the scan has no noise"),
    "repetition absent": ({}, {"repetition": 2}, "--repetition 2: the scan has repetition [0]"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_unsupported_scan_gets_its_reason(case: str, tmp_path: Path) -> None:
    arguments, options, reason = CASES[case]
    raw = write_scan(tmp_path / "raw.h5", KSPACE, **arguments)
    with h5py.File(raw, "r") as hf, pytest.raises(IsmrmrdError) as caught:
        list(convert(hf, ConversionOptions(**options)))
    message = str(caught.value)
    assert "\n" not in message
    assert reason in message


def raw_file(path: Path, xml: bytes | None, acquisitions: list[ismrmrd.Acquisition]) -> Path:
    with ismrmrd.Dataset(str(path), mode="w") as dataset:
        if xml is not None:
            dataset.write_xml_header(xml)
        for acquisition in acquisitions:
            dataset.append_acquisition(acquisition)
    return path


def valid_xml() -> str:
    return xsd.ToXML(header(KSPACE, 3, 32))


def image_line() -> ismrmrd.Acquisition:
    return line(KSPACE[0, :, :, 20], kspace_encode_step_1=17, slice=0)


FILE_CASES = {
    "no header": (None, [image_line()], "no XML header (dataset/xml)"),
    "not XML": (b"<ismrmrdHeader", [image_line()], "invalid ISMRMRD XML header"),
    "unknown element": (
        valid_xml().replace("<encoding>", "<bogus>1</bogus><encoding>"),
        [image_line()],
        "invalid ISMRMRD XML header (Unknown property",
    ),
    "no encoding": (
        valid_xml().replace("<encoding>", "<!--").replace("</encoding>", "-->"),
        [image_line()],
        "the XML header has no encoding",
    ),
    "no acquisitions": (valid_xml(), [], "no acquisitions"),
    "noise only": (
        valid_xml(),
        [line(KSPACE[0, :, :, 20], [ismrmrd.ACQ_IS_NOISE_MEASUREMENT])],
        "no image acquisitions (1 noise, 0 calibration, 0 navigator or other of 1)",
    ),
}


@pytest.mark.parametrize("case", FILE_CASES)
def test_each_malformed_file_gets_its_reason(case: str, tmp_path: Path) -> None:
    xml, acquisitions, reason = FILE_CASES[case]
    raw = raw_file(tmp_path / "raw.h5", xml, acquisitions)
    with h5py.File(raw, "r") as hf, pytest.raises(IsmrmrdError) as caught:
        list(convert(hf, ConversionOptions()))
    assert "\n" not in str(caught.value)
    assert reason in str(caught.value)


def test_prewhitening_needs_noise_of_the_lines_coil_count(tmp_path: Path) -> None:
    noise = np.ones((2, 3, 64), np.complex64)
    raw = write_scan(tmp_path / "raw.h5", KSPACE, noise=noise)
    with h5py.File(raw, "r") as hf, pytest.raises(IsmrmrdError, match="3 channels, the lines 4"):
        list(convert(hf, ConversionOptions(prewhiten=True)))


@pytest.mark.parametrize(
    "options, reason",
    [
        ({"repetition": -1}, "--repetition must be non-negative"),
        ({"contrast": 1, "separate": ("contrast",)}, "--contrast and --separate contrast"),
        ({"separate": ("slice",)}, "--separate takes repetition, contrast, set, phase"),
    ],
)
def test_bad_options_are_named(options: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ConversionOptions(**options)


def test_samples_that_contradict_their_header_are_named(tmp_path: Path) -> None:
    raw = write_scan(tmp_path / "raw.h5", KSPACE)
    with h5py.File(raw, "a") as hf:
        record = hf["dataset/data"][3]
        record["data"] = record["data"][:-2]  # one complex sample short
        hf["dataset/data"][3] = record
    with h5py.File(raw, "r") as hf, pytest.raises(IsmrmrdError) as caught:
        list(convert(hf, ConversionOptions()))
    assert (
        str(caught.value)
        == "acquisition 3 holds 255 complex samples, its header states 4 channels x 64 samples"
    )
