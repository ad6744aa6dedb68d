"""Model zoo: every architecture in the registry, its metadata, and its top-5 on the student's image."""

import streamlit as st

from explorer.filters.feature_figures import top5_figure
from ui import presenter, zoo_table
from ui.image_picker import image_picker
from explorer.models import registry, store
from ui.models import image_key, loaded_model, model_picker, output_spread, predictions, shared, untrained_output

st.title("Model zoo")
presenter.intro(
    "The networks of the course, as PyTorch builds them. Parameter counts, multiply-adds and "
    "accuracies come from torchvision's own metadata; EfficientNet-Lite's ImageNet weights ship "
    "with the app, so it works offline."
)

names = registry.list_models()
name = model_picker("Model", names, key="model")
with presenter.aside():  # ?present=1: in the collapsed sidebar, the picture first
    image, caption = image_picker()
loaded = loaded_model(name)
st.markdown(f"**{loaded.info.title}** ({loaded.info.year}): {loaded.info.summary}")
(st.success if loaded.pretrained else st.warning)(loaded.weights_note)

photo = image_key(image)
if loaded.pretrained:
    title = f"{loaded.info.title}: top-5 on {caption}"
    top5 = shared(("top-5", store.shared().stamp(name), photo, title),
                  lambda: top5_figure(predictions(name, photo, image), title))
    st.plotly_chart(presenter.figure(top5), key="top5")
else:  # random weights rank nothing: say what their output is instead of drawing a top-5
    st.info(untrained_output(loaded.info.title, *output_spread(name, photo, image)),
            icon=":material/casino:")

rows = shared(("zoo table",), lambda: zoo_table.architecture_rows(names))
st.subheader("All architectures")
numbers = rows.drop(columns=["what it introduced"])  # sentences do not fit a grid cell: listed below, wrapped
st.dataframe(numbers, hide_index=True, placeholder="—", height=35 * (len(rows) + 1) + 3, column_config={
    "model": st.column_config.Column(pinned=True),
    "parameters (M)": st.column_config.NumberColumn(format="%.2f"),
    "GMACs": st.column_config.NumberColumn(help="Multiply-adds (MACs) per image at the input size; FLOPs = 2 × MACs. "
                                           "torchvision's metadata calls this 'GFLOPS'."),
})
st.caption("LeNet-5 and EfficientNet-Lite are not torchvision models: their parameters and multiply-adds are "
           "counted here as on the Architectures page (batch 1 at the input size), and — marks the ImageNet accuracy "
           "torchvision's metadata does not give.")
with st.expander("What each architecture introduced"):
    st.markdown("\n".join(f"- **{row['model']}** ({row['year']}): {row['what it introduced']}"
                           for _, row in rows.iterrows()))
