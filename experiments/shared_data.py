"""The default folders of the shared data sets the experiments read: ``../shared/data`` beside the repository (the
developers' layout, ``../shared/data/README.md``). Every script takes its folder as an option; these are only the
defaults, so that a clone elsewhere finds them too (instead of one machine's absolute path)."""
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CINC2017 = SHARED_DATA / "cinc2017" / "training2017"
MITDB = SHARED_DATA / "mitdb"
PTBXL = SHARED_DATA / "ptbxl"
CINC2021 = SHARED_DATA / "cinc2021-sample"
