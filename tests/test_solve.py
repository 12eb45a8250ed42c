import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tests.conftest import CountingOracle
from underspec.ambiguity.disambiguate import self_train, train_classifier
from underspec.data.challenge import read_answers, read_task
from underspec.data.generators import generate
from underspec.errors import UnderspecError
from underspec.models.fit import predict_proba
from underspec.pipelines.solve import SolveSettings, represent_task, solve


def _plain_accuracy(task, y_val):
    model = train_classifier(task.X_labeled, np.searchsorted(task.classes, task.y_labeled), 2, epochs=8)
    return float((task.classes[predict_proba(model, task.X_val)[:, 0].argmax(1)] == y_val).mean())


@pytest.mark.parametrize(("name", "tell_apart"), [("constant_image", False), ("uniform_color_random_row", True)])
def test_solver_beats_plain_training_with_five_labels(tmp_path, name, tell_apart, monkeypatch):
    task, ans = generate(name, source="digits", seed=0)
    oracle = CountingOracle(ans.y_val)
    trained_with = {}

    def spy(*args, **kwargs):
        trained_with.update(args[5])  # the revealed pool rows
        return self_train(*args, **kwargs)

    monkeypatch.setattr("underspec.pipelines.solve.self_train", spy)
    result = solve(task, oracle, budget=5, out=tmp_path / "pred.csv", json_path=tmp_path / "s.json",
                   settings=SolveSettings(tell_apart=tell_apart))
    accuracy = float((result.predictions == ans.y_val).mean())
    assert accuracy >= 0.9
    assert _plain_accuracy(task, ans.y_val) < 0.7  # the shortcut wins without the solver
    assert len(oracle.calls) <= 5 and len(set(oracle.calls)) == len(oracle.calls)
    lines = (tmp_path / "pred.csv").read_text().splitlines()
    assert len(lines) == len(task.X_val) and set(lines) <= {str(c) for c in task.classes}
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["hypotheses"]["count"] >= 2 and summary["labels_used"] == len(oracle.calls)
    assert summary["device"] in ("cpu", "cuda")
    assert [q["index"] for q in summary["queries"]] == oracle.calls
    # every label checks a random disputed item, held out of the final model's training; or
    # (tell_apart) labels first tell the hypotheses apart, then check random disputed items
    checked = [q["index"] for q in summary["queries"] if q["purpose"] == "check"]
    assert summary["checks"]["count"] == len(checked) >= 1
    assert (summary["queries"][0]["purpose"] == "tell apart") == tell_apart
    assert (len(checked) == len(oracle.calls)) == (not tell_apart)
    n_u = summary["pool"]["unlabeled"]
    assert not {n_u + i for i in checked} & set(trained_with) and len(trained_with) == 5 - len(checked)


@pytest.mark.parametrize("budget", [0, 2])
def test_budget_never_exceeded(tiny_task_dir, budget):
    oracle = CountingOracle(read_answers(tiny_task_dir).y_val)
    result = solve(tiny_task_dir, oracle, budget=budget)
    assert len(oracle.calls) <= budget and result.summary["labels_used"] == len(oracle.calls)


@pytest.mark.parametrize(("max_pool", "n_unlabeled", "trained_on"),
                         [(50, 0, 50), (200, 120, 200), (10_000, 240, 320)])
def test_pool_holds_every_target_item_and_unlabeled_up_to_max_pool(tiny_task_dir, max_pool,
                                                                   n_unlabeled, trained_on):
    oracle = CountingOracle(read_answers(tiny_task_dir).y_val)
    settings = SolveSettings(max_pool=max_pool, epochs=2, final_epochs=1, rounds=1)
    result = solve(tiny_task_dir, oracle, budget=1, settings=settings)
    pool = result.summary["pool"]
    assert pool == {"unlabeled": n_unlabeled, "target": 80, "trained_on": trained_on,
                    "target_in_final": pool["target_in_final"]}
    if n_unlabeled == 0:  # nothing else to learn the target's distribution from
        assert pool["target_in_final"] is True
    assert len(result.predictions) == 80
    assert result.summary["pixel_student"] is None and result.teacher_proba is None  # native images: no student


def test_oracle_label_outside_classes(tiny_task_dir, tmp_path):
    oracle = CountingOracle(np.full(80, 7))
    with pytest.raises(UnderspecError, match="oracle answered 7"):
        solve(tiny_task_dir, oracle, out=tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_negative_budget(tiny_task_dir):
    with pytest.raises(UnderspecError, match="budget"):
        solve(tiny_task_dir, CountingOracle(np.zeros(80)), budget=-1)


def test_read_task_rejects_bad_files(tiny_task_dir):
    y = np.load(tiny_task_dir / "y_labeled.npy")
    np.save(tiny_task_dir / "y_labeled.npy", y[:-1])
    with pytest.raises(UnderspecError, match=r"rows but y_labeled\.npy"):
        read_task(tiny_task_dir)
    np.save(tiny_task_dir / "y_labeled.npy", np.where(np.arange(len(y)) == 3, np.nan, y.astype(float)))
    with pytest.raises(UnderspecError, match=r"y_labeled\.npy: NaN"):
        read_task(tiny_task_dir)
    np.save(tiny_task_dir / "y_labeled.npy", y + 0.5)
    with pytest.raises(UnderspecError, match="integer"):
        read_task(tiny_task_dir)
    np.save(tiny_task_dir / "y_labeled.npy", y)
    X = np.load(tiny_task_dir / "X_unlabeled.npy")
    np.save(tiny_task_dir / "X_unlabeled.npy", X[:0])
    with pytest.raises(UnderspecError, match=r"X_unlabeled\.npy: empty"):
        read_task(tiny_task_dir)
    X[2, 0, 0, 0] = np.nan
    np.save(tiny_task_dir / "X_unlabeled.npy", X)
    with pytest.raises(UnderspecError, match="NaN or infinite value in row 2"):
        read_task(tiny_task_dir)
    (tiny_task_dir / "X_val.npy").unlink()
    with pytest.raises(UnderspecError, match=r"X_val\.npy: file not found"):
        read_task(tiny_task_dir)


def test_settings_pick_the_vector_twin_for_vectors_only():
    s = SolveSettings(rounds=2, vector_rounds=7, min_share=0.3, vector_min_share=0.9)
    vectors, images = np.zeros((4, 5)), np.zeros((4, 1, 8, 8))
    assert s.for_items("rounds", vectors) == 7 and s.for_items("rounds", images) == 2
    assert s.for_items("min_share", vectors) == 0.9 and s.for_items("min_share", images) == 0.3
    assert s.heads_params(vectors)["n_restarts"] == s.vector_restarts
    assert s.heads_params(images)["batch_size"] == s.batch_size


def test_the_reported_interval_holds_a_mass_chosen_for_the_number_of_classes():
    """Mondrian conformal: one mass for all left 5-class intervals holding 0.65 of their truths
    and 2-class ones 0.96; each number of classes has its own, the last for any larger number."""
    s = SolveSettings(interval_mass=0.8, interval_mass_by_classes=(0.7, 0.85, 0.9))
    assert [s.interval_mass_for(c) for c in (2, 3, 4, 5, 10)] == [0.7, 0.85, 0.9, 0.9, 0.9]
    assert SolveSettings(interval_mass=0.8, interval_mass_by_classes=()).interval_mass_for(5) == 0.8
    default = SolveSettings()
    assert default.interval_mass_for(2) < default.interval_mass_for(3) < default.interval_mass_for(5)


def test_native_vectors_self_train_fewer_rounds_on_large_pools():
    s = SolveSettings(rounds=3, vector_rounds=10, large_pool=2000, large_pool_rounds=6)
    vectors, images = np.zeros((4, 5)), np.zeros((4, 1, 8, 8))
    assert s.rounds_for(vectors, 1440) == 10 and s.rounds_for(vectors, 4800) == 6
    assert s.rounds_for(images, 4800) == 3  # images keep their rounds
    assert SolveSettings(vector_rounds=4).rounds_for(vectors, 4800) == 4  # never more than vector_rounds
    represented = SolveSettings(representation="patches")  # a photograph's representation keeps them
    assert represented.rounds_for(vectors, 4800) == represented.vector_rounds


def _as_photographs(X: np.ndarray) -> np.ndarray:
    """Grey 8 px digit items as colour items 4 times larger (what ``auto`` takes for photographs)."""
    return np.repeat(np.repeat(np.repeat(X, 3, axis=1), 4, axis=2), 4, axis=3)


def test_solver_works_on_the_learnt_representation_of_photographs():
    task, ans = generate("cc", source="digits", seed=3, sizes=(150, 300, 150))
    photos = type(task)(*(_as_photographs(x) for x in (task.X_labeled,)), task.y_labeled,
                        _as_photographs(task.X_unlabeled), _as_photographs(task.X_val), task.manifest)
    assert photos.X_val.shape[1:] == (3, 32, 64)
    settings = SolveSettings(max_dims=64, vector_restarts=2, vector_rounds=2, vector_epochs=15, student_epochs=8)
    oracle = CountingOracle(ans.y_val)
    result = solve(photos, oracle, budget=5, settings=settings)
    assert result.summary["representation"] == "patches-fast" and settings.representation == "auto"
    assert len(oracle.calls) <= 5
    assert float((result.predictions == ans.y_val).mean()) >= 0.7  # the shortcut alone: 0.5
    # the rejected hypotheses are erased from the learnt representation (unless the pixel
    # students, seeing one tile, learn the true labels first: then no final model is self-trained),
    # no complement joins the hypotheses there, and each tile (a digit beside a digit) is a
    # hypothesis of its own
    from_true_labels = result.summary["pixel_student"]["first_learnt"] == "true labels"
    assert (result.summary["erased_dimensions"] > 0) == (result.summary["hypotheses"]["count"] > 1
                                                         and not from_true_labels)
    assert result.summary["complement_heads"] == 0 and result.summary["slot_heads"] == 2
    assert result.summary["pixel_student"]["epochs"] == settings.student_epochs  # its pixels taught a network
    assert result.summary["pixel_student"]["rounds"] == settings.student_rounds == 2
    assert result.teacher_proba.shape == (len(ans.y_val), 2)
    # the held-out labeled items, where the shortcut props the label up, weigh less on photographs
    assert result.decision_inputs["holdout_strength"] == settings.represented_holdout_strength == 5.0
    # the labeled items with their labels, the unlabeled items and the target with the teacher's
    assert result.summary["pixel_student"]["trained_on"] == 150 + 300 + 150
    kept = [r["slot"] for r in result.summary["slots"] if r["kept"]]  # and sees only the tile the final model reads
    assert result.summary["pixel_student"]["tiles"] == ("/".join(map(str, kept)) if 0 < len(kept) < 2 else "all")
    tiles = result.summary["pixel_student"]["tiles"]  # the rejected tile out of sight: the true labels first
    assert result.summary["pixel_student"]["first_learnt"] == ("true labels" if tiles != "all" else "teacher's labels")
    assert represent_task(task, SolveSettings()) == (task, "none", 1, None)  # grey 8 px digits are no photographs


def test_pretrained_representation_only_where_the_task_allows_it(tmp_path):
    task, ans = generate("cc", source="digits", seed=3, sizes=(40, 40, 40))
    photos = type(task)(_as_photographs(task.X_labeled), task.y_labeled, _as_photographs(task.X_unlabeled),
                        _as_photographs(task.X_val), {**task.manifest, "pretrained_weights_allowed": False})
    with pytest.raises(UnderspecError, match="pretrained_weights_allowed"):
        solve(photos, CountingOracle(ans.y_val), settings=SolveSettings(representation="face-descriptor"))


def test_face_descriptor_embeds_faces_with_pretrained_weights():
    pytest.importorskip("dlib")
    from underspec.models.face_descriptor import FaceDescriptor
    from underspec.models.representation import represent

    rng = np.random.default_rng(0)
    faces = rng.random((3, 3, 32, 32)).astype(np.float32)
    raw = FaceDescriptor(standardise=False).fit_transform(faces)
    assert raw.shape == (3, 128) and np.isfinite(raw).all() and np.linalg.norm(raw, axis=1).min() > 0.1
    out = represent(faces, "face-descriptor", cache=None)
    assert np.allclose(out, (raw - raw.mean(0)) / raw.std(0), atol=1e-3)
    with pytest.raises(UnderspecError, match="colour images"):
        FaceDescriptor().fit(faces[:, :1])


def test_face_descriptor_columns_are_standardised_with_the_fitted_scales():
    """Regression: the raw descriptor's columns (about 0.1, unevenly spread) left the solver's
    linear network underfitting them (humans seed 42: 0.850 against 0.860 standardised). New
    faces are scaled like the fitted ones, and a transformer saved before keeps giving raw
    descriptors, as its model was trained on."""
    pytest.importorskip("dlib")
    from underspec.models.face_descriptor import FaceDescriptor
    from underspec.models.representation import transformer_from_state, transformer_state

    faces = np.random.default_rng(2).random((6, 3, 32, 32)).astype(np.float32)
    fitted = FaceDescriptor()
    out = fitted.fit_transform(faces[:5])
    assert np.abs(out.mean(0)).max() < 1e-4 and np.allclose(out.std(0), 1, atol=1e-3)
    raw = FaceDescriptor(standardise=False).fit(faces[:5]).transform(faces[5:])
    assert np.abs(raw).max() < 1  # dlib's own scale
    rebuilt = transformer_from_state(transformer_state(fitted))
    assert np.allclose(rebuilt.transform(faces[5:]), (raw - fitted.mean_) / fitted.scale_, atol=1e-4)
    state = transformer_state(fitted)
    for key in ("mean_", "scale_"):
        del state["fitted"][key]
    assert np.allclose(transformer_from_state(state).transform(faces[5:]), raw, atol=1e-5)


def test_face_chips_are_the_same_from_standardised_uint8_or_unit_pixels():
    """Regression: the generators hand out standardised pixels ((x - mean) / std); the face
    descriptor clipped them to [0, 1], blackening every pixel darker than the mean."""
    from underspec.models.face_descriptor import _chips
    from underspec.models.pretrained import pixel_range

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 3, 32, 32)).astype(np.uint8)
    pixels[0, 0, 0, :2] = (0, 255)  # the set holds black and white
    unit = pixels / np.float32(255)
    standardised = ((unit - unit.mean()) / unit.std()).astype(np.float32)
    expected = np.stack(_chips(unit))
    for X in (pixels, unit, standardised):
        assert np.abs(np.stack(_chips(X, *pixel_range(X))).astype(int) - expected).max() <= 2
    assert pixel_range(unit) == (0.0, 1.0) and pixel_range(pixels) == (0.0, 255.0)


def test_a_saved_face_descriptor_reads_new_faces_with_the_training_pixel_range():
    pytest.importorskip("dlib")
    from underspec.models.face_descriptor import FaceDescriptor
    from underspec.models.representation import transformer_from_state, transformer_state

    rng = np.random.default_rng(1)
    faces = ((rng.random((4, 3, 32, 32)) - 0.4) / 0.3).astype(np.float32)  # standardised pixels
    fitted = FaceDescriptor().fit(faces)
    rebuilt = transformer_from_state(transformer_state(fitted))
    assert rebuilt.pixel_range_ == fitted.pixel_range_ and not hasattr(rebuilt, "network_")
    assert np.allclose(rebuilt.transform(faces[:1]), fitted.transform(faces[:1]), atol=1e-6)
    with pytest.raises(UnderspecError, match="cannot be rebuilt"):
        transformer_from_state({"class": "Pickle", "params": {}, "fitted": {}})


def test_heads_on_a_learnt_representation_get_their_own_weight_decay():
    """The lower decay measured on photographs' representations learnt without labels is not
    applied to native vectors (on the digits demo it cost embed_three 10 points), to images, nor
    to the pretrained face descriptor (humans: 0.833 mean over 4 seeds with it, 0.844 without)."""
    import numpy as np

    from underspec.pipelines.solve import SolveSettings

    vectors, images = np.zeros((4, 8)), np.zeros((4, 1, 8, 8))
    native = SolveSettings(representation="none")
    represented = SolveSettings(representation="patches-fast")
    assert native.heads_params(vectors)["weight_decay"] == native.vector_weight_decay == 0.01
    assert represented.heads_params(vectors)["weight_decay"] == represented.represented_weight_decay == 0.001
    assert represented.heads_params(images)["weight_decay"] == represented.weight_decay
    faces = SolveSettings(representation="face-descriptor")  # pretrained: 0.01 measured better on humans
    assert faces.heads_params(vectors)["weight_decay"] == faces.vector_weight_decay and faces.represented(vectors)


def test_complement_heads_find_the_label_where_every_network_head_blends_it():
    # A 4-class variant (bench/results/calibration-before-complement/, seed 1): the two network
    # heads reached 0.43 and 0.53 on the target, the solver 0.59; the complement of the
    # shortcut head is the label. (A digit beside a stamp: the tiles' slot heads find it too,
    # so they are off here. Self-training on 90% of the pool, the default since, reads 0.96
    # without the complement as well: the test keeps the share it was written with, 0.5.)
    task, ans = generate("constant_image", source="digits", seed=1, classes=(0, 1, 4, 5), shortcut="beside",
                         side="right", mix_rate=0.05, sizes=(240, 720, 240))
    accuracy = {}
    for complement in (False, True):
        result = solve(task, CountingOracle(ans.y_val),
                       settings=SolveSettings(seed=1, complement=complement, pixel_slots=False, min_share=0.5))
        accuracy[complement] = float((result.predictions == ans.y_val).mean())
    assert result.summary["complement_heads"] >= 1
    assert any(group[0] >= 2 for group in result.summary["hypotheses"]["heads"])  # a complement kept
    assert "complement of another" in result.summary["message"]
    assert accuracy[True] >= 0.85 and accuracy[False] < 0.75


def test_the_pixels_partition_gives_the_label_where_every_head_took_the_shortcut():
    # A 3-class variant of the calibration draw (digits seed 7, a frame codes the shortcut):
    # the heads found one hypothesis (0.725 on the target), the solver reached 0.6; the
    # clusters of the pixels are the frame, and their complement is the label.
    task, ans = generate("cc", source="digits", seed=7, classes=(4, 7, 8), shortcut="frame", side="right",
                         mix_rate=0.05, sizes=(120, 360, 120))
    accuracy = {}
    for partition in (False, True):
        result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=7, partition=partition))
        accuracy[partition] = float((result.predictions == ans.y_val).mean())
    assert result.summary["partition_heads"] == 2 and result.summary["complement_heads"] >= 1  # pixels, statistics
    assert "clusters of the items' pixels" in result.summary["message"]
    assert accuracy[True] >= 0.9 and accuracy[False] < 0.8
    with pytest.raises(UnderspecError, match="partition_views"):
        solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=7, partition_views=("edges",)))


def test_the_channel_statistics_partition_finds_a_tint_the_pixels_clusters_mix():
    # A 3-class calibration variant (digits seed 25, a colour tint codes the shortcut, the two
    # digits side by side in random order): every head and the pixels' partition blended tint
    # and digit, 0.64, abstained; the clusters of the channels' means and spreads are the tint,
    # and their complement is the label.
    task, ans = generate("cc", source="digits", seed=25, classes=(0, 2, 5), shortcut="tint", side="random",
                         mix_rate=0.1, sizes=(120, 360, 120))
    accuracy = {}
    for views in (("pixels",), ("pixels", "statistics")):
        result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=25, partition_views=views))
        accuracy[views] = float((result.predictions == ans.y_val).mean())
    assert result.summary["partition_heads"] == 2
    assert accuracy[("pixels", "statistics")] >= 0.95 > 0.8 > accuracy[("pixels",)]
    assert SolveSettings().partition_views == ("pixels", "statistics")


def test_self_training_learns_nearly_the_whole_pool_on_five_classes():
    # A 5-class calibration variant (digits seed 26, a frame codes the shortcut): trained on the
    # surest half of the pool, the final model fell back towards the frame and read 0.85 (oracle
    # 0.95) and abstained; trained on 90% of it, it reads 0.95
    # (bench/results/settings-ab-five-classes-self-training.md).
    task, ans = generate("cc", source="digits", seed=26, classes=(0, 1, 6, 8, 9), shortcut="frame", side="right",
                         mix_rate=0.05, sizes=(120, 360, 120), oracle_items=240)  # the bench's draw
    accuracy = {}
    for share in (0.5, 0.9):
        result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=26, min_share=share))
        accuracy[share] = float((result.predictions == ans.y_val).mean())
    assert accuracy[0.9] >= 0.93 > 0.9 > accuracy[0.5]
    assert SolveSettings().min_share == 0.9


def test_a_flat_head_does_not_speak_for_its_hypothesis():
    # A calibration variant (digits seed 8, a frame codes the shortcut, mix rate 0.9): the
    # digit's hypothesis was spoken for by a head right on 0.975 of the target items but about
    # 0.6 sure of each; the two items asked to tell it from the frame's were where it said
    # 0.45-0.55, it lost both, the frame was chosen (0.58) and the run abstained. Heads of its
    # group as right on held-out labeled items and surer of them are what it now reads.
    task, ans = generate("cc", source="digits", seed=8, classes=(4, 8), shortcut="frame", side="left",
                         mix_rate=0.9, sizes=(120, 360, 120), oracle_items=240)  # the bench's draw
    accuracy = {}
    for sharpest in (False, True):
        result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=8, sharpest_first=sharpest))
        accuracy[sharpest] = float((result.predictions == ans.y_val).mean())
    assert accuracy[True] >= 0.95 > 0.8 > accuracy[False]
    assert result.summary["decision"] == "submit"
    assert SolveSettings().sharpest_first
    assert "posterior_temperatures" not in result.summary  # the calibrated posterior is kept off


def test_no_label_is_bought_when_the_target_items_look_like_the_labeled_ones():
    # The field's "no shift" task: labeled, unlabeled and target items drawn from one
    # distribution (here digits 1 and 2 dealt at random). Before the two-sample test the
    # solver spent its five labels verifying an accuracy held-out labeled items measure.
    from sklearn.datasets import load_digits

    from underspec.data.challenge import ChallengeTask

    digits = load_digits()
    keep = np.isin(digits.target, (1, 2))
    order = np.random.default_rng(0).permutation(int(keep.sum()))
    X = (digits.images[keep][:, None] / 16).astype(np.float32)[order]
    y = digits.target[keep][order]
    task = ChallengeTask(X[:120], y[:120], X[120:240], X[240:], {"classes": [1, 2]})
    spent = {}
    for alpha in (0.05, 0.0):
        oracle = CountingOracle(y[240:])
        result = solve(task, oracle, settings=SolveSettings(shift_alpha=alpha))
        spent[alpha] = len(oracle.calls)
    assert spent == {0.05: 0, 0.0: 5}
    assert result.summary["shift_test"] is None  # alpha 0: no test, the old behaviour
    first = solve(task, CountingOracle(y[240:])).summary
    assert first["shift_test"]["detected"] is False and first["labels_used"] == 0
    assert "no label was needed" in first["reason"] and first["decision"] == "submit"
    # nor a partition of the pixels: its complement made MNIST no_shift and trojan ambiguous
    assert first["partition_heads"] == 0 and first["complement_heads"] == 0


def test_digits_no_shift_buys_no_label_though_its_items_share_digit_images():
    # digits no_shift (generation seed 0): pairs of two digits drawn from a few images each.
    # Counting every neighbour the two-sample test read the split as shifted, the heads found
    # two hypotheses (they read held-out items through the images they trained on), and the
    # solver spent its five labels telling them apart, in 40 of 41 seeds.
    task, ans = generate("no_shift", source="digits", seed=0)
    spent, summaries = {}, {}
    for parts in (False, True):
        oracle = CountingOracle(ans.y_val)
        result = solve(task, oracle, settings=SolveSettings(seed=0, shift_parts=parts))
        spent[parts], summaries[parts] = len(oracle.calls), result.summary
    assert spent == {False: 5, True: 0}
    assert summaries[False]["hypotheses"]["count"] >= 2
    now = summaries[True]
    assert now["shift_test"]["detected"] is False and now["hypotheses"]["count"] == 1
    overruled = now["shift_test"]["hypotheses_overruled"]
    assert overruled >= 2 and f"The heads found {overruled} explanations" in now["reason"]
    assert now["message"].startswith(f"no shift: the heads found {overruled} hypotheses")
    assert "no label was needed" in now["reason"]
    assert now["decision"] == "submit" and float((result.predictions == ans.y_val).mean()) >= 0.95


def test_the_tile_aware_shift_test_is_for_tiled_pixels_not_photographs():
    # on raw vehicle_animal photos (seed 42) the pixels' linear features miss the shift once
    # the shared tiles are passed over (z 1.68): the test must not overrule the heads there
    from underspec.data.challenge import ChallengeTask
    from underspec.pipelines.solve import _parts

    def task(shape):
        X = np.zeros((4, *shape), np.float32)
        return ChallengeTask(X, np.array([0, 1, 0, 1]), X, X, {"classes": [0, 1]})

    assert _parts(task((1, 8, 16)), SolveSettings()) == 2
    assert _parts(task((1, 8, 16)), SolveSettings(shift_parts=False)) == 1
    assert _parts(task((3, 32, 64)), SolveSettings()) == 1  # a photo pair
    assert _parts(task((1, 8, 8)), SolveSettings()) == 1  # one tile
    assert _parts(ChallengeTask(np.zeros((4, 198)), np.array([0, 1, 0, 1]), np.zeros((4, 198)),
                                np.zeros((4, 198)), {"classes": [0, 1]}), SolveSettings()) == 1  # vectors


def test_the_decision_replays_exactly_from_its_saved_inputs(tiny_task_dir):
    """``SolveResult.decision_inputs`` is what decide() was called with, the solver's own priors
    included: bench/replay_decisions.py takes the decisions again from it."""
    from underspec.ambiguity.decide import decide

    oracle = CountingOracle(read_answers(tiny_task_dir).y_val)
    settings = SolveSettings(hidden_shift=0.3, interval_mass_by_classes=(0.7,))
    result = solve(tiny_task_dir, oracle, budget=3, settings=settings)
    assert result.decision_inputs["hidden_shift"] == 0.3 and result.decision_inputs["interval_mass"] == 0.7
    assert "holdout_strength" not in result.decision_inputs  # pixels: decide()'s own 30
    replayed = decide(**result.decision_inputs).as_dict()
    for key in ("estimated_accuracy", "interval_90", "decision", "p_hidden_shift", "checks"):
        assert replayed[key] == result.summary[key]


def test_the_label_on_a_side_drawn_per_item_is_read_once_the_tiles_are_ordered():
    # constant_image_random_row on digits, generation seed 1 (bench/results/calibration-before-tiles/):
    # a fixed image of the class beside the digit, on a side drawn per item; no head read the
    # digit wherever it was and the solver reached 0.625 (abstained). With the tiles moved
    # into their learnt order the digit is always in one place.
    task, ans = generate("constant_image_random_row", source="digits", seed=1)
    accuracy = {}
    for order in (False, True):
        result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=1, order_tiles=order))
        accuracy[order] = float((result.predictions == ans.y_val).mean())
    assert result.summary["tile_order"]["reordered"] and result.summary["tile_order"]["split"] > 0.95
    assert accuracy[True] >= 0.95 and accuracy[False] < 0.8
    assert result.summary["decision"] == "submit"


def test_a_pixel_sum_whose_checks_all_hit_is_not_submitted():
    """Digits ``sum``, generation seed 15: the label is the first of two digits added pixel-wise,
    a coin toss on the target items that hold two classes (truth 0.76, below the 0.8 default).
    Its 3 random checks all hit, and it was submitted at an estimated 0.94; no hypothesis cuts
    the disputed items along a gap, so "none" now starts at 0.8 and it abstains."""
    task, ans = generate("sum", source="digits", seed=15, oracle_items=240)
    result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=15))
    s = result.summary
    assert float((result.predictions == ans.y_val).mean()) < 0.8
    assert s["split_bimodality"] < SolveSettings().gap_bimodality
    assert s["decision"] == "abstain" and "two distinct groups" in s["reason"]


def test_a_pretrained_descriptor_is_read_by_linear_networks_other_items_keep_theirs():
    vectors, images = np.zeros((4, 128), np.float32), np.zeros((4, 1, 8, 8), np.float32)
    face = SolveSettings(representation="face-descriptor")
    assert face.arch(vectors) == "linear" and face.heads_params(vectors)["arch"] == "linear"
    assert face.arch(images) == "cnn"
    for other in ("patches", "none", "auto"):
        assert SolveSettings(representation=other).arch(vectors) == "cnn"  # the MLP for vectors
    assert SolveSettings(representation="face-descriptor", descriptor_arch="cnn").arch(vectors) == "cnn"


def test_items_of_square_tiles_get_a_head_per_tile_and_the_final_model_reads_the_chosen_one():
    # regression (issue 24): on a 3-class digit pair (the label's digit right, its shortcut's
    # left) every network head blended the two, and the solver ended at 0.77 (generation seed 0)
    task, ans = generate("cc", source="digits", seed=0, classes=(1, 2, 4), side="right", mix_rate=0.01,
                         sizes=(360, 1080, 360))
    result = solve(task, CountingOracle(ans.y_val), budget=5, settings=SolveSettings())
    s = result.summary
    assert s["slot_heads"] == 2 and s["hypotheses"]["count"] >= 2
    assert [r["kept"] for r in s["slots"]] == [False, True]  # the shortcut's tile is cut off
    assert "leaves out slot 1 of 2" in s["message"] and "read from one tile" in s["message"]
    assert float((result.predictions == ans.y_val).mean()) >= 0.9
    off = solve(task, CountingOracle(ans.y_val), budget=5, settings=SolveSettings(pixel_slots=False)).summary
    assert off["slot_heads"] == 0 and off["slots"] == []


def test_vectors_that_embed_two_images_get_a_head_per_half():
    # regression (issue 24): on digits embed_three (generation seed 3) every network head
    # blended the two embedded digits (the best 0.73 on the target) and the solver ended at 0.767
    task, ans = generate("embed_three", source="digits", seed=3, oracle_items=240)
    result = solve(task, CountingOracle(ans.y_val), budget=5, settings=SolveSettings(seed=3))
    s = result.summary
    assert s["slot_heads"] == 2 and s["slots"] == []  # no final-model cut on halves
    first_half = s["target_heads"] + s["partition_heads"] + s["complement_heads"] + SolveSettings().n_heads
    assert any(h >= first_half for h in s["hypotheses"]["heads"][s["chosen_hypothesis"]])  # a half reads it
    assert float((result.predictions == ans.y_val).mean()) >= 0.95


def test_more_noisy_student_rounds_read_the_embedded_digit_six_missed():
    # regression (issue 24, bench/results/vector-rounds-10/): on digits embed (generation seed
    # 13) the final model of 6 self-training rounds (the default until then) ended at 0.958,
    # under the oracle's 0.983; with SolveSettings(seed=13, vector_rounds=6) this fails
    task, ans = generate("embed", source="digits", seed=13, oracle_items=240)
    result = solve(task, CountingOracle(ans.y_val), budget=5, settings=SolveSettings(seed=13))
    assert float((result.predictions == ans.y_val).mean()) >= 0.98
    assert result.summary["self_training_rounds"] == 10  # a pool of 960 items: not a large one


def test_pixel_student_corrects_part_of_its_teachers_mistakes():
    from sklearn.datasets import load_digits

    from underspec.ambiguity.disambiguate import pixel_student

    digits = load_digits()
    rows = np.flatnonzero(digits.target < 3)[:480]
    X = _as_photographs(digits.images[rows, None].astype(np.float32) / 16)
    truth = digits.target[rows]
    wrong = np.random.default_rng(0).random(len(rows)) < 0.25  # a teacher right on 3 items in 4
    teacher = np.where(wrong, (truth + 1) % 3, truth)
    proba = pixel_student(X, teacher, X, 3, epochs=15)
    assert proba.shape == (len(rows), 3) and np.allclose(proba.sum(1), 1, atol=1e-4)
    assert (proba.argmax(1) == truth).mean() > (teacher == truth).mean() + 0.1


def test_the_pixel_student_sees_the_tiles_in_the_slots_the_final_model_reads():
    from underspec.pipelines.solve import Pixels

    rng = np.random.default_rng(0)
    labeled, unlabeled, target = (rng.random((n, 1, 2, 6)).astype(np.float32) for n in (4, 5, 3))
    ranks = np.array([rng.permutation(3) for _ in range(12)])  # labeled, then every unlabeled, then target
    pixels = Pixels(labeled, unlabeled, target, ranks)
    images, others, kept = pixels.student_images(np.array([4, 1]), [2])
    whole = np.concatenate([labeled, unlabeled[[4, 1]], target])
    rows = [0, 1, 2, 3, 4 + 4, 4 + 1, 9, 10, 11]
    assert kept == "2" and images.shape == (9, 1, 2, 2) and len(others) == 2
    for j, r in enumerate(rows):  # each item's own tile in slot 2, and in the slots not read
        for tiles, slot in ((images, 2), (others[0], 0), (others[1], 1)):
            assert np.array_equal(tiles[j], whole[j][..., 2 * ranks[r, slot]:2 * ranks[r, slot] + 2])
    two, others, kept = pixels.student_images(np.array([4, 1]), [0, 2])
    assert kept == "0/2" and np.array_equal(two[..., 2:], images) and others == []
    for slots_read in ([], [0, 1, 2]):  # no slot chosen, or every slot: the whole images
        same, others, kept = pixels.student_images(np.array([4, 1]), slots_read)
        assert kept == "all" and np.array_equal(same, whole) and others == []
    assert np.array_equal(Pixels(labeled, unlabeled, target, None).student_images(np.array([4, 1]), [2])[0], whole)
    in_place = Pixels(labeled, unlabeled, target, np.tile(np.arange(3), (12, 1)))  # no order learnt: one kind
    assert in_place.student_images(np.array([4, 1]), [2]).others == []


def test_the_pixel_student_reads_each_item_from_its_tile_least_like_the_rejected_kind():
    from sklearn.datasets import load_digits

    from underspec.ambiguity.disambiguate import pixel_student

    digits = load_digits()
    kind = np.flatnonzero(digits.target < 3)[:400]  # the kind whose class is asked
    rejected = np.flatnonzero(digits.target >= 5)[:400]  # the other slot's kind
    truth = digits.target[kind]
    tile, other = (_as_photographs(digits.images[rows, None].astype(np.float32) / 16)
                   for rows in (kind, rejected))
    swapped = np.random.default_rng(1).random(len(kind)) < 0.15  # an order that puts the tiles the wrong way
    read = np.where(swapped[:, None, None, None], other, tile)
    elsewhere = np.where(swapped[:, None, None, None], tile, other)
    alone = pixel_student(read, truth, read, 3, epochs=10)
    both = pixel_student(read, truth, read, 3, others=[elsewhere], others_predict=[elsewhere], epochs=10)
    assert both.shape == (len(kind), 3) and np.allclose(both.sum(1), 1, atol=1e-4)
    assert (alone.argmax(1) == truth)[swapped].mean() < 0.6  # it learnt the wrong kind's tiles by heart at best
    assert (both.argmax(1) == truth)[swapped].mean() > 0.8
    assert (both.argmax(1) == truth)[~swapped].mean() > 0.9
    with pytest.raises(UnderspecError, match="others_predict"):
        pixel_student(tile, truth, tile, 3, others=[tile])


def test_a_rejected_kind_not_told_apart_leaves_each_item_read_from_its_first_tile():
    from underspec.ambiguity.disambiguate import _read

    class Student:  # reads the probabilities of its 4 classes (3 + the rejected kind) off the pixels
        classes_ = np.arange(4)

        def predict_proba(self, X):
            return X[:, 0, 0, :4]

    rng = np.random.default_rng(0)
    first, second = (rng.dirichlet(np.ones(4), 200).astype(np.float32)[:, None, None, :] for _ in range(2))
    told_apart = second.copy()
    told_apart[:, ..., 3] += 1  # the second tiles look like the rejected kind on every item ...
    told_apart[:10, ..., 3] = 0  # ... but ten
    read = _read(Student(), [first, told_apart], 3)
    expected = np.where(np.arange(200)[:, None] < 10, told_apart[:, 0, 0, :3], first[:, 0, 0, :3])
    np.testing.assert_allclose(read, expected / expected.sum(1, keepdims=True), rtol=1e-5)
    alike = _read(Student(), [first, second], 3)  # one kind: the least like it is either tile, item by item
    np.testing.assert_allclose(alike, first[:, 0, 0, :3] / first[:, 0, 0, :3].sum(1, keepdims=True), rtol=1e-5)


def test_each_pixel_student_learns_the_previous_ones_labels_and_keeps_the_true_ones(monkeypatch):
    from sklearn.datasets import load_digits

    from underspec.ambiguity.disambiguate import pixel_student
    from underspec.models.classifier import NetworkClassifier

    trained = []
    fit = NetworkClassifier.fit

    def recording(self, X, y, *args, **kwargs):
        trained.append((self, np.array(y)))
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(NetworkClassifier, "fit", recording)
    digits = load_digits()
    rows = np.flatnonzero(digits.target < 3)[:120]
    X = _as_photographs(digits.images[rows, None].astype(np.float32) / 16)
    teacher = np.random.default_rng(0).integers(0, 3, len(rows))  # a teacher that guesses
    fixed = np.arange(len(rows)) < 40  # true labels
    teacher[fixed] = digits.target[rows][fixed]
    proba = pixel_student(X, teacher, X[40:], 3, fixed=fixed, rounds=2, epochs=2, seed=5)
    (first, first_labels), (second, second_labels) = trained
    assert (first.seed, second.seed) == (5, 6) and np.array_equal(first_labels, teacher)
    assert np.array_equal(second_labels[:40], teacher[:40])  # kept
    assert np.array_equal(second_labels[40:], first.predict(X[40:]))  # the first student's labels
    np.testing.assert_allclose(proba, second.predict_proba(X[40:]), atol=1e-6)
    with pytest.raises(UnderspecError, match="rounds"):
        pixel_student(X, teacher, X, 3, rounds=0)


def test_a_pixel_student_started_from_the_true_labels_never_learns_the_teachers(monkeypatch):
    from sklearn.datasets import load_digits

    from underspec.ambiguity.disambiguate import pixel_student
    from underspec.models.classifier import NetworkClassifier

    trained = []
    fit = NetworkClassifier.fit

    def recording(self, X, y, *args, **kwargs):
        trained.append((self, np.array(X), np.array(y)))
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(NetworkClassifier, "fit", recording)
    digits = load_digits()
    rows = np.flatnonzero(digits.target < 3)[:450]
    X = _as_photographs(digits.images[rows, None].astype(np.float32) / 16)
    truth = digits.target[rows]
    fixed = np.arange(len(rows)) < 150  # true labels
    teacher = np.where(fixed, truth, (truth + 1) % 3)  # a teacher wrong on every item it labels
    proba = pixel_student(X, teacher, X[150:], 3, fixed=fixed, rounds=2, epochs=10, start="fixed", seed=5)
    (first, first_X, first_labels), (second, _, second_labels) = trained
    assert np.array_equal(first_X, X[fixed]) and np.array_equal(first_labels, truth[fixed])  # the true labels alone
    assert first.epochs == pytest.approx(10 * 450 / 150) and second.epochs == 10  # as many steps as a whole round
    assert np.array_equal(second_labels[:150], truth[:150])
    assert np.array_equal(second_labels[150:], first.predict(X[150:]))  # the first student's labels, not the teacher's
    assert (proba.argmax(1) == truth[150:]).mean() > 0.8  # where the teacher's labels read 0
    with pytest.raises(UnderspecError, match="start"):
        pixel_student(X, teacher, X, 3, start="labels")
    with pytest.raises(UnderspecError, match="fixed rows"):
        pixel_student(X, teacher, X, 3, start="fixed")


def test_the_linear_refit_smooths_a_hypothesis_and_keeps_the_labels_bought():
    from underspec.pipelines.solve import _refit_linear, linear_final_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 10)).astype(np.float32)
    truth = (X[:, 0] > 0).astype(np.int64)
    hypothesis = truth.copy()
    flipped = rng.choice(600, 90, replace=False)  # a hypothesis wrong on 15% of the pool
    hypothesis[flipped] = 1 - hypothesis[flipped]
    proba = np.eye(2)[hypothesis]
    model = _refit_linear(X, proba, {}, C=0.01, n_classes=2)
    assert (model.predict(X) == truth).mean() > 0.95 > (hypothesis == truth).mean()
    # labels bought replace the hypothesis's (weight 5), rows outside train_rows are left out
    bought = {int(flipped[0]): int(truth[flipped[0]])}
    rows = np.arange(300)
    refit = _refit_linear(X, proba, bought, C=0.01, n_classes=2, train_rows=rows)
    assert refit is not None and refit.n_features_in_ == 10
    assert _refit_linear(X, np.eye(2)[np.zeros(600, np.int64)], {}, C=0.01, n_classes=2) is None  # one class only
    assert SolveSettings().descriptor_final_c == 0.01 and linear_final_model(0.01).C == 0.01
    vectors, images = np.zeros((4, 128), np.float32), np.zeros((4, 1, 8, 8), np.float32)
    assert SolveSettings(representation="face-descriptor").refits_linearly(vectors)
    assert not SolveSettings(representation="face-descriptor").refits_linearly(images)
    assert not SolveSettings(representation="face-descriptor", descriptor_final_c=0).refits_linearly(vectors)
    assert not SolveSettings(representation="patches").refits_linearly(vectors)


def test_linear_features_of_fewer_items_than_columns_do_not_crash():
    # regression: solve on a pretrained representation (1,280 columns) of 180 items asked PCA
    # for 512 components and raised ValueError
    from underspec.ambiguity.erase import linear_features

    X = np.random.default_rng(0).normal(size=(50, 1000)).astype(np.float32)
    F = linear_features(X, 512)
    assert F.shape == (50, 50) and np.isfinite(F).all()
    assert linear_features(X[:, :20], 512).shape == (50, 20)  # narrow items are kept as they are


def test_an_unknown_choice_of_the_hypothesis_kept_without_shift_is_refused(tiny_task_dir):
    with pytest.raises(UnderspecError, match="no_shift_keeps: 'best'; expected one of heads, holdout, plain"):
        solve(tiny_task_dir, CountingOracle(read_answers(tiny_task_dir).y_val),
              settings=SolveSettings(no_shift_keeps="best"))


def test_the_final_networks_leave_out_the_target_items_only_where_the_unlabeled_ones_refute_every_rival():
    from underspec.pipelines.solve import target_rows_trained

    chosen = np.zeros(10, np.int64)  # 6 unlabeled rows, then 4 target rows
    rival = np.array([[1, 1, 1, 0, 0, 0, 1, 1, 0, 0]])  # disputes 3 unlabeled rows, 2 target rows
    assert target_rows_trained("auto", chosen, rival, 6, None).tolist() == [0, 1, 2, 3, 4, 5]
    assert target_rows_trained("always", chosen, rival, 6, None) is None
    weak = np.array([[1, 0, 0, 0, 0, 0, 1, 1, 1, 0]])  # 1 against 3: the target's items are needed
    assert target_rows_trained("auto", chosen, weak, 6, None) is None
    assert target_rows_trained("never", chosen, weak, 6, None).tolist() == [0, 1, 2, 3, 4, 5]
    # every rival must be refuted by the unlabeled items alone
    assert target_rows_trained("auto", chosen, np.concatenate([rival, weak]), 6, None) is None
    assert target_rows_trained("auto", chosen, np.zeros((0, 10), np.int64), 6, None).tolist() == list(range(6))
    kept = np.array([0, 2, 4, 6, 7, 8, 9])  # the rows trained on at all (max_pool)
    assert target_rows_trained("auto", chosen, rival, 6, kept).tolist() == [0, 2, 4]
    assert target_rows_trained("auto", chosen, weak, 6, kept) is kept
    assert target_rows_trained("never", chosen[6:], rival[:, 6:], 0, None) is None  # no unlabeled row: the target's


def test_final_networks_kept_off_the_target_items_do_not_learn_their_misread_labels_by_heart():
    # on digits embed (generation seed 1) the final networks trained on the target items'
    # pseudo-labels learn three misread images of a 3 by heart (four items each): 0.950 against
    # the oracle's 0.996 under the default, target_in_final "always" (measured and kept: over
    # digits seeds 0-9 "auto" gains nothing measurable); this fails with "always"
    # generated as bench/calibration.py did (its 240 oracle items take their own share of the
    # source images, so the task's items depend on them), though the oracle items go unused here
    task, ans = generate("embed", source="digits", seed=1, oracle_items=240)
    result = solve(task, CountingOracle(ans.y_val), budget=5, settings=SolveSettings(seed=1, target_in_final="auto"))
    assert result.summary["pool"]["target_in_final"] is False
    assert float((result.predictions == ans.y_val).mean()) >= 0.98
    # 3% of the unlabeled items break the shortcut: the target's items are needed to learn the label
    task, ans = generate("uniform_color_low_mix_rate", source="digits", seed=0)
    result = solve(task, CountingOracle(ans.y_val), budget=5, settings=SolveSettings(seed=0, target_in_final="auto"))
    assert result.summary["pool"]["target_in_final"] is True
    assert float((result.predictions == ans.y_val).mean()) >= 0.95


def test_an_unknown_choice_of_the_target_items_in_the_final_training_is_refused(tiny_task_dir):
    with pytest.raises(UnderspecError, match="target_in_final: 'some'; expected one of auto, always, never"):
        solve(tiny_task_dir, CountingOracle(read_answers(tiny_task_dir).y_val),
              settings=SolveSettings(target_in_final="some"))


def test_an_unknown_rule_for_choosing_the_hypothesis_is_refused_before_a_label_is_bought(tiny_task_dir):
    oracle = CountingOracle(read_answers(tiny_task_dir).y_val)
    with pytest.raises(UnderspecError, match="choose_by: 'vote'; expected one of posterior, expected_accuracy"):
        solve(tiny_task_dir, oracle, settings=SolveSettings(choose_by="vote"))
    assert oracle.calls == []


def test_the_target_is_cross_fitted_only_where_it_repeats_images():
    """``cross_fit_target``: near copies of one target image share a fold; a target of distinct
    images gets no folds (the final networks train as before)."""
    from underspec.pipelines.solve import _target_copy_folds

    X = load_digits().images.astype(np.float32)[:, None]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    labeled, images = X[order[:200]], X[order[200:260]]
    copies = np.repeat(images, 4, axis=0) + rng.normal(0, 0.05, (240, 1, 8, 8)).astype(np.float32)
    fold = _target_copy_folds(labeled, copies, SolveSettings(n_final=2))
    assert fold is not None and set(fold.tolist()) == {0, 1}
    assert all(len(set(fold[i * 4:(i + 1) * 4].tolist())) == 1 for i in range(60))  # an image's copies together
    assert _target_copy_folds(labeled, X[order[300:540]], SolveSettings(n_final=2)) is None


class _HeadsStopError(Exception):
    """Raised by :func:`_heads_fits`' spy to end a solve once enough sets of heads were fitted."""


def _heads_fits(monkeypatch, folder, settings: SolveSettings, fits: int = 1) -> list[tuple[int, float, int]]:
    """The DiverseHeads fits a solve of ``folder`` starts, as (pool size, epochs, restarts); the
    solve is stopped when the ``fits``-th starts (the earlier ones train as usual)."""
    from underspec.ambiguity.diverse import DiverseHeads

    seen, real_fit = [], DiverseHeads.fit

    def spy(self, X, y, X_unlabeled=None):
        seen.append((len(X_unlabeled), self.epochs, self.n_restarts))
        if len(seen) == fits:
            raise _HeadsStopError
        return real_fit(self, X, y, X_unlabeled)

    with monkeypatch.context() as patch, pytest.raises(_HeadsStopError):
        patch.setattr(DiverseHeads, "fit", spy)
        solve(folder, CountingOracle(read_answers(folder).y_val), settings=settings)
    return seen


def _embed_task(tmp_path) -> Path:
    """A small digits ``embed`` task (native vectors) written under ``tmp_path``."""
    out = tmp_path / "embed"
    generate("embed", source="digits", seed=3, out=out, sizes=(80, 240, 80))
    return out


def test_the_heads_disagree_on_the_target_alone_under_diversity_on_target(tiny_task_dir, monkeypatch):
    """``diversity_on_target``: the diverse heads' pool is the target items (not the unlabeled
    ones too), trained for as many steps as on the whole pool."""
    task = read_task(tiny_task_dir)
    seen = [_heads_fits(monkeypatch, tiny_task_dir, SolveSettings(diversity_on_target=on_target))[0]
            for on_target in (False, True)]
    (whole, epochs, _), (target, epochs_on_target, _) = seen
    assert whole == len(task.X_unlabeled) + len(task.X_val) and target == len(task.X_val)
    n = len(task.X_labeled)
    assert epochs_on_target == pytest.approx(epochs * max(n, whole) / max(n, target))


def test_target_heads_join_a_second_set_of_heads_fitted_on_the_target(tiny_task_dir, monkeypatch):
    """``target_heads``: a second DiverseHeads whose pool is the target items alone joins the
    first's heads; each of them is judged (merged into a hypothesis or dropped), beside the
    heads read from the items' tiles, numbered after them. Images train one set by default."""
    from underspec.ambiguity.diverse import DiverseHeads

    pools = []
    real_fit = DiverseHeads.fit

    def spy_fit(self, X, y, X_unlabeled=None):
        pools.append(len(X_unlabeled))
        return real_fit(self, X, y, X_unlabeled)

    monkeypatch.setattr(DiverseHeads, "fit", spy_fit)
    task = read_task(tiny_task_dir)
    whole = len(task.X_unlabeled) + len(task.X_val)
    quick = {"epochs": 1, "final_epochs": 1, "rounds": 1, "partition": False, "complement": False}
    for target_heads, expected in ((False, [whole]), (True, [whole, len(task.X_val)])):
        pools.clear()
        settings = SolveSettings(target_heads=target_heads, **quick)
        result = solve(tiny_task_dir, CountingOracle(read_answers(tiny_task_dir).y_val), settings=settings)
        assert pools == expected and result.summary["target_heads"] == (len(expected) - 1) * settings.n_heads
        assert target_heads or result.summary["twins_of_chosen"] == []  # twins only among target heads
        judged = [h for group in result.summary["hypotheses"]["heads"] for h in group]
        judged += result.summary["hypotheses"]["dropped_heads"]
        assert set(range(len(expected) * settings.n_heads)) <= set(judged)
        assert result.summary["slot_heads"] == len(set(judged)) - len(expected) * settings.n_heads


def test_vectors_train_target_heads_by_default(tmp_path, monkeypatch):
    """Native vectors (``vector_target_heads``) fit the second set of heads on the target."""
    out = _embed_task(tmp_path)
    task = read_task(out)
    pools = [pool for pool, _, _ in _heads_fits(monkeypatch, out, SolveSettings(vector_epochs=1), fits=2)]
    assert pools == [len(task.X_unlabeled) + len(task.X_val), len(task.X_val)]


def test_diversity_on_target_keeps_the_heads_restarts(tmp_path, monkeypatch):
    """``diversity_on_target`` trains one set on the target with the first set's restarts, not
    the target heads' fewer (``target_restarts``)."""
    fits = _heads_fits(monkeypatch, _embed_task(tmp_path), SolveSettings(diversity_on_target=True))
    restarts = [n for _, _, n in fits]
    assert restarts == [SolveSettings().vector_restarts] and SolveSettings().target_restarts < restarts[0]


def test_labeled_items_their_neighbours_contradict_are_left_out_before_the_hypotheses(tmp_path):
    # digits trojan (generation seed 3): 3% of the labeled items carry a patch and the label 1,
    # whatever digit they show. With edit_labels the solver leaves out the patched items of
    # another digit (their nearest labeled items are of their digit), and says so.
    from underspec.data.sources import load_source
    from underspec.report.solve_report import write_task_report

    task, ans = generate("trojan", source="digits", seed=3)
    labeled = ans.groups[ans.groups.split == "labeled"]
    poisoned = np.flatnonzero(load_source("digits").y[labeled.image.to_numpy()] != task.y_labeled)
    assert len(poisoned) >= 2
    summaries = {}
    for edit in (False, True):
        result = solve(task, CountingOracle(ans.y_val), settings=SolveSettings(seed=3, edit_labels=edit))
        summaries[edit] = result.summary
    assert summaries[False]["label_editing"] is None and SolveSettings().edit_labels is False
    editing = summaries[True]["label_editing"]
    assert set(poisoned) <= set(editing["rows"]) and editing["dropped"] <= len(poisoned) + 2
    assert f"{editing['dropped']} labeled items left out" in summaries[True]["message"]
    html = write_task_report(task, result, tmp_path / "report.html").read_text()
    assert "labeled items left out" in html and html.count("data:image/png") == 3
