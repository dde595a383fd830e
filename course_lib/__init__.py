"""Patches to Pixels: the library behind the course notebooks.

Layers, each importing only those before it:
data -> models (vit, clip, unet, autoencoder) -> diffusion maths -> pipelines.
`config` and `checkpoints` serve them all; `train` (the loops, and the one denoiser
trainer on the diffusion loss) sits above the diffusion maths; `recipes` sit on top.
"""

__version__ = "0.1.0"
