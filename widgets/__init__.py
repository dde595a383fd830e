"""ipywidgets views for the course. Each is a box with `.controls`, `.frame` (the one
`ipywidgets.Image` it draws into), `.static()` (a matplotlib figure for static pages) and
`.demo()` (built from shipped weights in one call). Widgets import course_lib, never the
reverse, and compute nothing heavy themselves: they ask course_lib once, then index.
"""

from widgets.attention_explorer import AttentionExplorer
from widgets.denoising_scrubber import DenoisingScrubber
from widgets.guidance_explorer import GuidanceExplorer
from widgets.latent_explorer import LatentExplorer
from widgets.noising_scrubber import NoisingScrubber
from widgets.patch_explorer import PatchExplorer
from widgets.similarity_explorer import SimilarityExplorer
from widgets.vlm_explorer import VLMExplorer

__all__ = [
    "AttentionExplorer",
    "DenoisingScrubber",
    "GuidanceExplorer",
    "LatentExplorer",
    "NoisingScrubber",
    "PatchExplorer",
    "SimilarityExplorer",
    "VLMExplorer",
]
