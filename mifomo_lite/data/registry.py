"""The registry of benchmark scenes: what each scene is, which files it needs, where to get them.

Every fact here comes from the project specification (SPEC §3) and ``shared/data/PROVENANCE.md``:

* the five MIFOMO scenes — Indian Pines, Pavia University, Salinas, Houston 2013 (targets) and
  Chikusei (source) — plus Salinas-A, a small sub-scene of Salinas that is handy for teaching;
* file names and the MATLAB variable keys inside them (SPEC §3.3), including the spellings other
  code bases use, so a file you already have is found;
* public download URLs (SPEC §3.4). Only some scenes can be fetched automatically: Houston 2013 in
  the CDFSL format lives on a Baidu link and has a licence that forbids redistribution, so the kit
  tells you where to put it instead;
* sha256 checksums where they are known. No checksums are published for most of these files
  (SPEC §3.6); for those the kit *records* the sha256 on first download and verifies against that
  record afterwards (status "recorded, unverified" instead of "verified").

Band centres (``SceneInfo.wavelengths()``) are an **approximation**: the nominal sensor range split
into equal steps, with the removed water-absorption bands taken out. They are good enough to pick
red/green/blue bands for a false-colour picture or to resample synthetic spectra, not for physics.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError

EHU = "https://www.ehu.eus/ccwintco/uploads/"
EHU_LANDING = "https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes"


@dataclass(frozen=True)
class ArchiveSpec:
    """A zip archive that contains one or more of a scene's files (Chikusei)."""

    filename: str
    url: str
    sha256: Optional[str] = None
    size: Optional[int] = None


@dataclass(frozen=True)
class FileSpec:
    """One file of a scene.

    Attributes:
        role: what the file holds: ``"cube"``, ``"labels"``, ``"train_mask"`` or ``"test_mask"``.
        filename: canonical file name inside ``<data root>/<scene name>/``.
        keys: MATLAB variable names to try, in order (the first is the official one).
        url: public direct-download URL, or ``None`` when the file must be fetched by hand.
        sha256: known checksum, or ``None`` (then it is recorded at first download).
        size: size in bytes when known (used for the progress bar and a sanity check).
        aliases: other file names under which the same file is accepted in the cache
            (lower-case spellings used by DCFSL-family code, MIFOMO's folder names, ...).
        archive: set when the file is obtained by extracting it from a zip archive.
    """

    role: str
    filename: str
    keys: Tuple[str, ...] = ()
    url: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    aliases: Tuple[str, ...] = ()
    archive: Optional[ArchiveSpec] = None

    @property
    def key(self) -> Optional[str]:
        """The official variable key (first of :attr:`keys`)."""
        return self.keys[0] if self.keys else None

    @property
    def downloadable(self) -> bool:
        return self.url is not None or self.archive is not None


@dataclass(frozen=True)
class SceneInfo:
    """Static facts about one benchmark scene (no pixels: see :func:`mifomo_lite.data.load_scene`).

    ``class_names`` is indexed by the *original* label value: ``class_names[v - 1]`` is the name
    of label value ``v``. For Salinas-A the label values are those of the full Salinas scene
    ({1, 10, 11, 12, 13, 14}), so its list is the full 16-name Salinas list and ``n_classes`` is 6.
    """

    name: str
    title: str
    sensor: str
    height: int
    width: int
    n_bands: int
    wavelength_range: Tuple[float, float]
    gsd_m: float
    n_classes: int
    class_names: Tuple[str, ...]
    files: Tuple[FileSpec, ...]
    role: str = "target"
    n_labelled: Optional[int] = None
    class_counts: Optional[Dict[int, int]] = None
    sensor_bands: Optional[int] = None
    removed_bands: Tuple[int, ...] = ()
    landing_page: Optional[str] = None
    citation: str = ""
    licence: str = ""
    notes: str = ""
    offline_copy: Optional[str] = None
    aliases: Tuple[str, ...] = field(default=())

    @property
    def shape(self) -> Tuple[int, int, int]:
        """``(height, width, bands)`` of the image cube."""
        return (self.height, self.width, self.n_bands)

    def file(self, role: str) -> FileSpec:
        for spec in self.files:
            if spec.role == role:
                return spec
        raise KeyError(f"scene {self.name!r} has no file with role {role!r}")

    def has_role(self, role: str) -> bool:
        return any(spec.role == role for spec in self.files)

    @property
    def downloadable(self) -> bool:
        """True when every file has a public URL (directly or inside an archive)."""
        return all(spec.downloadable for spec in self.files)

    def wavelengths(self) -> np.ndarray:
        """Approximate band centres in nm (see the module docstring), length ``n_bands``."""
        lo, hi = self.wavelength_range
        total = self.sensor_bands or self.n_bands
        grid = np.linspace(lo, hi, total)
        if self.removed_bands:
            keep = np.setdiff1d(np.arange(total), np.asarray(self.removed_bands))
            grid = grid[keep]
        if grid.size != self.n_bands:  # pragma: no cover - guards the registry itself
            raise AssertionError(f"{self.name}: {grid.size} wavelengths for {self.n_bands} bands")
        return grid.astype(np.float64)


def _ranges(*spans: Tuple[int, int]) -> Tuple[int, ...]:
    """0-based band indices from 1-based inclusive ranges, as the EHU page lists them."""
    out = []
    for lo, hi in spans:
        out.extend(range(lo - 1, hi))
    return tuple(out)


INDIAN_PINES_CLASSES = (
    "Alfalfa", "Corn-notill", "Corn-mintill", "Corn", "Grass-pasture", "Grass-trees",
    "Grass-pasture-mowed", "Hay-windrowed", "Oats", "Soybean-notill", "Soybean-mintill",
    "Soybean-clean", "Wheat", "Woods", "Buildings-Grass-Trees-Drives", "Stone-Steel-Towers",
)
INDIAN_PINES_COUNTS = (46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93)

PAVIA_U_CLASSES = (
    "Asphalt", "Meadows", "Gravel", "Trees", "Painted metal sheets", "Bare Soil", "Bitumen",
    "Self-Blocking Bricks", "Shadows",
)
PAVIA_U_COUNTS = (6631, 18649, 2099, 3064, 1345, 5029, 1330, 3682, 947)

SALINAS_CLASSES = (
    "Brocoli_green_weeds_1", "Brocoli_green_weeds_2", "Fallow", "Fallow_rough_plow",
    "Fallow_smooth", "Stubble", "Celery", "Grapes_untrained", "Soil_vinyard_develop",
    "Corn_senesced_green_weeds", "Lettuce_romaine_4wk", "Lettuce_romaine_5wk",
    "Lettuce_romaine_6wk", "Lettuce_romaine_7wk", "Vinyard_untrained", "Vinyard_vertical_trellis",
)
SALINAS_COUNTS = (2009, 3726, 1976, 1394, 2678, 3959, 3579, 11271, 6203, 3278, 1068, 1927, 916,
                  1070, 7268, 1807)

HOUSTON_CLASSES = (
    "Healthy grass", "Stressed grass", "Synthetic grass", "Trees", "Soil", "Water", "Residential",
    "Commercial", "Road", "Highway", "Railway", "Parking Lot 1", "Parking Lot 2", "Tennis Court",
    "Running Track",
)
HOUSTON_TRAIN_COUNTS = (198, 190, 192, 188, 186, 182, 196, 191, 193, 191, 181, 192, 184, 181, 187)
HOUSTON_TEST_COUNTS = (1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036, 1054, 1041, 285,
                       247, 473)

CHIKUSEI_CLASSES = (
    "Water", "Bare soil (school)", "Bare soil (park)", "Bare soil (farmland)", "Natural plants",
    "Weeds in farmland", "Forest", "Grass", "Rice field (grown)", "Rice field (first stage)",
    "Row crops", "Plastic house", "Manmade (non-dark)", "Manmade (dark)", "Manmade (blue)",
    "Manmade (red)", "Manmade grass", "Asphalt", "Paved ground",
)

_EHU_CITATION = ("Grupo de Inteligencia Computacional (UPV/EHU), 'Hyperspectral Remote Sensing "
                 "Scenes', " + EHU_LANDING)

_CHIKUSEI_ZIP = ArchiveSpec(
    filename="Hyperspec_Chikusei_MATLAB.zip",
    url="https://www.sal.t.u-tokyo.ac.jp/hyperdata/Hyperspec_Chikusei_MATLAB.zip",
)

SCENES: Dict[str, SceneInfo] = {
    "indian_pines": SceneInfo(
        name="indian_pines",
        title="Indian Pines (corrected)",
        sensor="AVIRIS",
        height=145, width=145, n_bands=200, sensor_bands=220,
        removed_bands=_ranges((104, 108), (150, 163), (220, 220)),
        wavelength_range=(400.0, 2500.0), gsd_m=20.0,
        n_classes=16, class_names=INDIAN_PINES_CLASSES,
        class_counts=dict(enumerate(INDIAN_PINES_COUNTS, start=1)), n_labelled=10249,
        files=(
            FileSpec("cube", "Indian_pines_corrected.mat", ("indian_pines_corrected", "data"),
                     url=EHU + "6/67/Indian_pines_corrected.mat",
                     aliases=("indian_pines_corrected.mat", "IndianPines/indian_pines_corrected.mat")),
            FileSpec("labels", "Indian_pines_gt.mat", ("indian_pines_gt", "groundT"),
                     url=EHU + "c/c4/Indian_pines_gt.mat",
                     sha256="65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c",
                     aliases=("indian_pines_gt.mat", "IndianPines/indian_pines_gt.mat")),
        ),
        landing_page=EHU_LANDING,
        citation=("Baumgardner, Biehl & Landgrebe (2015), 220 Band AVIRIS Hyperspectral Image Data "
                  "Set: June 12, 1992 Indian Pine Test Site 3, Purdue University Research "
                  "Repository, doi:10.4231/R7RX991C"),
        licence="CC BY 3.0",
        notes=("Works offline: when no .mat is cached, the copy shipped inside the PyPI package "
               "'tensorly' (tensorly/datasets/data/Indian_pines_corrected.npy and "
               "Indian_pines_gt.npy) is read and its sha256 verified."),
        offline_copy="tensorly",
        aliases=("ip", "indianpines", "indian"),
    ),
    "pavia_university": SceneInfo(
        name="pavia_university",
        title="Pavia University",
        sensor="ROSIS",
        height=610, width=340, n_bands=103,
        wavelength_range=(430.0, 860.0), gsd_m=1.3,
        n_classes=9, class_names=PAVIA_U_CLASSES,
        class_counts=dict(enumerate(PAVIA_U_COUNTS, start=1)), n_labelled=42776,
        files=(
            FileSpec("cube", "PaviaU.mat", ("paviaU",), url=EHU + "e/ee/PaviaU.mat",
                     aliases=("paviaU.mat", "paviaU/paviaU.mat", "paviaU/PaviaU.mat")),
            FileSpec("labels", "PaviaU_gt.mat", ("paviaU_gt",), url=EHU + "5/50/PaviaU_gt.mat",
                     sha256="23f6a426928f9b32984adffe659e29f554f9fb6c93b5a107528d308d5087a829",
                     aliases=("paviaU_gt.mat", "paviaU/paviaU_gt.mat", "paviaU/PaviaU_gt.mat")),
        ),
        landing_page=EHU_LANDING, citation=_EHU_CITATION,
        notes="ROSIS: 115 bands, 12 noisy bands removed → 103.",
        aliases=("pu", "paviau", "pavia_u", "upavia", "up"),
    ),
    "salinas": SceneInfo(
        name="salinas",
        title="Salinas (corrected)",
        sensor="AVIRIS",
        height=512, width=217, n_bands=204, sensor_bands=224,
        removed_bands=_ranges((108, 112), (154, 167), (224, 224)),
        wavelength_range=(400.0, 2500.0), gsd_m=3.7,
        n_classes=16, class_names=SALINAS_CLASSES,
        class_counts=dict(enumerate(SALINAS_COUNTS, start=1)), n_labelled=54129,
        files=(
            FileSpec("cube", "Salinas_corrected.mat", ("salinas_corrected",),
                     url=EHU + "a/a3/Salinas_corrected.mat",
                     aliases=("salinas_corrected.mat", "salinas/salinas_corrected.mat")),
            FileSpec("labels", "Salinas_gt.mat", ("salinas_gt",), url=EHU + "f/fa/Salinas_gt.mat",
                     sha256="ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2",
                     aliases=("salinas_gt.mat", "salinas/salinas_gt.mat")),
        ),
        landing_page=EHU_LANDING, citation=_EHU_CITATION,
        aliases=("sa", "salinas_valley"),
    ),
    "salinas_a": SceneInfo(
        name="salinas_a",
        title="Salinas-A (sub-scene of Salinas)",
        sensor="AVIRIS",
        height=83, width=86, n_bands=204, sensor_bands=224,
        removed_bands=_ranges((108, 112), (154, 167), (224, 224)),
        wavelength_range=(400.0, 2500.0), gsd_m=3.7,
        n_classes=6, class_names=SALINAS_CLASSES,
        class_counts={1: 391, 10: 1343, 11: 616, 12: 1525, 13: 674, 14: 799}, n_labelled=5348,
        files=(
            FileSpec("cube", "SalinasA_corrected.mat", ("salinasA_corrected",),
                     url=EHU + "1/1a/SalinasA_corrected.mat",
                     sha256="d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721",
                     size=1539086, aliases=("salinasA_corrected.mat",)),
            FileSpec("labels", "SalinasA_gt.mat", ("salinasA_gt",), url=EHU + "a/aa/SalinasA_gt.mat",
                     sha256="17814c1d3296c0e29b27f320f2c4174d2a68adb87e376abe78f02923e2c2e454",
                     aliases=("salinasA_gt.mat",)),
        ),
        role="demo",
        landing_page=EHU_LANDING, citation=_EHU_CITATION,
        notes=("Rows 591-676, columns 158-240 of Salinas. Its labels keep the full-Salinas ids "
               "{1, 10, 11, 12, 13, 14}; they are remapped to 1..6 (original ids kept)."),
        aliases=("salinasa", "sa_a"),
    ),
    "houston2013": SceneInfo(
        name="houston2013",
        title="Houston 2013 (IEEE GRSS DFC 2013, CDFSL/CASCL format)",
        sensor="ITRES CASI-1500",
        height=349, width=1905, n_bands=144,
        wavelength_range=(364.0, 1046.0), gsd_m=2.5,
        n_classes=15, class_names=HOUSTON_CLASSES,
        class_counts={i + 1: HOUSTON_TRAIN_COUNTS[i] + HOUSTON_TEST_COUNTS[i] for i in range(15)},
        n_labelled=15029,
        files=(
            FileSpec("cube", "data.mat", ("data",), aliases=("Houston/data.mat",)),
            FileSpec("train_mask", "mask_train.mat", ("mask_train",),
                     aliases=("Houston/mask_train.mat",)),
            FileSpec("test_mask", "mask_test.mat", ("mask_test",), aliases=("Houston/mask_test.mat",)),
        ),
        landing_page="https://machinelearning.ee.uh.edu/?page_id=459",
        citation=("2013 IEEE GRSS Data Fusion Contest, Hyperspectral Image Analysis Laboratory, "
                  "University of Houston; CDFSL-format files from github.com/Li-ZK/CDFS-CASCL-2024"),
        licence="University of Houston terms: no redistribution",
        notes=("Not downloadable automatically: the CDFSL-format data.mat / mask_train.mat / "
               "mask_test.mat are only on the Baidu link in the CDFS-CASCL-2024 README, and the "
               "UH licence forbids redistribution. Official contest zip: "
               "https://machinelearning.ee.uh.edu/2egf4tg8hial13gt/2013_DFTC.zip (raw format, "
               "not read by this kit). Support pixels come from mask_train, queries from "
               "mask_test (2,832 / 12,197 pixels)."),
        aliases=("houston", "houston_2013", "hu", "hs"),
    ),
    "chikusei": SceneInfo(
        name="chikusei",
        title="Chikusei (Hyperspec-VNIR-C, 29 July 2014)",
        sensor="Headwall Hyperspec-VNIR-C",
        height=2517, width=2335, n_bands=128,
        wavelength_range=(363.0, 1018.0), gsd_m=2.5,
        n_classes=19, class_names=CHIKUSEI_CLASSES, n_labelled=77592,
        files=(
            FileSpec("cube", "HyperspecVNIR_Chikusei_20140729.mat", ("chikusei",),
                     archive=_CHIKUSEI_ZIP,
                     aliases=("Chikusei_MATLAB/HyperspecVNIR_Chikusei_20140729.mat",
                              "Chikusei_raw_mat/HyperspecVNIR_Chikusei_20140729.mat")),
            FileSpec("labels", "HyperspecVNIR_Chikusei_20140729_Ground_Truth.mat", ("GT",),
                     archive=_CHIKUSEI_ZIP,
                     aliases=("Chikusei_MATLAB/HyperspecVNIR_Chikusei_20140729_Ground_Truth.mat",
                              "Chikusei_raw_mat/HyperspecVNIR_Chikusei_20140729_Ground_Truth.mat")),
        ),
        role="source",
        landing_page="https://naotoyokoya.com/Download.html",
        citation=("N. Yokoya and A. Iwasaki, 'Airborne hyperspectral data over Chikusei', Space "
                  "Application Laboratory, University of Tokyo, Tech. Rep. SAL-2016-05-27, 2016"),
        licence="CC BY 3.0",
        notes=("MATLAB v7.3 (HDF5) cube, read with h5py band by band into float32 (about 3 GB). "
               "The ground truth is a MATLAB struct; the label map is its first field "
               "(GT[0][0][0]). Downloaded as a zip (about 2 GB) from the University of Tokyo "
               "host, then the two .mat files are extracted."),
        aliases=("chikusei_vnir",),
    ),
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _alias_table() -> Dict[str, str]:
    table = {}
    for key, info in SCENES.items():
        table[_normalise(key)] = key
        table[_normalise(key).replace("_", "")] = key
        for alias in info.aliases:
            table[_normalise(alias)] = key
    return table


def resolve_scene_name(name: str) -> Optional[str]:
    """Registry key for ``name`` (case, ``-``/``_``/space and common aliases such as ``"ip"``,
    ``"PaviaU"`` or ``"Houston"`` are accepted), or ``None`` when it is not a known scene."""
    return _alias_table().get(_normalise(name)) or _alias_table().get(
        _normalise(name).replace("_", ""))


def get_scene_info(name: str) -> SceneInfo:
    """The :class:`SceneInfo` of a registered scene.

    Raises :class:`~mifomo_lite.errors.DataError` for an unknown name, suggesting the closest
    known names (``difflib``), e.g. ``"indian_pine"`` → "did you mean 'indian_pines'?".
    """
    key = resolve_scene_name(name)
    if key is None:
        raise DataError(unknown_scene_message(name))
    return SCENES[key]


def unknown_scene_message(name: str) -> str:
    candidates = list(_alias_table())
    close = difflib.get_close_matches(_normalise(name), candidates, n=3, cutoff=0.5)
    suggestions = []
    for c in close:
        target = _alias_table()[c]
        if target not in suggestions:
            suggestions.append(target)
    hint = f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    return (f"unknown scene name {name!r}.{hint} Known scenes: {', '.join(SCENES)}. "
            "To load your own data, pass the path to a file instead of a name.")


def list_scenes() -> Sequence[SceneInfo]:
    """All registered scenes, in registry order."""
    return list(SCENES.values())
