"""File readers: MATLAB v5 / v7.3, NumPy, ENVI; key detection; unreadable files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from mifomo_lite.data import check_label_map, list_variables, read_array
from mifomo_lite.data.io_common import choose_key, file_format
from mifomo_lite.errors import DataError, DataFileNotFound


# ------------------------------------------------------------------ a MATLAB v7.3 look-alike
def write_mat73(path: Path, variables: dict) -> Path:
    """Write ``variables`` the way MATLAB ``save -v7.3`` does: an HDF5 file with a 512-byte
    user block holding the text header, every array stored with its axes reversed
    (column-major), and structs as groups with a ``MATLAB_fields`` attribute giving the field
    order."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            if isinstance(value, dict):
                g = f.create_group(name)
                g.attrs["MATLAB_class"] = np.bytes_("struct")
                for field, arr in value.items():
                    g.create_dataset(field, data=np.asarray(arr).T)
                fields = np.empty(len(value), dtype=object)
                for i, field in enumerate(value):
                    fields[i] = np.array(list(field), dtype="S1")
                g.attrs.create("MATLAB_fields", fields, dtype=h5py.vlen_dtype(np.dtype("S1")))
            else:
                ds = f.create_dataset(name, data=np.asarray(value).T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan 1 00:00:00 2024 "
                 b"HDF5 schema 1.00 .".ljust(116, b" "))
    return path


# ------------------------------------------------------------------------ real GT files (shared)
@pytest.mark.parametrize("fname, key, shape, n_classes, n_labelled", [
    ("Indian_pines_gt.mat", "indian_pines_gt", (145, 145), 16, 10249),
    ("PaviaU_gt.mat", "paviaU_gt", (610, 340), 9, 42776),
    ("Salinas_gt.mat", "salinas_gt", (512, 217), 16, 54129),
])
def test_real_gt_files_key_detection(shared_dir, fname, key, shape, n_classes, n_labelled):
    path = shared_dir / "data" / "gt_only" / fname
    assert list_variables(path) == {key: shape}
    # the expected key
    r = read_array(path, (key,), ndim=2)
    assert r.key == key and r.array.shape == shape and r.format.startswith("MATLAB v5")
    labels = check_label_map(r.array)
    assert int(np.count_nonzero(labels)) == n_labelled
    assert np.unique(labels[labels > 0]).size == n_classes
    # an expected key that is absent: falls back to the single variable (SPEC §3.3 variants)
    assert read_array(path, ("groundT", "data"), ndim=2).key == key
    # no key at all: the single variable
    assert read_array(path).key == key


def test_wrong_key_lists_keys_found(shared_dir):
    path = shared_dir / "data" / "gt_only" / "PaviaU_gt.mat"
    with pytest.raises(DataError, match=r"no label map named 'paviaU'.*paviaU_gt \(610, 340\)"):
        read_array(path, ("paviaU",), strict=True, what="label map")


def test_truncated_real_mat_is_a_clear_error(shared_dir, tmp_path):
    data = (shared_dir / "data" / "salinas_a" / "SalinasA_corrected.mat").read_bytes()
    bad = tmp_path / "SalinasA_corrected.mat"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated, corrupt"):
        read_array(bad, ("salinasA_corrected",))
    bad.write_bytes(data[:100])
    with pytest.raises(DataError, match="cannot read"):
        read_array(bad)


# --------------------------------------------------------------------------- generated files
def test_several_variables_need_a_key(tmp_path):
    p = tmp_path / "two.mat"
    scipy.io.savemat(p, {"a": np.zeros((3, 4)), "b": np.ones((3, 4))})
    with pytest.raises(DataError, match=r"cannot tell which variable.*a \(3, 4\), b \(3, 4\)"):
        read_array(p)
    # ndim disambiguates a cube + label map file
    scipy.io.savemat(p, {"img": np.zeros((3, 4, 5)), "gt": np.ones((3, 4))})
    assert read_array(p, ndim=3).key == "img"
    assert read_array(p, ndim=2).key == "gt"


def test_choose_key_case_insensitive():
    assert choose_key({"PaviaU": (1, 2)}, ["paviaU"], Path("x.mat"), strict=True) == "PaviaU"


def test_garbage_empty_and_missing_files(tmp_path):
    g = tmp_path / "g.mat"
    g.write_bytes(b"hello world " * 20)
    with pytest.raises(DataError, match="cannot read"):
        read_array(g)
    e = tmp_path / "e.mat"
    e.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_array(e)
    with pytest.raises(DataFileNotFound, match="not found"):
        read_array(tmp_path / "missing.mat")
    z = tmp_path / "bad.npz"
    z.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="cannot read"):
        read_array(z)
    with pytest.raises(DataError, match="unsupported file type"):
        (tmp_path / "x.csv").write_text("1,2")
        read_array(tmp_path / "x.csv")


def test_mat73_cube_orientation_and_struct_gt(tmp_path):
    rng = np.random.default_rng(0)
    cube = rng.random((7, 5, 4))                      # H, W, B in MATLAB terms
    gt = rng.integers(0, 4, size=(7, 5)).astype(np.uint8)
    p = write_mat73(tmp_path / "HyperspecVNIR_Chikusei_20140729.mat", {"chikusei": cube})
    with h5py.File(p, "r") as f:                      # as HDF5 sees it: axes reversed
        assert f["chikusei"].shape == (4, 5, 7)
    assert file_format(p) == "mat73"
    assert list_variables(p) == {"chikusei": (7, 5, 4)}
    r = read_array(p, ("chikusei",), ndim=3, as_float32=True)
    assert r.array.dtype == np.float32 and r.array.shape == (7, 5, 4)
    np.testing.assert_allclose(r.array, cube.astype(np.float32))
    r64 = read_array(p, ("chikusei",))                # non-chunked path
    np.testing.assert_array_equal(r64.array, cube)
    # the GT struct: field order comes from MATLAB_fields (HDF5 itself lists fields a-z)
    g = write_mat73(tmp_path / "gt.mat", {"GT": {"zz_map": gt, "aa_other": np.zeros((2, 2))}})
    r = read_array(g, ("GT",), ndim=2)
    np.testing.assert_array_equal(r.array, gt)
    assert r.meta["hdf5_path"] == "GT/zz_map"


def test_mat73_truncated(tmp_path):
    p = write_mat73(tmp_path / "c.mat", {"chikusei": np.ones((20, 20, 8))})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="cannot read"):
        read_array(p, ("chikusei",), as_float32=True)


def test_scipy_struct_is_unwrapped(tmp_path):
    gt = np.arange(12, dtype=np.uint8).reshape(3, 4) % 3
    p = tmp_path / "gt_struct.mat"
    scipy.io.savemat(p, {"GT": {"gt": gt, "note": "x"}})
    r = read_array(p, ("GT",), ndim=2)
    np.testing.assert_array_equal(r.array, gt)


def test_numpy_formats(tmp_path):
    cube = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    np.save(tmp_path / "c.npy", cube)
    r = read_array(tmp_path / "c.npy", as_float32=True)
    assert r.array.dtype == np.float32 and r.key is None
    np.savez(tmp_path / "s.npz", cube=cube, gt=np.ones((2, 3)))
    assert read_array(tmp_path / "s.npz", ndim=3).key == "cube"
    with pytest.raises(DataError, match=r"no label map named 'labels'.*cube \(2, 3, 4\)"):
        read_array(tmp_path / "s.npz", ("labels",), strict=True, what="label map")


def test_envi_roundtrip_with_wavelengths(tmp_path):
    import spectral.io.envi as envi

    cube = np.random.default_rng(1).random((6, 5, 3)).astype(np.float32)
    envi.save_image(str(tmp_path / "img.hdr"), cube, metadata={
        "wavelength": [0.45, 0.55, 0.65], "wavelength units": "Micrometers"})
    assert file_format(tmp_path / "img.hdr") == "envi"
    assert file_format(tmp_path / "img.img") == "envi"     # the image file finds its header
    r = read_array(tmp_path / "img.hdr")
    np.testing.assert_allclose(r.array, cube)
    np.testing.assert_allclose(r.wavelengths, [450.0, 550.0, 650.0])
