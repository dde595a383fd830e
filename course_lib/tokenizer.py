"""A word-level tokenizer for captions: words -> integer ids, and back.

Every vocabulary starts with the special tokens <pad>, <end>, <unk> (ids 0, 1, 2), then its
words in alphabetical order (`build_vocab`). A caption becomes its word ids, then <end>,
then <pad> up to the context length L; a word the vocabulary lacks becomes <unk> and is
reported, never dropped.

    tokenizer = Tokenizer(build_vocab(captions), context_length=12)
    token_ids = tokenizer.encode(["a small red two"])  # (B, L) int64
    tokenizer.decode(token_ids)  # ["a small red two"]

Letters: B captions, L tokens per caption (context length).
"""

from __future__ import annotations

import re
import warnings

import torch
from torch import Tensor

from course_lib import checks, data

PAD, END, UNKNOWN = "<pad>", "<end>", "<unk>"  # ids 0, 1, 2 in every vocabulary
SPECIAL_TOKENS = (PAD, END, UNKNOWN)


def words_of(text: str) -> list[str]:
    """Lower-case words of a caption, punctuation dropped: "A red Seven!" -> [a, red, seven]."""
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a string, got {type(text).__name__}")
    return re.findall(r"[a-z0-9]+", text.lower())


def build_vocab(captions: list[str]) -> tuple[str, ...]:
    """The special tokens, then every word in `captions` in alphabetical order."""
    words = sorted({w for text in captions for w in words_of(text)})
    return SPECIAL_TOKENS + tuple(words)


class UnknownWordWarning(UserWarning):
    """A prompt used words the tokenizer never saw in training; they became <unk>."""


class Tokenizer:
    """Word-level tokenizer: each known word is one id, then <end>, then <pad> up to L.

    Unknown words become <unk> and are reported (a warning by default, or an error with
    unknown="raise"), never silently dropped.
    """

    def __init__(self, vocab: tuple[str, ...], context_length: int):
        if tuple(vocab[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"a vocabulary starts with {SPECIAL_TOKENS}; use build_vocab(captions)"
            )
        checks.positive_int(context_length, "context_length")
        self.vocab = tuple(vocab)
        self.context_length = context_length
        self.ids = {word: i for i, word in enumerate(self.vocab)}
        self.pad_id, self.end_id, self.unknown_id = (self.ids[t] for t in SPECIAL_TOKENS)

    def __len__(self) -> int:
        return len(self.vocab)

    def unknown_words(self, text: str) -> list[str]:
        """The words of `text` that are not in the vocabulary."""
        return [w for w in words_of(text) if w not in self.ids]

    def encode(self, captions: list[str] | str, unknown: str = "warn") -> Tensor:
        """Captions -> token ids (B, L) int64: words, <end>, then <pad>.

        unknown: "warn" (map to <unk> and warn), "raise" (ValueError) or "ignore" (map to
        <unk> quietly; the caller reports them, e.g. a widget's status line).
        """
        if unknown not in ("warn", "raise", "ignore"):
            raise ValueError(f"unknown={unknown!r}; pass 'warn', 'raise' or 'ignore'")
        if isinstance(captions, str):
            captions = [captions]
        if not isinstance(captions, (list, tuple)) or not captions:
            raise ValueError("pass a non-empty list of captions, e.g. ['a large red seven']")
        ids = torch.full((len(captions), self.context_length), self.pad_id, dtype=torch.long)
        unseen = []
        for row, text in enumerate(captions):
            words = words_of(text)
            if not words:
                raise ValueError(f"caption {row} ({text!r}) has no words; type a prompt")
            if len(words) + 1 > self.context_length:
                raise ValueError(
                    f"caption {text!r} has {len(words)} words; at most "
                    f"{self.context_length - 1} fit (one slot is kept for <end>)"
                )
            unseen += [w for w in words if w not in self.ids]
            tokens = [self.ids.get(w, self.unknown_id) for w in words] + [self.end_id]
            ids[row, : len(tokens)] = torch.tensor(tokens)
        if unseen and unknown != "ignore":
            message = (
                f"words not in the vocabulary became {UNKNOWN}: {sorted(set(unseen))}; "
                f"known words: {', '.join(self.vocab[len(SPECIAL_TOKENS) :])}"
            )
            if unknown == "raise":
                raise ValueError(message)
            warnings.warn(message, UnknownWordWarning, stacklevel=2)
        return ids

    def decode(self, token_ids: Tensor) -> list[str]:
        """Token ids (B, L) -> captions, stopping at <end>; <unk> stays visible."""
        checks.tensor(token_ids, "token_ids", 2, "(B, L)")
        if token_ids.dtype.is_floating_point or token_ids.dtype == torch.bool:
            raise TypeError(f"token_ids must be an integer tensor (int64), got {token_ids.dtype}")
        if token_ids.numel() and not 0 <= int(token_ids.min()) <= int(token_ids.max()) < len(self):
            raise ValueError(f"token ids must lie in 0..{len(self) - 1}, got {token_ids.unique()}")
        out = []
        for row in token_ids.tolist():
            words = []
            for i in row:
                if i == self.end_id:
                    break
                if i != self.pad_id:
                    words.append(self.vocab[i])
            out.append(" ".join(words))
        return out


def digit_caption_vocab() -> tuple[str, ...]:
    """The vocabulary of the captioned digits: specials + the 20 words of all 300 captions."""
    return build_vocab(data.all_captions()[0])
