"""Using a trained CLIP without training it again: zero-shot classification and retrieval
(Radford et al. 2021, sections 3.1 and 3.1.4).

- zero-shot: each class is a set of prompts; their text embeddings, averaged and
  renormalised (prompt ensembling), are the class's weights; an image gets the class whose
  embedding is nearest (`zero_shot_predict`);
- retrieval: rank every caption for an image, or every image for a caption, by cosine
  similarity, and count how often the right one is among the top k (`recall_at_k`).

Letters: N images, Q queries, K classes, D shared embedding width.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib import data
from course_lib.clip import CLIP, embed_images, embed_texts

ATTRIBUTES = {"digit": data.DIGIT_WORDS, "color": data.COLOR_NAMES, "layout": data.LAYOUTS}


def ensemble_prompts(attribute: str) -> list[list[str]]:
    """For each class of `attribute` ("digit", "color" or "layout"), every caption that names
    it: a digit's 30 captions over all colors and layouts, a color's 50, a layout's 60."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; pass one of {list(ATTRIBUTES)}")
    captions, attributes = data.all_captions()
    values = attributes[attribute]
    return [
        [c for c, v in zip(captions, values, strict=True) if v == k]
        for k in range(len(ATTRIBUTES[attribute]))
    ]


def class_embeddings(model: CLIP, prompts_per_class: list[list[str]]) -> Tensor:
    """Prompt ensembling: each class's prompt embeddings averaged, renormalised -> (K, D)."""
    if not prompts_per_class or any(not p for p in prompts_per_class):
        raise ValueError("give at least one prompt for every class")
    rows = [embed_texts(model, prompts).mean(dim=0) for prompts in prompts_per_class]
    return F.normalize(torch.stack(rows), dim=-1)  # (K, D)


def zero_shot_predict(
    model: CLIP,
    images: Tensor,
    attribute: str = "digit",
    image_emb: Tensor | None = None,
) -> Tensor:
    """The class of each image from prompts alone: argmax of cosine to each class's ensemble
    embedding -> (N,) int64. Pass image_emb (N, D) to skip re-encoding the images."""
    classes = class_embeddings(model, ensemble_prompts(attribute))  # (K, D)
    image_emb = embed_images(model, images) if image_emb is None else image_emb
    return (image_emb @ classes.T).argmax(dim=1)  # (N,)


def recall_at_k(similarity: Tensor, relevant: Tensor, k: int) -> float:
    """Share of queries (rows) with a relevant candidate among their k most similar.

    similarity: (Q, N) scores; relevant: (Q, N) bool, True where candidate n answers query q.
    """
    if similarity.shape != relevant.shape:
        raise ValueError(f"similarity {similarity.shape} and relevant {relevant.shape} differ")
    if not 1 <= k <= similarity.shape[1]:
        raise ValueError(f"k must be between 1 and {similarity.shape[1]}, got {k}")
    top = similarity.topk(k, dim=1).indices  # (Q, k)
    return relevant.gather(1, top).any(dim=1).float().mean().item()


def caption_index(attributes: dict[str, np.ndarray]) -> np.ndarray:
    """Where each image's caption sits in `data.all_captions()` (digit-major order) -> (N,)."""
    n_colors, n_layouts = len(data.COLOR_NAMES), len(data.LAYOUTS)
    digit, color, layout = (np.asarray(attributes[k]) for k in ("digit", "color", "layout"))
    return (digit * n_colors + color) * n_layouts + layout


@torch.no_grad()
def evaluate(model: CLIP, images: Tensor, attributes: dict[str, np.ndarray]) -> dict[str, float]:
    """Zero-shot accuracy per attribute, the exact caption among all 300, and retrieval recall.

    image-to-text: rank all 300 captions for each image (recall@1 = exact caption accuracy).
    text-to-image: each caption present in the set ranks the images; a hit is any image with
    that exact caption among the top k.
    """
    image_emb = embed_images(model, images)  # (N, D)
    metrics = {}
    for attribute in ATTRIBUTES:
        predicted = zero_shot_predict(model, images, attribute, image_emb=image_emb).numpy()
        metrics[f"zero_shot_{attribute}"] = float((predicted == attributes[attribute]).mean())
    captions, _ = data.all_captions()
    text_emb = embed_texts(model, captions)  # (300, D)
    truth = torch.from_numpy(caption_index(attributes))  # (N,)
    similarity = image_emb @ text_emb.T  # (N, 300)
    relevant = F.one_hot(truth, len(captions)).bool()  # (N, 300)
    for k in (1, 5):
        metrics[f"image_to_text_recall@{k}"] = recall_at_k(similarity, relevant, k)
    present = truth.unique()  # captions that some image in the set carries
    for k in (1, 5):
        metrics[f"text_to_image_recall@{k}"] = recall_at_k(
            similarity.T[present], relevant.T[present], k
        )
    metrics["exact_caption"] = metrics["image_to_text_recall@1"]
    return metrics
