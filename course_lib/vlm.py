"""A tiny vision-language model: a ViT's patch tokens, through a small MLP adapter, become
the first tokens of a decoder-only language model that answers questions about the image
(the LLaVA recipe: Liu et al. 2023, "Visual Instruction Tuning"; the two-layer MLP
projector of LLaVA-1.5, Liu et al. 2024, "Improved Baselines with Visual Instruction Tuning").

One sequence, left to right:

    [ 1 + N image tokens | question, left-padded to L_q, ending in <end> | answer words, <end> ]

The image tokens are the ViT's CLS token (a summary of the whole image), then one token per
patch. From the language model's side the image is just more context: 1 + N tokens it never
has to predict. Training scores only the answer (`answer_targets` puts `IGNORE` everywhere else);
generation is greedy, one word at a time, with a key/value cache per block.

Letters: B batch, C channels, H x W pixels, P patch size, N = (H/P)(W/P) patch tokens,
L_q question slots, L_a answer slots, S = 1 + N + L_q + L_a - 1 sequence positions,
D_v vision width, D language-model width, V vocabulary size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import checks, data
from course_lib.tokenizer import Tokenizer, build_vocab
from course_lib.transformer import Block, KVCache
from course_lib.vit import ViT, ViTConfig

IGNORE = -100  # a target cross-entropy skips (torch's ignore_index default)

QUESTIONS = {  # the fixed templates: key -> question
    "digit": "what digit is this?",
    "color": "what colour is the digit?",
    "size": "is the digit large or small?",
    "position": "where is the digit?",
    "caption": "describe the image.",
}


def answer(kind: str, digit: int, color: int, layout: int) -> str:
    """The answer to QUESTIONS[kind] for one image's attributes (indices into data.*)."""
    if kind not in QUESTIONS:
        raise ValueError(f"unknown question kind {kind!r}; pass one of {list(QUESTIONS)}")
    caption = data.caption(digit, color, layout)  # checks the three indices
    large = data.LAYOUTS[layout] == "large"
    answers = {
        "digit": data.DIGIT_WORDS[digit],
        "color": data.COLOR_NAMES[color],
        "size": "large" if large else "small",
        "position": "center" if large else data.LAYOUTS[layout],
        "caption": caption,
    }
    return answers[kind]


def qa_vocab() -> tuple[str, ...]:
    """Specials, then every word of the questions and of every possible answer."""
    captions, _ = data.all_captions()
    return build_vocab(list(QUESTIONS.values()) + captions + ["center"])


@dataclass(frozen=True)
class VLMConfig:
    # vision encoder: a ViT whose output is its patch tokens
    image_size: int = 32
    channels: int = 3
    patch_size: int = 8  # 32/8 -> 4x4 = 16 patch tokens (17 image tokens with CLS); 4 -> 64
    vision_dim: int = 64  # D_v
    vision_depth: int = 4
    vision_heads: int = 4
    vision_mlp_dim: int = 128
    # language model: decoder-only, causal, over a word vocabulary
    vocab: tuple[str, ...] = field(default_factory=qa_vocab)
    question_length: int = 8  # L_q: up to 7 words and <end> (the templates have <= 6)
    answer_length: int = 12  # L_a: up to 11 words and <end> (a caption has <= 8)
    dim: int = 64  # D
    depth: int = 2
    heads: int = 4
    mlp_dim: int = 128

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_image_tokens(self) -> int:
        """The ViT's CLS token, then one token per patch."""
        return self.num_patches + 1

    @property
    def vision_config(self) -> ViTConfig:
        return ViTConfig(
            image_size=self.image_size,
            channels=1,  # the ViT reads brightness only; colour joins per patch (see image_tokens)
            patch_size=self.patch_size,
            dim=self.vision_dim,
            depth=self.vision_depth,
            heads=self.vision_heads,
            mlp_dim=self.vision_mlp_dim,
            num_classes=10,  # stage 1 trains the ViT alone to name the digit (recipes.vlm_digits)
        )


def image_token_count(image_size: int | tuple[int, int], patch_size: int) -> int:
    """How many tokens an image costs: one per whole patch, (H // P) * (W // P)."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    checks.positive_int(patch_size, "patch_size")
    return (h // patch_size) * (w // patch_size)


def degrade(images: Tensor, resolution: int) -> Tensor:
    """Throw detail away: average (B, C, H, W) down to resolution x resolution pixels, then
    scale back up (bilinear), so the model sees the same size with less in it; a resolution
    at or above the image's own returns it unchanged."""
    checks.tensor(images, "images", 4, "(B, C, H, W)")
    checks.floating(images, "images")
    checks.positive_int(resolution, "resolution")
    size = images.shape[-2:]
    if resolution >= size[0]:
        return images
    small = F.interpolate(images, size=(resolution, resolution), mode="area")
    return F.interpolate(small, size=size, mode="bilinear", align_corners=False)


def brightness_and_colour(images: Tensor, patch_size: int) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) in [-1, 1] -> (brightness (B, 1, H, W), the brightest channel at full
    resolution; colour (B, N, C), the mean colour of each patch, row-major like patchify).

    Brightness carries the stroke's shape whatever its colour; colour only needs patch
    resolution (JPEG and television keep colour at lower resolution than brightness for the
    same reason). Fed raw RGB, a small ViT must learn each digit's shape once per colour:
    on 4,000 images it read the digit about half as often after 300 steps."""
    brightness = images.amax(dim=1, keepdim=True)  # (B, 1, H, W)
    colour = F.avg_pool2d(images, patch_size)  # (B, C, H/P, W/P): one colour per patch
    return brightness, colour.flatten(2).transpose(1, 2)  # (B, N, C)


def left_pad(token_ids: Tensor, pad_id: int) -> Tensor:
    """Move each row's <pad>s to its front, keeping word order: (B, L) -> (B, L).

    Left padding lines every question's <end> up just before the answer slots, so the
    answer starts at the same position for every item of a batch."""
    order = (token_ids != pad_id).long().argsort(dim=1, stable=True)  # pads (0) first
    return token_ids.gather(1, order)


def answer_targets(question_ids: Tensor, answer_ids: Tensor, num_image_tokens: int) -> Tensor:
    """Next-token targets (B, S - 1) for the sequence [image | question | answer]: the word
    that follows each position where that word is part of the answer (its <end> included),
    IGNORE everywhere else (image tokens, question words, padding)."""
    B = len(answer_ids)
    skipped = torch.full(
        (B, num_image_tokens + question_ids.shape[1] - 1), IGNORE, dtype=torch.long
    )
    answer = answer_ids.masked_fill(answer_ids == 0, IGNORE)  # <pad> (id 0) is never a target
    return torch.cat([skipped.to(answer.device), answer], dim=1)  # (B, S - 1)


def answer_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over the positions whose target is not IGNORE."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


def mlp_adapter(vision_dim: int, dim: int) -> nn.Sequential:
    """LLaVA-1.5's projector ("mlp2x_gelu"): Linear, GELU, Linear, applied to each token on
    its own; (B, N, D_v) patch tokens -> (B, N, D) in the words' space."""
    return nn.Sequential(nn.Linear(vision_dim, dim), nn.GELU(), nn.Linear(dim, dim))


@dataclass
class Generation:
    """What greedy generation made: per item, per new word."""

    token_ids: Tensor  # (B, T) the words chosen, <end> and <pad> after it
    confidence: Tensor  # (B, T) the probability the model gave each chosen word
    attention: Tensor | None  # (B, T, N): from each word's position to the patch tokens
    seconds: float = 0.0


class VLM(nn.Module):
    """ViT CLS and patch tokens -> MLP adapter -> 1 + N image tokens, then question and answer
    words, all through one causal decoder (`transformer.Block(causal=True)`); logits over words."""

    def __init__(self, config: VLMConfig = VLMConfig()):
        super().__init__()
        self.config = c = config
        self.questions = Tokenizer(c.vocab, c.question_length)
        self.answers = Tokenizer(c.vocab, c.answer_length)
        self.vision = ViT(c.vision_config)
        self.adapter = mlp_adapter(c.vision_dim, c.dim)
        self.colour_embed = nn.Linear(c.channels, c.dim)  # each patch's mean colour -> D
        self.token_embed = nn.Embedding(len(c.vocab), c.dim)
        length = c.num_image_tokens + c.question_length + c.answer_length - 1  # S
        self.pos_embed = nn.Parameter(torch.randn(1, length, c.dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(dim=c.dim, heads=c.heads, mlp_dim=c.mlp_dim, causal=True) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, len(c.vocab), bias=False)

    @property
    def device(self) -> torch.device:
        return self.pos_embed.device

    def image_tokens(self, images: Tensor) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] -> image tokens (B, 1 + N, D) in the words' space:
        the ViT's CLS token (a summary of the whole image), then one token per patch."""
        brightness, colour = brightness_and_colour(images, self.config.patch_size)
        tokens = self.adapter(self.vision.output_tokens(brightness))  # (B, 1 + N, D)
        colour = self.colour_embed(colour)  # (B, N, D): each patch's colour
        no_colour = torch.zeros_like(colour[:, :1])  # the CLS token has no patch of its own
        return tokens + torch.cat([no_colour, colour], dim=1)  # (B, 1 + N, D)

    def encode_questions(self, questions: list[str] | str, unknown: str = "warn") -> Tensor:
        """Questions -> (B, L_q) ids, left-padded, each ending in <end>; unknown words warn."""
        ids = self.questions.encode(questions, unknown=unknown)
        return left_pad(ids, self.questions.pad_id).to(self.device)

    def encode_answers(self, answers: list[str]) -> Tensor:
        """Answers -> (B, L_a) ids: words, <end>, then <pad>."""
        return self.answers.encode(answers, unknown="raise").to(self.device)

    def _decode(self, h: Tensor, padding: Tensor, caches=None, attention: bool = False):
        """Sequence (B, T, D) -> (logits (B, T, V), mean attention over layers and heads
        (B, T, S) or None); padding (B, S) bool marks keys to ignore."""
        maps = []
        for i, block in enumerate(self.blocks):
            cache = None if caches is None else caches[i]
            h, weights = block(h, key_padding_mask=padding, cache=cache, return_attention=True)
            maps.append(weights.mean(dim=1))  # (B, T, S)
        mean = torch.stack(maps).mean(dim=0) if attention else None
        return self.head(self.norm(h)), mean

    def _prefix(self, images: Tensor, question_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Image tokens then question embeddings, positions added: (B, 1 + N + L_q, D), and
        its padding mask (B, 1 + N + L_q), True at the question's <pad>s. With k questions per
        image (question_ids (k B, L_q), image i asked rows k i .. k i + k - 1) the ViT
        still runs once per image."""
        image = self.image_tokens(images)  # (B, 1 + N, D)
        if len(question_ids) % len(image):
            raise ValueError(
                f"{len(question_ids)} questions for {len(image)} images: pass one question "
                "per image (or the same number of questions for each)"
            )
        image = image.repeat_interleave(len(question_ids) // len(image), dim=0)
        words = self.token_embed(question_ids)  # (B, L_q, D)
        h = torch.cat([image, words], dim=1)
        h = h + self.pos_embed[:, : h.shape[1]]
        no_pad = torch.zeros(image.shape[:2], dtype=torch.bool, device=h.device)
        return h, torch.cat([no_pad, question_ids == self.questions.pad_id], dim=1)

    def forward(self, images: Tensor, question_ids: Tensor, answer_ids: Tensor) -> Tensor:
        """Teacher forcing: logits (B, S - 1, V) for the next token at every position but the
        last; score them with `answer_targets` and `answer_loss`."""
        prefix, padding = self._prefix(images, question_ids)
        given = answer_ids[:, :-1]  # (B, L_a - 1): the last answer slot is only ever a target
        start = prefix.shape[1]  # answers may come cut short (fewer slots than L_a)
        words = self.token_embed(given) + self.pos_embed[:, start : start + given.shape[1]]
        h = torch.cat([prefix, words], dim=1)  # (B, S - 1, D)
        # trailing <pad>s come after every real token, and the causal mask hides them
        padding = torch.cat([padding, torch.zeros_like(given, dtype=torch.bool)], dim=1)
        logits, _ = self._decode(h, padding)
        return logits

    def loss(self, images: Tensor, question_ids: Tensor, answer_ids: Tensor) -> Tensor:
        """The answer-only loss of a batch: cross-entropy on the answer words alone."""
        logits = self(images, question_ids, answer_ids)
        targets = answer_targets(question_ids, answer_ids, self.config.num_image_tokens)
        return answer_loss(logits, targets)

    @torch.no_grad()
    def generate(
        self,
        images: Tensor,
        question_ids: Tensor,
        max_new_tokens: int = 12,
        *,
        use_cache: bool = True,
        return_attention: bool = False,
    ) -> Generation:
        """Greedy answers: each step picks the most likely word. With use_cache each step runs
        one new token through the blocks (the `KVCache`s hold the rest); without, the whole
        sequence again. images (B, C, H, W) in [-1, 1]; question_ids from encode_questions."""
        if not 1 <= max_new_tokens <= self.config.answer_length:
            raise ValueError(f"max_new_tokens must be in 1..{self.config.answer_length}")
        start = time.perf_counter()
        h, padding = self._prefix(images, question_ids)  # (B, 1 + N + L_q, D)
        caches = [KVCache() for _ in self.blocks] if use_cache else None
        words, probs, maps = [], [], []
        done = torch.zeros(len(h), dtype=torch.bool, device=h.device)
        seq = h
        for step in range(max_new_tokens):
            logits, attention = self._decode(h if use_cache else seq, padding, caches, True)
            p = logits[:, -1].float().softmax(dim=-1)  # (B, V)
            confidence, word = p.max(dim=-1)
            word = word.masked_fill(done, self.answers.pad_id)
            words.append(word), probs.append(confidence.masked_fill(done, 0.0))
            maps.append(attention[:, -1, 1 : self.config.num_image_tokens])  # (B, N) patches
            done = done | (word == self.answers.end_id)
            if done.all() or step == max_new_tokens - 1:
                break
            position = seq.shape[1]
            h = self.token_embed(word)[:, None] + self.pos_embed[:, position : position + 1]
            seq = torch.cat([seq, h], dim=1)
            # a finished row goes on reading <pad>s; its later outputs are thrown away
            padding = torch.cat([padding, torch.zeros_like(done)[:, None]], dim=1)
        return Generation(
            token_ids=torch.stack(words, dim=1),
            confidence=torch.stack(probs, dim=1),
            attention=torch.stack(maps, dim=1) if return_attention else None,
            seconds=time.perf_counter() - start,
        )

    def decode(self, token_ids: Tensor) -> list[str]:
        """Generated ids (B, T) -> answer strings, stopping at <end>."""
        return self.answers.decode(token_ids)


@dataclass
class Reading:
    """One image's answer, word by word: what a widget or a figure shows."""

    words: list[str]
    confidence: list[float]  # the probability the model gave each word
    attention: Tensor  # (words, h, w): each word's attention over the patch grid


@torch.no_grad()
def word_by_word(
    model: VLM, images: Tensor, questions: list[str] | str, max_new_tokens: int = 12
) -> list[Reading]:
    """Greedy answers to `questions` about images (B, C, H, W) in [-1, 1], word by word,
    with each word's confidence and attention over the h x w patches; unknown words warn."""
    if isinstance(questions, str):
        questions = [questions] * len(images)
    question_ids = model.encode_questions(questions)
    out = model.generate(
        images.to(model.device), question_ids, max_new_tokens, return_attention=True
    )
    side = model.config.image_size // model.config.patch_size
    readings = []
    for ids, confidence, attention in zip(
        out.token_ids, out.confidence, out.attention, strict=True
    ):
        words = model.decode(ids[None])[0].split()
        maps = attention[: len(words)].cpu().unflatten(-1, (side, side))  # (T, h, w)
        readings.append(Reading(words, confidence[: len(words)].tolist(), maps))
    return readings
