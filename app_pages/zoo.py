"""Model zoo: every architecture in the registry, its metadata, and its top-5 on the student's image."""

import pandas as pd
import streamlit as st

from explorer.filters.feature_figures import top5_figure
from ui.image_picker import image_picker
from explorer.models import registry, store
from ui.models import image_key, loaded_model, model_picker, output_spread, predictions, shared, untrained_output

st.title("Model zoo")
st.markdown(
    "The networks of the course, as PyTorch builds them. Parameter counts, multiply-adds and "
    "accuracies come from torchvision's own metadata; EfficientNet-Lite's ImageNet weights ship "
    "with the app, so it works offline."
)

names = registry.list_models()
name = model_picker("Model", names, key="model")
image, caption = image_picker()
loaded = loaded_model(name)
(st.success if loaded.pretrained else st.warning)(loaded.weights_note)

photo = image_key(image)
if loaded.pretrained:
    title = f"{loaded.info.title}: top-5 on {caption}"
    st.plotly_chart(shared(("top-5", store.shared().stamp(name), photo, title),
                           lambda: top5_figure(predictions(name, photo, image), title)), key="top5")
else:  # random weights rank nothing: say what their output is instead of drawing a top-5
    st.info(untrained_output(loaded.info.title, *output_spread(name, photo, image)),
            icon=":material/casino:")

rows = shared(("zoo table",), lambda: pd.DataFrame([{
    "model": e.title, "year": e.year, "input (px)": e.input_size,
    "parameters (M)": None if e.num_params is None else e.num_params / 1e6,
    "GMACs": e.gmacs, "ImageNet top-1 (%)": e.top1, "what it introduced": e.summary,
} for e in map(registry.info, names)]))
st.subheader("All architectures")
st.dataframe(rows, hide_index=True, placeholder="—", height=35 * (len(rows) + 1) + 3, column_config={
    "parameters (M)": st.column_config.NumberColumn(format="%.2f"),
    "GMACs": st.column_config.NumberColumn(help="Multiply-adds (MACs) per image at the input size; FLOPs = 2 × MACs. "
                                           "torchvision's metadata calls this 'GFLOPS'."),
})
st.caption("— : the figure is not in torchvision's metadata (LeNet-5 and EfficientNet-Lite are not "
           "torchvision models).")
