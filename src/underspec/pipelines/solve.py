"""``underspec solve``: reveal the ambiguity, buy labels, disambiguate, submit or abstain."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from underspec.ambiguity.copies import copy_groups, part_features
from underspec.ambiguity.cuts import task_cut_bimodality
from underspec.ambiguity.decide import decide
from underspec.ambiguity.disambiguate import pixel_student, self_train, shortcut_evidence, train_classifier
from underspec.ambiguity.diverse import DiverseHeads
from underspec.ambiguity.erase import (
    channel_statistics,
    complement_heads,
    erase_rejected,
    linear_features,
    partition_head,
    slot_columns,
    slot_heads,
    spectrum,
)
from underspec.ambiguity.halves import half_features
from underspec.ambiguity.hypotheses import (
    CHOOSE_BY,
    Hypotheses,
    best_fitting,
    choose,
    find_hypotheses,
    group_holdout,
    representative_holdout,
    twins_of,
)
from underspec.ambiguity.query import HypothesisPosterior, buy_labels
from underspec.ambiguity.shift import ShiftTest, shift_test
from underspec.ambiguity.temperature import fit_temperature, with_temperature
from underspec.audit.editing import Editing, edit_labels
from underspec.audit.editing import K as EDIT_K
from underspec.data.challenge import ChallengeTask, read_task
from underspec.errors import UnderspecError, atomic_path, check_output_file, write_text_atomic
from underspec.models.fit import current_device, predict_proba
from underspec.models.tile_order import keep_tiles, order_image_tiles, tile_count, tile_features, tiles_at
from underspec.oracles import BudgetedOracle, BudgetSpentError, Oracle, make_oracle

PARTITION_VIEWS = ("pixels", "spectrum", "statistics")
"""What :attr:`SolveSettings.partition_views` may name."""
VIEW_FEATURES = {"spectrum": spectrum, "statistics": channel_statistics}
"""The features each partition view other than ``pixels`` clusters."""
NO_SHIFT_KEEPS = ("heads", "holdout", "plain")
"""What :attr:`SolveSettings.no_shift_keeps` may name."""
TARGET_IN_FINAL = ("auto", "always", "never")
"""What :attr:`SolveSettings.target_in_final` may name."""


@dataclass
class SolveSettings:
    """Knobs of the solver (defaults tuned on the MNIST suite; see bench/challenge.py).

    A setting with a ``vector_`` twin applies to images, the twin to vector items; read either
    through :meth:`for_items`.
    """

    n_heads: int = 2
    """Diverse heads trained together (:class:`~underspec.ambiguity.diverse.DiverseHeads`). 4 on
    the 82 five-class digits runs of seeds 0-40, both at one commit
    (``bench/results/settings-ab-five-classes-n-heads.md``): mean 0.9240 against 0.9306, 58 of
    79 within 1 point of the oracle against 60, a wrong submission on an identifiable run (0.70)
    in place of one on a pixel sum, 20 needless abstentions against 18: more heads share the
    diversity term and read the label no better where there are many classes; kept at 2."""
    diversity_weight: float = 10.0
    prior_weight: float = 10.0
    epochs: float = 12
    """Epochs of the diverse heads on images. 20 on the 82 five-class digits runs of seeds 0-40,
    whose heads read 0.87 of the held-out labeled items (both at one commit,
    ``bench/results/settings-ab-five-classes-head-epochs.md``): mean 0.9228 against 0.9306, 56
    of 79 within 1 point of the oracle against 60, 18 needless abstentions either way, 1.2
    times the time; kept at 12."""
    vector_epochs: float = 30
    final_epochs: float = 8
    """Epochs of a one-head network (vectors train longer, cheaply). 16 on the 82 five-class
    digits runs of seeds 0-40, both at one commit (``bench/results/probe-five-final.md``): mean
    0.9295 against 0.9306, 57 of 79 within 1 point of the oracle against 60, 17 needless
    abstentions against 18, 1.45 times the time; kept at 8 (the small tasks, scale 0.5, whose
    final networks take half the steps, did not gain either)."""
    vector_final_epochs: float = 24
    batch_size: int = 64
    vector_batch_size: int = 256
    vector_restarts: int = 5
    weight_decay: float = 1e-4
    vector_weight_decay: float = 0.01
    descriptor_arch: str = "linear"
    """The network of every head and of the final model on a pretrained descriptor (dlib's face
    descriptor, built to be compared by Euclidean distance): ``linear`` reads it linearly. On
    humans (generation seeds 42, 1, 2, 3, ``bench/results/photographs-humans-linear.md``) 0.848 /
    0.853 / 0.854 / 0.847 against the MLP's 0.844 / 0.843 / 0.854 / 0.836; linear heads alone
    gave a mean of 0.846, a linear final model alone 0.849 (exploratory). Those figures are on
    the raw descriptor; on its standardised columns (the descriptor's default since) 0.8518 /
    0.8579 / 0.8616 / 0.8495 (``photographs-humans-standardised.md``). Representations learnt
    without labels and native vectors keep the MLP."""
    descriptor_final_c: float = 0.01
    """On a pretrained descriptor read linearly (``descriptor_arch``), the final model is the
    chosen hypothesis's labels of the unlabeled and target items (and the labels bought to tell
    hypotheses apart, weight 5) refitted by a logistic regression with this inverse
    regularisation (:func:`_refit_linear`), instead of erasing the rejected hypotheses and
    self-training (``erase``); 0: those. The decision counts the agreed target items where the
    refit leaves the hypothesis as unknown (``decide(distilled=False)``). The self-trained
    linear networks ended where the hypothesis began (humans seed 3: 0.8476 for a hypothesis at
    0.8467). On the kept runs of humans seeds 3 and 42 (exploratory probe, the
    hypothesis's target labels and a fill-in for the unlabeled items) C = 0.01 read 0.8574 /
    0.8583 against the solver's 0.8476 / 0.8532 (C = 0.1: 0.8495 / 0.8523, C = 1: 0.8471 /
    0.8504; adding the labeled items, whose labels carry the shortcut: 0.8504 / 0.8583); then
    on seeds 1 and 2, not used for the choice, 0.8597 / 0.8640 against 0.8574 / 0.8612. In the
    bench (``bench/results/humans-refit.md``, seeds 3 / 42 / 1 / 2): 0.8551 / 0.8546 / 0.8607 /
    0.8668 against 0.8481 / 0.8532 / 0.8574 / 0.8612 (``humans-008b05f.md``,
    ``humans-1-2-33fe7f5.md``), within 0.5 points of the same logistic regression trained on
    the true labels (0.8647 on average), in 8-10 s a solve with the descriptors cached. On seeds
    5 and 6, solved after the choice, both ways (``humans-refit-5-6.md``,
    ``humans-self-training-5-6.md``): 0.8565 / 0.8546 against 0.8551 / 0.8448 self-trained (30 s
    a solve). Refitting the labels of the erased features' teacher (``erase``) instead read
    0.8275 / 0.828 / 0.8401 / 0.828."""
    represented_weight_decay: float = 0.001
    """Weight decay of the diverse heads on a representation learnt without labels (``auto``'s
    patch features): 0.001 instead of ``vector_weight_decay``'s 0.01, measured with the whole
    solver: dominoes 0.736 / 0.728 against 0.690 / 0.718 (seeds 1 / 42), vehicle_animal 0.732
    against 0.729 (one seed; bench/results/dominoes-heads.md, photographs-*-decay-0.001.md).
    The pretrained face descriptor (128 dimensions) keeps 0.01: humans 0.843 / 0.844 / 0.854 /
    0.836 with it against 0.831 / 0.825 / 0.839 / 0.836 with 0.001 (seeds 1 / 42 / 2 / 3,
    bench/results/photographs-humans-decay.md). Native vectors keep 0.01:
    with 0.001 the digits demo's embed_three fell from 1.000 (submitted) to 0.900 (abstained),
    and MNIST's embed and embed_three moved by -0.3 and -0.2 points
    (challenge-vector-decay-0.001.md)."""
    min_share: float = 0.9
    """Least share of the pool self-training uses. A hypothesis is often soft on the disputed
    items; trained only on its confident pseudo-labels, the student sees too few of them and
    falls back on the shortcut (sum_three: 0.70 with none forced, 0.81 with half the pool), the
    more so the more classes share the disputed items. Vectors (averaged heads, softer still)
    use more. 0.9 since the whole digits calibration was solved again with it
    (``bench/results/calibration-min-share-0.9-compare.md``, 779 task-runs of seeds 0-40 paired
    with the same runs under 0.5, on a machine that gave seed 0's runs to the item as the
    one that solved them): within 1 point of the oracle 88.1% of the
    identifiable runs against 85.2% (2 classes 91.0% either way, 3 classes 83.7% either way,
    4 classes 86.5% against 78.4%, 5 classes 75.9% against 54.4%), 21 needless abstentions
    against 23, 1200.38 points against 1198.78, coverage 0.874 against 0.873, but 3 wrong
    submissions against 2 (a 5-class constant_image variant of seed 28 at 0.733; decisions at
    decide()'s strength of 4, then its default). The 82
    five-class runs alone, solved under each setting at one commit
    (``settings-ab-five-classes-self-training.md``): mean 0.9306 against 0.9088 (oracle 0.9353);
    a teacher weight of 1.0 instead read 0.9102."""
    vector_min_share: float = 0.95
    confident_by_cell: bool = False
    """Self-training's confident share taken in every (pseudo-label, what the other hypotheses
    say) cell apart (:func:`self_train`'s ``by_cell``) instead of over the whole pool. It fixes
    digits' uniform_color_random_row seed 19 (0.5875 -> 0.9958: the chosen hypothesis read the
    digit but was sure of itself only where every hypothesis agreed, and the student learnt the
    fill). Measured and kept off (digits seeds 0-4 x 17 runs against the default's same runs,
    ``bench/results/calibration-confident-by-cell/``): mean 0.9357 against 0.9337, but within 1
    point of the oracle 82.7% against 85.3% and coverage 0.965 against 0.941; 0 wrong
    submissions against 1, 3 needless abstentions against 5. Over 20 seeds x 17 runs against
    the default's same 340 runs (``bench/results/calibration-confident-by-cell-20/`` against
    ``calibration.md``): mean 0.9312 against 0.9332, within 1 point 79.7% against 79.3%, 16
    runs more than a point below plain training against 14, the same 4 wrong submissions, 16
    needless abstentions against 17, 538.18 points against 538.84; 35 runs more than a point
    better, 40 worse (the 4-class variants mostly), 215 identical: kept off."""
    rounds: int = 3
    """Self-training rounds: vectors, trained with input dropout, keep improving on their own
    pseudo-labels for more rounds (a noisy student), images do not: 5 rounds on the 82
    five-class digits runs of seeds 0-40 (``bench/results/probe-five-final.md``), mean 0.9325
    against 0.9306, 59 of 79 within 1 point of the oracle against 60, 4 decisions of 82 other
    (as many submissions and needless abstentions), 1.23 times the time; kept at 3."""
    vector_rounds: int = 10
    """6 until the twenty-second session. 10 on digits' embed and embed_three (the native vectors
    of the calibration bench) against the same runs at 6: seeds 0-10, mean +0.29 points, within
    1 point of the oracle in 20 of 22 runs against 18; then seeds 11-40, solved after the choice,
    mean +0.20 points, 41 of 60 within 1 point against 39, 9 runs more than half a point better
    and 4 worse (``bench/results/vector-rounds-10/``); MNIST seeds 0-5, both at the same
    commit: mean 0.9386 against 0.9382 over the 12 runs, the same decisions; MNIST suite seed
    42: embed 0.9725 against 0.9692, embed_three 0.9756 against 0.9772; humans seeds 1 / 2 / 3 / 42
    0.8574 / 0.8612 / 0.8481 / 0.8532 against 0.8579 / 0.8616 / 0.8495 / 0.8518 (mean 0.8550
    against 0.8552); dominoes the same (its students read tiles: no vector
    self-training). An ensemble of 4 final networks instead changed nothing (exploratory)."""
    large_pool: int = 2000
    large_pool_rounds: int = 6
    """Self-training rounds on native vectors whose pool (unlabeled + target items) holds more than
    ``large_pool`` items (:meth:`rounds_for`): each round's networks already take that many more
    steps, and the four rounds more that digits' pools of 960 and 1,440 items gain from (see
    ``vector_rounds``) bought nothing on MNIST's 4,800 and 7,200 (seeds 0-5, above) and cost a
    quarter of their solve's time (MNIST embed, seed 42, exploratory: self-training 61.5 s of
    110.9 s at 10 rounds, 33.8 s at 6). Measured again with the target heads on, MNIST seeds 0-5, 6 rounds
    (``bench/results/settings-ab-mnist-vector-rounds-target-heads.md``): 12 of 12 runs within 1
    point of the oracle, mean 0.9733 (without target heads 0.9381; the calibration rows, 10
    rounds without them, 0.9391: the target heads found embed_three seed 0's label, 0.545 ->
    0.968, and the rounds moved the other runs by -0.5 to +0.1 points)."""
    teacher_weight: float = 0.5
    """Weight of the hypothesis in later rounds' pseudo-labels (see :func:`self_train`):
    images need the anchor; vectors, whose students beat their teacher, do not."""
    vector_teacher_weight: float = 0.0
    n_final: int = 2
    final_augment: str = "dropout"
    """Input noise of the self-trained networks (:func:`~underspec.models.augment.make_augment`):
    ``dropout`` gives vectors input dropout and images none; ``auto`` also moves images by a
    pixel or two and mirrors colour ones (a noisy student on images). Measured twice and kept
    off: digits seeds 0-5, the 90 image runs against the same runs at the default
    (``bench/results/calibration-final-augment-compare.md``): mean 0.9317 against 0.9355,
    within 1 point of the oracle 83.3% both, 3 wrong submissions against 2, 122.19 points against
    122.72 (the named tasks gain, the 3-4 class variants with a frame or brightness shortcut
    lose, one by 23 points); as on seeds 0-4 before (``calibration-final-shift-compare.md``)."""
    folds: int = 1
    """Cross-fitted self-training (see :func:`self_train`): each pool item is relabelled by a
    network that did not train on its pseudo-label. On embed (generation seeds 42, 1, 2, 3)
    this took the final model from 0.961 / 0.962 / 0.965 / 0.941 to 0.971 / 0.973 / 0.977 /
    0.977. Images keep one network per round (their rounds cost more, and they are anchored
    by the hypothesis)."""
    vector_folds: int = 2
    target_in_final: str = "always"
    """Whether the self-trained final networks train on the target items' pseudo-labels
    (the labels bought are always trained on). ``always`` (the default): the target items are
    pool items like the others. ``never``: the final networks read the target items as new
    items, so that a target image the chosen hypothesis misread is not learnt by heart with its
    wrong label (digits deals each target image four times: one misread image costs about 1.7
    points; on embed seed 1 three misread images of a 3 left the final model at 0.950 against
    the oracle's 0.996, and 0.992 without the target's items). ``auto``: ``never`` where, for
    every other hypothesis, the unlabeled items trained on hold at least as many items it
    disputes as the target does (they alone can refute it), else ``always`` (a low mix rate
    leaves too few of them: on the 18 digits variants of mix rate 0.1 or less of seeds 0-9,
    ``never`` lost up to 4.6 points, exploratory).
    Measured and kept off (``bench/results/settings-ab-target-in-final-digits.md``): digits
    seeds 0-9, all 170 runs solved under both at the same commit: ``auto`` within 1 point of
    the oracle in 132 of the 150 identifiable runs against 130, mean 0.9883 against 0.9881,
    13 runs more than half a point better and 15 worse, no wrong submission either way; MNIST
    seed 0, the first five tasks (stopped there): cc 0.9933 / 0.9950 (auto / always),
    constant_image 0.9917 / 0.9883, constant_image_random_row 0.9992 / 0.9967, embed 0.9692 /
    0.9725, embed_three 0.5472 / 0.5411 (abstained both). Photographs were not measured. The
    gains first seen on the runs that missed the oracle (embed 6 of 10 runs better, cc, trojan,
    no_shift) were mostly a new draw of the training noise on runs chosen for being unlucky."""
    cross_fit_target: bool = False
    """Where the target repeats source images (near copies of one image in at least
    :data:`MIN_COPIED` of its items), the final networks are cross-fitted over the target: each
    keeps out one fold of its items, every copy of one image in the same fold, and predicts
    them (the others train on their pseudo-labels as before). A target image the chosen
    hypothesis misread is then not learnt from its own copies' labels. On runs chosen for
    missing the oracle by a misread image's four copies (exploratory probes) it read 1.0 on
    digits cc seed 8 and constant_image seeds 5 and 11 where the solver read 0.979 to 0.983,
    and left cc seeds 7, 15, 19 and 37 as they were. Measured and
    kept off (``bench/results/settings-ab-cross-fit-target-digits.md``: the 615 image runs of
    digits seeds 0-40, every task but embed and embed_three, solved with it at 636eeb8 beside
    their calibration rows): within 1 point of the oracle 474 of 530 identifiable runs against
    479, mean 0.9894 against 0.9899, 44 runs more than half a point better and 54 worse, 18 runs
    more than a point below plain training against 21, 1 wrong submission against 0 (a 4-class
    constant_image variant of seed 27, 0.733 submitted where it abstained at 0.717), 7 needless
    abstentions either way. A network that did not train on an item loses as often where the
    hypothesis read it right as it gains where it misread it. Neither vectors (no whole copies:
    embed's copies share the label's image, not the shortcut's) nor MNIST (no image repeated:
    cc, constant_image, trojan, uniform_color_random_row, embed of seed 0, exploratory) would
    have changed: no copies, no folds."""
    diversity_on_target: bool = False
    """The diverse heads' mutual information measured on the target items only, as in DivDis
    (Lee et al., 2022), instead of every pool item (for as many training steps): half of the
    unlabeled items keep the shortcut, and there the label's reading and the shortcut's agree,
    which a mutual information driven to zero on them penalises. Measured and kept off
    (``bench/results/settings-ab-diversity-on-target-vectors.md``, the 82 embed and
    embed_three runs of digits seeds 0-40 against their calibration rows): within 1 point of
    the oracle 62 against 63, mean 0.9826 against 0.9776, no run more than a point below plain
    training against 2, but 1 wrong submission against none and 2 needless abstentions against
    1, 14 runs more than half a point better and 20 worse. It found the right hypothesis of
    embed_three 13 and 34 (0.583 -> 1.0, 0.531 -> 0.967) and lost embed_three 31's (0.994 ->
    0.664, submitted). On the 150 image runs of seeds 0-9
    (``settings-ab-diversity-on-target-images-0-9.md``): within 1 point 111 of 130 identifiable
    against 112, mean 0.9872 against 0.9881, a wrong submission on a pixel sum, 4 needless
    abstentions against 1."""
    target_heads: bool = False
    """A second set of diverse heads, their mutual information measured on the target items only
    (as ``diversity_on_target``), joined to the first set (measured on every pool item). The
    second set's heads join the first's hypotheses before founding their own
    (``find_hypotheses(late=...)``): they represent only the hypotheses the first set missed,
    and the labels bought tell those apart. On the 82 embed / embed_three runs of digits seeds
    0-40 (``bench/results/calibration-vectors-target-heads-compare.md``): within 1 point of the
    oracle 82.9% against 76.8%, mean 0.9874 against 0.9776, no run more than a point below
    plain training against 2, no wrong submission either way (embed_three 13 and 34, which had
    chosen the shortcut, read 1.0 and 0.969). On the 150 image runs of seeds 0-9
    (``settings-ab-target-heads-images-0-9.md``, 5 restarts): 111 of 130 within 1 point
    against 112 at twice the time: images keep one set; so do the representations of
    photographs (not measured)."""
    vector_target_heads: bool = True
    target_restarts: int = 2
    """Restarts of the target heads (at most the first set's: images train one). With 5 the 82
    vector runs (``settings-ab-target-heads-vectors.md``) were within 1 point in 63 (2: 68) and
    took 57% more time than one set; 1, 2 and 5 found embed_three 13's and 34's label alike
    (exploratory probe). With 1, on the first 33 of those runs (seeds 0-16, an A/B stopped
    there): within 1 point 28 against 29, mean 0.9816 against 0.9880, and embed_three seed 0
    submitted at 0.75 under its 0.8 default (0.9861 with 2): kept at 2."""
    twin_gap: float = 0.25
    """With target heads, a hypothesis that disagrees with the chosen one on less than this share
    of the target items is its twin (:func:`~underspec.ambiguity.hypotheses.twins_of`: another
    reading of the same feature, not a rival): it leaves the groups that self-training balances
    (:func:`~underspec.ambiguity.disambiguate.balanced_weights`), where the items the two read
    differently, mostly one's mistakes, would weigh up to ten times more. On embed seed 10 a
    target head's twin of the chosen hypothesis (0.988 and 0.896 on the target) took the final
    model from 1.0 to 0.9375; 0.25 kept it at 1.0 (exploratory probe)."""
    shortcut_evidence: bool = False
    """Weigh the self-training's pseudo-labels of the unlabeled items by what the shortcut's
    reader says there (:func:`~underspec.ambiguity.disambiguate.shortcut_evidence`): half of
    digits' unlabeled items keep the shortcut, and where the chosen hypothesis misreads one of
    them the shortcut tells its label. Why: on embed seeds 1, 14 and 20 (0.950, three misread
    target images) the final model read 1.0 when the unlabeled items alone got their true
    labels, and seed 1 did when only the correlated ones did (exploratory probes). Measured and
    kept off (``bench/results/settings-ab-shortcut-evidence-vectors.md``, the 82 embed and
    embed_three runs of digits seeds 0-40 against their calibration rows): within 1 point of
    the oracle 65 against 63, mean 0.9774 against 0.9776, 2 runs more than a point below plain
    training either way, embed seed 40 from 0.979 to 0.904. The chosen hypothesis's
    probabilities on vectors are soft where it is right too, so the shortcut's reading breaks
    about as many right pseudo-labels as it mends (seed 40: 17 broken, 2 mended). On images
    the first pseudo-labels fared worse still (cc seed 8, constant_image seeds 5 and 11: 3, 14
    and 49 broken, 0, 4 and 3 mended; exploratory), so the image runs were not solved with it."""
    max_pool: int = 12000
    """Most pool items trained on: unlabeled items are dropped first, then target items (all
    target items are always predicted)."""
    none_prior: float = 0.2
    answer_noise: float = 0.01
    """Chance the hypothesis posterior gives a revealed label of being wrong whatever the
    hypothesis (:class:`~underspec.ambiguity.query.HypothesisPosterior`'s ``noise``): how much
    one answer against a hypothesis sure of itself can weigh. On a 5-class MNIST variant (seed
    0, beside, mix rate 0.01) one answer where the best hypothesis (0.93 of the target) was
    sure and wrong chose one at 0.77 (final model 0.872 against the oracle's 0.963). The 6
    five-class MNIST runs of seeds 0-2 solved at 0.01, 0.05 and 0.1
    (``bench/results/settings-ab-mnist-five-answer-noise.md``): mean 0.9289 / 0.9289 / 0.9429,
    that run 0.872 / 0.872 / 0.958, the 5 others unchanged. The 240 identifiable digits
    variant runs of seeds 0-40 solved at 0.01 and 0.1
    (``settings-ab-digits-variants-answer-noise.md``): mean 0.9608 / 0.9609, within 1 point of
    the oracle 197 / 197, no wrong submission either way, 21 / 22 needless abstentions (one
    3-class run at 0.958 abstains at 0.1); 10 runs more than half a point better, 6 worse, 224
    the same. The 82 pixel sums of those seeds (``settings-ab-digits-sums-answer-noise.md``):
    the same one wrong submission either way (sum_three seed 32, 0.725 / 0.742), none more.
    The 95 MNIST runs of seeds 0-4 at 0.1 against their calibration rows
    (``settings-ab-mnist-seeds-0-4-answer-noise.md``): 80 of 85 within 1 point against 79, no
    wrong submission either way, 5 needless abstentions against 6, 146.08 points against 145.86
    (always-submit 145.95 / 145.86); the first 198 runs of the digits suite tasks (no pixel
    sums; ``settings-ab-digits-named-answer-noise.md``, stopped for time): 180 within 1 point
    against 179, 3 needless abstentions against 2, 409.76 points against 410.07. Summed over
    every run solved both ways (digits variants, pixel sums, five-class runs, suite tasks and
    MNIST): 3 more runs within 1 point, one more needless abstention, no wrong submission
    more, 0.15 points fewer. Kept at 0.01: no measurable gain to pay for a change of default."""
    holdout_noise: bool = False
    """Each hypothesis's answer noise is at least the share of held-out labeled items its heads
    miss (:func:`~underspec.ambiguity.hypotheses.group_holdout`), not only ``answer_noise``: a
    hypothesis whose heads read its feature on 87% of the items is wrong on some items it is
    sure of, and one answer there should not refute it; one that reads the labeled items
    perfectly (a shortcut read from a frame) keeps ``answer_noise``. Kept off: the 82
    five-class digits runs of seeds 0-40 solved at one commit
    (``bench/results/settings-ab-five-classes-holdout-noise.md``) read a mean of 0.9236 against
    0.9306 (``answer_noise`` 0.1: 0.9312), 58 runs within 1 point of the oracle against 60, 20
    needless abstentions against 18: the rival hypotheses' heads miss as many held-out items,
    answers refute them no more than the chosen one, and a constant_image patch variant (seed
    19) chose one at 0.378 instead of 0.950."""
    sharpest_first: bool = True
    """Among heads of equal held-out accuracy, the one with the higher held-out likelihood
    represents its hypothesis (see :func:`~underspec.ambiguity.hypotheses.find_hypotheses`)."""
    fit_gap: float = 1.0
    """A head whose accuracy on the held-out labeled items falls more than this below the best
    head's does not count as a hypothesis (:func:`~underspec.ambiguity.hypotheses.find_hypotheses`'s
    ``max_fit_gap``; 1: no such bound). Over the 569 ambiguous identifiable digits runs of
    ``calibration.md`` the hypothesis closest to the truth was never more than 0.111 below the
    best-fitting one (MNIST, submitted runs: 0.107; photographs, vehicle_animal, dominoes and
    humans of seeds 42 and 1, exploratory probe: up to 0.138, dominoes' CIFAR class against its
    digit), and the 50 hypotheses 0.15 or more below were all wrong. Measured at 0.2 and kept
    off (``bench/results/settings-ab-fit-gap-digits.md``: the 194 digits runs with a head that
    far below, both settings at the same commit; every other run takes the same path): within
    1 point of the oracle 132 of 162 identifiable runs either way, mean 0.9822 against 0.9816,
    no wrong submission either way, 13 runs more than a point below plain training against 11
    (pixel sums 9 against 7), 4 needless abstentions either way (trojan 8 and 22 and a
    uniform_color_random_row variant submit, two patch variants at 0.917 abstain). No gain, and
    one hypothesis fewer makes the solver surer on a task whose label is harder to read than
    its shortcut."""
    calibrate_hypotheses: bool = False
    """Read each hypothesis's probabilities in the posterior at the temperature that makes its
    mean confidence on held-out labeled items match its accuracy there
    (:mod:`~underspec.ambiguity.temperature`). Measured and kept off: see
    ``bench/results/settings-ab-calibrated-posterior-variants.md``."""
    gap_bimodality: float = 0.5
    """When no hypothesis cuts its disputed items along a gap (the best
    :func:`~underspec.ambiguity.cuts.best_cut_bimodality` is below this), the disputed labels
    may follow from nothing in the image (a pixel sum): the decision then weighs the answers
    with ``gapless_none_prior`` on "none" instead of ``none_prior``. On the 340 digits runs of
    ``bench/results/calibration-before-gap/`` (20 seeds) the best cut of every ``sum`` run
    scored 0.36-0.46, and of the identifiable runs 0.42-0.98 (median 0.83; an exploratory
    probe). Their decisions
    replayed (``bench/results/decision-gap.md``, at the old confidence 0.9): 1 wrong submission
    instead of 4 (none on a sum instead of 3), 18 needless abstentions instead of 17; 5/9, the
    textbook threshold of two humps, 20. A prior of 0.6 lets three sums through at 0.85."""
    gapless_none_prior: float = 0.8
    checks: bool = True
    """Once one hypothesis is identified, spend the labels left on disputed items drawn at
    random and held out of training: the only unbiased measure of the disputed accuracy
    (False: stop when one hypothesis is certain; the estimate then rests on its prior)."""
    min_checks: int = 3
    """Labels kept for random checks however the telling apart goes: with the default budget
    of 5, at most 2 go to telling hypotheses apart and at least 3 are checks. The two most
    informative items are where the hypotheses are surest of themselves; on a pixel sum the
    answers there contradict them, and "none" (a coin toss) gains: MNIST ``sum`` (generation
    seed 42, ``bench/results/challenge.md``) abstains after 2 such answers and 3 checks (0.7183,
    1 of 3 hit); with random checks only it was submitted at 0.7475 after 5 that all hit (a
    disputed accuracy of 0.594, a 7% chance; the challenge bench of commit 4daf182). Over
    digits seeds 0-9 x 17 runs (``calibration-min-checks-3-hidden-shift-0.2/``: the runs of
    ``calibration-min-checks-3/`` decided again with ``hidden_shift`` 0.2): 2 wrong submissions
    (1 on a sum) as with checks only, 18 needless abstentions against 11, 98.4% of the oracle
    policy's points against 98.9%, mean accuracy 0.885 against 0.881 (1 check, telling apart
    until identified: 6 wrong, 2 on sums, 16 needless, 98.15%, 0.891). Two instead of one were measured before
    (``calibration-min-checks-2.md``): 7 wrong submissions instead of 6."""
    check_agreed: bool = False
    """Draw the checks of an ambiguous task over every target item, not only the disputed ones,
    so that a check can find the hypotheses sharing a mistake where they agree. Measured and
    kept off (``bench/results/calibration-check-agreed/``, 5 digits seeds x 17 runs, against
    ``calibration-before-complement/``): coverage 0.882 instead of 0.847 and 5 wrong
    submissions instead of 7, but 3 of them on pixel sums instead of 1 (their disputed part
    lost its checks), 13 needless abstentions instead of 8, 96.7% of the oracle policy's points
    instead of 98.1%, and below always-submit (126.9 against 127.7)."""
    tell_apart: bool = True
    """Spend labels on the items that best tell the hypotheses apart until one is identified
    or only ``min_checks`` labels are left, then on checks (False: every label is a random
    check of a disputed item; the checks then tell the hypotheses apart too). Checks only,
    measured over 20 digits seeds x 17 runs with ``hidden_shift`` 0.2
    (``bench/results/calibration-checks-only/``, replayed in ``decision-frontier-checks-only.md``,
    against ``calibration-tell-apart/`` with one reserved check): 4 wrong submissions (1 on a
    pixel sum) against 11 (5), 19 needless abstentions against 31, 99.07% of the oracle
    policy's points against 98.34%, a point of mean accuracy less (0.886 against 0.897); but on
    MNIST it submitted ``sum`` (seed 42) at 0.7475 (see ``min_checks``)."""
    edit_labels: bool = False
    """Before anything else, leave out the labeled items fewer than half of whose 10 nearest labeled
    items (on their linear features) carry their label, where at least 90% of the items agree
    with their neighbours (:func:`~underspec.audit.editing.edit_labels`, Wilson's editing;
    ``underspec solve --edit-labels``). Items read through a representation learnt without
    labels (photographs) are not edited. On digits ``trojan`` (3% of the labeled items patched
    and labelled 1) it leaves out 139 of the 143 patched items of another digit over seeds 0-40,
    and 9 right labels; 38 right labels in the 656 other runs, none in 637 of them
    (``bench/results/label-editing-digits.md``). Measured in the solver on the 59 runs where it
    leaves something out, against the same runs without it
    (``bench/results/settings-ab-edit-labels-digits.md``) and kept off: trojan within 1 point of
    the oracle in 32 of 40 runs either way (mean 0.9905 against 0.9900, 10 runs better, 5 worse:
    its final model also reads whole images of a 3 as a 1 with clean labels, seed 31 0.917
    against 1.0), one needless abstention fewer; but embed_three seed 3, one or two right labels
    left out, found other hypotheses and submitted 0.764 (0.989 without): a wrong submission."""
    verify: bool = True
    """When no ambiguity is found, spend the labels on target items drawn at random and held out
    of training: a shortcut every head took (a small patch on four classes: 0.33 on the target,
    1.0 held out, submitted) then shows as misses (:func:`decide`'s ``hidden_shift``)."""
    shift_alpha: float = 0.05
    """Level of the two-sample test between the labeled and the target items
    (:func:`~underspec.ambiguity.shift.shift_test`) run when no ambiguity is found: if it detects
    no shift, the verify labels are not bought (held-out labeled items then measure the target
    accuracy without bias). 0: always verify."""
    each_image_once: bool = False
    """Run the two-sample test with one item per group of near copies in each sample
    (:mod:`~underspec.ambiguity.copies`, ``shift_test(each_image_once=True)``). Where a
    generator shows each source image several times within a split (digits), an item's nearest
    neighbours are its own copies and the test reads the splits' disjoint images as a shift.
    Measured on digits seeds 0-40 against the same runs counting every item
    (``bench/results/calibration-each-image-once-compare.md``) and kept off: on ``trojan`` 9
    runs found no shift and bought no label (points 121.79 against 120.76, the 2 needless
    abstentions gone), but on ``sum_noise_level`` the test, blind to a noise level, then found
    no shift in the 13 runs whose heads saw no ambiguity, which skips the pixels' partition
    that revealed it: mean accuracy 0.9812 against 0.9953 (within a point of the oracle 75.6%
    against 100%). Counting every item, the copies' apparent shift is what lets the partition
    run there; a test that sees a change of texture would have to come before the partition
    can be gated on the test counting each image once."""
    shift_parts: bool = True
    """On items made of square tiles of pixels (not photographs, see ``_parts``), the two-sample
    test passes over an item's neighbours that hold a near copy of one of its tiles
    (``shift_test(parts=...)``), runs whether or not the heads found an ambiguity, and overrules
    them when it finds no shift: one hypothesis is kept alone (``no_shift_keeps``), and no label
    is bought. Digits ``no_shift`` pairs two digits drawn from a few images each, so labeled
    items share a digit's image with other labeled items: counting every item, the test read
    that split as shifted (z 7.6 to 21.1, seeds 0-40), and the heads, which read held-out items
    through the images they trained on, found two hypotheses in 40 of 41 seeds. Passing over
    the shared tiles, no_shift reads z -11.1 to 6.8 (no shift in 39 of 41 seeds) and the 233
    other tiled runs of those seeds (suite tasks and variants) z 7.9 or more
    (``bench/results/shift-test.md``; MNIST seeds 0-2 unchanged, ``shift-test-mnist.md``).
    Measured in the solver (``calibration-shift-parts-compare.md``): no_shift buys labels in 2
    of 41 seeds (was 41), mean accuracy 0.9963 against 0.9974, its 2 needless abstentions gone;
    the other tiled runs of seeds 0-3 are unchanged (``calibration-tiled-unchanged/``). Off:
    the test runs only when the heads find no ambiguity, on every item."""
    choose_by: str = "expected_accuracy"
    """Which hypothesis the final model learns from, once the labels are bought
    (:func:`~underspec.ambiguity.hypotheses.choose`): ``"posterior"``, the most probable;
    ``"expected_accuracy"``, the one whose labels are expected right on the most disputed
    items under the posterior (each hypothesis's probabilities as the law of the truth; the
    Bayes choice). Digits ``no_shift`` seed 57 (a false alarm of the shift test) chose by the
    posterior a hypothesis at about 0.5 on every item (right on 0.23 of the disputed ones) over a
    sure one (0.976) that had got one of five answers wrong, 0.43 against 0.36: the final model
    ended at 0.475. The kept runs of digits seeds 0-60 in which the two rules choose otherwise
    (49 of 1,095 with hypotheses to choose from, ``bench/choice_keys.py``), solved again both
    ways (``settings-ab-choose-by-digits*.md``): of the 9 identifiable ones, 3 went from 0.62,
    0.69 and 0.475 to 0.92, 0.92 and 0.99 (``cc`` brightness seed 8, ``cc`` tint seed 52,
    ``no_shift`` seed 57; still abstaining), one from 0.967 to 1.0, two fell (1.0 to 0.983,
    0.967 to 0.963), 3 were the same; below plain training by a point 8 runs against 12; the 40
    runs that are not identifiable (36 pixel sums) stay abstained but one, ``sum_three`` seed
    32, submitted at 0.725 by the posterior and abstained at 0.558 by expected accuracy. Seeds
    0-50 were kept by older commits, so today's code may choose otherwise on runs that list
    missed."""
    no_shift_keeps: str = "heads"
    """Which hypothesis ``shift_parts`` keeps when the test finds no shift
    (:func:`~underspec.ambiguity.hypotheses.best_fitting`): ``"heads"``, the one most heads
    joined among those within 0.05 of the best held-out accuracy; ``"holdout"``, the best on
    the held-out labeled items; ``"plain"``, none of them: the solver's network trained plainly
    on the labeled items in training (nothing shifted, so plain training is the right model).
    Digits no_shift, seeds 0-40 (``bench/results/calibration-no-shift-parts-{heads,holdout,plain}/``):
    mean 0.9963 / 0.9966 / 0.9939, within a point of the oracle 36 / 36 / 35 of 41, more than a
    point below plain training 2 / 3 / 1 (before the test overruled the heads, buying 5 labels:
    0.9974, 38, 1). A network trained plainly on the labeled items reads the items of the
    images it trained on and self-trains worse than the heads most of them agree on."""
    confidence: float = 0.75
    """Probability that the accuracy beats the default score needed to submit (with
    ``coin_cap``). 0.75 since the rule was chosen on the kept decisions of digits seeds 0-29 and
    MNIST seeds 0-4, then checked on digits seeds 30-40 and the MNIST pixel sums of seeds 5-14,
    solved afterwards (``bench/results/decision-coin-cap-*.md``). Over the 697 digits runs, at
    0.84 digits lost 2.53 points to always-submit (30 needless abstentions; seeds 19-29 and 30-40
    each fell below it), under the rule they win 2.07 (15 needless, 3 wrong submissions against
    2, none on a pixel sum; seeds 30-40 alone still 0.12 under always-submit, against 1.30 at
    0.84), and MNIST seeds 0-4 win 1.33 against 0.94 with no wrong submission either way; no
    MNIST pixel sum of seeds 5-14 reached 0.61. What 0.84 was for, MNIST's
    ``sum`` of seed 1 (true 0.754, 0.836 sure after 3 of 3 checks), ``coin_cap`` now abstains
    on. History: 0.84 from eafe3ac's runs (``decision-confidence-head.md``), 0.8 from 510
    digits runs (``decision-confidence.md``), 0.85 after the gap guard (``decision-gap.md``),
    0.9 before it."""
    coin_cap: float = 0.25
    """Abstain when the answers leave at least this posterior on "the disputed labels are a coin
    toss" (:func:`~underspec.ambiguity.decide.decide`), whatever ``confidence`` says: a task
    the answers have not shown to be identifiable is not submitted. Over the 697 digits and 105
    MNIST runs of ``decision-coin-cap-*.md`` it changes two decisions at 0.75: MNIST's ``sum``
    of seed 1 (true 0.754, "none" at 0.30) abstains, and a constant_image variant of digits
    seed 35 (true 1.0, "none" at 0.27) abstains needlessly; six runs sure enough to submit had
    "none" between 0.2 and 0.25, all right on 0.88 to 1.0 of their items. The photographs
    measured keep it lower (vehicle_animal seed 42: 0.034; humans seeds 1, 2, 3, 42: 0.02 to
    0.04; dominoes seed 42: 0.106). 1: off."""
    confidence_cap: bool = False
    """Hold the prior mean of the disputed accuracy under the chosen hypothesis to the final
    model's mean top probability on the disputed items (``decide(confidence_cap=True)``). The
    prior took a real hypothesis as right on nearly every disputed item (0.99 at most); with 4
    and 5 classes the chosen hypothesis is right on about 0.90 of them, and the 90% intervals
    held 0.46 and 0.43 of the truths (``bench/results/calibration-min-share-0.5/``, by classes). Replayed on
    the 779 kept digits runs of seeds 0-40 (``bench/results/decision-confidence-cap-digits.md``,
    ``calibration-confidence-cap/``) and kept off: the 572 two-class runs the same to the
    decision; coverage 3 classes 0.875 -> 0.898, 4 classes 0.459 -> 0.541, 5 classes 0.427 ->
    0.537, overall 0.873 -> 0.891; no wrong submission more; 3 needless abstentions more (23 ->
    26), 1198.48 points against 1198.78 (always-submit 1200.03): it buys coverage with points
    and leaves 4 and 5 classes far from 90%. With ``min_share`` 0.9 it changes no decision of
    those runs (coverage 0.878 against 0.874, ``decision-strength-digits.md``)."""
    holdout_prior: bool = True
    """Hold the prior mean of the disputed accuracy under the chosen hypothesis to its heads'
    accuracy on the held-out labeled items (``decide(chosen_holdout=...)``). The prior took a
    real hypothesis as right on nearly every disputed item (0.97-0.99); on 4 and 5 classes the
    final model is right on 0.94 and 0.92 of them, and the 90% intervals held 0.60 and 0.46 of
    the truths. Replayed on the 779 kept digits runs of seeds 0-40
    (``bench/results/decision-holdout-prior-digits.md``): coverage 0.944 against 0.881 (2 classes
    0.965 / 0.960, 3: 0.932 / 0.875, 4: 0.919 / 0.595, 5: 0.817 / 0.463), 2 wrong submissions
    against 3 (the 5-class constant_image variant of seed 28 at 0.733 abstains), but 26
    needless abstentions against 16 (5-class variants, 18 against 9), 1199.83 points against
    1201.03 (always-submit 1201.42); on the 190 runs of seeds 41-50, solved after every other
    setting was chosen (``decision-holdout-prior-digits-41-50.md``): coverage 0.947 against
    0.879, no wrong submission against 1 (a 5-class variant at 0.75), 6 needless abstentions
    against 4, 292.73 points against 293.02 (always-submit 292.67); on 28 MNIST runs (variants
    and pixel sums of seeds 0-4, ``decision-holdout-prior-mnist.md``) coverage 0.893 against
    0.679 and no decision changed; on the 95 MNIST runs of seeds 0-4 solved with it
    (``calibration-mnist-seeds-0-4/``, ``decision-holdout-prior-mnist-seeds-0-4.md``) coverage
    0.947 against 0.874, 6 needless abstentions against 5 (a 5-class run at 0.961 after 2 hits
    of 3), 145.857 points against 146.018 (always-submit 145.861). A mean of the two (the
    prior's and the heads') gave coverage 0.932, 3 wrong and 21 needless on seeds 0-40, and
    the heads' accuracy plus 40% or 50% of their errors (the share of held-out errors the
    final models fix on those runs) 3 wrong and 20 needless, and kept the wrong submission of
    seeds 41-50 (exploratory). A stronger prior or a lower confidence does not buy the points
    back without wrong submissions (``decision-holdout-prior-retune-digits.md``). It buys
    honest intervals on many classes with points on runs the oracle policy submits; 90%
    intervals that held under half of the truths of 5-class runs were not worth them.

    Since 2026-12-07 the bound is the held-out accuracy of the head that represents the chosen
    hypothesis (:func:`~underspec.ambiguity.hypotheses.representative_holdout`: its probabilities
    are the hypothesis's and teach the final model), not the mean of every head in its group:
    heads that only agree with it on the target items read the labeled items far worse (0.94,
    0.58, 0.58), and over the 698 kept runs with a chosen hypothesis of posterior above 0.9
    (digits seeds 0-50, MNIST seeds 0-4) the mean sat 4.5 points under the final model's
    accuracy on the disputed items of 3 to 5 classes (the representative head's: 0.8 points
    above; ``bench/holdout_bound.py``, ``holdout-bound-bias.md``).
    Replayed (``decision-representative-holdout-*.md``): digits seeds 0-40, 20 needless
    abstentions against 26, the same 2 wrong submissions (both not identifiable), 1200.51
    points against 1199.83 (always-submit 1201.42); seeds 41-50, 5 against 6, 1 wrong
    submission against 0 (a 5-class variant at 0.75), 292.84 against 292.73 (always-submit
    292.67); MNIST seeds 0-4, its pixel sums and the photographs, no decision changed. The
    estimates' mean error on 5-class runs goes from 0.077 to 0.062 (exploratory), but with one
    interval mass for all their intervals, now piled against 1.0, held fewer of the truths (0.65
    against 0.82, at 0.82 of the draws: ``calibration.md`` at dbf46ab): hence ``interval_mass_by_classes``."""
    confidence_drop: bool = False
    """Measure the agreed part of the target on the held-out labeled items less the chosen
    hypothesis's drop in mean top probability from those items to the agreed target items
    (difference of confidences, Guillory et al. 2021). The held-out items reuse the source
    images the heads trained on (vehicle_animal seed 42: 1,313 of 1,317 right, the agreed target
    items 0.815). Measured and kept off (``bench/results/calibration-confidence-drop/``, digits
    seeds 0-4 x 17 runs against the same runs of ``calibration.md``): coverage of the 90%
    intervals 0.788 against 0.965, 0 wrong submissions against 1, 4 needless abstentions
    against 3; on vehicle_animal it took only 5 of the 18 points off (held-out 0.948 for a
    truth of 0.811, exploratory): the heads are nearly as sure of photos they never saw."""
    hidden_shift: float = 0.2
    """Prior probability of a shift no hypothesis revealed, weighed by the checks of items the
    hypotheses agree on (:func:`~underspec.ambiguity.decide.decide`). 0.2 against decide's 0.1,
    replayed on digits runs: with ``min_checks`` 3 (seeds 0-9) 2 wrong submissions against 5,
    18 needless abstentions against 13, 98.4% of the oracle policy's points against 98.7%; with
    random checks only (20 seeds, ``decision-frontier-checks-only.md``) 4 wrong against 7, 19
    needless against 13, 99.07% against 99.27%; with one reserved check it was worse on every
    count (``decision-frontier.md``)."""
    coin_doubts_agreed: bool = False
    """Take the agreed part's accuracy as unknown with probability ``min(p_coin, hidden_shift)``
    where no agreed item was checked (decide's ``coin_doubts_agreed``): a pixel sum's heads all
    read the same mixture and can agree on the same wrong class. Measured and kept off. Chosen
    on the kept runs of digits seeds 0-50 (``decision-coin-doubts-agreed-*.md``), it no longer
    submitted the one pixel sum they submit (``sum_three`` seed 32, 0.725) for one more needless
    abstention on seeds 0-40 and one on 41-50, and changed no MNIST decision. On digits seeds
    51-60, solved afterwards with it on (``calibration-digits-51-60/``), it stopped no wrong
    submission (3 either way, 2 of them pixel sums: ``sum`` seed 55 at 0.742 and ``sum_three``
    seed 56 at 0.463, each after 3 of 3 lucky checks) and added 3 needless abstentions (7
    against 4), 291.45 points against 292.23 (always-submit 291.25;
    ``decision-coin-doubts-agreed-digits-51-60.md``): what it bought was one run of the seeds
    it was chosen on."""
    interval_mass: float = 0.82
    """Share of the accuracy's draws the reported 90% interval holds (decide's
    ``interval_mass``) where ``interval_mass_by_classes`` is empty. 0.82 since the prior's
    bound became the representative head's (``holdout_prior``): the split-conformal choice on
    the 779 kept digits runs of seeds 0-40 (0.8183, ``interval-mass-representative-holdout.md``:
    seeds 41-50 then cover 0.921, MNIST seeds 0-4 0.947). At 0.82 the replays
    (``decision-representative-holdout-*.md``) cover 0.904 on seeds 0-40, 0.921 on 41-50 and
    0.958 on MNIST (91 of 95 runs, a run over the issue's 95%; the same at 0.83).
    Before: the draws' priors are conservative on purpose, and the shortest interval holding 90%
    of them covered 0.966 of the truths over the 697 digits runs of
    ``calibration-before-interval-mass/`` and 0.958 over the 120 MNIST runs of
    ``calibration-mnist-before-interval-mass/`` (the issue asks 85-95%). 0.83 is the
    split-conformal choice (``bench/interval_mass.py``) on the kept decisions of digits seeds
    0-20 x 17 runs solved at 7fde13b: the least mass whose interval holds the truth, in each run,
    and its ``ceil((n + 1) 0.9)``-th smallest value (0.8296; ``interval-mass-digits.md``). Chosen
    on seeds 0-10 alone (0.8467), seeds 11-20's intervals cover 0.912 against 0.959
    (``interval-mass-digits-fit-0-10.md``); MNIST seeds 0-2 x 17 runs, solved afterwards,
    0.863 against 0.961 (44 of 51; ``interval-mass-mnist-0.83.md``: the misses below are
    mostly constant_image variants); digits seeds 21-40 x 17 runs, solved afterwards, 0.924
    against 0.971 (``interval-mass-digits-21-40.md``); MNIST seeds 0-5, 0.892 against 0.961
    (``interval-mass-mnist-0-5-0.83.md``), and all 120 MNIST runs solved at 0.83, 0.883
    (``calibration-mnist-current/``). No decision changes: they read P(better)."""
    interval_mass_by_classes: tuple[float, ...] = (0.71, 0.88, 0.91)
    """The reported interval's mass for tasks of 2, 3, and 4 or more classes (replaces
    ``interval_mass``; empty: ``interval_mass`` for all). Mondrian conformal prediction (Vovk et
    al. 2005): ``bench/interval_mass.py --by-classes 2,3,4`` chose them apart, each the
    split-conformal mass of its stratum of the 779 kept digits runs of seeds 0-40 (0.7073, 0.8751,
    0.9004, rounded up; ``interval-mass-by-classes.md``). With one mass for all (0.82) the
    intervals held 0.96 of the truths of 2-class runs and 0.65 of 5-class runs: the prior's bound
    on many classes leaves their draws piled against 1.0 (``holdout_prior``). Under
    ``coin_doubts_agreed`` they would be 0.64, 0.87, 0.91 (``interval-mass-coin-doubts-agreed.md``)."""
    represented_holdout_strength: float = 5.0
    """Most pseudo-counts the held-out labeled items weigh in the accuracy of the agreed target
    items (:func:`~underspec.ambiguity.decide.decide`'s ``holdout_strength``, 30 elsewhere) when
    the solver works on a representation of photographs. In the labeled data the shortcut
    agrees with the label, and there it props up the held-out score: on digits and MNIST the
    intended feature alone is nearly perfect (agreed target items 0.990 where the held-out items
    read 0.999, 605 digits runs; 0.986 against 0.999, 79 MNIST runs), on photographs it is not
    (humans seeds 1, 2, 3, 42: 0.82-0.85 against 0.98-0.99; vehicle_animal seed 42: 0.900
    against 0.997; dominoes seed 42: 0.958 against 1.0). With 30, 3 of those 6 runs' 90%
    intervals covered their truth; with 5, 6 of 6, and no decision changed (replayed from
    their kept decisions, ``bench/results/decision-photographs-holdout.md``; vehicle_animal seed
    1 and dominoes seeds 1 and 2, solved after the choice, cover either way)."""
    representation: str = "auto"
    """What the solver works on (:data:`underspec.models.representation.REPRESENTATIONS`):
    ``auto`` gives photographs patch k-means features learnt on all of the task's items without
    labels (then the vector settings apply), and leaves other items as they are; on a task
    whose ``task.json`` allows pretrained weights (``humans``), it takes dlib's face
    descriptor when the ``faces`` extra is installed. The pretrained representations
    (``face-descriptor``, ``imagenet``) are refused elsewhere."""
    erase: bool = True
    """On a learnt representation with competing hypotheses, erase what the rejected ones predict
    from the features (:mod:`underspec.ambiguity.erase`, LEACE fitted on the target items) and
    self-train from a logistic regression on the erased labeled items instead of from the chosen
    head: dominoes 0.802 / 0.797 against 0.733 / 0.741 without it (seeds 1 / 42,
    bench/results/photographs-erase.md, photographs-dominoes-no-erase.md)."""
    erase_c: float = 0.01
    complement: bool = True
    """When the heads find competing hypotheses, add each one's complement as a head
    (:func:`~underspec.ambiguity.erase.complement_heads`: a logistic regression on the labeled
    items' linear features with that hypothesis erased), so that a pure intended feature can be
    chosen where every network head blended it with the shortcut. Not on a learnt representation
    of photographs, where the erasure of step 3 already teaches from the rejected hypotheses'
    complement once the labels have chosen: there the complements among the hypotheses were
    erased with the rejected ones, and dominoes (seed 1) fell from 0.802 to 0.757
    (bench/results/photographs-complement.md; humans, whose complements merged with its
    hypotheses, 0.785 either way)."""
    partition: bool = True
    """On images, add the hypothesis "the label is the cluster" (:func:`~underspec.ambiguity.erase.partition_head`:
    k-means of the unlabeled and target items' pixels into C clusters, or 2 C when the labeled
    items do not name C without conflict (a shortcut on a random side); clusters named by the labeled items) and
    its complement: an overlaid shortcut (tint, frame, patch, brightness, constant image) is
    the pixels' strongest partition, and what fits the labels once it is erased is the label,
    where every network head blended the two. Digits, 20 seeds x 17 runs
    (``bench/results/calibration-before-tiles/``): mean 0.922, within 1 point of the oracle on 73.3% of the
    identifiable runs, 6 wrong submissions, 25 needless abstentions (with C clusters only,
    ``calibration-before-cluster-count/``: 0.919, 72%, 6, 25); seeds 0-9 against the
    same settings without it (``calibration-partition/``, ``calibration-min-checks-3-hidden-shift-0.2/``):
    mean 0.915 against 0.885, within 1 point 74% against 63.3%, 10 needless abstentions
    against 18, 3 wrong submissions against 2. Not when the two-sample test finds no shift."""
    partition_views: tuple[str, ...] = ("pixels", "statistics")
    """What the partition clusters: ``pixels`` (the linear features), ``statistics`` (each
    channel's mean and standard deviation, :func:`~underspec.ambiguity.erase.channel_statistics`:
    a tint, a brightness or a frame drawn over the whole image moves them far more than the
    digit's shape, where the pixels' clusters mix the two) and ``spectrum`` (the
    magnitude of each image's 2-D Fourier transform, :func:`~underspec.ambiguity.erase.spectrum`:
    a shortcut drawn at a random place, or a noise level, has one spectrum wherever it is);
    one partition per view. The spectrum finds the shortcut of uniform_color_random_row (digits
    seeds 0-9: every time, complement 0.98-1.0, where the pixels' partition matched 0.73-0.79)
    and the noise level of sum_noise_level (0.99), but as a second partition beside the
    pixels' it lowered the 21 identifiable 3-4 class runs of digits seeds 0-9 from 0.870 to
    0.835 (``bench/results/multiclass-heads-partition-spectrum.md``): more hypotheses to tell
    apart with 2 labels, and 4 runs chose a worse one. The statistics beside the pixels since
    the twenty-fourth session: the 161 identifiable digits variants of seeds 0-40 solved again at
    today's code (``bench/results/settings-ab-statistics-variants.md``), within 1 point of the
    oracle on 125 against 115 (tint 31 of 39 against 23, mean 0.978 against 0.924), mean 0.971
    against 0.955, 1 wrong submission against 2, 9 needless abstentions against 13; the named
    tasks of seeds 0-9 (``settings-ab-statistics-named.md``, 110 runs, the pixel sums included)
    78 within 1 point either way, no wrong submission, 1 needless abstention against 0 (cc, seed
    1). The statistics alone lost the patch variants (its position is no statistic: 0.59 for
    0.90, exploratory probe, ``bench/work/exp``)."""
    complement_alone: bool = False
    """Add the complement also when the heads find one hypothesis only (a shortcut every head
    took then shows as a second hypothesis). Measured and kept off (5 digits seeds x 17 runs,
    ``bench/results/calibration-complement-alone/`` against ``calibration-complement/``): mean
    0.898 against 0.894, but within 1 point of the oracle 65.3% against 68%, 6 runs more than a
    point below plain training against 3, 11 needless abstentions against 8, 97.6% of the
    oracle policy's points against 98.4%, below always-submit (129.1 against 130.4); the same
    4 wrong submissions."""
    order_tiles: bool = True
    """Items made of square images side by side (pixels, no learnt representation): move each
    item's tiles into the order learnt from their pixels (:func:`~underspec.models.tile_order.order_image_tiles`)
    when the tiles are of two kinds whose sides vary from item to item, so that the heads see
    the label's image in one place. Digits' ``constant_image_random_row`` (a fixed image of the
    class beside the label's digit, on a side drawn per item), 20 generation seeds: mean 0.997
    against 0.787 without it (within 1 point of the oracle 90% against 15%; no head read the
    digit wherever it was); over the 340 digits runs of ``bench/results/calibration-tiles-merged/``
    (against ``calibration-before-tiles/``, 43 runs moved): mean 0.935 against 0.922, within 1
    point of the oracle 79% against 73.3%, 3 wrong submissions against 6, 22 needless
    abstentions against 25; one run worse (uniform_color_random_row seed 19, 1.0 to 0.5875,
    abstained)."""
    pixel_slots: bool = True
    """Images made of square tiles side by side (pixels, no learnt representation) get the
    photographs' slot heads (:func:`~underspec.ambiguity.erase.slot_heads`, "the label is read
    from this tile": a logistic regression on one tile's pixels, reduced by PCA), and the final
    model then reads only the tiles the chosen hypothesis is read from
    (:func:`~underspec.ambiguity.erase.slot_columns`). On 3- and 4-class digit pairs every
    network head blended the label's digit with its shortcut's (a 3-class cc, generation seed 0:
    0.772, abstained; the logistic regression on the label's tile reads 1.0 there). Digits, 20
    seeds x 17 runs (``bench/results/calibration-pixel-slots/`` against ``calibration-before-pixel-slots/``,
    with the rare disagreement patterns checked as one stratum, :mod:`underspec.ambiguity.query`):
    mean 0.941 against 0.933, within 1 point of the oracle on 83.0% of the identifiable runs
    against 79.3%, 1 wrong submission either way, 11 needless abstentions against 9. MNIST seeds
    0-4 x 17 (``calibration-mnist-pixel-slots/`` against the same runs of ``calibration-mnist-gap/``):
    0.950 against 0.949, within 1 point 93.3% against 90.7%, no wrong submission either way, 6
    needless abstentions against 4, and 0.09 points below always-submit (0.15 above before)."""
    slot_prior: float = 1.0
    """Prior weight of a hypothesis that a slot head reads (the label read from one tile or one half of
    the items alone), against 1 for the others (the network heads' blends): an experiment. On
    digits embed_three, generation seed 12, the halves' slot head read the label (0.947) and the
    solver abstained (estimate 0.91, interval 0.60 to 1.00) with the chosen one at posterior
    0.70 (a blend kept 0.17); with 3.0 it submitted at 1.0. Measured and kept off (exploratory:
    the 85 runs of digits seeds 0-4 solved again with 3.0, ``calibration.py --settings``, all
    unchanged; the 95 runs of seeds 5-19 where a hypothesis has a slot head and another none,
    solved again one by one): 13 runs moved, 4 better and 4 worse by more than a point
    (embed_three seeds 5 and 6 0.989 / 0.986 -> 0.928 / 0.919: the prior chose the halves' head,
    pure but less accurate than the network head that read the same digit), 4 needless
    abstentions fewer (no_shift 10 and 14, embed_three 12, uniform_color_low_mix_rate 19),
    points +1.84 against always-submit's +1.45 on those runs."""
    vector_halves: bool = True
    """Native vectors (not a learnt representation) get two slot heads more, one per half of
    their directions that the labels tie together (:mod:`underspec.ambiguity.halves`: where a
    vector embeds two images, the labeled items' covariance differs from the pool's by the
    cross-covariance of the two images' embeddings). On digits ``embed_three`` every network
    head blended the two images in 3 of 20 generation seeds (3, 12, 13: 0.59 to 0.77,
    abstained). The 60 vector runs of the 20 digits seeds (``bench/results/calibration-vector-halves/``
    against the same runs of ``calibration-pixel-slots/``): mean 0.9833 against 0.9738,
    within 1 point of the oracle 86.7% against 83.3%; seeds 3 and 12 0.989 and 1.0 (12
    abstained), 13 unchanged, 56 runs identical. MNIST seeds 0-4 (``calibration-mnist-vector-halves/``):
    no run moved by a point (seed 0's embed_three stays at 0.55: the halves' signs chosen
    wrong)."""
    student_epochs: float = 15
    """On a representation learnt from photographs (patch features, not a pretrained
    descriptor), the final model's labels of the pool (the target items and the unlabeled items
    the pool holds), with the labeled items and their own labels, teach a VGG-style network on
    their pixels, shifted, mirrored, colour-jittered and cut out, whose predictions of the
    target items replace the final model's
    (:func:`~underspec.ambiguity.disambiguate.pixel_student`); 0: none. On vehicle_animal
    (seeds 42 / 1) one student, shifted and mirrored only, took the target from 0.806 / 0.8053
    to 0.8434 / 0.8424, on dominoes from 0.8415 / 0.832 to 0.897 / 0.884
    (``bench/results/photographs-student-labeled.md``); with 8 epochs the first student read
    0.8302 on vehicle_animal seed 42 where 15 read 0.8471 (exploratory probe)."""
    student_rounds: int = 2
    """Pixel students trained one after the other, each on the labels the previous one gives the
    items whose labels are not true (the noisy student's iteration). On vehicle_animal (seed 42,
    the same teacher, 15 epochs each, exploratory probe) the second student read 0.8528 of the
    target where the first read 0.8471; the bench (``bench/results/photographs-student-rounds.md``,
    seeds 42 / 1): 0.8528 / 0.854, in 1670 / 1572 s on 2 cores with the encoding (the second
    student costs about 8 minutes); on the tile the final model reads (:class:`Pixels`)
    0.8567 / 0.8552 in 1165 / 1113 s (``bench/results/photographs-student-tiles.md``); with the
    rejected kind learnt too, 0.8707 / 0.8731 in 1108 / 1194 s (``photographs-other-kind.md``).
    Where the students see only the chosen hypothesis's tiles, the first learns the labeled
    items' true labels alone and the second its labels (``pixel_student(start="fixed")``), and
    no final model is self-trained for them: vehicle_animal 0.8961 / 0.8992 in 1002 / 1003 s,
    dominoes 0.9573 / 0.9483 in 552 / 551 s (``photographs-true-labels-first.md``). 0: no
    student."""
    max_dims: int = 512
    """A representation with more columns is reduced to this many by PCA (fitted on all items,
    no label): the heads and the self-training then cost a sixth as much. Items made of tiles
    get this many per tile (each tile's block of columns reduced on its own: on dominoes, seed
    1, a linear probe of the photo's class from its tile reads 0.859 from the 3,200 columns,
    0.846 from 512 and 0.823 from 256; exploratory)."""
    seed: int = 0

    def for_items(self, name: str, X: np.ndarray):
        """Setting ``name`` for items like ``X``: its ``vector_`` twin when ``X`` holds vectors."""
        return getattr(self, f"vector_{name}" if X.ndim == 2 else name)

    def rounds_for(self, X: np.ndarray, pool_size: int) -> int:
        """Self-training rounds for items like ``X`` and a pool of ``pool_size`` items:
        ``large_pool_rounds`` (at most ``vector_rounds``) on native vectors whose pool holds more than
        ``large_pool`` items, else ``rounds`` or ``vector_rounds`` (:meth:`for_items`)."""
        if X.ndim == 2 and not self.represented(X) and pool_size > self.large_pool:
            return min(self.vector_rounds, self.large_pool_rounds)
        return self.for_items("rounds", X)

    def interval_mass_for(self, n_classes: int) -> float:
        """The share of the accuracy's draws the reported interval holds on a task of
        ``n_classes`` classes (``interval_mass_by_classes``, else ``interval_mass``)."""
        by_classes = self.interval_mass_by_classes
        if not by_classes:
            return self.interval_mass
        return float(by_classes[min(max(n_classes - 2, 0), len(by_classes) - 1)])

    def heads_params(self, X: np.ndarray) -> dict:
        """Keyword arguments of :class:`DiverseHeads` for items like ``X`` (vectors or images)."""
        return {"n_heads": self.n_heads, "diversity_weight": self.diversity_weight,
                "prior_weight": self.prior_weight, "seed": self.seed,
                "epochs": self.for_items("epochs", X),
                "batch_size": self.for_items("batch_size", X),
                "n_restarts": self.vector_restarts if X.ndim == 2 else 1,
                "weight_decay": self.represented_weight_decay if self.represented(X, pretrained=False)
                else self.for_items("weight_decay", X), "arch": self.arch(X)}

    def arch(self, X: np.ndarray) -> str:
        """The network layout for items like ``X``: ``descriptor_arch`` on a pretrained
        descriptor, else the default (the small CNN for images, the MLP for vectors)."""
        from underspec.models.representation import PRETRAINED

        return self.descriptor_arch if X.ndim == 2 and self.representation in PRETRAINED else "cnn"

    def refits_linearly(self, X: np.ndarray) -> bool:
        """Whether the final model for items like ``X`` is the logistic regression refitted on the
        chosen hypothesis's labels (``descriptor_final_c``): a pretrained descriptor read linearly."""
        return self.descriptor_final_c > 0 and self.arch(X) == "linear"

    def represented(self, X: np.ndarray, *, pretrained: bool = True) -> bool:
        """Whether ``X`` holds the vectors of a representation (the recipe in ``representation``
        once :func:`solve` has resolved it), not native vectors; with ``pretrained=False``, only
        one learnt without labels (patch features, not the face descriptor)."""
        from underspec.models.representation import PRETRAINED

        return X.ndim == 2 and self.representation not in ("none", "auto") and (
            pretrained or self.representation not in PRETRAINED)


@dataclass
class SolveResult:
    """Everything the solver produced (predictions in raw class values, and the summary)."""

    predictions: np.ndarray
    proba: np.ndarray
    summary: dict
    hypotheses: Hypotheses
    disputed_order: np.ndarray
    queries: list[tuple[int, int]] = field(default_factory=list)
    decision_inputs: dict = field(default_factory=dict)
    """The arguments :func:`~underspec.ambiguity.decide.decide` was called with: the decision
    can be replayed under other priors without solving again (``bench/replay_decisions.py``)."""
    teacher_proba: np.ndarray | None = None
    """With a pixel student: the final model's probabilities on the target items that taught it."""


class StudentImages(NamedTuple):
    """What the pixel student trains on (:meth:`Pixels.student_images`)."""

    images: np.ndarray
    """The items, whole or cut down to their tiles in the slots read."""
    others: list[np.ndarray]
    """With one slot read of tiles in a learnt order: each item's tile in every other slot (one
    array per slot), whose kind the student learns to reject; else none."""
    tiles: str
    """The slots read (``"1"``, ``"0/2"``) or ``"all"``."""


class Pixels(NamedTuple):
    """A photograph task's images, kept for the pixel student, and where the slots of their learnt
    representation come from (:func:`represent_task`'s ranks; ``None``: one slot)."""

    labeled: np.ndarray
    unlabeled: np.ndarray
    target: np.ndarray
    ranks: np.ndarray | None

    def reads_part(self, kept: list[int]) -> bool:
        """Whether the student sees only the tiles in the slots ``kept`` (some, not all, of the
        items' slots), and so nothing of a hypothesis read from the others."""
        return self.ranks is not None and 0 < len(kept) < self.ranks.shape[1]

    def student_images(self, unlabeled_rows: np.ndarray, kept: list[int]) -> StudentImages:
        """The images the pixel student trains on (the labeled items, the pool's ``unlabeled_rows``,
        the target items) and which of their tiles: where the final model reads only the slots
        ``kept`` of tiles side by side, each item cut down to the tiles in those slots (its own
        positions, :func:`~underspec.models.tile_order.tiles_at`); else whole. The student
        then sees what the chosen hypothesis reads and nothing of the rejected one's tile, at
        half the pixels. On vehicle_animal (seed 42, the same teacher at 0.806, exploratory
        probes) the first student read 0.8443 of the target from the tile the representation's
        order puts in the animal's slot (the animal in 96.5% of the target items), in 275 s,
        against 0.8471 from both photos in 449 s; from the animal's tile itself (its side
        known) 0.8611 in 237 s. With one slot kept of tiles put in a learnt order (tiles of
        distinct kinds), the tiles of the other slots come too: the kind the student learns to
        reject, to fix the order's mistakes (:func:`~underspec.ambiguity.disambiguate.pixel_student`).
        Tiles of one kind keep their positions, and their other slots are no kind to reject."""
        parts = [self.labeled, self.unlabeled[unlabeled_rows], self.target]
        if not self.reads_part(kept):
            return StudentImages(np.concatenate(parts), [], "all")
        slots = self.ranks.shape[1]
        ranks = np.split(self.ranks, np.cumsum([len(self.labeled), len(self.unlabeled)]))
        ranks[1] = ranks[1][unlabeled_rows]

        def cut(read: list[int]) -> np.ndarray:
            return np.concatenate([tiles_at(part, slots, r[:, read]) for part, r in zip(parts, ranks, strict=True)])

        moved = bool((self.ranks != np.arange(slots)).any())  # an order learnt: tiles of two kinds
        others = [cut([slot]) for slot in range(slots) if slot not in kept] if len(kept) == 1 and moved else []
        return StudentImages(cut(kept), others, "/".join(map(str, kept)))


def represent_task(t: ChallengeTask, settings: SolveSettings,
                   progress: bool = False) -> tuple[ChallengeTask, str, int, np.ndarray | None]:
    """The task with every item replaced by its representation (``settings.representation``),
    the recipe's name (``none``: the task itself), the number of slots of its columns (one
    block of columns per tile of the items (photos side by side), each reduced by PCA on its
    own to ``max_dims`` so that the blocks stay apart; 1: one block) and where each item's slots
    come from (``ranks[i, s]``: the position of the tile in slot ``s`` of item ``i``, items in
    :meth:`ChallengeTask.items` order; ``None`` with one slot)."""
    from underspec.models import face_descriptor
    from underspec.models.representation import (
        PRETRAINED,
        RECIPES,
        REPRESENTATIONS,
        is_photograph,
        represent,
        resolve_representation,
    )

    allowed = bool(t.manifest.get("pretrained_weights_allowed", False))
    if settings.representation == "auto" and allowed and is_photograph(t.X_val) and face_descriptor.available():
        name = "face-descriptor"
    else:
        name = resolve_representation(settings.representation, t.X_val)
    if name in PRETRAINED and not allowed:
        raise UnderspecError(f"representation {name}: starts from pretrained weights, which this task does not allow "
                             f"(task.json pretrained_weights_allowed is not true); expected one of "
                             f"{', '.join(r for r in REPRESENTATIONS if r not in PRETRAINED)}")
    if name == "none":
        return t, name, 1, None
    sizes = np.cumsum([len(t.X_labeled), len(t.X_unlabeled)])
    features, ranks = represent(t.items(), name, seed=settings.seed, progress=progress, tile_ranks=True)
    slots = tile_count(t.X_val.shape) if RECIPES.get(name, {}).get("tiles") else 1
    if features.shape[1] > settings.max_dims * slots:
        features = np.concatenate([linear_features(block, settings.max_dims, settings.seed)
                                   for block in np.split(features, slots, axis=1)], axis=1)
    labeled, unlabeled, target = np.split(features, sizes)
    return ChallengeTask(labeled, t.y_labeled, unlabeled, target, t.manifest), name, slots, ranks


def write_predictions(path: str | Path, predictions: np.ndarray) -> None:
    """Challenge format: no header, no index, one raw class value per line (atomic write)."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{int(v)}\n" for v in predictions))


def solve(task: str | Path | ChallengeTask, oracle: str | Oracle, *, budget: int = 5,
          out: str | Path | None = None, json_path: str | Path | None = None,
          settings: SolveSettings | None = None, progress: bool = False) -> SolveResult:
    """Solve one underspecified task with at most ``budget`` revealed labels.

    Parameters
    ----------
    task : path or ChallengeTask
        A task directory (challenge layout) or a loaded task.
    oracle : str or Oracle
        ``answers:PATH``, ``command:CMD``, ``prompt`` or any object with ``reveal(index)``.
    budget : int
        Most target labels to reveal.
    out, json_path : path, optional
        Where to write the predictions CSV and the summary JSON.
    settings : SolveSettings, optional
    progress : bool
        Show progress bars.

    Returns
    -------
    SolveResult
    """
    start = time.perf_counter()
    settings = settings or SolveSettings()
    if budget < 0:
        raise UnderspecError(f"budget: expected a number >= 0, got {budget}")
    for view in settings.partition_views:
        if view not in PARTITION_VIEWS:
            raise UnderspecError(f"partition_views: {view!r}; expected one of {', '.join(PARTITION_VIEWS)}")
    if settings.no_shift_keeps not in NO_SHIFT_KEEPS:
        raise UnderspecError(f"no_shift_keeps: {settings.no_shift_keeps!r}; "
                             f"expected one of {', '.join(NO_SHIFT_KEEPS)}")
    if settings.target_in_final not in TARGET_IN_FINAL:
        raise UnderspecError(f"target_in_final: {settings.target_in_final!r}; "
                             f"expected one of {', '.join(TARGET_IN_FINAL)}")
    if settings.choose_by not in CHOOSE_BY:  # before a label is bought
        raise UnderspecError(f"choose_by: {settings.choose_by!r}; expected one of {', '.join(CHOOSE_BY)}")
    for path in (out, json_path):  # before any work: a bad path must not cost the training
        if path is not None:
            check_output_file(path)
    t = task if isinstance(task, ChallengeTask) else read_task(task)
    classes = t.classes
    unknown = sorted(set(np.unique(t.y_labeled).tolist()) - set(classes.tolist()))
    if unknown:
        raise UnderspecError(f"y_labeled.npy: label {unknown[0]} is not one of the task classes "
                             f"{classes.tolist()} (task.json)")
    if isinstance(oracle, str):
        oracle = make_oracle(oracle, X_val=t.X_val, classes=classes)
    try:
        p = prepare_task(t, settings, progress)
        return _solve(p.task, oracle, budget, out, json_path, p.settings, progress, start, task, p.slots, p.tiles,
                      p.pixels, p.editing)
    finally:
        if hasattr(oracle, "close"):
            oracle.close()


class Prepared(NamedTuple):
    """A task as :func:`prepare_task` hands it to the solver."""

    task: ChallengeTask
    """Its items represented (photographs), their tiles put in order, its labels edited."""
    settings: SolveSettings
    """The settings with the representation resolved to the recipe used."""
    slots: int
    """Blocks of the representation's columns, one per tile of the items (1: one block)."""
    tiles: dict | None
    """The tile order's summary (None: not ordered)."""
    pixels: Pixels | None
    """A photograph task's images, for the pixel student."""
    editing: Editing | None
    """The labeled items left out (None: not edited)."""


def prepare_task(t: ChallengeTask, settings: SolveSettings, progress: bool = False) -> Prepared:
    """What :func:`solve` does to a task before it looks for hypotheses: represent the items
    (:func:`represent_task`), order their tiles (``order_tiles``) and leave out the labeled items
    their neighbours contradict (``edit_labels``)."""
    images = (t.X_labeled, t.X_unlabeled, t.X_val)  # the images, for the pixel student
    t, representation, slots, ranks = represent_task(t, settings, progress)
    settings = replace(settings, representation=representation)  # the recipe used, in the summary
    pixels = Pixels(*images, ranks) if settings.represented(t.X_val, pretrained=False) else None
    del images  # only the student's Pixels keep the images alive
    tiles = editing = None
    if representation == "none" and settings.order_tiles:
        parts, tiles = order_image_tiles([t.X_labeled, t.X_unlabeled, t.X_val], seed=settings.seed)
        t = ChallengeTask(parts[0], t.y_labeled, parts[1], parts[2], t.manifest)
    if settings.edit_labels and not settings.represented(t.X_val):
        t, editing = _edited(t, settings.seed)
    return Prepared(t, settings, slots, tiles, pixels, editing)


def _edited(t: ChallengeTask, seed: int) -> tuple[ChallengeTask, Editing]:
    """The task without the labeled items whose nearest labeled items mostly carry another label
    (:func:`~underspec.audit.editing.edit_labels` on their linear features), and what was found."""
    editing = edit_labels(linear_features(t.X_labeled, 64, seed), np.searchsorted(t.classes, t.y_labeled),
                          len(t.classes))
    if len(editing.dropped):
        keep = np.setdiff1d(np.arange(len(t.y_labeled)), editing.dropped)
        t = ChallengeTask(t.X_labeled[keep], t.y_labeled[keep], t.X_unlabeled, t.X_val, t.manifest)
    return t, editing


def _pool(t: ChallengeTask, max_pool: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The unlabeled pool (unlabeled items, at most ``max_pool`` with the target items, then
    every target item), the rows of ``X_unlabeled`` that lead it, and the pool rows to train on
    when there are more target items than ``max_pool`` (vehicle_animal: 20,000; all are
    predicted)."""
    rows = np.arange(len(t.X_unlabeled))
    room = max(max_pool - len(t.X_val), 0)  # the target items are always in the pool
    if len(rows) > room:
        rows = np.sort(rng.choice(len(rows), room, replace=False))
    X_pool = np.concatenate([t.X_unlabeled[rows], t.X_val])
    train_rows = np.sort(rng.choice(len(X_pool), max_pool, replace=False)) if len(X_pool) > max_pool else None
    return X_pool, rows, train_rows


def _hypotheses_summary(hyp: Hypotheses, posterior: np.ndarray, n_heads: int, n_partitions: int,
                        n_complements: int = 0, slot_kind: str = "tiles", overruled: int = 0) -> dict:
    """The summary's words on the ambiguity: whether there is one, and the hypotheses (heads
    numbered ``n_heads`` and up are the pixels' partition, then complements, then the slot
    heads, of the kind ``slot_kind`` names: see :func:`_slot_features`; ``overruled``: the
    hypotheses the two-sample test overruled, ``SolveSettings.shift_parts``)."""
    partition = sum(n_heads <= group[0] < n_heads + n_partitions for group in hyp.groups)
    complements = sum(0 <= group[0] - n_heads - n_partitions < n_complements for group in hyp.groups)
    tiles = sum(group[0] >= n_heads + n_partitions + n_complements for group in hyp.groups)
    clusters = f"{partition} of them the clusters of the items' pixels or of their channels' statistics"
    words = ([clusters] if partition else []) + (
        [f"{complements} of them the complement of another: what fits the labels once that one is erased "
         "from the items' linear features"] if complements else []) + (
        [f"{tiles} of them read from " + ("one half of the vectors alone (two halves of their directions that the "
                                          "labeled items tie together)" if slot_kind == "halves" else
                                          "one tile of the items alone")] if tiles else [])
    found = f" ({'; '.join(words)})" if words else ""
    return {
        "ambiguous": hyp.ambiguous,
        "message": (f"{hyp.n} distinct hypotheses fit the labeled data{found}" if hyp.ambiguous else
                    f"no shift: the heads found {overruled} hypotheses, but the target items look like the "
                    "labeled ones (two-sample test passing over shared tiles); one kept, then self-training"
                    if overruled else
                    "no ambiguity: the heads disagree no more on the target items than on held-out "
                    "labeled items; plain (self-)training on the labeled data"),
        "hypotheses": {
            "count": hyp.n, "heads": hyp.groups, "dropped_heads": hyp.dropped,
            "holdout_accuracy": hyp.holdout_accuracy,
            "disagreement": {k: round(v, 4) for k, v in hyp.disagreement.items()},
            "head_disagreement": {k: round(v, 4) for k, v in hyp.head_disagreement.items()},
            "posterior": [round(float(p), 4) for p in posterior[:-1]],
            "posterior_none": round(float(posterior[-1]), 4),
        },
    }


def _agreed_holdout(hyp: Hypotheses, chosen: int, confidence_drop: bool) -> tuple[float, int]:
    """The chosen hypothesis's (right, number) on the agreed held-out items, the right ones
    lowered by its drop in confidence to the agreed target items (``SolveSettings.confidence_drop``)."""
    right, n = hyp.agreed_holdout[chosen]
    if not confidence_drop or not hyp.agreed_confidence:
        return right, n
    on_holdout, on_target = hyp.agreed_confidence[chosen]
    drop = on_holdout - on_target
    return (round(max(0.0, right - drop * n), 2), n) if drop > 0 else (right, n)


def linear_final_model(C: float):
    """The final model on a pretrained descriptor read linearly (``SolveSettings.descriptor_final_c``):
    an unfitted logistic regression with inverse regularisation ``C``."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000)


def _refit_linear(X_pool: np.ndarray, pool_proba: np.ndarray, revealed: dict[int, int], C: float,
                  n_classes: int, train_rows: np.ndarray | None = None):
    """A logistic regression (inverse regularisation ``C``) fitted on the pool items (unlabeled
    then target; only ``train_rows`` and the revealed ones when given) with the chosen
    hypothesis's labels, the ``revealed`` ones (pool row -> class index) put in with weight 5;
    None when those labels miss a class."""
    y = pool_proba.argmax(1)
    weight = np.ones(len(y))
    for row, k in revealed.items():
        y[row], weight[row] = k, 5.0
    rows = (np.arange(len(y)) if train_rows is None
            else np.union1d(train_rows, np.fromiter(revealed, np.int64, len(revealed))))
    if len(np.unique(y[rows])) < n_classes:
        return None
    return linear_final_model(C).fit(X_pool[rows], y[rows], sample_weight=weight[rows])


def target_rows_trained(mode: str, chosen_pred: np.ndarray, others_pred: np.ndarray, n_unlabeled: int,
                        train_rows: np.ndarray | None) -> np.ndarray | None:
    """The pool rows (unlabeled then target) the final networks may train on under
    ``SolveSettings.target_in_final`` ``mode``; None: every row ``train_rows`` allows.

    Parameters
    ----------
    chosen_pred : ndarray (N_pool,)
        The chosen hypothesis's class of every pool item.
    others_pred : ndarray (n_others, N_pool)
        The other hypotheses' classes.
    n_unlabeled : int
        Pool rows before the target's.
    train_rows : ndarray, optional
        The pool rows trained on at all (None: every row).

    Returns
    -------
    ndarray or None
        The unlabeled rows of ``train_rows`` (``never``; ``auto`` when, for every other
        hypothesis, they hold at least as many items it disputes as the target holds), else
        ``train_rows``. Without an unlabeled row the target's are always kept.
    """
    if mode == "always":
        return train_rows
    rows = np.arange(len(chosen_pred)) if train_rows is None else np.asarray(train_rows)
    unlabeled = rows[rows < n_unlabeled]
    disputes = others_pred != chosen_pred  # (n_others, N_pool)
    refuted = (disputes[:, unlabeled].sum(1) >= disputes[:, n_unlabeled:].sum(1)).all()
    return unlabeled if len(unlabeled) and (mode == "never" or refuted) else train_rows


def _final_proba(models: list, X_val: np.ndarray, fold: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The final models' mean probabilities on the target items (with ``fold``, a target item of
    fold k has model k's alone: the one that did not train on it) and the share of target items
    the models do not all agree on."""
    member_proba = np.stack([predict_proba(m, X_val)[:, 0] for m in models])
    member_pred = member_proba.argmax(-1)
    proba = member_proba.mean(0)
    if fold is not None:
        for k in range(len(models)):
            proba[fold == k] = member_proba[k][fold == k]
    return proba, float((member_pred != member_pred[:1]).any(0).mean())


MIN_COPIED = 0.1
"""Least share of target items with a near copy among the others for the final networks to be
cross-fitted over the target (:attr:`SolveSettings.cross_fit_target`)."""


def _target_copy_folds(X_labeled: np.ndarray, X_val: np.ndarray, settings: SolveSettings) -> np.ndarray | None:
    """A fold (0 to ``n_final`` - 1) per target item, every near copy of one image in one fold
    (:func:`~underspec.ambiguity.copies.copy_groups` on the items as the final networks read
    them, projected at random on 64 directions, which keeps their distances; measured against
    at most 2,000 labeled items, drawn from other images); None where fewer than
    :data:`MIN_COPIED` of the target items have a copy (the target repeats no image)."""
    rng = np.random.default_rng(settings.seed)
    labeled = X_labeled[np.sort(rng.permutation(len(X_labeled))[:2000])]
    F = np.concatenate([labeled, X_val]).reshape(len(labeled) + len(X_val), -1).astype(np.float32, copy=False)
    if F.shape[1] > 64:
        F = F @ (rng.normal(size=(F.shape[1], 64)) / 8).astype(np.float32)
    group = copy_groups(F[len(labeled):], F[:len(labeled)])
    sizes = np.bincount(group)
    if (sizes[group] > 1).mean() < MIN_COPIED:
        return None
    return (rng.permutation(len(sizes)) % settings.n_final)[group]


def _with_revealed(model_proba: np.ndarray, asked: dict[int, int], n_classes: int) -> np.ndarray:
    """``model_proba`` (target items) with every revealed label put in."""
    proba = model_proba.copy()
    for i, k in asked.items():
        proba[i] = np.eye(n_classes)[k]
    return proba


def _linear_hypotheses(t: ChallengeTask, X_pool: np.ndarray, holdout: np.ndarray, y_idx: np.ndarray,
                       full: np.ndarray, hyp: Hypotheses, settings: SolveSettings,
                       judge, shifted: bool = True) -> tuple[np.ndarray, Hypotheses, int, int]:
    """Add the hypotheses read from the items' linear features to the heads': the pixels'
    partition (:func:`partition_head`, images only) and the complements
    (:func:`complement_heads`) of every hypothesis when the task is ambiguous, and of the
    partition always. Both train on the heads' labeled items, and are judged like heads.

    No partition when the two-sample test found the target items drawn like the labeled ones
    (``shifted`` False): there is no shortcut to reveal, and the partition's complement, whose
    erasure is fitted on the target items, fits them worse than the held-out labeled items, which
    made no_shift and trojan on MNIST (seed 42) look ambiguous and spend their 5 labels.

    Returns the heads' probabilities with the new ones appended (pool then held-out labeled
    items), the hypotheses judged again, and how many partitions and complements were added.
    """
    use_partition = settings.partition and bool(settings.partition_views) and t.X_val.ndim > 2 and shifted
    wanted = hyp.ambiguous or settings.complement_alone
    if settings.represented(t.X_val) or not (use_partition or (settings.complement and wanted)):
        return full, hyp, 0, 0
    n_l, C = len(t.X_labeled), len(t.classes)
    items = np.concatenate([t.X_labeled, X_pool])
    F = linear_features(items, settings.max_dims, settings.seed)
    F_labeled, F_pool = F[:n_l], F[n_l:]
    F_target, F_items = F_pool[len(X_pool) - len(t.X_val):], np.concatenate([F_pool, F_labeled[holdout]])
    train = np.setdiff1d(np.arange(n_l), holdout)
    n_partitions, first = 0, full.shape[1]
    if use_partition:
        for view in settings.partition_views:
            V = (F if view == "pixels" else linear_features(VIEW_FEATURES[view](items), settings.max_dims,
                                                             settings.seed))
            part = partition_head(V[:n_l][train], y_idx[train], V[n_l:], np.concatenate([V[n_l:], V[:n_l][holdout]]),
                                  n_classes=C, seed=settings.seed)
            full, n_partitions = np.concatenate([full, part], 1), n_partitions + 1
        hyp = judge(full)
        wanted = hyp.ambiguous or settings.complement_alone
    every = settings.complement and wanted
    concepts = [hyp.target_proba.argmax(-1)] if every else []
    representatives = {g[0] for g in hyp.groups}
    for k in range(first, first + n_partitions):
        if settings.complement and not (every and k in representatives):
            concepts.append(full[len(X_pool) - len(t.X_val):len(X_pool), k].argmax(-1)[None])
    if not concepts:
        return full, hyp, n_partitions, 0
    extra = complement_heads(F_labeled[train], y_idx[train], F_target, F_items, np.concatenate(concepts),
                             n_classes=C, C=settings.erase_c)
    full = np.concatenate([full, extra], 1)
    return full, judge(full), n_partitions, extra.shape[1]


def _slot_features(t: ChallengeTask, X_pool: np.ndarray, slots: int, settings: SolveSettings,
                   y_idx: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, str]:
    """The labeled and pool items as ``slots`` equal blocks of columns, the number of slots
    (1: none) and what a slot is: ``representation`` (a learnt representation of photos side by
    side already is one block per photo, ``slots`` from :func:`represent_task`), ``tiles``
    (images of square tiles side by side become their tiles' linear features,
    :func:`~underspec.models.tile_order.tile_features`, with ``pixel_slots``) or ``halves``
    (native vectors of at most ``max_dims`` columns become their projections on two halves
    tied together by the labels, :func:`~underspec.ambiguity.halves.half_features` fitted on
    the ``train`` rows, with ``vector_halves``: its eigendecomposition costs the cube of the
    columns)."""
    if slots > 1:
        return t.X_labeled, X_pool, slots, "representation"
    if settings.pixel_slots and t.X_val.ndim == 4 and tile_count(t.X_val.shape) > 1:
        k = tile_count(t.X_val.shape)
        F = tile_features(np.concatenate([t.X_labeled, X_pool]), k, seed=settings.seed)
        return F[:len(t.X_labeled)], F[len(t.X_labeled):], k, "tiles"
    if (settings.vector_halves and t.X_val.ndim == 2 and 2 <= t.X_val.shape[1] <= settings.max_dims
            and not settings.represented(t.X_val) and len(np.unique(y_idx[train])) >= 2):
        return (*half_features(t.X_labeled, y_idx, X_pool, train), 2, "halves")
    return t.X_labeled, X_pool, 1, ""


SHIFT_ITEMS = 2000
"""Most items of each sample the two-sample test reads (drawn at random)."""


def _parts(t: ChallengeTask, settings: SolveSettings) -> int:
    """Square tiles whose shared images the two-sample test passes over (``shift_parts``): those
    the task's items are made of, where they are pixels and not photographs; else 1. On photos
    the pixels' linear features do not see what their shift changes: vehicle_animal (generation
    seed 42, raw images) reads z 1.68 passing over the shared tiles, against 4.64 on every item
    (exploratory probe); the solver reads photographs through a representation anyway."""
    from underspec.models.representation import is_photograph

    if not settings.shift_parts or t.X_val.ndim != 4 or is_photograph(t.X_val):
        return 1
    return tile_count(t.X_val.shape)


def _shift(t: ChallengeTask, settings: SolveSettings) -> ShiftTest:
    """The two-sample test of the labeled against the target items, on their linear features
    (passing over the neighbours that share a tile's image, where the items are tiled)."""
    rng = np.random.default_rng(settings.seed)  # the test keeps at most SHIFT_ITEMS of each sample
    rows = [np.sort(rng.choice(len(x), SHIFT_ITEMS, replace=False)) if len(x) > SHIFT_ITEMS else slice(None)
            for x in (t.X_labeled, t.X_val)]
    X = np.concatenate([t.X_labeled[rows[0]], t.X_val[rows[1]]])
    n = min(len(t.X_labeled), SHIFT_ITEMS)
    F = linear_features(X, 64, settings.seed)
    parts, k = None, _parts(t, settings)
    if k > 1:
        P = part_features(X, k, 64, settings.seed)
        parts = (P[:n], P[n:])
    return shift_test(F[:n], F[n:], alpha=settings.shift_alpha, seed=settings.seed,
                      each_image_once=settings.each_image_once, parts=parts)


def _plain_head(t: ChallengeTask, y_idx: np.ndarray, train: np.ndarray, X_pool: np.ndarray,
                holdout: np.ndarray, settings: SolveSettings) -> np.ndarray:
    """Class probabilities (N, 1, C) on the pool and the held-out labeled items of the solver's
    network trained plainly on the labeled items in training (no diversity term)."""
    model = train_classifier(t.X_labeled[train], y_idx[train], len(t.classes),
                             epochs=settings.for_items("final_epochs", t.X_val), arch=settings.arch(t.X_val),
                             seed=settings.seed)
    return predict_proba(model, np.concatenate([X_pool, t.X_labeled[holdout]]))[:, :1]


def _solve(t: ChallengeTask, oracle: Oracle, budget: int, out, json_path, settings: SolveSettings,
           progress: bool, start: float, task, slots: int = 1, tiles: dict | None = None,
           pixels: Pixels | None = None, editing: Editing | None = None) -> SolveResult:
    classes = t.classes
    guard = BudgetedOracle(oracle, budget, classes, len(t.X_val))
    C = len(classes)
    y_idx = np.searchsorted(classes, t.y_labeled)

    rng = np.random.default_rng(settings.seed)
    X_pool, unlabeled_rows, train_rows = _pool(t, settings.max_pool, rng)
    n_u = len(unlabeled_rows)

    # 1. Reveal the ambiguity.
    heads_pool = X_pool if train_rows is None else X_pool[train_rows]
    params = settings.heads_params(t.X_val)
    # about as many training steps on the target alone as on the whole pool (fit's epochs)
    target_params = {**params, "epochs": params["epochs"] * max(len(t.X_labeled), len(heads_pool))
                     / max(len(t.X_labeled), len(t.X_val)),
                     "n_restarts": min(params["n_restarts"], settings.target_restarts)}
    if settings.diversity_on_target and n_u:  # one set: its restarts as ever
        params, heads_pool = {**target_params, "n_restarts": params["n_restarts"]}, t.X_val
    heads = DiverseHeads(**params, progress=progress and "diverse heads")
    heads.fit(t.X_labeled, t.y_labeled, heads_pool)
    head_items = np.concatenate([X_pool, t.X_labeled[heads.holdout_index_]])
    full = heads.predict_proba(head_items)
    with_target = (settings.for_items("target_heads", t.X_val) and not settings.represented(t.X_val) and n_u > 0
                   and not settings.diversity_on_target)
    if with_target:  # the same seed: the same held-out items
        more = DiverseHeads(**target_params, progress=progress and "diverse heads on the target")
        full = np.concatenate([full, more.fit(t.X_labeled, t.y_labeled, t.X_val).predict_proba(head_items)], 1)
    n_heads = full.shape[1]
    late = range(settings.n_heads, n_heads)  # the target heads: none without them

    def judge(proba: np.ndarray, only: list[int] | None = None) -> Hypotheses:
        return find_hypotheses(proba[n_u:len(X_pool)], proba[:n_u], proba[len(X_pool):],
                               y_idx[heads.holdout_index_], sharpest_first=settings.sharpest_first, heads=only,
                               max_fit_gap=settings.fit_gap, late=late)

    hyp = judge(full)
    shift = None
    gate = _parts(t, settings) > 1  # the test on tiles also overrules the heads
    if (gate or not hyp.ambiguous) and settings.verify and settings.shift_alpha > 0:
        shift = _shift(t, settings)
    full, hyp, n_partitions, n_complements = _linear_hypotheses(
        t, X_pool, heads.holdout_index_, y_idx, full, hyp, settings, judge, shifted=shift is None or shift.detected)
    n_slot_heads = 0
    train = np.setdiff1d(np.arange(len(y_idx)), heads.holdout_index_)
    F_labeled, F_pool, slots, slot_kind = _slot_features(t, X_pool, slots, settings, y_idx, train)
    if slots > 1:  # "the label is read from one tile": a linear head per tile of the items
        items = np.concatenate([F_pool, F_labeled[heads.holdout_index_]])
        full = np.concatenate([full, slot_heads(F_labeled[train], y_idx[train], items, slots, n_classes=C,
                                                C=settings.erase_c)], 1)
        hyp, n_slot_heads = judge(full), slots
    overruled = 0
    if gate and hyp.ambiguous and shift is not None and not shift.detected:  # one distribution
        overruled = hyp.n
        if settings.no_shift_keeps == "plain":  # a network trained plainly joins as the hypothesis kept
            full = np.concatenate([full, _plain_head(t, y_idx, train, X_pool, heads.holdout_index_, settings)], 1)
            hyp = judge(full, only=[full.shape[1] - 1])
        else:
            hyp = judge(full, only=best_fitting(hyp, by=settings.no_shift_keeps))

    # 2. Buy labels one at a time.
    first_slot = n_heads + n_partitions + n_complements
    weights = [settings.slot_prior if n_slot_heads and max(g) >= first_slot else 1.0 for g in hyp.groups]
    read, temperatures = hyp.target_proba, None
    if settings.calibrate_hypotheses and hyp.ambiguous:  # an experiment, off by default
        temperatures = [fit_temperature(full[len(X_pool):, g[0]], y_idx[heads.holdout_index_]) for g in hyp.groups]
        read = np.stack([with_temperature(p, T) for p, T in zip(hyp.target_proba, temperatures, strict=True)])
    noise = settings.answer_noise
    if settings.holdout_noise:
        noise = np.maximum(noise, [1 - group_holdout(hyp.holdout_accuracy, g) for g in hyp.groups])
    post = HypothesisPosterior(read, none_prior=settings.none_prior, noise=noise, weights=weights)
    first_info = post.information()
    disputed_order = np.argsort(-first_info, kind="stable")

    def reveal(item: int) -> int | None:
        try:
            return int(np.searchsorted(classes, guard.reveal(item)))
        except BudgetSpentError:
            return None

    checks = buy_labels(post, reveal, guard.remaining, rng, ambiguous=hyp.ambiguous,
                        checks=settings.checks, verify=settings.verify and (shift is None or shift.detected),
                        min_checks=settings.min_checks, check_agreed=settings.check_agreed,
                        tell_apart=settings.tell_apart)
    posterior = post.posterior if hyp.ambiguous else np.array([1.0, 0.0])
    chosen = choose(hyp.target_proba, posterior, settings.choose_by) if hyp.ambiguous else 0
    cut = (task_cut_bimodality(t.X_labeled, t.X_val, hyp.target_proba.argmax(-1), seed=settings.seed)
           if hyp.ambiguous else None)  # does a hypothesis split the disputed items into two groups?
    gapless = cut is not None and cut < settings.gap_bimodality
    if gapless:
        posterior = post.posterior_under(settings.gapless_none_prior)

    # 3. Disambiguate: self-train from the chosen hypothesis.
    twins = twins_of(hyp, chosen, settings.twin_gap) if with_target else []
    pool_proba = np.concatenate([hyp.pool_proba[chosen], hyp.target_proba[chosen]])
    others = [k for k in range(hyp.n) if k != chosen and k not in twins]
    pool_pred = np.concatenate([hyp.pool_proba[others], hyp.target_proba[others]], axis=1)
    groups = np.concatenate([np.repeat(y_idx[None], len(others), 0), pool_pred.argmax(-1)], 1)
    groups = (groups * C ** np.arange(len(others))[:, None]).sum(0)
    asked = {i: int(np.searchsorted(classes, lab)) for i, lab in guard.revealed.items()}
    revealed = {n_u + i: k for i, k in asked.items() if i not in checks}  # rows of the pool
    X_labeled, X_val, erased, slot_reads = t.X_labeled, t.X_val, 0, []
    target_trained = None  # whether the self-trained final networks learnt the target items' pseudo-labels
    rounds = 0  # self-training rounds (none when the final model is not self-trained)
    if hyp.n > 1 and slots > 1 and slot_kind != "halves":  # the final model reads only the chosen one's slots
        columns, slot_reads = slot_columns(F_pool[n_u:], hyp.target_proba.argmax(-1), chosen, slots,
                                           C=settings.erase_c, seed=settings.seed)
        if X_val.ndim == 2:
            X_labeled, X_pool, X_val = X_labeled[:, columns], X_pool[:, columns], X_val[:, columns]
        elif len(kept := [r["slot"] for r in slot_reads if r["kept"]]) < slots:
            X_labeled, X_pool, X_val = (keep_tiles(x, slots, kept) for x in (X_labeled, X_pool, X_val))
    read = [r["slot"] for r in slot_reads if r["kept"]]
    with_student = pixels is not None and settings.student_epochs > 0 and settings.student_rounds > 0
    # The rejected hypothesis's tiles out of the pixel student's sight: its first round learns the
    # true labels alone and the next ones its labels, never the final model's (no self-training).
    first = "fixed" if with_student and pixels.reads_part(read) else "teacher"
    refit = None
    if first == "fixed":
        model_proba, member_disagreement = hyp.target_proba[chosen], 0.0
        pool_labels = pool_proba[:n_u].argmax(1)
    else:
        refit = (_refit_linear(X_pool, pool_proba, revealed, settings.descriptor_final_c, C, train_rows)
                 if settings.refits_linearly(X_val) else None)
        if refit is None and settings.erase and hyp.n > 1 and settings.represented(t.X_val):
            eraser, pool_proba = erase_rejected(X_labeled, y_idx, X_pool, X_val,
                                                hyp.target_proba[chosen].argmax(-1), groups[len(X_labeled) + n_u:],
                                                revealed, n_classes=C, C=settings.erase_c)
            X_labeled, X_pool, X_val = (eraser.transform(x) for x in (X_labeled, X_pool, X_val))
            erased = eraser.rank_
        if refit is not None:
            model_proba, member_disagreement = refit.predict_proba(X_val).astype(np.float32), 0.0
            pool_labels = refit.predict(X_pool[:n_u]) if with_student and n_u else np.zeros(0, np.int64)
        else:
            final_rows = target_rows_trained(settings.target_in_final, pool_proba.argmax(1), pool_pred.argmax(-1),
                                             n_u, train_rows)
            target_trained = final_rows is None or bool((np.asarray(final_rows) >= n_u).any())
            target_fold = (_target_copy_folds(X_labeled, X_val, settings) if settings.cross_fit_target
                           and target_trained and settings.n_final > 1 else None)
            held_out, rounds = None, settings.rounds_for(t.X_val, len(X_pool))
            if target_fold is not None:
                held_out = np.concatenate([np.full(n_u, -1), target_fold])
                held_out[list(revealed)] = -1  # true labels: every network learns them
            models = self_train(X_labeled, y_idx, X_pool, pool_proba, groups, revealed,
                                n_classes=C, rounds=rounds, held_out=held_out,
                                n_final=settings.n_final, folds=settings.for_items("folds", t.X_val),
                                min_share=settings.for_items("min_share", t.X_val),
                                teacher_weight=settings.for_items("teacher_weight", t.X_val),
                                train_rows=final_rows, epochs=settings.for_items("final_epochs", t.X_val),
                                evidence=(shortcut_evidence(pool_proba, pool_pred, np.arange(len(pool_proba)) >= n_u)
                                          if settings.shortcut_evidence and others else None),
                                by_cell=settings.confident_by_cell, arch=settings.arch(X_val),
                                augment=settings.final_augment, seed=settings.seed,
                                progress=progress and "self-training")
            model_proba, member_disagreement = _final_proba(models, X_val, target_fold)
            pool_labels = (np.mean([predict_proba(m, X_pool[:n_u])[:, 0] for m in models], 0).argmax(1)
                           if with_student and n_u else np.zeros(0, np.int64))
    proba = _with_revealed(model_proba, asked, C)
    student = teacher_proba = None
    if with_student:
        teacher_proba = model_proba
        labels = model_proba.argmax(1)  # the checks keep the teacher's label: they must stay unseen
        labels[[i - n_u for i in revealed]] = list(revealed.values())
        taught = np.concatenate([y_idx, pool_labels, labels]).astype(np.int64)  # labeled, unlabeled, target
        fixed = np.zeros(len(taught), bool)  # true labels: the labeled items' and those bought to tell apart
        fixed[:len(y_idx)] = True
        fixed[[len(y_idx) + i for i in revealed]] = True
        images, others, kept = pixels.student_images(unlabeled_rows, read)
        model_proba = pixel_student(images, taught, images[-len(t.X_val):], C, fixed=fixed, others=others,
                                    others_predict=[other[-len(t.X_val):] for other in others],
                                    rounds=settings.student_rounds, epochs=settings.student_epochs,
                                    start=first, seed=settings.seed, progress=progress)
        proba = _with_revealed(model_proba, asked, C)
        student = {"epochs": settings.student_epochs, "rounds": settings.student_rounds, "trained_on": len(taught),
                   "first_learnt": "true labels" if first == "fixed" else "teacher's labels",
                   "tiles": kept, "other_tiles_learnt": bool(others),
                   "agreement_with_teacher": round(float((model_proba.argmax(1) == labels).mean()), 4)}

    # 4. Submit or abstain (on the model's own predictions of the checked items).
    decision_inputs = {"final_proba": model_proba, "proba": hyp.target_proba, "chosen": chosen,
                       "default_score": t.default_score, "checks": checks, "posterior": posterior,
                       "holdout": _agreed_holdout(hyp, chosen, settings.confidence_drop),
                       "distilled": not erased and first != "fixed" and refit is None,
                       "confidence": settings.confidence, "coin_cap": settings.coin_cap,
                       "hidden_shift": settings.hidden_shift, "interval_mass": settings.interval_mass_for(C),
                       "confidence_cap": settings.confidence_cap, "coin_doubts_agreed": settings.coin_doubts_agreed,
                       "chosen_holdout": (representative_holdout(hyp.holdout_accuracy, hyp.groups[chosen])
                                          if settings.holdout_prior else None),
                       "seed": settings.seed}
    if settings.represented(t.X_val):
        decision_inputs["holdout_strength"] = settings.represented_holdout_strength
    verdict = decide(**decision_inputs)
    if shift is not None and not shift.detected:
        verdict = replace(verdict, no_shift_p=shift.p_value, overruled=overruled)
    if cut is not None:
        verdict = replace(verdict, cut_bimodality=cut, gapless_prior=settings.gapless_none_prior if gapless else None)
    pred_idx = proba.argmax(1)
    predictions = classes[pred_idx]
    queries = list(guard.revealed.items())
    summary = {
        "task": t.manifest.get("name", str(task) if not isinstance(task, ChallengeTask) else ""),
        "classes": classes.tolist(),
        "pool": {"unlabeled": n_u, "target": len(t.X_val),
                 "trained_on": len(X_pool) if train_rows is None else len(train_rows),
                 "target_in_final": target_trained},
        **_hypotheses_summary(hyp, posterior, n_heads, n_partitions, n_complements, slot_kind, overruled),
        "queries": [{"index": i, "answer": lab, "purpose": "check" if i in checks else "tell apart"}
                    for i, lab in queries],
        "labels_used": len(queries), "budget": budget, "chosen_hypothesis": chosen,
        "target_heads": n_heads - settings.n_heads, "twins_of_chosen": twins,
        "partition_heads": n_partitions, "complement_heads": n_complements, "erased_dimensions": erased,
        "slot_heads": n_slot_heads, "slots": slot_reads, "tile_order": tiles, "pixel_student": student,
        "shift_test": None if shift is None else {**shift.as_dict(), "hypotheses_overruled": overruled},
        "final_disagreement": round(member_disagreement, 4), "self_training_rounds": rounds,
        "final_model": ("the chosen hypothesis" if first == "fixed" else "self-training" if refit is None
                        else f"logistic regression refit (C {settings.descriptor_final_c})"),
        "default_score": t.default_score,
        "label_editing": None if editing is None else editing.as_dict(),
        "device": current_device(), "representation": settings.representation,
        **verdict.as_dict(), "seconds": round(time.perf_counter() - start, 2),
    }
    if dropped := [str(r["slot"] + 1) for r in slot_reads if not r["kept"]]:
        summary["message"] += (f"; the final model leaves out slot {', '.join(dropped)} of {slots} (each tile of the "
                               "items is a slot), which a rejected hypothesis is read from")
    if editing is not None and len(editing.dropped):
        summary["message"] += (f"; {len(editing.dropped)} labeled items left out: most of their {EDIT_K} nearest "
                               "labeled items carry another label (a wrong label, or a trigger such as a patch)")
    if temperatures is not None:
        summary["posterior_temperatures"] = [round(T, 3) for T in temperatures]
    if out is not None:
        write_predictions(out, predictions)
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(summary, indent=2) + "\n")
    return SolveResult(predictions, proba, summary, hyp, disputed_order, queries, decision_inputs, teacher_proba)
