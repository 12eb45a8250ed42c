import json

import numpy as np
import pytest

from underspec.data import generators
from underspec.data.challenge import ChallengeTask, read_answers, read_task, verify_checksums
from underspec.data.generators import TASKS, generate, generate_suite
from underspec.errors import UnderspecError

DIGIT_TASKS = [n for n, s in TASKS.items() if s.needs in ("digits", "none")]


@pytest.mark.parametrize("name", DIGIT_TASKS)
def test_labeled_correlated_target_decorrelated(name):
    task, ans = generate(name, source="digits", seed=0)
    g = ans.groups
    lab, tgt = g[g.split == "labeled"], g[g.split == "target"]
    classes = task.classes
    assert set(np.unique(task.y_labeled)) <= set(classes.tolist())
    assert len(task.X_labeled) == len(task.y_labeled) == len(lab)
    assert task.X_unlabeled.shape[1:] == task.X_val.shape[1:] == task.X_labeled.shape[1:]
    if name == "trojan":
        # The shortcut is the patch: only 3% of labeled items carry it, none elsewhere.
        assert 0 < lab.shortcut.mean() <= 0.05 and tgt.shortcut.sum() == 0
        return
    assert lab.correlated.all()
    if name == "no_shift":
        assert tgt.correlated.all()
    else:
        # Shortcut drawn independently of the label: agreement near chance (1/C).
        agree = tgt.label.to_numpy() == classes[tgt.shortcut.to_numpy()]
        assert abs(agree.mean() - 1 / len(classes)) < 0.12


@pytest.mark.parametrize(("name", "rate"), [("cc", 0.5), ("uniform_color_low_mix_rate", 0.03)])
def test_unlabeled_mix_rate(name, rate):
    _, ans = generate(name, source="digits", seed=1, sizes=(100, 2000, 100))
    unl = ans.groups[ans.groups.split == "unlabeled"]
    assert abs((~unl.correlated).mean() - rate) < 0.01
    assert (ans.y_unlabeled == unl.label.to_numpy()).all()


def test_mix_rate_option_and_validation():
    _, ans = generate("cc", source="digits", seed=1, mix_rate=0.2, sizes=(50, 500, 50))
    unl = ans.groups[ans.groups.split == "unlabeled"]
    assert abs((~unl.correlated).mean() - 0.2) < 0.01
    with pytest.raises(UnderspecError, match="mix_rate"):
        generate("cc", source="digits", mix_rate=1.5)


def test_splits_use_disjoint_source_images(monkeypatch):
    monkeypatch.setattr(generators, "NOISE_SIGMA", 0.0)
    task, _ = generate("cc", source="digits", seed=5)
    width = task.X_labeled.shape[-1] // 2

    def halves(X):
        return {h.tobytes() for x in X for h in (x[..., :width], x[..., width:])}

    lab, unl, tgt = halves(task.X_labeled), halves(task.X_unlabeled), halves(task.X_val)
    assert lab and unl and tgt
    assert not lab & tgt and not lab & unl and not unl & tgt


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    generate("constant_image", source="digits", seed=7, out=tmp_path / "a")
    generate("constant_image", source="digits", seed=7, out=tmp_path / "b")
    generate("constant_image", source="digits", seed=8, out=tmp_path / "c")
    files = json.loads((tmp_path / "a" / "task.json").read_text())["files"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "X_val.npy").read_bytes() != (tmp_path / "c" / "X_val.npy").read_bytes()


def test_layout_manifest_and_answers_apart(tmp_path):
    out = tmp_path / "task"
    generate("sum", source="digits", seed=2, out=out, oracle_items=30)
    manifest = json.loads((out / "task.json").read_text())
    assert manifest["classes"] == [0, 6] and manifest["points"] == 1
    assert manifest["default_score"] == 0.8 and manifest["seed"] == 2
    assert "answers/y_val.npy" in manifest["files"] and "X_val.npy" in manifest["files"]
    assert verify_checksums(out) == []
    assert not (out / "y_val.npy").exists()
    task = read_task(out)
    ans = read_answers(out)
    assert len(ans.y_val) == len(task.X_val)
    assert ans.extra["oracle_X"].shape == (30, *task.X_val.shape[1:])
    (out / "X_val.npy").write_bytes(b"tampered")
    assert verify_checksums(out) == ["X_val.npy"]


def test_embedding_tasks_are_vectors():
    task, ans = generate("embed_three", source="digits", seed=0)
    assert task.X_labeled.ndim == 2 and task.X_labeled.shape[1] == 198
    assert sorted(np.unique(ans.y_val).tolist()) == [4, 5, 6]


def test_suite_skips_tasks_without_their_source(tmp_path):
    written, skipped = generate_suite(source="digits", out=tmp_path, tasks=("toy", "vehicle_animal", "humans"),
                                      sizes=(20, 40, 20))
    assert [p.name for p in written] == ["00_toy"]
    assert len(skipped) == 2 and "CIFAR-10" in skipped[0]


def test_humans_from_a_face_set(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    path = tmp_path / "faces.npz"
    np.savez(path, x=rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8),
             gender=rng.integers(0, 2, n), age=rng.integers(1, 90, n))
    task, ans = generate("humans", source="faces", data=str(path), seed=0)
    assert task.manifest["pretrained_weights_allowed"] is True
    assert generate("cc", sizes=(20, 20, 20))[0].manifest["pretrained_weights_allowed"] is False
    g = ans.groups
    assert task.X_labeled.shape[1:] == (3, 8, 8)
    assert g[g.split == "labeled"].correlated.all()
    with pytest.raises(UnderspecError, match="only"):
        generate("humans", source="faces", data=str(path), sizes=(300, 300, 300))


def test_vehicle_animal_from_cifar_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "cifar.npz"
    np.savez(path, x=rng.integers(0, 255, (400, 32, 32, 3), dtype=np.uint8), y=np.arange(400) % 10)
    task, ans = generate("vehicle_animal", source="cifar10", data=str(path), sizes=(10, 20, 20))
    assert task.X_labeled.shape == (10, 3, 32, 64)
    assert set(ans.y_val.tolist()) <= {2, 3}


def test_dominoes_a_digit_above_the_photo_outside_the_suite(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from underspec.data.generators import SUITES

    rng = np.random.default_rng(0)
    path = tmp_path / "cifar.npz"
    np.savez(path, x=rng.integers(0, 255, (600, 32, 32, 3), dtype=np.uint8), y=np.arange(600) % 10)
    task, ans = generate("dominoes", source="cifar10", data=str(path), sizes=(40, 80, 80), seed=0)
    assert task.X_labeled.shape == (40, 3, 64, 32) and set(task.y_labeled.tolist()) == {1, 9}
    g = ans.groups
    assert g[g.split == "labeled"].correlated.all() and not g[g.split == "target"].correlated.any()
    top = task.X_val[:, :, :32]
    assert np.abs(top[:, 0] - top[:, 1]).max() < 0.2  # a grey digit (noise apart)
    shortcut = g[g.split == "target"].shortcut.to_numpy()
    probe = LogisticRegression(max_iter=1000).fit(top[:40].reshape(40, -1), shortcut[:40])
    assert probe.score(top[40:].reshape(40, -1), shortcut[40:]) > 0.9  # the top half is the digit
    assert "dominoes" not in SUITES["hackathon"]


def test_cli_generate_reads_the_task_source_flag(tmp_path, capsys):
    """``generate vehicle_animal --cifar10 PATH`` reads PATH (it asked for --data before)."""
    from underspec.cli import main

    rng = np.random.default_rng(0)
    path = tmp_path / "cifar.npz"
    np.savez(path, x=rng.integers(0, 255, (400, 32, 32, 3), dtype=np.uint8), y=np.arange(400) % 10)
    assert main(["generate", "vehicle_animal", "--cifar10", str(path), "--sizes", "10,20,20",
                 "--out", str(tmp_path / "va")]) == 0
    assert read_task(tmp_path / "va").X_labeled.shape == (10, 3, 32, 64)
    faces = tmp_path / "faces.npz"
    np.savez(faces, x=rng.integers(0, 255, (400, 8, 8, 3), dtype=np.uint8),
             gender=rng.integers(0, 2, 400), age=rng.integers(1, 90, 400))
    assert main(["generate", "humans", "--faces", str(faces), "--out", str(tmp_path / "h")]) == 0


def test_cli_generate_without_the_task_source_names_its_flag(tmp_path, capsys):
    """``generate humans`` without ``--faces`` said "--data: source 'faces' needs a local file or folder",
    naming a flag the task does not read; now it names ``--faces``, exit 2, nothing written."""
    from underspec.cli import main

    for task, flag in (("humans", "--faces"), ("vehicle_animal", "--cifar10")):
        assert main(["generate", task, "--out", str(tmp_path / task)]) == 2
        message = capsys.readouterr().err
        assert f"{flag} PATH" in message and "never downloaded" in message
        assert not (tmp_path / task).exists()


def test_unknown_task():
    with pytest.raises(UnderspecError, match="unknown task"):
        generate("nope")


def test_block_noise_and_placement_match_the_one_shot_versions():
    x = np.random.default_rng(0).normal(size=(50, 1, 3, 4)).astype(np.float32)
    one_shot = x + np.random.default_rng(1).normal(0, 0.1, size=x.shape).astype(np.float32)
    blocks = generators._add_noise(x.copy(), np.random.default_rng(1), 0.1, block=7)
    assert np.array_equal(blocks, one_shot)

    core, other = np.ones((6, 1, 2, 3), np.float32), np.zeros((6, 1, 2, 3), np.float32)
    placed = generators._place(core, other, "random", np.random.default_rng(2))
    left = np.random.default_rng(2).random(6) < 0.5
    assert placed.shape == (6, 1, 2, 6)
    assert np.array_equal(placed[:, 0, 0, 0] == 1, left)
    assert np.array_equal(placed[:, 0, 0, 3] == 1, ~left)
    assert np.array_equal(generators._place(core, other, "left", None)[:, 0, 0, :3], core[:, 0, 0])
    # regression (issue 24): "right" was read as "random"
    assert np.array_equal(generators._place(core, other, "right", None)[:, 0, 0, 3:], core[:, 0, 0])


def test_label_on_the_right_and_unknown_sides():
    from underspec.commands.options import SIDES

    assert SIDES == generators.SIDES
    task, _answers = generate("uniform_color_random_row", seed=3, sizes=(40, 40, 40), side="right")
    half = task.X_val.shape[-1] // 2
    left_std = task.X_val[..., :half].reshape(40, -1).std(1)
    assert (left_std < 0.1).all()  # the uniform colour (plus noise) is on the left of every item
    assert task.manifest["side"] == "right"
    with pytest.raises(UnderspecError, match="side: 'top'; expected one of left, right, random"):
        generate("cc", sizes=(40, 40, 40), side="top")


@pytest.mark.parametrize("how", ["frame", "brightness", "patch", "tint"])
def test_shortcut_kinds_are_drawn_on_the_image_and_predict_the_shortcut_only(how):
    """``generate(..., shortcut=...)`` (issue 24's variants): the shortcut is drawn onto the
    label's image; it alone tells the shortcut class apart on the unlabeled items, where it
    disagrees with the label on the mixed share."""
    from sklearn.linear_model import LogisticRegression

    from underspec.commands.options import SHORTCUTS
    from underspec.data.generators import SHORTCUTS as KINDS

    assert SHORTCUTS == KINDS
    task, answers = generate("cc", seed=1, sizes=(60, 300, 60), shortcut=how, classes=(0, 1, 2))
    assert task.X_labeled.shape[1:] == ((3, 8, 8) if how == "tint" else (1, 8, 8))  # not two images wide
    unl = answers.groups[answers.groups["split"] == "unlabeled"]
    mixed = unl["shortcut"].to_numpy() != unl["label"].to_numpy()
    assert 0.2 < mixed.mean() < 0.5  # mix rate 0.5, a third of the draws land on the same class
    X = task.X_unlabeled.reshape(len(task.X_unlabeled), -1)
    if how == "brightness":
        X = X.mean(1, keepdims=True)  # the whole image moves: its mean says it
    probe = LogisticRegression(max_iter=2000).fit(X[:200], unl["shortcut"][:200])
    assert probe.score(X[200:], unl["shortcut"][200:]) > 0.9
    with pytest.raises(UnderspecError, match="shortcut"):
        generate("sum", sizes=(60, 120, 40), shortcut=how)
    with pytest.raises(UnderspecError, match="expected one of"):
        generate("cc", sizes=(60, 120, 40), shortcut="stripes")


def test_a_task_read_or_generated_holds_every_item_in_one_buffer(tmp_path):
    """read_task and generate put the three item arrays in one float32 buffer (the learnt
    representation then encodes it without a stacked copy); a task built of separate arrays
    is stacked by a copy."""
    task, _ = generate("cc", source="digits", seed=0, sizes=(30, 40, 20), out=tmp_path / "t")
    for made in (read_task(tmp_path / "t"), task):
        items = made.items()
        assert items.dtype == np.float32 and items.shape == (90, *task.X_labeled.shape[1:])
        assert all(np.shares_memory(items, part) for part in (made.X_labeled, made.X_unlabeled, made.X_val))
    read = read_task(tmp_path / "t")
    assert np.array_equal(read.items(), task.items())
    assert np.array_equal(read.X_unlabeled, task.X_unlabeled) and np.array_equal(read.X_val, task.X_val)
    apart = ChallengeTask(task.X_labeled.copy(), task.y_labeled, task.X_unlabeled.copy(), task.X_val.copy(),
                          task.manifest)
    stacked = apart.items()  # separate arrays: a copy
    assert np.array_equal(stacked, task.items()) and not np.shares_memory(stacked, apart.X_labeled)
    np.save(tmp_path / "t" / "X_val.npy", task.X_val.astype(np.float64)[:, :, :, :8])
    with pytest.raises(UnderspecError, match=r"X_val\.npy: items of shape"):
        read_task(tmp_path / "t")


def test_groups_name_each_items_source_image_and_splits_never_share_one(tmp_path):
    """``groups.csv``'s ``image``: the source image of each item's label. Items of one split
    reuse images (digits: a few dozen per class and split), never across splits, and an image
    always carries its class; a benchmark splitting the target by image scores on photos its
    network never saw. The toy task has no source image (-1). The column survives the folder."""
    from underspec.data.challenge import read_answers

    _, answers = generate("cc", seed=2, oracle_items=40, out=tmp_path / "cc")
    g = answers.groups
    assert (g["image"] >= 0).all()
    by_split = {s: set(g.loc[g["split"] == s, "image"]) for s in ("labeled", "unlabeled", "target")}
    assert not by_split["labeled"] & by_split["target"] and not by_split["unlabeled"] & by_split["target"]
    target = g[g["split"] == "target"]
    assert target["image"].nunique() < len(target)  # reused within the split
    assert (target.groupby("image")["label"].nunique() == 1).all()
    assert read_answers(tmp_path / "cc").groups["image"].tolist() == g["image"].tolist()
    assert (generate("toy", seed=2)[1].groups["image"] == -1).all()
