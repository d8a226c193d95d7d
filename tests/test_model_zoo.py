"""MODEL_ZOO.md: every RmLR config has a row, every named config and command exists, and the
paper's numbers are copied right (checked against the paper's text when it is available)."""

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
PAPERS = glob.glob(os.path.join(REPO, "..", "shared", "papers", "*.txt"))
NUMBER = re.compile(r"\d+\.\d+")


def zoo():
    with open(os.path.join(REPO, "MODEL_ZOO.md")) as f:
        return f.read()


def paper_text():
    for path in PAPERS:
        with open(path) as f:
            text = f.read()
        if "Table 1. Experimental results on HICO-DET" in text:
            return text
    return None


def test_every_config_has_a_row_and_every_named_file_exists():
    text = zoo()
    named = set(re.findall(r"`((?:rmlr|detr|pose)/[a-z0-9_]+\.py)`", text))
    for folder in ("rmlr", "pose"):
        for path in glob.glob(os.path.join(CONFIGS, folder, "*.py")):
            assert f"{folder}/{os.path.basename(path)}" in named, path
    for name in named:
        assert os.path.isfile(os.path.join(CONFIGS, name)), name
    for path in re.findall(r"--config-file (\S+\.py)", text):
        assert os.path.isfile(os.path.join(REPO, path)), path
    for path in re.findall(r"(projects/RmLR/weights/\S+\.pth)", text):
        assert os.path.isfile(os.path.join(REPO, path)), path
    assert "sha256sum" in text and "none yet" in text


@pytest.mark.skipif(paper_text() is None, reason="the paper's text is not available")
def test_paper_numbers_match_the_paper():
    lines = [NUMBER.findall(line) for line in paper_text().splitlines()]
    paper_sections = zoo().split("## Synthetic dataset")[0]  # the rest is measured here
    rows = [
        line
        for line in paper_sections.splitlines()
        if line.startswith(("| `rmlr/", "| ResNet")) and NUMBER.search(line)
    ]
    assert len(rows) >= 18
    for row in rows:
        numbers = NUMBER.findall(row)
        n = len(numbers)
        found = any(
            numbers == paper[i : i + n] for paper in lines for i in range(len(paper) - n + 1)
        )
        assert found, f"MODEL_ZOO.md row not found in the paper: {row}"
