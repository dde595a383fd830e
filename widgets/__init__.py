"""ipywidgets views for the course, all on one base (`widgets.base.Explorer`): a box with
`.controls`, `.frame` (the one `ipywidgets.Image` it draws into), `.static()` (a matplotlib
figure for static pages), `.demo()` (built from shipped weights in one call) and bounded
caches. Widgets import course_lib, never the reverse, and compute nothing heavy themselves:
they ask course_lib once, then index. No explorer imports another; what they share is in
`widgets.base` (the plumbing) and `widgets.frames` (the drawing).
"""

from widgets.attention_explorer import AttentionExplorer
from widgets.base import Explorer as Explorer  # the base: importable, not in __all__
from widgets.denoising_scrubber import DenoisingScrubber
from widgets.guidance_explorer import GuidanceExplorer
from widgets.latent_explorer import LatentExplorer
from widgets.noising_scrubber import NoisingScrubber
from widgets.patch_explorer import PatchExplorer
from widgets.similarity_explorer import SimilarityExplorer
from widgets.steps_explorer import StepsExplorer
from widgets.vlm_explorer import VLMExplorer

__all__ = [
    "AttentionExplorer",
    "DenoisingScrubber",
    "GuidanceExplorer",
    "LatentExplorer",
    "NoisingScrubber",
    "PatchExplorer",
    "SimilarityExplorer",
    "StepsExplorer",
    "VLMExplorer",
]
