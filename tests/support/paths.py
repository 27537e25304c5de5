"""Where the tests find the repository, its docs and the published results they replay."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = REPO_ROOT / "docs"
DATA_DIR = REPO_ROOT / "tests" / "data"
FIXTURES = {
    "xe8545_bert_server": DATA_DIR / "dell-xe8545-a100x4-maxq-bert99-server" / "performance",
    "xe8545_resnet_offline": DATA_DIR / "dell-xe8545-a100x4-maxq-resnet50-offline" / "performance",
    "xr12_multistream": DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-multistream" / "performance",
    "xr12_singlestream": DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-singlestream" / "performance",
    "orin_offline": DATA_DIR / "nvidia-orin-maxq-resnet50-offline" / "performance",
}
