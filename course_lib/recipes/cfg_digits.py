"""cfg-digits: a class-conditional pixel-space denoiser for classifier-free guidance (notebook 06).

A U-Net with a label embedding (10 digits + 1 "no label" index). Condition dropout:
during training a `TRAINING.cond_dropout` share of the labels is replaced by the null
label, so one network learns both eps(x_t, t, label) and eps(x_t, t, no label); sampling
then combines the two with a guidance scale (`diffusion.cfg`, Ho & Salimans 2022).
Quality is judged by the separately trained `vit-digits` ViT.
"""

from __future__ import annotations

from course_lib import config, data, diffusion, train
from course_lib.recipes import Row
from course_lib.unet import UNet, UNetConfig

NAME = "cfg-digits"
HALF = True  # fp16 weights, like ddpm-digits
NUM_CLASSES = 10  # digits 0-9; label 10 is "no label"
MODEL = UNetConfig(image_size=28, widths=(16, 32, 64), blocks_per_level=1, num_classes=NUM_CLASSES)
SCHEDULE = {"kind": "cosine", "T": 1000}
PIPELINE = "course_lib.pipelines.GuidedPipeline"  # what pipelines.load builds
TRAINING = train.DenoiserTraining(
    steps=2000,
    batch_size=64,
    lr=1e-3,
    warmup=100,
    ema_decay=0.998,
    min_snr_gamma=5.0,
    cond_dropout=0.15,  # share of training labels replaced by the null label
    channels_last=True,
)


def build(seed: int = 0):
    """Train cfg-digits from scratch: the run behind the shipped weights."""
    config.seed_everything(seed)
    model = UNet(MODEL)
    images, labels = data.mnist_tensors("train", size=MODEL.image_size)  # (N, 1, 28, 28), (N,)
    result, ema = train.fit_denoiser(
        model,
        diffusion.NoiseSchedule.from_spec(SCHEDULE),
        (images, labels),
        TRAINING,
        generator=config.seed_everything(seed),
        cond_null=NUM_CLASSES,  # the "no label" index
        desc=NAME,
    )
    metrics = {"schedule": SCHEDULE, "pipeline": PIPELINE}
    return ema.model, {**metrics, **train.denoiser_metadata(TRAINING, result, ema.model)}


def benchmark() -> list[Row]:
    from course_lib import judge, pipelines

    pipe = pipelines.load(NAME)
    referee = judge.load_judge()
    # The target scales on 500 samples (50 per digit), the rest of the sweep on 200.
    main = judge.guidance_sweep(pipe, per_digit=50, scales=(0.0, 3.0), referee=referee)
    rest = [s for s in diffusion.GUIDANCE_SCALES if s not in main["scale"]]
    other = judge.guidance_sweep(pipe, per_digit=20, scales=rest, referee=referee)
    found = {}
    for sweep, n in ((main, 500), (other, 200)):
        for scale, acc, div in zip(
            sweep["scale"], sweep["accuracy"], sweep["diversity"], strict=True
        ):
            found[scale] = (n, acc, div)
    rows = []
    for scale in sorted(found):
        n, acc, div = found[scale]
        target = ">= 0.95" if scale == 3.0 else ""
        rows.append(Row(NAME, f"w={scale:g}, DDIM-50: judged as asked ({n})", acc, target))
        rows.append(Row(NAME, f"w={scale:g}, DDIM-50: diversity (pairwise RMS)", div))
    gain = found[3.0][1] - found[0.0][1]
    rows.append(Row(NAME, "judged as asked, w=3 minus w=0", gain, "clearly > 0"))
    seconds = dict(zip(main["scale"], main["seconds"], strict=True))
    for scale, passes in ((0.0, "1 pass"), (3.0, "2 passes batched")):
        per_sample = seconds[scale] / 500
        rows.append(
            Row(NAME, f"DDIM-50 w={scale:g} ({passes}): s per sample", per_sample, unit="s")
        )
    return rows
