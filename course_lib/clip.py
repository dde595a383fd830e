"""CLIP: an image encoder and a text encoder trained to agree (Radford et al. 2021, "Learning
Transferable Visual Models From Natural Language Supervision").

Both encoders end in one shared space of L2-normalised D-vectors; a caption and its image
should point the same way. Training pushes the B x B cosine-similarity matrix of a batch
toward its diagonal with a symmetric cross-entropy (`clip_loss`). The words become ids in
`course_lib.tokenizer`; zero-shot classification and retrieval with a trained CLIP are in
`course_lib.zero_shot`.

Letters: B batch, L tokens per caption (context length), V vocabulary size, D shared
embedding width, D_text text-encoder width, C channels, H x W pixels.

The text encoder stands on its own (`CLIP.text_encoder`, a `TextEncoder` built from its
own `TextEncoderConfig`, carrying its tokenizer), for a model that attends to words
(notebook 07):

    text_encoder = clip.pretrained_text_encoder("clip-digits")  # frozen, eval mode
    token_ids = text_encoder.tokenize(["a small red two in the top left"])  # (B, L) int64
    states, padding = text_encoder.hidden_states(token_ids)  # (B, L, D_text), (B, L) bool
    pooled = text_encoder(token_ids)  # (B, D_text): the state at <end>, before projection

`padding` is True at <pad> positions (pass it as `key_padding_mask`); the <end> token is a
real position (False) and carries the whole caption. L = config.context_length (12),
D_text = config.dim (64). `checkpoints.save(text_encoder, path)` / `checkpoints.load(path)`
round-trip it alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import checks
from course_lib.tokenizer import SPECIAL_TOKENS, Tokenizer, digit_caption_vocab
from course_lib.transformer import Block

# ---------------------------------------------------------------------------------------
# Configs


@dataclass(frozen=True)
class TextEncoderConfig:
    vocab: tuple[str, ...] = field(default_factory=digit_caption_vocab)  # id = position
    context_length: int = 12  # L: the longest caption has 8 words, + <end>, + room
    dim: int = 64  # D_text, width of every token's hidden state
    depth: int = 2  # transformer blocks
    heads: int = 4
    mlp_dim: int = 128

    def __post_init__(self):
        checks.positive_ints(self, "context_length", "dim", "depth", "heads", "mlp_dim")
        if tuple(self.vocab[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"vocab must start with {SPECIAL_TOKENS}; use build_vocab(captions)")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")


@dataclass(frozen=True)
class CLIPConfig:
    # image encoder: a small CNN on (channels, image_size, image_size) images
    image_size: int = 32
    channels: int = 3
    conv_channels: tuple[int, ...] = (32, 64, 128)  # one stride-2 stage each: 32 -> 16 -> 8 -> 4
    where_channels: int = 8  # channels of the position-keeping readout
    # text encoder: the fields of TextEncoderConfig, with a text_ prefix (see text_config)
    vocab: tuple[str, ...] = field(default_factory=digit_caption_vocab)
    context_length: int = 12
    text_dim: int = 64
    text_depth: int = 2
    text_heads: int = 4
    text_mlp_dim: int = 128
    # the shared space
    embed_dim: int = 64  # D
    init_temperature: float = 0.07  # the logit scale starts at 1 / 0.07, as in CLIP
    max_logit_scale: float = 100.0  # and is clamped there

    def __post_init__(self):
        checks.positive_ints(self, "image_size", "channels", "where_channels", "embed_dim")
        if not self.conv_channels or not all(
            isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in self.conv_channels
        ):
            raise ValueError(
                f"conv_channels must be positive ints, e.g. (32, 64, 128), got {self.conv_channels}"
            )
        if self.image_size % 2 ** len(self.conv_channels):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2^{len(self.conv_channels)} "
                "(one halving per conv stage)"
            )

    @property
    def text_config(self) -> TextEncoderConfig:
        """The text encoder's own config, so it can be saved and rebuilt alone."""
        return TextEncoderConfig(
            vocab=self.vocab,
            context_length=self.context_length,
            dim=self.text_dim,
            depth=self.text_depth,
            heads=self.text_heads,
            mlp_dim=self.text_mlp_dim,
        )


# ---------------------------------------------------------------------------------------
# Encoders


class ImageEncoder(nn.Module):
    """A small CNN: three stride-2 conv stages (32 -> 16 -> 8 -> 4 pixels) and one more conv
    at 4x4, then two readouts side by side:
    - "what": a max over the 4x4 positions, the same wherever the digit sits;
    - "where": a 1x1 conv down to a few channels, flattened, so position is kept (the
      layouts "top left" ... are facts about *where* the digit is).
    """

    def __init__(self, config: CLIPConfig):
        super().__init__()
        stages, width = [], config.channels
        for out in config.conv_channels:
            stages += [
                nn.Conv2d(width, out, 3, stride=2, padding=1),  # halve H and W
                nn.GroupNorm(8, out),
                nn.GELU(),
            ]
            width = out
        stages += [nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(8, width), nn.GELU()]
        self.stages = nn.Sequential(*stages)
        self.where = nn.Conv2d(width, config.where_channels, 1)
        side = config.image_size // 2 ** len(config.conv_channels)
        self.out_dim = width + config.where_channels * side * side  # 128 + 8 * 4 * 4 = 256

    def forward(self, images: Tensor) -> Tensor:
        """(B, C, H, W) in [-1, 1] -> features (B, out_dim): "what" then "where"."""
        h = self.stages(images)  # (B, 128, 4, 4)
        what = h.amax(dim=(2, 3))  # (B, 128): position-free
        where = self.where(h).flatten(1)  # (B, 8 * 4 * 4): position kept
        return torch.cat([what, where], dim=1)


class TextEncoder(nn.Module):
    """Token + position embeddings -> pre-norm transformer blocks (each word sees every word,
    never the padding) -> one hidden state per token. Carries its tokenizer."""

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig()):
        super().__init__()
        self.config = config
        c = config
        self.tokenizer = Tokenizer(c.vocab, c.context_length)
        self.token_embed = nn.Embedding(len(c.vocab), c.dim)
        self.pos_embed = nn.Parameter(torch.randn(1, c.context_length, c.dim) * 0.02)
        self.blocks = nn.ModuleList(  # pre-norm, the ViT's block, with a bias on q, k, v
            Block(dim=c.dim, heads=c.heads, mlp_dim=c.mlp_dim, qkv_bias=True)
            for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim)

    def tokenize(self, captions: list[str] | str, unknown: str = "warn") -> Tensor:
        """Captions -> token ids (B, L) int64 on the encoder's device; see `Tokenizer.encode`."""
        return self.tokenizer.encode(captions, unknown=unknown).to(self.pos_embed.device)

    def _check_ids(self, token_ids: Tensor) -> None:
        if not isinstance(token_ids, Tensor) or token_ids.dtype != torch.long:
            raise TypeError("token_ids must be an int64 tensor; make it with tokenize(captions)")
        L = self.config.context_length
        if token_ids.ndim != 2 or token_ids.shape[1] != L:
            raise ValueError(f"token_ids must have shape (B, {L}), got {tuple(token_ids.shape)}")
        if token_ids.min() < 0 or token_ids.max() >= len(self.config.vocab):
            raise ValueError(f"token ids must lie in [0, {len(self.config.vocab)})")
        if not (token_ids == self.tokenizer.end_id).any(dim=1).all():
            raise ValueError("every row of token_ids needs an <end> token; use tokenize(captions)")

    def hidden_states(self, token_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Token ids (B, L) -> (hidden states (B, L, D_text), padding mask (B, L) bool).

        The mask is True at <pad> positions, the ones to ignore (what `transformer.Block`'s
        key_padding_mask wants). States at real tokens do not depend on the padding.
        """
        self._check_ids(token_ids)
        padding = token_ids == self.tokenizer.pad_id  # (B, L)
        h = self.token_embed(token_ids) + self.pos_embed  # (B, L, D_text)
        for block in self.blocks:
            h = block(h, key_padding_mask=padding)  # no word reads a <pad>
        return self.norm(h), padding

    def forward(self, token_ids: Tensor) -> Tensor:
        """Token ids (B, L) -> the hidden state at each caption's <end> token (B, D_text)."""
        h, _ = self.hidden_states(token_ids)
        return self.pool(h, token_ids)

    def pool(self, states: Tensor, token_ids: Tensor) -> Tensor:
        """Hidden states (B, L, D_text) -> the state at each caption's first <end> (B, D_text)."""
        end = (token_ids == self.tokenizer.end_id).int().argmax(dim=1)  # (B,) first <end>
        return states[torch.arange(len(states), device=states.device), end]  # (B, D_text)


def pretrained_text_encoder(
    name: str = "clip-digits", device: str | torch.device = "cpu", frozen: bool = True
) -> TextEncoder:
    """The text encoder of a shipped CLIP, on its own, in eval mode (frozen by default, as
    Stable Diffusion keeps CLIP's text encoder). Use `.tokenize` then `.hidden_states`."""
    from course_lib import checkpoints

    model = checkpoints.load_pretrained(name, device=device)
    if not isinstance(model, CLIP):
        raise ValueError(f"checkpoint {name!r} is a {type(model).__name__}, not a CLIP")
    return model.text_encoder.eval().requires_grad_(not frozen)


# ---------------------------------------------------------------------------------------
# CLIP


class CLIP(nn.Module):
    """Image encoder + text encoder, each projected to D and L2-normalised, and a learned
    logit scale (1 / temperature)."""

    def __init__(self, config: CLIPConfig = CLIPConfig()):
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.text_encoder = TextEncoder(config.text_config)
        self.image_projection = nn.Linear(self.image_encoder.out_dim, config.embed_dim)
        self.text_projection = nn.Linear(config.text_dim, config.embed_dim, bias=False)
        # learned in log space, like CLIP: exp keeps it positive, steps are relative
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.init_temperature)))

    @property
    def tokenizer(self) -> Tokenizer:
        return self.text_encoder.tokenizer

    @property
    def logit_scale(self) -> Tensor:
        """exp(log scale), clamped at max_logit_scale (100) so the softmax cannot blow up."""
        return self.log_logit_scale.exp().clamp(max=self.config.max_logit_scale)

    def tokenize(self, captions: list[str] | str, unknown: str = "warn") -> Tensor:
        """list[str] -> (B, L) int64 token ids, on the model's device."""
        return self.text_encoder.tokenize(captions, unknown=unknown)

    def encode_image(self, images: Tensor) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] -> unit vectors (B, D)."""
        c = self.config
        expected = (c.channels, c.image_size, c.image_size)
        dtype = self.image_projection.weight.dtype
        checks.model_images(images, "images", expected, "CLIP's image encoder", dtype)
        features = self.image_encoder(images)  # (B, 256)
        return F.normalize(self.image_projection(features), dim=-1)  # (B, D)

    def encode_text(self, token_ids: Tensor) -> Tensor:
        """Token ids (B, L) from `tokenize` -> unit vectors (B, D)."""
        return F.normalize(self.text_projection(self.text_encoder(token_ids)), dim=-1)  # (B, D)

    def forward(self, images: Tensor, token_ids: Tensor) -> Tensor:
        """The loss of a batch of matching (image, caption) pairs."""
        return clip_loss(self.encode_image(images), self.encode_text(token_ids), self.logit_scale)


def _check_embeddings(name: str, emb: Tensor) -> None:
    checks.tensor(emb, name, 2, "(B, D)")
    checks.floating(emb, name)
    norms = emb.detach().float().norm(dim=-1)
    if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
        raise ValueError(
            f"{name} rows must be L2-normalised (norms range {norms.min():.3f}..{norms.max():.3f});"
            " use F.normalize(x, dim=-1), or the model's encode_image / encode_text"
        )


def clip_loss(image_emb: Tensor, text_emb: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric cross-entropy over the B x B similarity logits; CLIP (Radford et al. 2021),
    Figure 3. Row i should pick caption i, column j should pick image j.

    image_emb, text_emb: (B, D) L2-normalised; logit_scale: the multiplier (1 / temperature).
    """
    _check_embeddings("image_emb", image_emb)
    _check_embeddings("text_emb", text_emb)
    if image_emb.shape != text_emb.shape:
        raise ValueError(
            f"image_emb {tuple(image_emb.shape)} and text_emb {tuple(text_emb.shape)} must have "
            "the same shape: one caption per image, in the same order"
        )
    hint = "the multiplier 1 / temperature, e.g. model.logit_scale or 14.3"
    if isinstance(logit_scale, Tensor):  # a learned scale keeps its gradient: only look at it
        if logit_scale.numel() != 1 or not bool(torch.isfinite(logit_scale).all()):
            raise ValueError(f"logit_scale must be one finite number ({hint}), got {logit_scale}")
    else:
        checks.number(logit_scale, "logit_scale", minimum=0, hint=hint)
    logits = logit_scale * image_emb @ text_emb.T  # (B, B): images x captions
    labels = torch.arange(len(logits), device=logits.device)  # the match is on the diagonal
    loss_images = F.cross_entropy(logits, labels)  # each image picks its caption
    loss_texts = F.cross_entropy(logits.T, labels)  # each caption picks its image
    return (loss_images + loss_texts) / 2


# ---------------------------------------------------------------------------------------
# Using a trained CLIP: embeddings in batches (zero-shot and retrieval: `zero_shot`)


@torch.no_grad()
def embed_images(model: CLIP, images: Tensor, batch_size: int = 500) -> Tensor:
    """(N, C, H, W) -> (N, D) unit vectors on the CPU, in eval mode, in batches."""
    device = model.log_logit_scale.device
    was_training = model.training
    model.eval()
    out = [model.encode_image(chunk.to(device)).cpu() for chunk in images.split(batch_size)]
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def embed_texts(model: CLIP, captions: list[str], unknown: str = "warn") -> Tensor:
    """list[str] (or one str) -> (N, D) unit vectors on the CPU, in eval mode."""
    was_training = model.training
    model.eval()
    out = model.encode_text(model.tokenize(captions, unknown=unknown)).cpu()
    model.train(was_training)
    return out
