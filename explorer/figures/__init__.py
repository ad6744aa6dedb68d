"""What every page's Plotly figures use: figures as plain dicts, image tiles, label placement, escaped user text."""
