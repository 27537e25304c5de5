from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"
FIXTURES = {
    "xe8545_bert_server": DATA_DIR / "dell-xe8545-a100x4-maxq-bert99-server" / "performance",
    "xe8545_resnet_offline": DATA_DIR / "dell-xe8545-a100x4-maxq-resnet50-offline" / "performance",
    "xr12_multistream": DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-multistream" / "performance",
    "xr12_singlestream": DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-singlestream" / "performance",
    "orin_offline": DATA_DIR / "nvidia-orin-maxq-resnet50-offline" / "performance",
}


@pytest.fixture(params=sorted(FIXTURES))
def fixture_dir(request: pytest.FixtureRequest) -> Path:
    return FIXTURES[request.param]


@pytest.fixture
def copy_fixture(tmp_path: Path):
    """Copy a fixture folder into tmp_path so a test can damage it."""

    def copy(name: str) -> Path:
        target = tmp_path / name / "performance"
        shutil.copytree(FIXTURES[name], target)
        return target

    return copy
