"""vlm-digits: the notebook-08 tiny vision-language model, trained from scratch on the
4,000 captioned training digits in two stages, as LLaVA trains on a vision encoder that
already sees:

1. The ViT alone learns to name the digit from the image's brightness (cross-entropy on its
   class head).
2. The ViT frozen, the adapter and the language model learn to answer, on the answers only.
   Every image is asked three of the five questions: its digit, its caption and one of
   colour, size and position.

Every batch of both stages draws each digit a fresh colour and place (never a held-out
(digit, colour) pair), so 4,000 handwritten digits show up in thousands of combinations."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course_lib import config, data, train
from course_lib.recipes import Row
from course_lib.vlm import (
    QUESTIONS,
    VLM,
    VLMConfig,
    answer,
    brightness_and_colour,
    degrade,
    image_token_count,
)

NAME = "vlm-digits"
HALF = True  # ~0.4M parameters; fp16 weights answer the same as fp32 (see the benchmark)
PIPELINE = "course_lib.pipelines.VLMPipeline"
MODEL = VLMConfig()  # patch 8: 16 patch tokens, 17 image tokens with the CLS
# stage 1: the ViT alone names the digit, 128 images a step
VISION_TRAINING = train.OneCycleTraining(steps=10_000, batch_size=128, lr=2e-3, weight_decay=0.05)
# stage 2: 64 images a step, each asked three of the five questions (192 sequences)
TRAINING = train.OneCycleTraining(steps=1500, batch_size=64, lr=2e-3, weight_decay=0.01)
VISION_STEPS = VISION_TRAINING.steps  # notebook 08's full-mode budgets
STEPS = TRAINING.steps
MAX_SHIFT = 2  # +-2 px: new handwriting positions, never out of the layout's quadrant
TABLES = Path(__file__).with_name("vlm_digits_tables.json")  # written by benchmark()


def qa_pairs(attributes: dict, kinds=tuple(QUESTIONS)) -> tuple[list[str], list[list[str]]]:
    """The questions of `kinds`, and for each the answer for every image: answers[k][i]."""
    rows = list(zip(attributes["digit"], attributes["color"], attributes["layout"], strict=True))
    return [QUESTIONS[k] for k in kinds], [[answer(k, *map(int, r)) for r in rows] for k in kinds]


def answer_table(model: VLM) -> torch.Tensor:
    """The answer ids of every question for every possible image: (10, 6, 5, Q, L_a), indexed
    [digit, colour, layout, question] in QUESTIONS' order."""
    _, attributes = data.all_captions()  # the 300 (digit, colour, layout), in that order
    _, answers = qa_pairs(attributes)
    ids = torch.stack([model.encode_answers(a).cpu() for a in answers], dim=1)  # (300, Q, L_a)
    return ids.unflatten(0, (len(data.DIGIT_WORDS), len(data.COLOR_NAMES), len(data.LAYOUTS)))


def fresh_images(strokes: torch.Tensor, digits: torch.Tensor, generator=None):
    """A batch of strokes (B, 1, 28, 28) drawn in a new colour and place, shifted by up to
    MAX_SHIFT pixels: (images (B, 3, 32, 32) in [-1, 1], colours (B,), layouts (B,))."""
    colors, layouts = data.random_attributes(digits.numpy(), generator)
    images = data.render_digits(strokes, colors, layouts)
    return data.random_shift(images, MAX_SHIFT, generator), colors, layouts


def vision_loss(model: VLM, batch, generator=None) -> torch.Tensor:
    """Stage 1: cross-entropy of the ViT's class head on the brightness of fresh images."""
    strokes, digits = batch
    images, _, _ = fresh_images(strokes, digits, generator)
    brightness, _ = brightness_and_colour(images, model.config.patch_size)
    return F.cross_entropy(model.vision(brightness.to(model.device)), digits.to(model.device))


def batch_loss(model: VLM, batch, question_ids, table, generator=None) -> torch.Tensor:
    """Stage 2: the answer-only loss of B fresh images, each asked for its digit, its caption
    and one of the three one-word questions (colour, size, position; learned in a few
    hundred steps)."""
    strokes, digits = batch  # (B, 1, 28, 28), (B,)
    images, colors, layouts = fresh_images(strokes, digits, generator)
    answer_ids = table[digits, torch.from_numpy(colors), torch.from_numpy(layouts)]  # (B, 5, L_a)
    B = len(images)
    other = torch.randint(1, 4, (B,), generator=generator)  # colour, size or position
    kinds = torch.stack([torch.zeros_like(other), other, torch.full_like(other, 4)], dim=1)
    answer_ids = answer_ids.gather(1, kinds[..., None].expand(-1, -1, answer_ids.shape[-1]))
    questions = question_ids[kinds.flatten()]  # (B * 3, L_q): row 3 i + k asks image i
    longest = int((answer_ids != 0).sum(-1).max())  # slots past every answer's <end> hold no target
    answer_ids = answer_ids.flatten(0, 1)[:, : longest + 1].to(model.device)
    return model.loss(images.to(model.device), questions, answer_ids)


@dataclass
class TwoStages:
    """What `train_vlm` hands back: each stage's `train.TrainResult`."""

    vision: train.TrainResult  # stage 1: the ViT naming digits
    answers: train.TrainResult  # stage 2: the adapter and language model answering

    @property
    def seconds(self) -> float:
        return self.vision.seconds + self.answers.seconds

    def summary(self, window: int = 50) -> dict:
        """For a checkpoint's metadata: stage 2's summary, stage 1's steps, loss and seconds."""
        vision = self.vision.summary(window)
        return {
            **self.answers.summary(window),
            "vision_steps": vision["steps"],
            "vision_final_loss": vision["final_loss"],
            "vision_train_seconds": vision["train_seconds"],
            "train_seconds": round(self.seconds, 1),
        }


def train_vision(
    model: VLM, steps: int, generator: torch.Generator, progress: bool = True
) -> train.TrainResult:
    """Stage 1: the ViT alone, AdamW with a one-cycle rate over `steps` batches of 128."""
    strokes, digits = data.digit_strokes("train")
    return train.fit_one_cycle(
        model.vision,
        lambda vision, batch: vision_loss(model, batch, generator),
        (strokes, torch.from_numpy(digits)),
        dataclasses.replace(VISION_TRAINING, steps=steps),
        generator=generator,
        desc=f"{NAME} vision",
        progress=progress,
    )


def train_answers(
    model: VLM,
    steps: int,
    generator: torch.Generator,
    progress: bool = True,
    seconds: float | None = None,
    freeze_vision: bool = True,
) -> train.TrainResult:
    """Stage 2: the adapter and the language model (and the ViT too, unless freeze_vision)
    on the answers, AdamW with a one-cycle rate over `steps` batches of 64 images."""
    strokes, digits = data.digit_strokes("train")
    question_ids = model.encode_questions(list(QUESTIONS.values()))
    table = answer_table(model)
    model.vision.requires_grad_(not freeze_vision)
    try:
        return train.fit_one_cycle(
            model,
            lambda m, batch: batch_loss(m, batch, question_ids, table, generator),
            (strokes, torch.from_numpy(digits)),
            dataclasses.replace(TRAINING, steps=steps),
            generator=generator,
            seconds=seconds,
            desc=NAME,
            progress=progress,
        )
    finally:
        model.vision.requires_grad_(True)


def train_vlm(
    model: VLM,
    steps: int = STEPS,
    seed: int = 0,
    progress: bool = True,
    seconds: float | None = None,
    vision_steps: int = VISION_STEPS,
) -> TwoStages:
    """Both stages: `vision_steps` of the ViT alone, then `steps` of answers with the ViT
    frozen (a `seconds` cap applies to the answers)."""
    generator = config.seed_everything(seed)
    vision = train_vision(model, vision_steps, generator, progress)
    answers = train_answers(model, steps, generator, progress, seconds)
    return TwoStages(vision, answers)


@torch.no_grad()
def ask(model: VLM, images: torch.Tensor, question: str, batch_size: int = 500):
    """One question asked of every image (N, C, H, W) in [-1, 1]: (answers, confidence
    (N,) of the least sure word, seconds spent generating)."""
    answers, confidence, seconds = [], [], 0.0
    for chunk in images.split(batch_size):
        ids = model.encode_questions([question] * len(chunk))
        out = model.generate(chunk.to(model.device), ids)
        answers += model.decode(out.token_ids)
        real = out.token_ids != model.answers.pad_id
        confidence.append(out.confidence.masked_fill(~real, 1.0).amin(dim=1).cpu())
        seconds += out.seconds
    return answers, torch.cat(confidence), seconds


def evaluate(model: VLM, images: torch.Tensor, attributes: dict) -> dict[str, float]:
    """Share of right answers per question, and the exact caption on held-out pairs."""
    questions, truths = qa_pairs(attributes)
    metrics = {}
    for kind, question, truth in zip(QUESTIONS, questions, truths, strict=True):
        answers, _, _ = ask(model, images, question)
        right = np.array([a == t for a, t in zip(answers, truth, strict=True)])
        metrics[kind] = float(right.mean())
        if kind == "caption":
            held = held_out_mask(attributes)
            metrics["caption_held_out"] = float(right[held].mean())
    return metrics


def held_out_mask(attributes: dict) -> np.ndarray:
    """(N,) bool: images whose (digit, colour) pair never appears in training."""
    pairs = {(d, data.COLOR_NAMES.index(c)) for d, c in data.HELD_OUT_PAIRS}
    rows = zip(attributes["digit"].tolist(), attributes["color"].tolist(), strict=True)
    return np.array([pair in pairs for pair in rows])


def test_metrics(model: VLM) -> dict[str, float]:
    images, _, attributes = data.captioned_digits("test")
    return evaluate(model, images, attributes)


def build(seed: int = 0, model_config: VLMConfig = MODEL, steps: int = STEPS):
    """Train vlm-digits from scratch: the run behind the shipped weights."""
    config.seed_everything(seed)
    model = VLM(model_config)
    result = train_vlm(model, steps, seed)
    metrics = {k: round(v, 4) for k, v in test_metrics(model).items()}
    metrics.update(result.summary(window=50), pipeline=PIPELINE)
    metrics["parameters"] = sum(p.numel() for p in model.parameters())
    return model, metrics


# ---------------------------------------------------------------------------------------
# What the source texts derive, measured (notebook 08 and the benchmark)


def answer_speed(model: VLM, images: torch.Tensor, use_cache: bool, repeats: int = 3) -> float:
    """Milliseconds per answer to "describe the image." (9 words), batch of len(images)."""
    question_ids = model.encode_questions([QUESTIONS["caption"]] * len(images))
    x = images.to(model.device)
    model.generate(x, question_ids, use_cache=use_cache)  # warm-up
    best = min(model.generate(x, question_ids, use_cache=use_cache).seconds for _ in range(repeats))
    return 1000 * best / len(images)


def resolution_sweep(model: VLM, images, attributes, resolutions=(32, 16, 12, 8, 6, 4)):
    """Accuracy and confidence of the digit and colour answers as detail is thrown away:
    rows of {resolution, question, size ("small" / "large" digits), accuracy, confidence}."""
    rows = []
    large = attributes["layout"] == 0
    for resolution in resolutions:
        seen = degrade(images, resolution)
        for kind in ("digit", "color"):
            truth = np.array(qa_pairs(attributes, (kind,))[1][0])
            answers, confidence, _ = ask(model, seen, QUESTIONS[kind])
            right = np.array(answers) == truth
            for size, chosen in (("small", ~large), ("large", large)):
                rows.append(
                    dict(
                        resolution=resolution,
                        question=kind,
                        size=size,
                        accuracy=float(right[chosen].mean()),
                        confidence=float(confidence.numpy()[chosen].mean()),
                    )
                )
    return rows


def nothing_images(count: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Images with no digit in them, in [-1, 1]: uniform noise, an empty (black) canvas,
    and a mid-grey one."""
    noise = torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return {
        "noise": noise,
        "empty canvas": torch.full((count, 3, 32, 32), -1.0),
        "grey canvas": torch.zeros(count, 3, 32, 32),
    }


def asked_about_nothing(model: VLM, count: int = 200) -> list[dict]:
    """How often a digit and a colour come back for images of nothing, and how sure: rows of
    {image, question, named (share answered with a digit / colour word), confidence,
    confident (share with confidence >= 0.9), top answer}."""
    words = {"digit": set(data.DIGIT_WORDS), "color": set(data.COLOR_NAMES)}
    rows = []
    for name, images in nothing_images(count).items():
        for kind in ("digit", "color"):
            answers, confidence, _ = ask(model, images, QUESTIONS[kind])
            values, counts = np.unique(answers, return_counts=True)
            rows.append(
                dict(
                    image=name,
                    question=kind,
                    named=float(np.mean([a in words[kind] for a in answers])),
                    confidence=float(confidence.mean()),
                    confident=float((confidence >= 0.9).float().mean()),
                    top_answer=f"{values[counts.argmax()]} ({counts.max() / len(answers):.0%})",
                )
            )
    return rows


def round_trip(vlm_pipe, image_pipe, count: int = 300, guidance_scale: float = 3.0) -> dict:
    """Prompts -> ldm-digits images -> vlm-digits captions: the share where the caption is
    the prompt, and what the independent caption judge reads off the same images."""
    from course_lib import caption_judge

    prompts, attributes = caption_judge.evaluation_prompts(held_out=False, count=count)
    images = torch.cat(
        [
            image_pipe(
                prompts[i : i + 100],
                guidance_scale=guidance_scale,
                generator=torch.Generator().manual_seed(i),
                progress=False,
            )
            for i in range(0, count, 100)
        ]
    )
    captions = vlm_pipe(images, QUESTIONS["caption"])
    same = np.array([c == p for c, p in zip(captions, prompts, strict=True)])
    judged = caption_judge.read(images).agreement(attributes)
    return {"round_trip": float(same.mean()), "judge_all_three": judged["all three"]}


# ---------------------------------------------------------------------------------------
# The benchmark: quality of the shipped weights, and the tables notebook 08 shows in fast mode

TARGETS = {
    "digit": ">= 0.97",
    "color": ">= 0.99",
    "size": ">= 0.99",
    "position": ">= 0.97",
    "caption": ">= 0.90",
    "caption_held_out": ">= 0.80",
}


def training_step_ms(model_config: VLMConfig, steps: int = 10) -> tuple[float, float]:
    """Milliseconds per training step of each stage, fresh weights: (stage 1, 128 images
    through the ViT; stage 2, 64 images asked 3 questions each)."""
    model, generator = VLM(model_config), torch.Generator().manual_seed(0)
    times = []
    for stage in (train_vision, train_answers):
        stage(model, 2, generator, progress=False)  # warm-up
        result = stage(model, steps, generator, progress=False)
        times.append(1000 * result.seconds / result.steps)
    return times[0], times[1]


def compare_stages(vision_steps: int = 3000, steps: int = 600, seed: int = 0) -> list[dict]:
    """The two orders of training, from scratch, on the same fresh batches and test images:
    "ViT first" (`vision_steps` of the ViT alone, then `steps` of answers with it frozen)
    against "end to end" (answers only, ViT trained with the rest, for as many steps as fit
    in the same seconds). Rows of {recipe, vision_steps, steps, seconds, and `evaluate`'s
    shares}."""
    images, _, attributes = data.captioned_digits("test")
    rows = []
    config.seed_everything(seed)
    first = VLM(MODEL)
    result = train_vlm(first, steps, seed, progress=False, vision_steps=vision_steps)
    budget = result.seconds
    rows.append(dict(recipe="ViT first", vision_steps=vision_steps, steps=steps, seconds=budget))
    rows[-1].update(evaluate(first, images, attributes))
    generator = config.seed_everything(seed)
    joint = VLM(MODEL)
    probe = train_answers(joint, 20, generator, progress=False, freeze_vision=False)
    joint_steps = int(budget / (probe.seconds / probe.steps))  # the same seconds
    generator = config.seed_everything(seed)
    joint = VLM(MODEL)
    result = train_answers(joint, joint_steps, generator, progress=False, freeze_vision=False)
    row = dict(recipe="end to end", vision_steps=0, steps=joint_steps, seconds=result.seconds)
    rows.append(row)
    rows[-1].update(evaluate(joint, images, attributes))
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def patch_row(model: VLM, metrics: dict | None, images: torch.Tensor) -> dict:
    """One row of the patch-size table: tokens, sequence length, speed and (for a trained
    model) accuracy; metrics None marks an untrained twin, timed only."""
    c = model.config
    vision_ms, answers_ms = training_step_ms(c)
    row = {
        "patch_size": c.patch_size,
        "image_tokens": image_token_count(c.image_size, c.patch_size),
        "sequence": c.num_image_tokens + c.question_length + c.answer_length - 1,
        "ms_per_answer": round(answer_speed(model, images[:100], use_cache=True), 3),
        "ms_per_vision_step": round(vision_ms, 1),
        "ms_per_training_step": round(answers_ms, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained": metrics is not None,
    }
    return {**row, **{k: round(v, 4) for k, v in (metrics or {}).items()}}


def write_tables(shipped: VLM, train_twin: bool = True, path: Path = TABLES) -> dict:
    """Measure the shipped model and its patch-4 twin, and store what notebook 08 shows
    without retraining: the patch table, the resolution sweep, asked-about-nothing, and the
    two orders of training side by side (`compare_stages`).

    train_twin: train the twin with the same recipe (about 3x the shipped model's time) and
    compare the stages; False times an untrained twin only (speed does not depend on the
    weights)."""
    images, _, attributes = data.captioned_digits("test")
    start = time.perf_counter()
    twin, twin_metrics = VLM(VLMConfig(patch_size=4)).eval(), None
    if train_twin:
        twin, _ = build(0, VLMConfig(patch_size=4))
        twin_metrics = {k: v for k, v in evaluate(twin, images, attributes).items()}
    tables = {
        "patch_sizes": [
            patch_row(shipped, evaluate(shipped, images, attributes), images),
            patch_row(twin, twin_metrics, images),
        ],
        "resolution": resolution_sweep(shipped, images, attributes),
        "nothing": asked_about_nothing(shipped),
        "seconds": round(time.perf_counter() - start, 1),
    }
    if train_twin:
        tables["resolution_patch_4"] = resolution_sweep(twin, images, attributes)
        tables["stages"] = compare_stages()
        tables["seconds"] = round(time.perf_counter() - start, 1)
    path.write_text(json.dumps(tables, indent=1) + "\n")
    return tables


def read_tables(path: Path = TABLES) -> dict:
    """The tables `write_tables` stored (regenerate them with `python -m course_lib.bench
    vlm-digits`)."""
    return json.loads(path.read_text())


def benchmark() -> list[Row]:
    from course_lib import checkpoints, pipelines

    model = checkpoints.load_pretrained(NAME)
    images, _, attributes = data.captioned_digits("test")
    metrics = evaluate(model, images, attributes)
    rows = [Row(NAME, f"{k} (1,000 test images)", metrics[k], t) for k, t in TARGETS.items()]
    trip = round_trip(pipelines.load(NAME), pipelines.load("ldm-digits"))
    rows.append(
        Row(NAME, "round trip: caption == ldm-digits prompt", trip["round_trip"], ">= 0.85")
    )
    rows.append(Row(NAME, "  (caption judge, all three right)", trip["judge_all_three"]))
    for cached in (False, True):
        ms = answer_speed(model, images[:1], use_cache=cached, repeats=10)
        rows.append(Row(NAME, f"describe, batch 1, KV cache {cached}", ms, unit="ms"))
    tables = write_tables(model)
    for row in tables["patch_sizes"]:
        p = row["patch_size"]
        rows.append(
            Row(NAME, f"patch {p}: {row['image_tokens']} image tokens, caption", row["caption"])
        )
        rows.append(Row(NAME, f"patch {p}: digit", row["digit"]))
        rows.append(
            Row(NAME, f"patch {p}: ms per answer (batch 100)", row["ms_per_answer"], unit="ms")
        )
    for row in tables["stages"]:
        steps = f"{row['vision_steps']} + {row['steps']} steps"
        what = f"{row['recipe']} ({steps}, {row['seconds']:.0f} s)"
        rows.append(Row(NAME, f"{what}: digit", row["digit"]))
        rows.append(Row(NAME, f"{what}: caption", row["caption"]))
    return rows


def attention_on_digit(model: VLM, images: torch.Tensor, attributes: dict) -> float:
    """For small digits asked "what colour is the digit?": the share of the answer word's
    image attention that falls on the quadrant holding the digit (1/4 if it looked
    everywhere alike)."""
    small = np.flatnonzero(attributes["layout"] != 0)
    ids = model.encode_questions([QUESTIONS["color"]] * len(small))
    out = model.generate(images[small].to(model.device), ids, 1, return_attention=True)
    side = model.config.image_size // model.config.patch_size
    maps = out.attention[:, 0].cpu().unflatten(-1, (side, side))  # (n, h, w)
    maps = maps / maps.sum(dim=(1, 2), keepdim=True)  # shares of the image attention
    half, shares = side // 2, []
    for m, layout in zip(maps, attributes["layout"][small].tolist(), strict=True):
        name = data.LAYOUTS[layout]
        rows = slice(0, half) if name.startswith("top") else slice(half, side)
        cols = slice(0, half) if name.endswith("left") else slice(half, side)
        shares.append(float(m[rows, cols].sum()))
    return float(np.mean(shares))
