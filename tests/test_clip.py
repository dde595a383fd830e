import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import checkpoints, clip, data
from course_lib.tokenizer import build_vocab


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return clip.CLIP(clip.CLIPConfig(conv_channels=(8, 8, 16), text_dim=32, embed_dim=16)).eval()


def test_clip_loss_equals_an_independent_computation():
    image, text, scale = unit(6, 8, seed=1), unit(6, 8, seed=2), 14.3
    logits = scale * (image.numpy() @ text.numpy().T).astype(np.float64)  # (B, B)

    def mean_nll(rows):  # -log softmax of the diagonal, row by row
        return np.mean([np.log(np.exp(r).sum()) - r[i] for i, r in enumerate(rows)])

    expected = (mean_nll(logits) + mean_nll(logits.T)) / 2
    assert clip.clip_loss(image, text, scale).item() == pytest.approx(expected, rel=1e-5)


def test_clip_loss_is_symmetric_and_prefers_aligned_pairs():
    image, text = unit(16, 8, seed=3), unit(16, 8, seed=4)
    assert torch.allclose(clip.clip_loss(image, text, 10.0), clip.clip_loss(text, image, 10.0))
    aligned = clip.clip_loss(image, image, 10.0)
    shuffled = clip.clip_loss(image, image[torch.randperm(16)], 10.0)
    assert aligned < shuffled
    # perfectly aligned and orthogonal: the loss goes to 0 as the scale grows
    eye = torch.eye(4)
    assert clip.clip_loss(eye, eye, 100.0) < 1e-10


def test_clip_loss_refuses_bad_inputs():
    with pytest.raises(ValueError, match="L2-normalised"):
        clip.clip_loss(torch.randn(4, 8) * 3, unit(4, 8), 10.0)
    with pytest.raises(ValueError, match="same shape"):
        clip.clip_loss(unit(4, 8), unit(5, 8), 10.0)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        clip.clip_loss(unit(2, 4, 8), unit(2, 4, 8), 10.0)


def test_model_carries_its_tokenizer(model):
    captions, _ = data.all_captions()
    assert torch.equal(model.tokenize(captions), model.tokenizer.encode(captions))
    assert model.tokenizer is model.text_encoder.tokenizer


def test_encoders_give_unit_vectors_and_check_inputs(model):
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        image_emb = model.encode_image(images)
        text_emb = model.encode_text(model.tokenize(["a large red one", "a large red two", "a"]))
    assert image_emb.shape == text_emb.shape == (3, 16)
    assert torch.allclose(image_emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text_emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        model.encode_image(torch.zeros(2, 1, 28, 28))
    with pytest.raises(TypeError, match="int64"):
        model.encode_text(torch.zeros(2, 12))
    with pytest.raises(ValueError, match="<end>"):
        model.encode_text(torch.full((1, 12), 5, dtype=torch.long))


def test_logit_scale_starts_at_one_over_007_and_is_clamped(model):
    fresh = clip.CLIP(model.config)
    assert fresh.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        fresh.log_logit_scale.fill_(10.0)
    assert fresh.logit_scale.item() == 100.0


def test_text_hidden_states_ignore_padding(model):
    encoder = model.text_encoder
    ids = encoder.tokenize(["a large red one", "a small blue nine in the top left"])
    with torch.no_grad():
        states, padding = encoder.hidden_states(ids)
        assert states.shape == (2, 12, 32) and padding.shape == (2, 12)
        assert padding[0].tolist() == [False] * 5 + [True] * 7  # 4 words, <end>, 7 pads
        encoder.token_embed.weight[encoder.tokenizer.pad_id] += 5.0  # change what pads look like
        moved, _ = encoder.hidden_states(ids)
        encoder.token_embed.weight[encoder.tokenizer.pad_id] -= 5.0
    assert torch.allclose(states[~padding], moved[~padding], atol=1e-5)
    encoder.train()  # the same numbers in training mode (no fast-path surprises)
    again, _ = encoder.hidden_states(ids)
    encoder.eval()
    assert torch.allclose(states[~padding], again[~padding].detach(), atol=1e-5)


def test_text_encoder_saves_and_loads_alone(model, tmp_path):
    checkpoints.save(model.text_encoder, tmp_path / "text")
    with pytest.warns(checkpoints.UnverifiedCheckpointWarning):  # no manifest here
        loaded = checkpoints.load(tmp_path / "text")
    assert isinstance(loaded, clip.TextEncoder) and loaded.config == model.config.text_config
    ids = loaded.tokenize(["a large red one"])
    with torch.no_grad():
        assert torch.allclose(loaded(ids), model.text_encoder(ids))


def test_clip_checkpoint_rebuilds_its_tokenizer(model, tmp_path):
    vocab = build_vocab(["a red seven", "a blue one"])
    small = clip.CLIP(clip.CLIPConfig(vocab=vocab, conv_channels=(8, 8, 8), embed_dim=8))
    checkpoints.save(small, tmp_path / "clip", half=True)
    with pytest.warns(checkpoints.UnverifiedCheckpointWarning):  # no manifest here
        loaded = checkpoints.load(tmp_path / "clip")
    assert loaded.tokenizer.vocab == vocab and loaded.config == small.config
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loaded.tokenizer.decode(loaded.tokenize(["a blue seven"])) == ["a blue seven"]


def test_shipped_checkpoint_meets_the_targets_and_rebuilds_its_tokenizer():
    metrics = checkpoints.metadata("clip-digits")
    assert metrics["zero_shot_digit"] >= 0.95
    assert metrics["zero_shot_color"] >= 0.98 and metrics["zero_shot_layout"] >= 0.98
    assert metrics["exact_caption"] >= 0.85
    shipped = checkpoints.load_pretrained("clip-digits")
    assert shipped.tokenizer.vocab == build_vocab(data.all_captions()[0])
    assert shipped.logit_scale.item() <= 100.0


def test_pretrained_text_encoder_alone():
    encoder = clip.pretrained_text_encoder("clip-digits")
    assert isinstance(encoder, clip.TextEncoder) and not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
    states, padding = encoder.hidden_states(encoder.tokenize(["a small red two in the top left"]))
    assert states.shape == (1, encoder.config.context_length, encoder.config.dim)
    assert padding.sum().item() == encoder.config.context_length - 9  # 8 words + <end>
    with pytest.raises(ValueError, match="unknown checkpoint"):
        clip.pretrained_text_encoder("no-such-model")
