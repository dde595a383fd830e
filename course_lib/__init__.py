"""Patches to Pixels: the library behind the course notebooks.

Layers, each importing only those before it:
data -> models (vit, clip, unet, autoencoder) -> diffusion maths -> pipelines.
`config`, `train` and `checkpoints` serve them all.
"""

__version__ = "0.1.0"
