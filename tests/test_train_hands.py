"""Training on real hands: the copiste/poilus/unipen sources and their validation hands.

A tiny line set is drawn here (two hands, one of them a validation hand of the
committed split), so the test runs in CI without ``../shared/hands``.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from htr import train
from htr.alphabet import decode
from htr.data.hands import load_split

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["Le café était très chaud", "une île déserte", "Noël à Québec", "élève modèle", "hôtel œuvre"]


def _line_image(text: str) -> np.ndarray:
    img = Image.new("L", (12 * len(text) + 40, 60), 235)
    ImageDraw.Draw(img).text((20, 20), text, fill=20)
    return np.asarray(img.resize((img.width * 2, img.height * 2)))


def _hands(tmp_path: Path) -> tuple[Path, str, str]:
    """A hands folder with a copiste line set: one train hand, one validation hand of the committed split."""
    val_hand = load_split()["copiste"]["validation"][0]
    train_hand = "copiste-test-train"
    root = tmp_path / "hands"
    rows = ["id\timage\thand\tpage\ttext"]
    for hand in (train_hand, val_hand):
        for i, text in enumerate(TEXTS):
            rel = f"lines/{hand}/{hand}-{i}.png"
            (root / "copiste" / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_line_image(text)).save(root / "copiste" / rel)
            rows.append(f"{hand}-{i}\t{rel}\t{hand}\tp{i}\t{text}")
    (root / "copiste" / "lines.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root, train_hand, val_hand


def test_sample_maker_trains_on_train_hands_only_with_mapped_text(tmp_path):
    root, _, _ = _hands(tmp_path)
    cfg = train.Config(sources={"copiste": 1.0}, hands_dir=str(root), taco_prob=0.0, join_prob=0.0)
    maker = train.SampleMaker(cfg, None, seed=1)
    assert {rec.hand for rec, _ in maker.hands["copiste"]} == {"copiste-test-train"}
    mapped = {"Le cafe etait tres chaud", "une ile deserte", "Noel a Quebec", "eleve modele", "hotel oeuvre"}
    for _ in range(6):
        x, y = maker.make()
        assert x.dtype == np.uint8 and x.shape == (cfg.width, 80)
        assert decode(y) in mapped


def test_hand_validation_sets_take_the_first_lines_of_validation_hands(tmp_path):
    root, _, val_hand = _hands(tmp_path)
    cfg = train.Config(sources={"copiste": 1.0}, hands_dir=str(root), hands_val_lines=2, select="hands")
    sets = train.hand_validation_sets(cfg)
    assert list(sets) == ["copiste"]
    assert [t for _, t in sets["copiste"]] == ["Le cafe etait tres chaud", "une ile deserte"]
    # images are the files' own pixels (copiste is scanned, not rendered)
    assert all(g.dtype == np.uint8 and g.ndim == 2 for g, _ in sets["copiste"])


def test_selection_by_hands_is_the_mean_over_sets():
    cfg = train.Config(select="hands", hands_dir="x")
    assert train.selection_cer(cfg, 0.02, None, 0.5, {"copiste": 0.3, "poilus": 0.4}) == pytest.approx(0.24)
    assert train.selection_cer(cfg, None, None, 0.5, {"copiste": 0.3}) == pytest.approx(0.3)


def test_check_config_refuses_unknown_sources_and_hands_without_a_folder():
    with pytest.raises(ValueError, match="unknown source"):
        train.check_config(train.Config(sources={"synth": 1.0, "iamm": 0.5}))
    with pytest.raises(ValueError, match="needs the real hands"):
        train.check_config(train.Config(select="hands", hands_dir=""))


def test_train_cli_on_a_small_real_line_set(tmp_path):
    root, _, _ = _hands(tmp_path)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"sources": {"synth": 0.3, "copiste": 0.7}, "select": "hands",
                               "hands_val_lines": 2, "val_synth": 4}))
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", IAM_DIR="", HANDS_DIR=str(root))
    r = subprocess.run([sys.executable, "-m", "htr", "train", "--preset", "smoke", "--minutes", "30",
                        "--config", str(cfg), "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 copiste lines" in r.stdout
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row in rows:  # with only copiste validation hands (no IAM), the selection CER is copiste's
        assert float(row["selection_cer"]) == pytest.approx(float(row["val_cer_copiste"]), abs=1e-5)
    state = json.loads((out / "state.json").read_text())
    assert state["best"] == pytest.approx(min(float(r["selection_cer"]) for r in rows), abs=1e-5)
    assert "copiste" in state["val_sets"]
