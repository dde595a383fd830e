"""Patches to Pixels: the library behind the course notebooks.

Layers, each importing only those before it:
data -> blocks (transformer) -> models (vit, tokenizer + clip, unet, autoencoder; zero_shot
uses a trained clip) -> diffusion maths -> pipelines.
`config`, `train` and `checkpoints` serve them all.
"""

__version__ = "0.1.0"
