"""Scene registry: facts from SPEC §3 and PROVENANCE.md, name resolution, suggestions."""

from __future__ import annotations

import pytest

from mifomo_lite.data import SCENES, get_scene_info, list_scenes
from mifomo_lite.data.registry import resolve_scene_name
from mifomo_lite.errors import DataError

REQUIRED = ["indian_pines", "pavia_university", "salinas", "salinas_a", "houston2013", "chikusei"]


def test_registry_has_required_scenes_with_consistent_facts():
    assert set(REQUIRED) <= set(SCENES)
    for info in list_scenes():
        assert info.wavelengths().shape == (info.n_bands,)
        assert len(info.class_names) >= info.n_classes
        assert info.file("cube").keys, info.name
        assert info.files and all(f.filename for f in info.files)
        if info.class_counts:
            assert len(info.class_counts) == info.n_classes
            if info.n_labelled:
                assert sum(info.class_counts.values()) == info.n_labelled


@pytest.mark.parametrize("name, shape, n_classes, n_labelled", [
    ("indian_pines", (145, 145, 200), 16, 10249),
    ("pavia_university", (610, 340, 103), 9, 42776),
    ("salinas", (512, 217, 204), 16, 54129),
    ("salinas_a", (83, 86, 204), 6, 5348),
    ("houston2013", (349, 1905, 144), 15, 15029),
    ("chikusei", (2517, 2335, 128), 19, 77592),
])
def test_scene_facts_match_spec(name, shape, n_classes, n_labelled):
    info = get_scene_info(name)
    assert info.shape == shape
    assert info.n_classes == n_classes
    assert info.n_labelled == n_labelled


def test_keys_urls_and_checksums_from_spec_and_provenance():
    ip = get_scene_info("indian_pines")
    assert ip.file("cube").key == "indian_pines_corrected"
    assert ip.file("cube").url.endswith("6/67/Indian_pines_corrected.mat")
    assert ip.file("labels").sha256.startswith("65c4687a")
    assert get_scene_info("salinas").file("labels").url.endswith("f/fa/Salinas_gt.mat")
    sa = get_scene_info("salinas_a")
    assert sa.file("cube").sha256 == \
        "d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721"
    assert sa.file("labels").sha256.startswith("17814c1d")
    assert sorted(sa.class_counts) == [1, 10, 11, 12, 13, 14]
    assert sa.class_names[9] == "Corn_senesced_green_weeds"
    hou = get_scene_info("houston2013")
    assert [f.key for f in hou.files] == ["data", "mask_train", "mask_test"]
    assert not hou.downloadable
    chk = get_scene_info("chikusei")
    assert chk.file("labels").key == "GT" and chk.role == "source"
    assert chk.class_names[-1] == "Paved ground"
    assert get_scene_info("pavia_university").class_names[4] == "Painted metal sheets"


def test_wavelengths_are_plausible():
    for name, lo, hi in [("indian_pines", 400, 2500), ("pavia_university", 430, 860),
                         ("chikusei", 363, 1018), ("houston2013", 364, 1046)]:
        wl = get_scene_info(name).wavelengths()
        assert lo <= wl[0] < wl[-1] <= hi
        assert (wl[1:] > wl[:-1]).all()


@pytest.mark.parametrize("alias, key", [("IP", "indian_pines"), ("PaviaU", "pavia_university"),
                                        ("Indian-Pines", "indian_pines"), ("houston", "houston2013"),
                                        ("Salinas_A", "salinas_a"), ("SA", "salinas")])
def test_aliases(alias, key):
    assert resolve_scene_name(alias) == key


def test_unknown_scene_name_suggests_closest():
    with pytest.raises(DataError, match=r"unknown scene name 'indian_pine'.*Did you mean 'indian_pines'"
                       ) as exc:
        get_scene_info("indian_pine")
    assert "Known scenes" in str(exc.value)
    with pytest.raises(DataError, match="'chikusei'"):
        get_scene_info("chikusai")
