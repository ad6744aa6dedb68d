"""Plotly figure builders: data in, go.Figure out (never st.* or .show())."""
