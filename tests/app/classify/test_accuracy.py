"""Accuracy on foolbox's 20 labelled ImageNet photos, and the input scaling that earns it."""

from __future__ import annotations

import numpy as np

from perflab.app.classify.service import (
    IMAGENET,
    INPUT_SCALING,
    TF_LITE,
    ClassifyOptions,
    Scaling,
    classify_batch,
    decode_image,
    preprocess,
    run_model,
)
from tests.app.classify.images import labelled_photos


def hits(options: ClassifyOptions, scaling: Scaling) -> tuple[int, int]:
    """(top-1, top-5) correct out of 20."""
    photos = labelled_photos()
    batch = np.stack([preprocess(decode_image(data, 10**8), scaling) for data, _ in photos])
    top5 = np.argsort(-run_model(batch, options), axis=1)[:, :5]
    labels = [label for _, label in photos]
    top1 = sum(int(row[0] == label) for row, label in zip(top5, labels, strict=True))
    return top1, sum(int(label in row) for row, label in zip(top5, labels, strict=True))


def test_top1_and_top5_with_the_kept_scaling(options: ClassifyOptions) -> None:
    top1, top5 = hits(options, INPUT_SCALING)
    assert top1 >= 16, f"top-1 {top1}/20"
    assert top5 >= 18, f"top-5 {top5}/20"


def test_the_kept_scaling_scores_at_least_as_well_as_the_other(options: ClassifyOptions) -> None:
    assert INPUT_SCALING == TF_LITE
    assert hits(options, TF_LITE) >= hits(options, IMAGENET)


def test_classify_batch_gives_the_label_and_its_probability(options: ClassifyOptions) -> None:
    photos = labelled_photos()
    results = classify_batch([data for data, _ in photos])
    correct = 0
    for result, (_, label) in zip(results, photos, strict=True):
        assert not isinstance(result, Exception)
        assert 0.0 < result.score <= 1.0
        assert result.label
        assert result.label != str(result.class_id)
        correct += result.class_id == label
    assert correct >= 16
    # The first photo is a bull mastiff (class 243).
    first = results[0]
    assert not isinstance(first, Exception)
    assert (first.class_id, first.label) == (243, "Bullmastiff")
