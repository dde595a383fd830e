"""Patches to Pixels: the library behind the course notebooks.

Layers, each importing only those before it:
data -> blocks (transformer) -> models (vit, tokenizer + clip, unet, autoencoder, dit; zero_shot
uses a trained clip) -> diffusion maths (diffusion, flow; toy_flows on both) -> pipelines.
`config`, `checks` and `checkpoints` serve them all; `train` (the loops, and the one denoiser
trainer on the diffusion loss) sits above the diffusion maths; `recipes` sit on top.
"""

__version__ = "0.1.0"
