"""The tiny VLM: the sequence layout, the answer-only loss, causality, the KV cache, the
pipeline's boundary checks, and the shipped vlm-digits checkpoint."""

import warnings

import pytest
import tiny
import torch
from torch import nn

from course_lib import checkpoints, data, pipelines
from course_lib.tokenizer import UnknownWordWarning
from course_lib.vlm import IGNORE, QUESTIONS, answer, answer_loss, answer_targets, left_pad


@pytest.fixture(scope="module")
def pipe():
    return tiny.vlm()


def images(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_answers_follow_the_templates():
    assert answer("digit", 7, 0, 1) == "seven"
    assert answer("color", 7, 0, 1) == "red"
    assert answer("size", 7, 0, 1) == "small"
    assert answer("position", 7, 0, 1) == "top left"
    assert answer("position", 3, 2, 0) == "center"
    assert answer("caption", 7, 0, 1) == "a small red seven in the top left"
    with pytest.raises(ValueError, match="question kind"):
        answer("mood", 7, 0, 1)


def test_left_pad_moves_padding_to_the_front_and_keeps_the_words():
    ids = torch.tensor([[5, 6, 1, 0, 0], [7, 1, 0, 0, 0]])
    assert left_pad(ids, 0).tolist() == [[0, 0, 5, 6, 1], [0, 0, 0, 7, 1]]


def test_answer_targets_score_the_answer_words_and_nothing_else():
    question = torch.tensor([[0, 9, 1]])  # <pad> word <end>
    answer_ids = torch.tensor([[4, 5, 1, 0]])  # two words, <end>, <pad>
    targets = answer_targets(question, answer_ids, num_image_tokens=2)
    # positions 0..4 are image and question tokens; position 4 (the question's <end>)
    # predicts the first answer word
    assert targets.tolist() == [[IGNORE] * 4 + [4, 5, 1, IGNORE]]


def test_the_loss_reads_only_the_answer_logits(pipe):
    model = pipe.model
    x = images(2) * 2 - 1
    q = model.encode_questions([QUESTIONS["digit"]] * 2)
    a = model.encode_answers(["seven", "two"])
    logits = model(x, q, a).detach().requires_grad_(True)
    targets = answer_targets(q, a, model.config.num_image_tokens)
    answer_loss(logits, targets).backward()
    start = model.config.num_image_tokens + model.config.question_length - 1
    assert logits.grad[:, :start].abs().max() == 0, "image and question positions get no loss"
    assert logits.grad[:, start].abs().max() > 0
    assert torch.isclose(model.loss(x, q, a), answer_loss(logits, targets))


def test_the_decoder_is_causal_and_reads_the_image(pipe):
    model = pipe.model
    x = images(1) * 2 - 1
    q = model.encode_questions(QUESTIONS["caption"])
    a = model.encode_answers(["a small red seven in the top left"])
    changed = a.clone()
    changed[0, 5] = model.answers.ids["bottom"]
    before, after = model(x, q, a), model(x, q, changed)
    cut = model.config.num_image_tokens + model.config.question_length + 5
    assert torch.allclose(before[:, :cut], after[:, :cut]), "a later word changed earlier logits"
    assert not torch.allclose(before[:, cut:], after[:, cut:])
    assert not torch.allclose(model(-x, q, a), before), "the answer must depend on the image"


def test_question_padding_is_never_read(pipe):
    model = pipe.model
    x = images(1) * 2 - 1
    q = model.encode_questions(QUESTIONS["digit"])
    a = model.encode_answers(["seven"])
    before = model(x, q, a)
    with torch.no_grad():
        model.token_embed.weight[model.questions.pad_id] += 5.0
    try:
        after = model(x, q, a)
    finally:
        with torch.no_grad():
            model.token_embed.weight[model.questions.pad_id] -= 5.0
    start = model.config.num_image_tokens + model.config.question_length - 1
    assert torch.allclose(before[:, start:], after[:, start:], atol=1e-5)


class NoEnd(nn.Module):
    """Wraps a head so <end> is never the likeliest word: generation runs every step."""

    def __init__(self, head: nn.Module, end_id: int):
        super().__init__()
        self.inner, self.end_id = head, end_id

    def forward(self, h):
        logits = self.inner(h)
        logits[..., self.end_id] -= 1e4
        return logits


def test_the_kv_cache_gives_the_same_answers_as_recomputing():
    model = tiny.vlm().model
    model.head = NoEnd(model.head, model.answers.end_id)
    x = images(3) * 2 - 1
    q = model.encode_questions(list(QUESTIONS.values())[:3])
    cached = model.generate(x, q, 10, use_cache=True, return_attention=True)
    full = model.generate(x, q, 10, use_cache=False, return_attention=True)
    assert cached.token_ids.shape == (3, 10)
    assert torch.equal(cached.token_ids, full.token_ids)
    assert torch.allclose(cached.confidence, full.confidence, atol=1e-5)
    assert torch.allclose(cached.attention, full.attention, atol=1e-5)
    assert cached.attention.shape == (3, 10, model.config.num_patches)


def test_the_pipeline_answers_one_string_per_image(pipe):
    answers = pipe(images(3), "what digit is this?")
    assert isinstance(answers, list) and len(answers) == 3
    assert all(isinstance(a, str) for a in answers)
    answers, maps = pipe(
        images(2), ["describe the image.", "where is the digit?"], return_attention=True
    )
    for text, attention in zip(answers, maps, strict=True):
        assert attention.shape == (len(text.split()), 4, 4)
    assert pipe(images(1), "what digit is this?", max_new_tokens=1)[0].count(" ") == 0


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (lambda: images(2) * 2 - 1, ValueError, r"\[0, 1\]"),
        (lambda: (images(2) * 255).to(torch.uint8), TypeError, "255"),
        (lambda: images(2)[:, :1], ValueError, r"\(B, 3, 32, 32\)"),
        (lambda: images(2)[0], ValueError, "unsqueeze"),
        (lambda: images(2).numpy(), TypeError, "torch.Tensor"),
        (lambda: torch.rand(0, 3, 32, 32), ValueError, "at least one image"),
    ],
)
def test_bad_images_say_what_to_pass(pipe, bad, error, words):
    with pytest.raises(error, match=words):
        pipe(bad(), "what digit is this?")


def test_bad_questions_say_what_to_pass(pipe):
    with pytest.raises(ValueError, match="non-empty list"):
        pipe(images(2), [])
    with pytest.raises(ValueError, match="one question per image"):
        pipe(images(2), ["what digit is this?"] * 3)
    with pytest.raises(TypeError, match="string"):
        pipe(images(2), ["what digit is this?", 7])
    with pytest.raises(ValueError, match="max_new_tokens"):
        pipe(images(1), "what digit is this?", max_new_tokens=40)
    with pytest.raises(TypeError, match="torch.Generator"):
        pipe(images(1), "what digit is this?", generator=0)


def test_unknown_words_warn_like_the_clip_tokenizer(pipe):
    with pytest.warns(UnknownWordWarning, match="purple"):
        pipe(images(1), "is the digit purple?")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe(images(1), "What digit is THIS?")  # case and punctuation are not words


def test_shipped_vlm_digits_reads_test_images():
    pipe = pipelines.load("vlm-digits")
    assert isinstance(pipe, pipelines.VLMPipeline)
    path = checkpoints.checkpoint_dir() / "vlm-digits.safetensors"
    assert path.stat().st_size < 5e6
    x, captions, attributes = data.captioned_digits("test")
    colours = pipe((x[:40] + 1) / 2, "what colour is the digit?")
    truth = [data.COLOR_NAMES[c] for c in attributes["color"][:40]]
    assert sum(a == t for a, t in zip(colours, truth, strict=True)) >= 39
    # The benchmark scores all 1,000 test images; these 100 guard against a broken checkpoint.
    digits = pipe((x[:100] + 1) / 2, "what digit is this?")
    right = sum(
        a == data.DIGIT_WORDS[d] for a, d in zip(digits, attributes["digit"][:100], strict=True)
    )
    assert right >= 93, f"{right}/100 digits"
    said = pipe((x[:100] + 1) / 2, "describe the image.")
    assert sum(a == t for a, t in zip(said, captions[:100], strict=True)) >= 90


def test_answer_table_holds_every_answer_to_every_question():
    from course_lib.recipes import vlm_digits
    from course_lib.vlm import VLM

    model = VLM()
    table = vlm_digits.answer_table(model)  # (10, 6, 5, Q, L_a)
    assert table.shape[:4] == (10, 6, 5, len(QUESTIONS))
    for d, c, k in [(0, 0, 0), (7, 0, 1), (9, 5, 4), (3, 2, 0)]:
        said = model.decode(table[d, c, k])
        assert said == [answer(kind, d, c, k) for kind in QUESTIONS]


def test_stage_one_trains_the_vit_alone_and_stage_two_keeps_it_frozen():
    from course_lib.recipes import vlm_digits
    from course_lib.vlm import VLM

    model = VLM()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(0)

    def changed() -> set[str]:
        moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        before.update({n: p.detach().clone() for n, p in model.named_parameters()})
        return moved

    vlm_digits.train_vision(model, 3, generator, progress=False)
    moved = changed()
    assert moved and all(n.startswith("vision.") for n in moved)
    vlm_digits.train_answers(model, 3, generator, progress=False)
    moved = changed()
    assert {"adapter.0.weight", "colour_embed.weight", "head.weight"} <= moved
    assert not any(n.startswith("vision.") for n in moved)
    assert all(p.requires_grad for p in model.vision.parameters())  # unfrozen afterwards
    vlm_digits.train_answers(model, 3, generator, progress=False, freeze_vision=False)
    assert any(n.startswith("vision.") for n in changed())  # end to end trains the ViT too
