import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from underspec.errors import UnderspecError
from underspec.models import patch_features as pf
from underspec.models.patch_features import PatchFeatures
from underspec.models.representation import represent, resolve_representation


def stripes(n: int, seed: int = 0, side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Colour images of horizontal (0) or vertical (1) stripes of random phase, with noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    grid = np.arange(side)
    X = np.empty((n, 3, side, side), np.float32)
    for i in range(n):
        wave = 0.5 + 0.5 * np.sin(grid * 1.3 + rng.uniform(0, 6))
        X[i] = wave[:, None] if y[i] == 0 else wave[None, :]
    return np.clip(X + rng.normal(0, 0.2, X.shape), 0, 1).astype(np.float32), y


@pytest.mark.parametrize("options", [{}, {"stride": 2, "encoding": "soft"}])
def test_patch_features_separate_what_a_linear_model_could_not_on_pixels(options):
    X, y = stripes(300)
    model = PatchFeatures(centroids=16, patch=4, sample_images=100, **options).fit(X[:200])
    train, test = model.transform(X[:200]), model.transform(X[200:])
    per_region = 16 if not options else 32
    assert train.shape == (200, 4 * per_region) == (200, model.n_features_out_)
    assert LogisticRegression(max_iter=1000).fit(train, y[:200]).score(test, y[200:]) > 0.9
    pixels = LogisticRegression(max_iter=1000).fit(X[:200].reshape(200, -1), y[:200])
    assert pixels.score(X[200:].reshape(100, -1), y[200:]) < 0.8  # random phase: no pixel says it


def test_patch_features_estimator_contract():
    X, _ = stripes(60)
    model = PatchFeatures(centroids=8, patch=4, sample_images=60)
    assert clone(model).get_params() == model.get_params()
    full = model.fit_transform(X)
    assert np.allclose(full, model.transform(X), atol=1e-5)  # fit_transform scales over X itself
    assert np.allclose(full.mean(0), 0, atol=1e-4)
    with pytest.raises(UnderspecError, match="fitted on items"):
        model.transform(X[:, :, :8, :8])
    with pytest.raises(UnderspecError, match=r"\(N, C, H, W\)"):
        PatchFeatures().fit(X.reshape(60, -1))
    with pytest.raises(UnderspecError, match="encoding"):
        PatchFeatures(encoding="hard").fit(X)
    with pytest.raises(UnderspecError, match="too small"):
        PatchFeatures().fit(X[:, :, :3, :3])


def test_representation_is_cached_by_content_and_recipe(tmp_path, monkeypatch):
    X, _ = stripes(40, side=32)
    first = represent(X, "patches-fast", cache=tmp_path)
    assert len(list(tmp_path.glob("patches-fast-*.npy"))) == 1

    def no_refit(*args, **kwargs):
        raise AssertionError("refitted although cached")

    monkeypatch.setattr(pf.PatchFeatures, "fit_dictionary", no_refit)
    assert np.array_equal(represent(X, "auto", cache=tmp_path), first)  # auto: a photograph
    with pytest.raises(AssertionError, match="refitted"):
        represent(X[::-1].copy(), "patches-fast", cache=tmp_path)  # other content, other key


def test_the_tile_ranks_of_photos_side_by_side_are_cached_beside_their_features(tmp_path, monkeypatch):
    X, _ = stripes(40, side=32)
    noise = np.random.default_rng(0).uniform(0, 1, X.shape).astype(np.float32)
    left = np.arange(len(X)) % 2 == 0
    pairs = np.where(left[:, None, None, None], np.concatenate([X, noise], 3), np.concatenate([noise, X], 3))
    features, ranks = represent(pairs, "patches-fast", cache=tmp_path, tile_ranks=True)
    assert ranks.shape == (40, 2) and sorted(np.unique(ranks)) == [0, 1]
    assert np.array_equal(represent(pairs, "patches-fast", cache=tmp_path), features)  # the features alone
    monkeypatch.setattr(pf.PatchFeatures, "fit_dictionary", lambda *a, **k: pytest.fail("refitted although cached"))
    cached, again = represent(pairs, "patches-fast", cache=tmp_path, tile_ranks=True)
    assert np.array_equal(cached, features) and np.array_equal(again, ranks)
    monkeypatch.undo()
    (ranks_file,) = tmp_path.glob("*.ranks.npy")
    ranks_file.unlink()  # a cache written before the ranks: computed again, not read without them
    _, recomputed = represent(pairs, "patches-fast", cache=tmp_path, tile_ranks=True)
    assert np.array_equal(recomputed, ranks) and ranks_file.is_file()
    assert represent(X, "patches-fast", cache=tmp_path, tile_ranks=True)[1] is None  # one tile: no ranks
    assert represent(X, "none", tile_ranks=True)[1] is None


def test_the_fitted_transformer_is_cached_beside_the_features(tmp_path, monkeypatch):
    from underspec.models.representation import fit_representation

    X, _ = stripes(40, side=32)
    features = represent(X, "patches-fast", cache=tmp_path)  # an older cache: the features alone
    transformer, again = fit_representation(X, "patches-fast", cache=tmp_path)  # computes the transformer
    assert np.allclose(again, features) and len(list(tmp_path.glob("*.state.pt"))) == 1
    monkeypatch.setattr(pf.PatchFeatures, "fit_dictionary", lambda *a, **k: pytest.fail("refitted although cached"))
    cached, read = fit_representation(X, "patches-fast", cache=tmp_path)
    assert np.array_equal(read, again)
    assert np.allclose(cached.transform(X[:5]), transformer.transform(X[:5]), atol=1e-5)
    assert np.allclose(cached.transform(X[:5]), again[:5], atol=1e-4)


def test_representation_choice_and_refusals():
    vectors = np.zeros((5, 10), np.float32)
    grey = np.zeros((5, 1, 8, 8), np.float32)
    assert represent(vectors, "auto", cache=None) is vectors
    assert resolve_representation("auto", grey) == "none"
    assert resolve_representation("auto", np.zeros((2, 3, 32, 64), np.float32)) == "patches-fast"
    with pytest.raises(UnderspecError, match="needs images"):
        resolve_representation("patches", vectors)
    with pytest.raises(UnderspecError, match="expected one of"):
        resolve_representation("simclr", grey)


def test_audit_label_issues_on_the_representation(tmp_path):
    import pandas as pd

    from underspec.audit.registry import AuditOptions
    from underspec.data.image_sets import ImageSet
    from underspec.data.items import ItemTable
    from underspec.pipelines.audit import run_checks

    X, y = stripes(240, side=32)
    noisy = y.copy()
    flipped = np.zeros(len(y), bool)
    flipped[::12] = True
    noisy[flipped] = 1 - noisy[flipped]
    table = pd.DataFrame({"id": np.arange(len(y)), "split": "train", "label": noisy})
    image_set = ImageSet(ItemTable(X, table), ["horizontal", "vertical"], source="stripes")
    [result] = run_checks(image_set, AuditOptions(model="logistic", representation="auto"), ["label_issues"])
    assert result.summary["representation"] == "patches-fast"
    found = result.items["is_issue"].to_numpy()
    assert (found & flipped).sum() >= 0.8 * flipped.sum() and (found & ~flipped).sum() <= 5
    [pixels] = run_checks(image_set, AuditOptions(model="logistic"), ["label_issues"])
    assert pixels.summary["representation"] == "none"
    assert (pixels.items["is_issue"].to_numpy() & flipped).sum() < (found & flipped).sum()
    with pytest.raises(UnderspecError, match="logistic"):
        run_checks(image_set, AuditOptions(model="network", representation="patches"), ["label_issues"])


def test_label_select_embeds_with_the_shared_representations(tmp_path):
    import pandas as pd

    from underspec.data.image_sets import ImageSet
    from underspec.data.items import ItemTable
    from underspec.pipelines.labeling import embeddings

    X, y = stripes(60, side=32)
    table = pd.DataFrame({"id": np.arange(60), "split": "train", "label": np.where(np.arange(60) < 10, y, -1)})
    image_set = ImageSet(ItemTable(X, table), ["horizontal", "vertical"], source="stripes")
    fast = embeddings(image_set, "patches-fast", tmp_path)
    assert np.array_equal(fast, represent(X, "patches-fast", cache=None))
    assert fast.shape == (60, 3200) and len(list(tmp_path.glob("embedding-patches-fast-*.npy"))) == 1
    with pytest.raises(UnderspecError, match="embedding patches-fast: "):
        embeddings(ImageSet(ItemTable(X[:, :, :3, :3], table), ["h", "v"], source="tiny"), "patches-fast", None)


def test_a_cached_embedding_follows_its_recipe(tmp_path, monkeypatch):
    """The labeling path's cache key named the recipe (``patches``) without its settings: once the
    recipe's pooling grid changed, a cached embedding of the old grid came back."""
    import pandas as pd

    import underspec.models.representation as module
    from underspec.data.image_sets import ImageSet
    from underspec.data.items import ItemTable
    from underspec.pipelines.labeling import embeddings

    X, y = stripes(40, side=32)
    table = pd.DataFrame({"id": np.arange(40), "split": "train", "label": np.where(np.arange(40) < 10, y, -1)})
    image_set = ImageSet(ItemTable(X, table), ["horizontal", "vertical"], source="stripes")
    before = embeddings(image_set, "patches-fast", tmp_path)
    monkeypatch.setitem(module.RECIPES, "patches-fast", {**module.RECIPES["patches-fast"], "grid": (1, 1)})
    after = embeddings(image_set, "patches-fast", tmp_path)
    assert before.shape == (40, 3200) and after.shape == (40, 800)
    assert len(list(tmp_path.glob("embedding-patches-fast-*.npy"))) == 2


def test_uint8_pixels_give_the_representation_of_their_floats(monkeypatch):
    """Pixels read from files stay uint8 (memory-mapped) and are converted a block at a time:
    the features are those of the float32 images, in shards of any size."""
    import underspec.models.representation as module
    from underspec.data.image_sets import as_float

    pixels = np.random.default_rng(0).integers(0, 256, (50, 3, 16, 16), dtype=np.uint8)
    floats = represent(as_float(pixels), "patches-fast", cache=None)
    monkeypatch.setattr(module, "SHARD", 7)  # 8 shards, the last one short
    assert np.array_equal(represent(pixels, "patches-fast", cache=None), floats)


def test_the_encoding_fills_one_array_without_a_second_copy(monkeypatch):
    """The features are written shard by shard into one array: the peak of numpy memory stays
    near the features' own size (holding the shards' list and its concatenation took twice:
    1.3 GB each at 100,000 images of 64 px)."""
    import tracemalloc

    import underspec.models.representation as module

    pixels = np.random.default_rng(0).integers(0, 256, (2000, 3, 16, 16), dtype=np.uint8)
    monkeypatch.setattr(module, "SHARD", 100)
    monkeypatch.setattr(pf, "BATCH_ELEMENTS", 4_000_000)  # standardised in blocks of 50,000 values
    tracemalloc.start()
    features = represent(pixels, "patches-fast", cache=None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * features.nbytes, (peak, features.nbytes)


def test_a_long_encoding_is_announced_with_the_cheaper_recipe(monkeypatch, capsys):
    import underspec.models.representation as module

    pixels = np.random.default_rng(0).integers(0, 256, (1300, 1, 12, 12), dtype=np.uint8)
    monkeypatch.setattr(module, "LONG_ENCODING_SECONDS", 0.0)
    represent(pixels, "patches", cache=None, progress=True)
    err = capsys.readouterr().err
    assert "representation patches: about" in err and "for 1300 items here; the cheaper recipe, patches-fast" in err
    represent(pixels, "patches", cache=None, progress=False)
    assert "about" not in capsys.readouterr().err


def test_label_select_and_the_audit_switch_to_the_cheaper_recipe_on_large_sets(monkeypatch):
    import pandas as pd

    import underspec.models.representation as module
    from underspec.audit.registry import AuditOptions, resolve_model
    from underspec.data.image_sets import ImageSet
    from underspec.data.items import ItemTable
    from underspec.pipelines.labeling import embedding_method

    pixels = np.zeros((30, 3, 64, 64), np.uint8)
    image_set = ImageSet(ItemTable(pixels, pd.DataFrame({"id": range(30), "split": "train", "label": 0})), [0])
    assert embedding_method(image_set, "auto") == "patches"
    assert resolve_model(AuditOptions(), pixels) == ("logistic", "patches")
    monkeypatch.setattr(module, "FULL_PATCHES_PIXELS", 29 * 64 * 64)
    assert embedding_method(image_set, "auto") == "patches-fast"
    assert resolve_model(AuditOptions(), pixels) == ("logistic", "patches-fast")
