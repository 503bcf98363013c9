"""PassageCoder: an encoder, codebook features and per-code heads; turns Passages into Codings.

Features of a passage (all computed on the text with the company's own name masked):

* the encoder's embedding: with ``pooling="sentences"`` the normalised mean of the
  embeddings of the passage's sentences (one encoder pass over the sentences, which
  also gives each sentence a score: the evidence sentence of an assigned code is the
  one its head scores highest), with ``pooling="passage"`` the passage's own embedding;
* codebook indicator counts per code and negation cues (``pipeline.codebook_features``),
  times ``lexicon_scale`` (0 = off);
* optionally a TF-IDF head fused with the dense head (``tfidf_weight``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.classify import CodeHeads, best_sentences
from pipeline.codebook_features import codebook_features
from pipeline.embed import Encoder
from pipeline.examples import Example, label_matrices
from pipeline.language import companion_key, passage_language
from pipeline.errors import ModelError
from pipeline.masking import mask_company
from pipeline.records import CODES, VALENCES, CodeScore, Coding, Passage
from pipeline.sentences import split_sentences


@dataclass
class CoderSettings:
    """Everything that defines a trained model besides its data (stored in the manifest)."""

    #: multilingual-e5-small for every language: on the dev set it beat MiniLM with an e5
    #: companion for Nordic text (0.739 vs 0.713 κ; thesis LOCO 0.591 vs 0.546), at half the speed
    encoder: str = "e5-small.v1"
    #: inverse regularisation of the dense presence heads, chosen at 2,800 written passages. At 6,170,
    #: C=16 gained on the dev set (0.768 vs 0.750) but lost on the thesis LOCO (0.551 vs 0.599, under
    #: the shipping floor of 0.578), likely by fitting the written corpus's style (docs/EVALUATION.md)
    C: float = 4.0
    balanced: bool = True
    threshold_folds: int = 5
    #: replace the passage's own company name by "the company" before featurising
    mask_names: bool = True
    #: "sentences" (mean of sentence embeddings; gives evidence sentences) or "passage"
    pooling: str = "sentences"
    #: weight of the codebook indicator/negation counts next to the unit-length embedding (0 = off)
    lexicon_scale: float = 0.33
    #: weight of a TF-IDF head averaged with the dense head (0 = off)
    tfidf_weight: float = 1.0
    valence_C: float = 1.0
    valence_balanced: bool = False
    #: a TF-IDF valence head averaged with the dense one (needs tfidf_weight > 0)
    valence_tfidf: bool = True
    #: the dense valence head also reads the evidence sentence of the code (needs "sentences"
    #: pooling): dev valence accuracy 0.861 against 0.828 with the passage alone (docs/EVALUATION.md)
    valence_evidence: bool = True
    #: fine-tune the encoder on the training passages first (slow; saved in the model dir)
    finetune: bool = False
    #: how: "contrastive" (SetFit-style pairs) or "multilabel" (end-to-end with a code-presence head)
    finetune_method: str = "contrastive"
    #: encoder of the multilingual companion coder that codes Danish passages ("" = none); it is
    #: trained on the same examples plus their Danish rendering and saved under multilingual/
    multilingual: str = ""
    #: the companion's TF-IDF head weight
    multilingual_tfidf_weight: float = 1.0
    #: the companion's pooling ("passage" encodes each passage once: e5 is several times slower
    #: than MiniLM per sentence on a CPU; evidence then comes from the cheap sentence scores)
    multilingual_pooling: str = "sentences"
    #: register-shifted training examples added to the hand-coded ones: "derived" (the first-person /
    #: Q-A rewrites of thesis passages in corpus/thesis/register_rewrites.jsonl), "first-person" (automatic
    #: first-person renderings), both joined by "+", or "" (none)
    register_augment: str = "derived"
    #: train on the written corpus (corpus/train/) as well as the thesis's passages
    training_corpus: bool = True
    #: weight of a written-corpus example against one coded from real text (the thesis, a
    #: reviewer's answer, an imported coding), so a few hundred real passages are not drowned
    #: by thousands of written ones
    written_weight: float = 1.0

    #: settings added after models were shipped, with the values those models behave as, so a
    #: manifest without them still loads
    ADDED_LATER = {"written_weight": 1.0, "valence_tfidf": False, "multilingual_pooling": "sentences",
                   "valence_evidence": False}

    @classmethod
    def from_manifest(cls, stored: dict) -> "CoderSettings":
        """The settings a manifest records; a manifest from another intcap version is refused."""
        unknown = set(stored) - set(cls.__dataclass_fields__)
        missing = set(cls.__dataclass_fields__) - set(stored) - set(cls.ADDED_LATER)
        if unknown or missing:
            raise ModelError(f"model manifest settings do not match this intcap version (unknown: "
                             f"{sorted(unknown)}, missing: {sorted(missing)}); retrain with `intcap train`")
        return cls(**{**cls.ADDED_LATER, **stored})

    def companion(self) -> "CoderSettings":
        """Settings of the multilingual companion coder."""
        from dataclasses import replace

        return replace(self, encoder=self.multilingual, tfidf_weight=self.multilingual_tfidf_weight,
                       pooling=self.multilingual_pooling, finetune=False, multilingual="")


#: the default until session 9, and the recipe most of bench/'s tables were measured with: MiniLM, with an
#: e5-small companion for Nordic and German passages (``intcap train --recipe minilm-routed``)
MINILM_ROUTED = CoderSettings(encoder="minilm.v1", multilingual="e5-small.v1", C=4.0, valence_evidence=False)

#: the recipes ``intcap train --recipe NAME`` starts from (other options change them further)
RECIPES = {"e5": CoderSettings(), "minilm-routed": MINILM_ROUTED}


@dataclass
class Features:
    """Dense features of passages and of their sentences (for evidence)."""

    X: np.ndarray                       # (n, d)
    texts: list[str]                    # masked passage texts (TF-IDF head input)
    spans: list[list[tuple[int, int]]]  # per passage, sentence offsets into the passage text
    sentence_X: np.ndarray | None       # (total sentences, d) or None
    owner: np.ndarray | None            # sentence -> passage index
    texts_raw: list[str] | None = None  # passage texts as given (sentence spans index these)


class PassageCoder:
    """fit on hand-coded examples, predict_proba on texts, code Passages."""

    def __init__(self, encoder: Encoder, heads: CodeHeads | None = None, version: str = "", info: dict | None = None,
                 settings: CoderSettings | None = None):
        self.encoder = encoder
        self.heads = heads
        self.version = version
        #: the model manifest (encoder, training data hash, base rates, ...)
        self.info = info or {}
        if settings is None:
            settings = CoderSettings.from_manifest(self.info["settings"]) if "settings" in self.info else CoderSettings()
        self.settings = settings
        #: language -> coder for passages in that language (e.g. {"da": multilingual coder})
        self.companions: dict[str, PassageCoder] = {}
        #: review adapters (AnswerAdapter), applied in order to every route's presence probabilities
        self.adapters: list = []

    # -- features --------------------------------------------------------------------------
    def features(self, texts: Sequence[str], companies: Sequence[str | None] | None = None) -> Features:
        s = self.settings
        companies = list(companies) if companies is not None else [None] * len(texts)
        masked = [mask_company(t, c) if s.mask_names else t for t, c in zip(texts, companies)]
        spans = [split_sentences(t) for t in texts]
        sentence_X = owner = None
        if s.pooling == "sentences":
            sents = [mask_company(t[a:b], c) if s.mask_names else t[a:b]
                     for t, c, sp in zip(texts, companies, spans) for a, b in sp]
            owner = np.array([i for i, sp in enumerate(spans) for _ in sp], dtype=int)
            S = self.encoder.encode(sents) if sents else np.zeros((0, self.encoder.dim), dtype=np.float32)
            E = np.zeros((len(texts), S.shape[1] if len(S) else self.encoder.dim))
            np.add.at(E, owner, S)
            E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
            if s.lexicon_scale:
                sentence_X = np.hstack([S, s.lexicon_scale * codebook_features(sents)])
            else:
                sentence_X = np.asarray(S, dtype=np.float64)
        else:
            E = self.encoder.encode(masked)
        X = np.hstack([E, s.lexicon_scale * codebook_features(masked)]) if s.lexicon_scale else np.asarray(E)
        return Features(X, masked, spans, sentence_X, owner, list(texts))

    # -- training and prediction ------------------------------------------------------------
    def fit(self, examples: Sequence[Example], settings: CoderSettings | None = None) -> "PassageCoder":
        if settings is not None:
            self.settings = settings
        s = self.settings
        f = self.features([ex.text for ex in examples], [ex.company for ex in examples])
        presence, valence = label_matrices(list(examples))
        groups = np.array([ex.company for ex in examples])
        weights = np.array([s.written_weight if ex.written else 1.0 for ex in examples])
        self.heads = CodeHeads(s.C, s.balanced, s.threshold_folds, s.tfidf_weight, s.valence_C,
                               s.valence_balanced, s.valence_tfidf,
                               valence_evidence=s.valence_evidence and f.sentence_X is not None
                               ).fit(f.X, presence, valence, groups, texts=f.texts, sample_weight=weights,
                                     sentence_X=f.sentence_X, owner=f.owner)
        return self

    def predict_features(self, f: Features) -> tuple[np.ndarray, np.ndarray]:
        return (self.heads.predict_proba(f.X, f.texts),
                self.heads.predict_valence_proba(f.X, f.texts, f.sentence_X, f.owner))

    def predict_proba(self, texts: Sequence[str], companies: Sequence[str | None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(presence (n, 4), valence (n, 4, 3)) for raw texts (company names masked when given)."""
        return self.predict_features(self.features(list(texts), companies))

    def route(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> list[str]:
        """Per text, the language key of the coder that codes it ("" = this one): a companion's
        language when the declared language (or, unset, the detector) says so."""
        if not self.companions:
            return [""] * len(texts)
        languages = list(languages) if languages is not None else [None] * len(texts)
        langs = [passage_language(lang, t) for t, lang in zip(texts, languages)]
        return [companion_key(lang, self.companions) for lang in langs]

    def predict_routed(self, texts: Sequence[str], companies: Sequence[str | None] | None = None,
                       languages: Sequence[str | None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(presence, assigned 0/1, valence), each text coded by the coder its language routes it to."""
        companies = list(companies) if companies is not None else [None] * len(texts)
        routes = self.route(texts, languages)
        n = len(texts)
        presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
        valence = np.zeros((n, len(CODES), len(VALENCES)))
        for key in dict.fromkeys(routes):
            idx = [i for i, r in enumerate(routes) if r == key]
            coder = self.companions[key] if key else self
            p, v = coder.predict_proba([texts[i] for i in idx], [companies[i] for i in idx])
            p = self._adapted([texts[i] for i in idx], p, coder.heads.thresholds_)
            presence[idx], valence[idx] = p, v
            assigned[idx] = (p >= coder.heads.thresholds_).astype(int)
        return presence, assigned, valence

    def code(self, passages: Sequence[Passage]) -> list[Coding]:
        """Code the passages whose role is "answer"; others are skipped. Passages in a
        companion's language (declared, or detected when unset) go to that companion."""
        todo = [p for p in passages if p.coded]
        if not todo:
            return []
        languages = [passage_language(p.language, p.text) for p in todo]
        routes = [companion_key(lang, self.companions) for lang in languages]
        out: dict[int, Coding] = {}
        for key in dict.fromkeys(routes):
            idx = [i for i, r in enumerate(routes) if r == key]
            coder = self.companions[key] if key else self
            for i, c in zip(idx, coder._code([todo[i] for i in idx], self.adapters)):
                c.model_version = self.version
                c.language = languages[i]
                c.coder = "multilingual" if key else "main"
                out[i] = c
        return [out[i] for i in range(len(todo))]

    def _adapted(self, texts: Sequence[str], presence: np.ndarray, thresholds: np.ndarray,
                 adapters: Sequence | None = None) -> np.ndarray:
        """Presence probabilities after the review adapters (still on the model's scale, so the
        route's own thresholds decide)."""
        for adapter in self.adapters if adapters is None else adapters:
            presence = adapter.predict_proba(list(texts), presence, thresholds)
        return presence

    def _code(self, todo: Sequence[Passage], adapters: Sequence = ()) -> list[Coding]:
        f = self.features([p.text for p in todo], [p.company for p in todo])
        presence, valence = self.predict_features(f)
        presence = self._adapted([p.text for p in todo], presence, self.heads.thresholds_, adapters)
        sentence_logits = self._sentence_logits(f)
        if sentence_logits is not None:
            best = np.column_stack([best_sentences(sentence_logits[:, j], f.owner, len(todo))
                                    for j in range(len(CODES))])
            first = np.searchsorted(f.owner, np.arange(len(todo)))  # each passage's first sentence
        codings = []
        for i, p in enumerate(todo):
            coding = self._coding(p, presence[i], valence[i])
            for code in coding.assigned if sentence_logits is not None else ():
                if best[i, CODES.index(code)] >= 0:
                    a, b = f.spans[i][best[i, CODES.index(code)] - first[i]]
                    coding.evidence[code] = (p.start + a, p.start + b)
            codings.append(coding)
        return codings

    def _sentence_logits(self, f: Features) -> np.ndarray | None:
        """Per-sentence scores per code, to pick evidence sentences. With sentence pooling:
        the dense heads on each sentence's own features; with passage pooling (no sentence
        embeddings): the codebook-feature part of the dense heads plus the TF-IDF head."""
        if f.sentence_X is not None:
            return self.heads.decision_function(f.sentence_X)
        if not self.settings.lexicon_scale and getattr(self.heads, "tfidf_coef_", None) is None:
            return None
        sents = [t[a:b] for t, sp in zip(f.texts_raw, f.spans) for a, b in sp]
        f.owner = np.array([i for i, sp in enumerate(f.spans) for _ in sp], dtype=int)
        return self.heads.sentence_scores(self.settings.lexicon_scale * codebook_features(sents)
                                          if self.settings.lexicon_scale else None, sents)

    def _coding(self, passage: Passage, presence: np.ndarray, valence: np.ndarray) -> Coding:
        codes = {}
        for j, code in enumerate(CODES):
            vp = {v: round(float(valence[j, k]), 4) for k, v in enumerate(VALENCES)}
            codes[code] = CodeScore(p=round(float(presence[j]), 4), valence=max(vp, key=vp.get), valence_p=vp)
        assigned = [c for j, c in enumerate(CODES) if presence[j] >= self.heads.thresholds_[j]]
        return Coding(passage, codes, assigned, model_version=self.version)
