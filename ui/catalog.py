"""The app's pages: one entry per built page, in the order of the course.

`streamlit_app.py` builds the navigation from this list and the home page links to every
entry, so a page appears in both places the moment it is added here (and never before).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageEntry:
    path: str  # script path relative to the repository root
    title: str
    icon: str  # a Material icon name, e.g. ":material/grid_on:"
    teaches: str  # one line for the home page
    url_path: str


HOME = PageEntry("app_pages/home.py", "Home", ":material/home:", "What each page teaches.", "home")

PAGES: list[PageEntry] = [
    PageEntry("app_pages/conv_arithmetic.py", "Convolution arithmetic", ":material/grid_on:",
              "what a convolution computes and what size comes out: stride, padding, dilation, pooling, "
              "transposed convolution, channels.", "conv"),
    PageEntry("app_pages/filters.py", "Filters and feature maps", ":material/filter_center_focus:",
              "lecture kernels on your photo, a real network's learned filters, what each layer sees, and its top-5.",
              "filters"),
    PageEntry("app_pages/receptive_fields.py", "Receptive fields", ":material/center_focus_strong:",
              "how far each unit sees, exact for every zoo model and your own network, drawn on your photo; "
              "the effective field; the lecture's 1 + L·(K − 1).", "receptive-fields"),
    PageEntry("app_pages/architectures.py", "Architectures", ":material/stacked_bar_chart:",
              "where memory, parameters and multiply-adds go, layer by layer, from LeNet to EfficientNet; "
              "the lecture's tables live; build your own network.", "architectures"),
    PageEntry("app_pages/transfer.py", "Transfer learning", ":material/model_training:",
              "train a classifier on your own images: from scratch, linear probe or fine-tuning, live.", "transfer"),
    PageEntry("app_pages/attributions.py", "Attributions", ":material/visibility:",
              "why the network decided: Grad-CAM, Integrated Gradients, Occlusion and more on your photo and your "
              "own model, and sanity checks that show which maps can be trusted.", "attributions"),
    PageEntry("app_pages/zoo.py", "Model zoo", ":material/hub:",
              "the course's networks from LeNet-5 to EfficientNet, and what each one sees in your photo.", "zoo"),
]
