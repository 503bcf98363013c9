"""CodeHeads / PassageCoder contract on a few real thesis passages (fast: hashed encoder)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import paths
from pipeline.classify import CodeHeads, best_threshold, kappa
from pipeline.coder import CoderSettings, PassageCoder
from pipeline.hashing import HashingEncoder
from pipeline.examples import label_matrices, load_examples
from pipeline.masking import mask_company
from pipeline.records import CODES, Passage
from pipeline.sentences import split_sentences


HashEncoder = HashingEncoder  # weight-free, instant, registered as hashing.v1


@pytest.fixture(scope="module")
def examples():
    ex = load_examples(paths.CODED_PASSAGES)
    firms = sorted({e.company for e in ex})[:5]
    return [e for e in ex if e.company in firms]


def test_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    for _ in range(5):
        y, p = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
        assert kappa(y, p) == pytest.approx(cohen_kappa_score(y, p))


def test_best_threshold_separates():
    y = np.array([0, 0, 0, 1, 1])
    assert 0.3 < best_threshold(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) <= 0.8


@pytest.mark.parametrize("tfidf_weight", [0.0, 1.0])
def test_heads_fit_predict_contract(examples, tfidf_weight):
    coder = PassageCoder(HashEncoder(), settings=CoderSettings(encoder="hashing.v1", tfidf_weight=tfidf_weight))
    coder.fit(examples)
    presence, valence = coder.predict_proba([e.text for e in examples[:7]], [e.company for e in examples[:7]])
    assert presence.shape == (7, len(CODES)) and ((presence >= 0) & (presence <= 1)).all()
    assert valence.shape == (7, len(CODES), 3) and np.allclose(valence.sum(axis=2), 1.0)
    assert coder.heads.thresholds_.shape == (len(CODES),)


@pytest.mark.parametrize("pooling", ["sentences", "passage"])
def test_code_skips_questions_and_points_evidence_into_source(examples, pooling):
    coder = PassageCoder(HashEncoder(), settings=CoderSettings(encoder="hashing.v1", pooling=pooling)).fit(examples)
    coder.heads.thresholds_[:] = 0.0  # assign every code, so every code needs evidence
    text = "Intro line.\n" + examples[0].text
    p = Passage("x-1", examples[0].company, "src", 12, len(text), text[12:])
    q = Passage("x-0", examples[0].company, "src", 0, 11, text[:11], role="question")
    codings = coder.code([q, p])
    assert [c.passage.id for c in codings] == ["x-1"]
    c = codings[0]
    assert set(c.assigned) == set(CODES)
    for code, (a, b) in c.evidence.items():
        assert 12 <= a < b <= len(text)
        assert (a - 12, b - 12) in split_sentences(p.text)


def test_sentences_and_masking():
    text = 'Acoplastic sells to e.g. Sweden. The CEO said "we grow abroad now". Dybvad Stålindustri\'s plant is new.'
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans][0] == "Acoplastic sells to e.g. Sweden."
    assert len(spans) == 3
    assert mask_company(text, "Dybvad Stålindustri").endswith(". The company's plant is new.")
    assert mask_company("Acoplastic has", "Acoplastic") == "The company has"


def test_labels(examples):
    presence, valence = label_matrices(examples)
    assert presence.shape == (len(examples), 4) and set(np.unique(valence)) <= {"", "+", "-", "0"}


def test_written_examples_weigh_by_written_weight(examples):
    """A written-corpus example counts written_weight times a real coded one: with weight 0 the
    heads learn as if the written examples were not there (the user's own coding is not drowned)."""
    from dataclasses import replace

    real = examples[: len(examples) // 2]
    flipped = [replace(e, id=e.id + "-w", written=True, codes={c: "+" for c in CODES if c not in e.codes})
               for e in examples[len(examples) // 2:]]
    settings = CoderSettings(encoder="hashing.v1", tfidf_weight=0.0, threshold_folds=2)
    alone = PassageCoder(HashEncoder(), settings=settings).fit(real)
    ignored = PassageCoder(HashEncoder(), settings=replace(settings, written_weight=1e-9)).fit(real + flipped)
    counted = PassageCoder(HashEncoder(), settings=replace(settings, written_weight=1.0)).fit(real + flipped)
    texts = [e.text for e in examples]
    p_alone, p_ignored, p_counted = (c.predict_proba(texts)[0] for c in (alone, ignored, counted))
    assert np.abs(p_ignored - p_alone).max() < 0.02
    assert np.abs(p_counted - p_alone).max() > 0.1


def test_tiny_training_set_with_constant_inner_splits_fits():
    """Every inner split constant (one firm holds all the positives): the threshold stays 0.5
    instead of the fit failing (a researcher's first few labels look like this)."""
    X = np.random.default_rng(0).random((6, 5))
    P = np.zeros((6, 4), int)
    P[:3, 0] = 1
    heads = CodeHeads().fit(X, P, np.where(P == 1, "+", "").astype(object), groups=np.array(list("AAABBB")))
    assert heads.thresholds_[0] == 0.5 and heads.predict(X).shape == (6, 4)


def test_heads_trained_twice_agree_when_embeddings_differ_by_rounding():
    """`intcap train` on another machine sees embeddings that differ in the last float digits;
    the heads must converge to the same model, not stop wherever the solver happened to be."""
    from pipeline.train import training_examples

    ex = training_examples([], with_corpus=True)
    f = PassageCoder(HashEncoder(), settings=CoderSettings(encoder="hashing.v1", pooling="passage")).features(
        [e.text for e in ex], [e.company for e in ex])
    presence, valence = label_matrices(ex)
    groups = np.array([e.company for e in ex])
    rounded = f.X + np.random.default_rng(0).normal(0, 1e-6, f.X.shape)
    a = CodeHeads(threshold_folds=0, tfidf_weight=0.0).fit(f.X, presence, valence, groups)
    b = CodeHeads(threshold_folds=0, tfidf_weight=0.0).fit(rounded, presence, valence, groups)
    assert np.abs(a.predict_proba(f.X) - b.predict_proba(f.X)).max() < 1e-3


def test_valence_reads_the_evidence_sentence():
    """A passage that shows a code in one sentence and its lack in another: with valence_evidence
    the valence follows the sentence the presence head picks as evidence, not the passage's mean."""
    rng = np.random.default_rng(0)
    d, n = 8, 240
    shows, lacks, filler, marker = np.eye(d)[:4]
    present = np.arange(n) % 3 > 0
    valence_of = rng.choice(["+", "-"], n)
    sentence_X, owner = [], []
    for i in range(n):
        if present[i]:
            # the code's sentence leans to + or -, the other sentence the opposite way, so every
            # present passage has the same mean: only the evidence sentence tells the valence
            own, other = (shows, lacks) if valence_of[i] == "+" else (lacks, shows)
            rows = [2 * marker + own, filler + other]
        else:
            rows = [filler + 0.5 * (shows + lacks), filler]
        sentence_X += [r + 0.05 * rng.standard_normal(d) for r in rows]
        owner += [i, i]
    sentence_X, owner = np.array(sentence_X), np.array(owner)
    X = np.zeros((n, d))
    np.add.at(X, owner, sentence_X)
    X /= 2
    presence = np.zeros((n, len(CODES)), dtype=int)
    presence[:, 0] = present
    presence[: n // 4, 1:] = 1  # the other codes only need both classes
    valence = np.full(presence.shape, "", dtype=object)
    valence[present, 0] = valence_of[present]
    valence[: n // 4, 1:] = "+"
    groups = np.arange(n) % 6
    train, test = np.arange(n) < 180, np.arange(n) >= 180
    tr_s, te_s = np.isin(owner, np.flatnonzero(train)), np.isin(owner, np.flatnonzero(test))
    shift = np.flatnonzero(test)[0]

    with pytest.raises(ValueError, match="sentence_X"):
        CodeHeads(valence_evidence=True).fit(X[train], presence[train], valence[train], groups[train])
    plain = CodeHeads(threshold_folds=0).fit(X[train], presence[train], valence[train], groups[train])
    heads = CodeHeads(threshold_folds=0, valence_evidence=True).fit(
        X[train], presence[train], valence[train], groups[train], sentence_X=sentence_X[tr_s], owner=owner[tr_s])
    got = heads.predict_valence_proba(X[test], sentence_X=sentence_X[te_s], owner=owner[te_s] - shift)
    shown = present[test]

    def accuracy(p):
        return float(np.mean(np.array(["+", "-", "0"])[p[shown, 0].argmax(1)] == valence_of[test][shown]))

    assert accuracy(got) >= 0.95
    assert accuracy(plain.predict_valence_proba(X[test])) < 0.75
    with pytest.raises(ValueError, match="sentence_X"):
        heads.predict_valence_proba(X[test])


def test_valence_evidence_survives_save_and_load(tmp_path, examples):
    coder = PassageCoder(HashEncoder(), settings=CoderSettings(encoder="hashing.v1", threshold_folds=2,
                                                               register_augment="", training_corpus=False))
    coder.fit(examples)
    assert coder.heads.valence_evidence and coder.heads.valence_coef_.shape[2] == 2 * coder.heads.coef_.shape[1]
    coder.heads.save(tmp_path)
    loaded = CodeHeads.load(tmp_path)
    f = coder.features([e.text for e in examples[:6]], [e.company for e in examples[:6]])
    assert loaded.valence_evidence
    np.testing.assert_allclose(loaded.predict_valence_proba(f.X, f.texts, f.sentence_X, f.owner),
                               coder.heads.predict_valence_proba(f.X, f.texts, f.sentence_X, f.owner), atol=1e-5)
