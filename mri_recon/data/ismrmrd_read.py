"""Reading an ISMRMRD raw file: its XML header, its acquisition headers and its readout lines.

ISMRMRD (the vendor-neutral raw format scanner converters such as ``siemens_to_ismrmrd`` write)
keeps a scan in an HDF5 group ``dataset``: ``xml``, the XML header, and ``data``, one compound
record per acquisition (readout line): ``head`` (the acquisition header: flags, encoding counters,
sample counts, geometry), ``traj`` (a trajectory, empty for Cartesian lines) and ``data`` (the
complex samples of every active channel, stored as float pairs).

The header is parsed with the ``ismrmrd`` package's schema bindings (``ismrmrd.xsd``), and the
records are read in the package's own layout (``ismrmrd.hdf5.acquisition_header_dtype``). The
package reads one acquisition per call (about 4 ms each: 40 s for a 10,000-line scan), so this
module reads the acquisition table in bulk: every header in one read, then the samples of the
lines wanted.
"""

import warnings
from dataclasses import dataclass

import h5py
import numpy as np

from mri_recon.data.fastmri_format import RAW_GROUP

# The package's import calls warnings.simplefilter("default") (ismrmrd/image.py), which would show
# every library's deprecation warnings for the rest of the process and override the filters of
# mri-recon's commands: imported here, for the whole project, with the process's filters kept.
with warnings.catch_warnings():
    import ismrmrd
    import ismrmrd.xsd

XML_KEY = "xml"
DATA_KEY = "data"
# The acquisition header fields the conversion reads; a table without them is not ISMRMRD's.
HEADER_FIELDS = (
    "flags",
    "number_of_samples",
    "active_channels",
    "discard_pre",
    "discard_post",
    "center_sample",
    "encoding_space_ref",
    "trajectory_dimensions",
    "sample_time_us",
    "position",
    "read_dir",
    "phase_dir",
    "slice_dir",
    "idx",
)


class IsmrmrdError(ValueError):
    """An ISMRMRD file that cannot be converted; the message is the reason, in one line."""


def is_raw_scan(hf: h5py.File) -> bool:
    """Whether an open HDF5 file is an ISMRMRD raw file (its ``dataset`` group), not a
    fastMRI-format one."""
    return isinstance(hf.get(RAW_GROUP), h5py.Group)


@dataclass(frozen=True)
class RawScan:
    """What an ISMRMRD file says about its acquisitions, without their samples.

    Attributes:
        xml: the XML header, as stored.
        header: the XML header parsed by the package's schema bindings.
        heads: one acquisition header per acquisition, in file order (a structured array of
            ``ismrmrd.hdf5.acquisition_header_dtype``).
    """

    xml: bytes
    header: ismrmrd.xsd.ismrmrdHeader
    heads: np.ndarray

    def flagged(self, flag: int) -> np.ndarray:
        """Which acquisitions have the ISMRMRD ``flag`` (``ismrmrd.ACQ_*``, numbered from 1)."""
        return (self.heads["flags"] & np.uint64(1 << (flag - 1))) != 0


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def read_xml(group: h5py.Group) -> bytes:
    """The XML header of an ISMRMRD ``dataset`` group, as bytes.

    Raises:
        IsmrmrdError: no header, or not text.
    """
    if not isinstance(group.get(XML_KEY), h5py.Dataset):
        raise IsmrmrdError(f"no XML header ({RAW_GROUP}/{XML_KEY})")
    stored = group[XML_KEY][()]
    if isinstance(stored, np.ndarray) and stored.size == 1:  # the package writes shape (1,)
        stored = stored.reshape(-1)[0]
    if isinstance(stored, str):
        stored = stored.encode("utf-8")
    if not isinstance(stored, bytes):
        raise IsmrmrdError(f"the XML header ({RAW_GROUP}/{XML_KEY}) is not text")
    return stored.rstrip(b"\0")


def parse_xml(xml: bytes) -> ismrmrd.xsd.ismrmrdHeader:
    """The XML header parsed against the ISMRMRD schema.

    Raises:
        IsmrmrdError: malformed XML, or not a valid ISMRMRD header (an unknown or missing element).
    """
    try:
        header = ismrmrd.xsd.CreateFromDocument(xml)
    except (ValueError, TypeError) as error:  # xsdata's ParserError is a ValueError
        raise IsmrmrdError(f"invalid ISMRMRD XML header ({_one_line(error)})") from None
    if not header.encoding:
        raise IsmrmrdError("the XML header has no encoding")
    return header


def _acquisition_table(group: h5py.Group) -> h5py.Dataset:
    table = group.get(DATA_KEY)
    fields = getattr(getattr(table, "dtype", None), "names", None) or ()
    if not isinstance(table, h5py.Dataset) or not {"head", "data"} <= set(fields):
        raise IsmrmrdError(f"no acquisitions ({RAW_GROUP}/{DATA_KEY})")
    missing = [name for name in HEADER_FIELDS if name not in (table.dtype["head"].names or ())]
    if missing:
        raise IsmrmrdError(f"the acquisition headers lack {', '.join(missing)}")
    return table


def read_scan(hf: h5py.File) -> RawScan:
    """The header and acquisition headers of an open ISMRMRD file (no samples are read).

    Raises:
        IsmrmrdError: no ``dataset`` group, a missing or invalid XML header, no acquisitions.
    """
    group = hf.get(RAW_GROUP)
    if not isinstance(group, h5py.Group):
        raise IsmrmrdError(f"not an ISMRMRD file (no '{RAW_GROUP}' group)")
    xml = read_xml(group)
    header = parse_xml(xml)
    heads = _acquisition_table(group).fields("head")[()]
    if heads.size == 0:
        raise IsmrmrdError("no acquisitions")
    return RawScan(xml, header, heads)


def read_lines(hf: h5py.File, indices: np.ndarray, heads: np.ndarray) -> list[np.ndarray]:
    """The samples of the acquisitions ``indices``, each (channels, samples) complex64.

    Args:
        hf: the open ISMRMRD file.
        indices: acquisition numbers, in any order.
        heads: every acquisition header (``RawScan.heads``).

    Raises:
        IsmrmrdError: an acquisition holds another number of values than its header states.
    """
    if len(indices) == 0:
        return []
    order = np.unique(indices)  # h5py reads points in increasing order
    stored = _acquisition_table(hf[RAW_GROUP]).fields("data")[order]
    by_index = dict(zip(order.tolist(), stored))
    lines = []
    for index in np.asarray(indices).tolist():
        channels, samples = (
            int(heads["active_channels"][index]),
            int(heads["number_of_samples"][index]),
        )
        values = np.asarray(by_index[index], dtype=np.float32)
        if values.size != 2 * channels * samples:
            raise IsmrmrdError(
                f"acquisition {index} holds {values.size // 2} complex samples, its header states "
                f"{channels} channels x {samples} samples"
            )
        lines.append(values.view(np.complex64).reshape(channels, samples))
    return lines
